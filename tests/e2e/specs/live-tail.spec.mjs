// Browser -> WASM SDK -> kpg-gateway -> Kafka-protocol broker: records produced after the page
// loaded appear in the page, in order.
import path from 'node:path';
import { test, expect, outputDir } from './stack.mjs';

test('live tail shows records produced after the page loaded, in order', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ topic: 'e2e', partition: '0' }));
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'connected');
  const marker = `run-${Date.now()}`;
  const values = Array.from({ length: 5 }, (_, i) => JSON.stringify({ marker, n: i, item: `widget-${i}` }));
  const offsets = await stack.produce('e2e', 0, values, 'order-key');
  expect(offsets).toHaveLength(5);

  for (const [i, offset] of offsets.entries()) {
    const row = page.locator(`[data-testid="record"][data-offset="${offset}"]`);
    await expect(row).toBeVisible();
    await expect(row.getByTestId('record-value')).toContainText(`widget-${i}`);
    await expect(row.getByTestId('record-key')).toContainText('order-key');
  }
  // Newest first, and exactly one row per produced offset (no duplicates).
  const shown = await page.locator('[data-testid="record"]').evaluateAll((rows) =>
    rows.map((r) => Number(r.getAttribute('data-offset'))));
  const ours = shown.filter((o) => offsets.includes(o));
  expect(ours).toEqual([...offsets].reverse());
  await expect(page.getByTestId('latest-offset')).toHaveText(String(offsets.at(-1) + 1));

  await page.screenshot({ path: path.join(outputDir, 'live-tail.png'), fullPage: true });
});

test('an unknown topic shows an error banner and the page stays usable', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ topic: 'no-such-topic', partition: '0' }));
  await expect(page.getByTestId('error')).toBeVisible();
  await expect(page.getByTestId('error')).toContainText('not found topic');
  await page.screenshot({ path: path.join(outputDir, 'unknown-topic.png'), fullPage: true });

  // Switch to an existing topic from the form: the page recovers.
  await stack.produce('inspect', 0, ['plain text value']);
  await page.getByTestId('topic-input').fill('inspect');
  await page.getByTestId('connect-button').click();
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'connected');
  await expect(page.getByTestId('error')).toBeHidden();
  await expect(page.locator('[data-testid="record"][data-offset="0"]')).toContainText('plain text value');
});
