#!/usr/bin/env node
// Takes the README's screenshot of the web demo with live data: starts kpg-gateway with its
// embedded Kafka-protocol cluster and demo producer, the demo's server and Debian's Chromium,
// lets orders arrive, selects one and saves the page.
//
//   node tests/e2e/demo-screenshot.mjs [OUT.png]      (default: docs/demo.png)
//
// Binaries as for the e2e suite (KPG_GATEWAY_BIN, KPG_SDK_DIR, KPG_CHROMIUM). The gateway
// listens on KPG_SHOT_LISTEN (default 127.0.0.1:0, a free port; 127.0.0.1:9080 makes the
// address in the picture the documented one); KPG_SHOT_WIDTH / KPG_SHOT_HEIGHT set the window.
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { bin, repo } from '../support/stack.mjs';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  // The header comment above is the manual.
  const header = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//'));
  console.log(header.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
if (process.argv[2]?.startsWith('-')) {
  console.error(`demo-screenshot: unknown option '${process.argv[2]}' (try --help)`);
  process.exit(2);
}
const out = path.resolve(process.argv[2] ?? path.join(repo, 'docs/demo.png'));
const width = Number(process.env.KPG_SHOT_WIDTH ?? 1280);
const height = Number(process.env.KPG_SHOT_HEIGHT ?? 800);
const children = [];

function start(name, command, args, pattern) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const log = [];
  child.stderr.on('data', (d) => log.push(String(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${log.join('')}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${log.join('')}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpg-shot-'));
let browser;
try {
  // The gateway logs to stdout; --log-level info prints `event=listening address=HOST:PORT`.
  const gateway = await start('kpg-gateway', bin.gateway, ['--embedded-kafka', '--listen', process.env.KPG_SHOT_LISTEN ?? '127.0.0.1:0',
    '--admin-listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data')], /event=listening address=(\S+)/);
  const demo = await start('web demo server', process.execPath, [path.join(repo, 'web-demo/serve.mjs'),
    '--host', '127.0.0.1', '--port', '0', '--sdk-dir', bin.sdkDir], /web demo: (http:\/\/\S+)/);

  browser = await chromium.launch({
    executablePath: process.env.KPG_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1, colorScheme: 'light' });
  // Let the demo producer write a while first, so "Last 20" has a full list to show.
  await new Promise((resolve) => setTimeout(resolve, 9000));
  await page.goto(`${demo}?gateway=ws://${gateway}/kafka&topic=demo`);
  await page.getByTestId('status').and(page.locator('[data-state="live"]')).waitFor();
  await page.waitForFunction(() => window.kpgDemo.rows >= 14, null, { timeout: 60_000 });
  await page.waitForTimeout(12_000); // live records arrive and the rate figure settles
  await page.locator('[data-testid="record"]').nth(3).click();
  await page.waitForTimeout(800);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`saved ${path.relative(process.cwd(), out)}`);
} finally {
  await browser?.close();
  for (const child of children) child.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
}
