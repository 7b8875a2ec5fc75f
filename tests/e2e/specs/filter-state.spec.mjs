// Browser -> WASM SDK -> kpg-gateway: the reader's filter box (only matching records, the page's
// own integrity count still clean, a refused filter in a banner that clears it) and the
// current-state table (a snapshot subscription: the latest value per key, then live updates,
// a tombstone removing its row).
import { test, expect, expectState, integrity, screenshot, shownOffsets } from './stack.mjs';

const sorted = async (page) => (await shownOffsets(page)).sort((a, b) => a - b);

test('the filter box shows only matching records and a refused filter says why', async ({ page, stack }) => {
  await stack.produce('filtered', 0, ['{"n":1}'], 'a-1', { region: 'eu' });
  await stack.produce('filtered', 0, ['{"n":2}'], 'b-1', { region: 'na' });
  await stack.produce('filtered', 0, ['{"n":3}'], 'a-2', { region: 'eu' });
  await page.goto(stack.pageUrl({ topic: 'filtered', partition: '0', from: 'earliest' }));
  await expectState(page, 'live');
  await expect(page.locator('[data-testid="record"]')).toHaveCount(3);

  const apply = async (kind, first, second = '', op = undefined) => {
    await page.getByTestId('filter-kind').selectOption(kind);
    await page.getByTestId('filter-first').fill(first);
    if (second) await page.getByTestId('filter-second').fill(second);
    if (op) await page.getByTestId('filter-op').selectOption(op);
    await page.getByTestId('filter-apply').click();
  };

  await apply('keyPrefix', 'a-');
  await expect(page.getByTestId('filter-active')).toContainText('key starts with "a-"');
  await expect.poll(() => sorted(page)).toEqual([0, 2]);
  await expect(page.getByTestId('next-offset')).toHaveText('3');
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '0');

  await apply('header', 'region', 'na');
  await expect.poll(() => sorted(page)).toEqual([1]);

  await apply('jsonCompare', '/n', '2', '>=');
  await expect.poll(() => sorted(page)).toEqual([1, 2]);
  await screenshot(page, 'filter');
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });

  await apply('jsonIn', 'n', '1');
  const banner = page.getByTestId('banner');
  await expect(banner).toHaveAttribute('data-kind', 'filter');
  await expect(banner).toContainText('JSON Pointer');
  await page.getByTestId('banner-action').click();
  await expect(banner).toBeHidden();
  await expect(page.getByTestId('filter-kind')).toHaveValue('none');
  await expect.poll(() => sorted(page)).toEqual([0, 1, 2]);
});

test('the current-state table shows the latest value per key, then live changes', async ({ page, stack }) => {
  await stack.produce('state', 0, ['{"status":"ok","t":1}'], 'k1', { region: 'eu' });
  await stack.produce('state', 0, ['{"status":"ok","t":2}'], 'k2');
  await stack.produce('state', 0, ['{"status":"alarm","t":3}'], 'k1', { region: 'eu' });
  await stack.produce('state', 0, [''], 'k2'); // a tombstone
  await stack.produce('state', 1, ['{"status":"ok","t":4}'], 'k3');
  await page.goto(stack.pageUrl({ topic: 'state', state: 'state' }));
  const status = page.getByTestId('state-status');
  await expect(status).toHaveAttribute('data-state', 'live');
  await expect(status).toContainText('Snapshot complete: 2 keys');
  const row = (key) => page.locator(`[data-testid="state-rows"] tr[data-key="${key}"]`);
  await expect(page.locator('[data-testid="state-rows"] tr')).toHaveCount(2);
  await expect(row('k1')).toHaveAttribute('data-origin', 'snapshot');
  await expect(row('k1')).toContainText('status: alarm');
  await expect(row('k1')).toContainText('eu');
  await expect(row('k2')).toHaveCount(0);

  await stack.produce('state', 1, ['{"status":"ok","t":5}'], 'k4');
  await expect(row('k4')).toHaveAttribute('data-origin', 'live');
  await stack.produce('state', 0, [''], 'k1');
  await expect(row('k1')).toHaveCount(0);
  await screenshot(page, 'current-state');
});
