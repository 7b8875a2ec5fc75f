// Playwright fixtures over the shared test stack (tests/support/stack.mjs), and helpers the
// specs share. One stack (broker + gateway + demo server) per worker; each spec file uses its
// own topics, so specs do not see each other's records.
import { test as base, expect } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';
import { Stack, repo } from '../../support/stack.mjs';

export const outputDir = process.env.KPG_E2E_OUTPUT ?? path.join(repo, 'build/e2e');

export const TOPICS = ['tail:1', 'pause:1', 'seek:1', 'parts:3', 'inspect:1', 'recover:1', 'fixed:1', 'restart:1', 'history:1', 'wss:1', 'whole:3', 'auth:1', 'produce:2', 'filtered:1', 'state:2'];

export const test = base.extend({
  stack: [async ({}, use) => {
    const stack = new Stack();
    await stack.start(TOPICS);
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

/** Saves a screenshot of the page under KPG_E2E_OUTPUT. */
export async function screenshot(page, name) {
  await page.screenshot({ path: path.join(outputDir, `${name}.png`) });
}

/** The offsets of the record rows, in the order the page shows them. */
export function shownOffsets(page) {
  return page.locator('[data-testid="record"]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.offset)));
}

/** [from, to) */
export const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i);

export async function expectState(page, state) {
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', state);
}

/** The page's own count of duplicate and skipped records (both must stay 0). */
export function integrity(page) {
  return page.evaluate(() => ({ duplicates: window.kpgDemo.duplicates, gaps: window.kpgDemo.gaps }));
}
