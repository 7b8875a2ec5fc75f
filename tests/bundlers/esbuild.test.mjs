// @kpg/sdk bundled by esbuild (the npm tarball installed into a tiny app), run in headless
// Chromium against the real gateway. Run with: node --test tests/bundlers/esbuild.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { assertNoNodeBuiltins, EXPECTED, launchBrowser, makeApp, runServed, startStack } from './support.mjs';

let stack;
let browser;
let app;
before(async () => {
  [stack, browser] = await Promise.all([startStack(), launchBrowser()]);
  app = makeApp();
});
after(async () => {
  await browser?.close();
  await stack?.stop();
  app?.remove();
});

async function bundle(entry, outdir) {
  const result = await esbuild.build({
    absWorkingDir: app.app,
    entryPoints: [entry],
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    loader: { '.wasm': 'file' },
    logLevel: 'silent',
  });
  assert.deepEqual(result.warnings, []);
  fs.copyFileSync(path.join(app.app, 'index.html'), path.join(outdir, 'index.html'));
  return outdir;
}

test('an esbuild bundle that emits the exported .wasm does a round trip against the gateway', async () => {
  const out = await bundle({ in: 'esbuild-main.js', out: 'main' }, path.join(app.work, 'dist'));
  const emitted = fs.readdirSync(out);
  assert.ok(emitted.some((f) => /^kpg_wasm-[\w-]+\.wasm$/.test(f)), `no .wasm emitted: ${emitted}`);
  assertNoNodeBuiltins(out);
  assert.deepEqual((await runServed(browser, out, stack)).result, EXPECTED);
});

test('without its .wasm the bundle fails with an error naming the URL it tried', async () => {
  // Plain import: the SDK looks for kpg_wasm.wasm beside the bundle, where nothing copied it.
  const out = await bundle({ in: 'main.js', out: 'main' }, path.join(app.work, 'dist-nowasm'));
  assert.ok(!fs.readdirSync(out).some((f) => f.endsWith('.wasm')));
  const { result, base } = await runServed(browser, out, stack);
  assert.equal(result.code, 'transport');
  assert.equal(result.error, `cannot load the kpg WebAssembly module: cannot fetch ${base}kpg_wasm.wasm: HTTP 404 Not Found`);
});
