// The gateway restarts while the page tails: the page says it is reconnecting, then carries on
// with every record written before the stop, during the outage and after the restart, exactly
// once and in order.
import { test, expect, screenshot, shownOffsets, range, expectState, integrity } from './stack.mjs';

test('a gateway restart while tailing: reconnecting, then no gap and no duplicate', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ topic: 'restart', partition: '0', from: 'latest' }));
  await expectState(page, 'live');

  expect(await stack.produce('restart', 0, ['before-0', 'before-1', 'before-2'])).toEqual([0, 1, 2]);
  await expect.poll(() => shownOffsets(page)).toEqual([2, 1, 0]);

  await stack.stopGateway();
  await expectState(page, 'reconnecting');
  const banner = page.getByTestId('banner');
  await expect(banner).toHaveAttribute('data-kind', 'reconnecting');
  await expect(banner).toContainText('Connection lost — reconnecting');
  await expect(banner).toContainText('carries on at offset 3');
  expect(await stack.produce('restart', 0, ['outage-3', 'outage-4', 'outage-5'])).toEqual([3, 4, 5]);
  await screenshot(page, 'gateway-restart-reconnecting');
  expect(await shownOffsets(page)).toEqual([2, 1, 0]);

  await stack.startGateway(stack.gatewayPort);
  await expectState(page, 'live');
  await expect(banner).toBeHidden();
  await expect.poll(() => shownOffsets(page)).toEqual([5, 4, 3, 2, 1, 0]);
  expect(await stack.produce('restart', 0, ['after-6', 'after-7', 'after-8'])).toEqual([6, 7, 8]);

  await expect.poll(() => shownOffsets(page)).toEqual(range(0, 9).reverse());
  const values = await page.locator('[data-testid="record"] [data-testid="record-value"]').allTextContents();
  expect(values).toEqual(['after-8', 'after-7', 'after-6', 'outage-5', 'outage-4', 'outage-3',
    'before-2', 'before-1', 'before-0']);
  await expect(page.getByTestId('received')).toHaveText('9');
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '0');
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
  await screenshot(page, 'gateway-restart-after');
});
