// Playwright fixtures over the shared test stack (tests/support/stack.mjs).
import { test as base, expect } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';
import { Stack, repo } from '../../support/stack.mjs';

export const outputDir = process.env.KPG_E2E_OUTPUT ?? path.join(repo, 'build/e2e');

export const test = base.extend({
  stack: [async ({}, use) => {
    const stack = new Stack();
    await stack.start(['e2e:1', 'inspect:1']);
    await use(stack);
    await stack.stop();
  }, { scope: 'worker' }],

  // Keeps the page's console; attached to the report when a test fails.
  page: async ({ page }, use, testInfo) => {
    const consoleLines = [];
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await use(page);
    if (testInfo.status !== testInfo.expectedStatus) {
      const file = testInfo.outputPath('console.log');
      fs.writeFileSync(file, consoleLines.join('\n'));
      await testInfo.attach('console', { path: file, contentType: 'text/plain' });
    }
  },
});

export { expect };
