// Browser -> WASM SDK -> kpg-gateway -> Kafka-protocol broker: records produced after the page
// loaded appear in the page, in order, with the rate and the distance to the end of the log;
// pause holds records back and resume shows them.
import { test, expect, screenshot, shownOffsets, expectState, integrity } from './stack.mjs';

test('live tail shows records produced after the page loaded, in order', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ topic: 'tail', partition: '0' }));
  await expectState(page, 'live');
  await expect(page.getByTestId('empty')).toContainText('Waiting for new records on tail / 0');

  const marker = `run-${Date.now()}`;
  const values = Array.from({ length: 5 }, (_, i) => JSON.stringify({ marker, n: i, item: `widget-${i}` }));
  const offsets = await stack.produce('tail', 0, values, 'order-key');
  expect(offsets).toEqual([0, 1, 2, 3, 4]);

  for (const [i, offset] of offsets.entries()) {
    const row = page.locator(`[data-testid="record"][data-offset="${offset}"]`);
    await expect(row).toBeVisible();
    await expect(row.getByTestId('record-value')).toContainText(`"item":"widget-${i}"`);
    await expect(row.getByTestId('record-key')).toHaveText('order-key');
  }
  // Newest first, exactly one row per produced offset.
  await expect.poll(() => shownOffsets(page)).toEqual([...offsets].reverse());
  await expect(page.getByTestId('latest-offset')).toHaveText('5');
  await expect(page.getByTestId('next-offset')).toHaveText('5');
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '0');
  await expect(page.getByTestId('received')).toHaveText('5');
  // Records per second: the five records count once the one-second warm-up has passed.
  await expect.poll(async () => Number(await page.getByTestId('rate').textContent())).toBeGreaterThan(0);
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });

  await screenshot(page, 'live-tail');
});

test('pause holds records back and shows how far behind the page is; resume shows them', async ({ page, stack }) => {
  await stack.produce('pause', 0, ['p0', 'p1']);
  await page.goto(stack.pageUrl({ topic: 'pause', partition: '0' }));
  await expectState(page, 'live');
  await expect.poll(() => shownOffsets(page)).toEqual([1, 0]);

  await page.getByTestId('pause-button').click();
  await expectState(page, 'paused');
  await expect(page.getByTestId('pause-button')).toHaveText('Resume');
  await stack.produce('pause', 0, ['p2', 'p3', 'p4']);
  // The end of the log is refreshed with listOffsets('latest'): 5, while the page is still at 2.
  await expect(page.getByTestId('latest-offset')).toHaveText('5');
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '3');
  await expect(page.getByTestId('next-offset')).toHaveText('2');
  expect(await shownOffsets(page)).toEqual([1, 0]);
  await screenshot(page, 'paused');

  await page.getByTestId('pause-button').click();
  await expectState(page, 'live');
  await expect.poll(() => shownOffsets(page)).toEqual([4, 3, 2, 1, 0]);
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '0');
  await expect(page.locator('[data-testid="record"][data-offset="4"]')).toContainText('p4');
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
});
