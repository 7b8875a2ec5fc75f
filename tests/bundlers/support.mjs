// Shared by the bundler tests: the @kpg/sdk package installed into a fresh app from its npm
// tarball (as a web app gets it), a static server for the bundle, headless Chromium, the real
// gateway stack, and a check that a browser bundle pulls in no node built-ins.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { bin, Stack } from '../support/stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A temporary app directory holding app/ and node_modules/@kpg/sdk from `npm pack` + `npm install`. */
export function makeApp() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kpg-bundler-'));
  const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' });
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', work], bin.sdkDir));
  const app = path.join(work, 'app');
  fs.cpSync(path.join(here, 'app'), app, { recursive: true });
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', '--offline', path.join(work, packed.filename)], app);
  return { work, app, remove: () => fs.rmSync(work, { recursive: true, force: true }) };
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** Serves `dir` on a free loopback port; resolves with {url, close}. */
export async function serve(dir) {
  const server = createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.join(dir, rel);
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.KPG_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Opens `pageUrl` and resolves with the app's window.kpgResult. */
export async function runApp(browser, pageUrl) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.kpgResult !== undefined, null, { timeout: 20_000 })
      .catch((e) => { throw new Error(`${e.message}; page errors: ${errors.join(' | ') || 'none'}`); });
    return await page.evaluate(() => window.kpgResult);
  } finally {
    await page.close();
  }
}

/** The real stack (broker + gateway), one topic with three records. */
export async function startStack() {
  const stack = new Stack();
  await stack.start(['bundled:1'], { web: false });
  await stack.produce('bundled', 0, ['r0', 'r1', 'r2']);
  return stack;
}

/** The app's page on `base`, pointed at the stack's gateway and topic. */
export function appUrl(base, stack) {
  return `${base}index.html?${new URLSearchParams({ gateway: stack.gatewayUrl, topic: 'bundled' })}`;
}

/** Serves `dir`, runs the app from it; resolves with {result, base} (base: the server's URL). */
export async function runServed(browser, dir, stack) {
  const server = await serve(dir);
  try {
    return { result: await runApp(browser, appUrl(server.url, stack)), base: server.url };
  } finally {
    await server.close();
  }
}

export const EXPECTED = { pong: 'bundled', latest: '3', values: ['r0', 'r1', 'r2'] };

// What a browser bundle must not contain: node built-ins required or imported, or the CommonJS
// __dirname that Emscripten's node glue uses.
const NODE_ONLY = /\brequire\s*\(\s*["'](?:node:)?(?:fs|path|module|url|crypto|ws|child_process|os)["']\s*\)|\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|__dirname/;

/** Asserts that no JavaScript file under `dir` refers to node built-ins; returns the files checked. */
export function assertNoNodeBuiltins(dir) {
  const files = fs.readdirSync(dir, { recursive: true }).filter((f) => /\.m?js$/.test(f));
  if (files.length === 0) throw new Error(`no JavaScript emitted under ${dir}`);
  for (const file of files) {
    const match = NODE_ONLY.exec(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (match) throw new Error(`${file} refers to a node built-in: ${match[0]}`);
  }
  return files;
}
