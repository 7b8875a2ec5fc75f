// @kpg/sdk in a `vite build` of a tiny app (the npm tarball installed into it), run in headless
// Chromium against the real gateway. Run with: node --test tests/bundlers/vite.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { build, createLogger } from 'vite';
import { assertNoNodeBuiltins, EXPECTED, launchBrowser, makeApp, runServed, startStack } from './support.mjs';

let stack;
let browser;
let app;
let dist;
const warnings = [];
before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  app = makeApp();
  dist = path.join(app.work, 'dist');
  // Warnings such as 'Module "fs" has been externalized for browser compatibility' fail the test.
  const logger = createLogger('warn');
  const warn = logger.warn.bind(logger);
  logger.warn = (message, options) => {
    warnings.push(message);
    warn(message, options);
  };
  await build({ root: app.app, configFile: false, logLevel: 'warn', customLogger: logger, build: { outDir: dist, emptyOutDir: true } });
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  app?.remove();
});

function emittedWasm() {
  return fs.readdirSync(path.join(dist, 'assets')).filter((f) => f.endsWith('.wasm'));
}

test('vite emits the .wasm by itself and the app does a round trip against the gateway', async () => {
  assert.deepEqual(warnings, []);
  assert.equal(emittedWasm().length, 1, `emitted: ${fs.readdirSync(path.join(dist, 'assets'))}`);
  assertNoNodeBuiltins(dist);
  assert.deepEqual((await runServed(browser, dist, stack)).result, EXPECTED);
});

test('served without its .wasm the app fails with an error naming the URL it tried', async () => {
  const [wasm] = emittedWasm();
  fs.rmSync(path.join(dist, 'assets', wasm));
  const { result, base } = await runServed(browser, dist, stack);
  assert.equal(result.code, 'transport');
  assert.equal(result.error, `cannot load the kpg WebAssembly module: cannot fetch ${base}assets/${wasm}: HTTP 404 Not Found`);
});
