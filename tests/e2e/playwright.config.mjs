// Playwright with Debian's Chromium (no browser download). Output (screenshots, traces, console
// logs of failures) goes under the build directory given by KPG_E2E_OUTPUT.
import { defineConfig } from '@playwright/test';
import path from 'node:path';

const output = process.env.KPG_E2E_OUTPUT ?? path.resolve('../../build/e2e');

export default defineConfig({
  testDir: './specs',
  outputDir: path.join(output, 'test-results'),
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    timezoneId: 'UTC',
    locale: 'en-US',
    colorScheme: 'light',
    launchOptions: {
      executablePath: process.env.KPG_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
  },
});
