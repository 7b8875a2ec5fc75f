// Against a server that behaves as Apache APISIX does (tests/support/apisix_double.cpp) and,
// unlike the development broker, looks timestamps up: a timestamp seek starts at the first
// record at or after that time, and one past the last record says no record was found.
import { test, expect, screenshot, shownOffsets, range, expectState, integrity } from './stack.mjs';

test('a timestamp seek starts at the first record at or after that time (APISIX-behaviour server)', async ({ page, stack }) => {
  const base = Date.UTC(2026, 0, 1, 12, 0, 0); // record n: value apisix-<n>, key k<n>, time base + n s
  const url = await stack.startApisixDouble({ topic: 'orders', records: 40, max: 40, baseTimestamp: base });
  await page.goto(stack.pageUrl({ gateway: url, topic: 'orders', partition: '0' }));
  await expectState(page, 'live');
  await expect(page.getByTestId('partition-select').locator('option')).toHaveText(['0 · 40 records']);
  await expect.poll(() => shownOffsets(page)).toEqual(range(20, 40).reverse());

  await page.getByTestId('seek-time-input').fill('2026-01-01T12:00:10');
  await page.getByTestId('seek-time-button').click();
  const notice = page.getByTestId('notice');
  await expect(notice).toHaveAttribute('data-kind', 'time-found');
  await expect(notice).toContainText('The first record at or after 2026-01-01 12:00:10 UTC is offset 10.');
  await expect.poll(() => shownOffsets(page)).toEqual(range(10, 40));
  expect(new URL(page.url()).searchParams.get('from')).toBe('2026-01-01T12:00:10.000Z');

  await page.locator('[data-testid="record"][data-offset="10"]').click();
  await expect(page.getByTestId('inspector-value')).toHaveText('apisix-10');
  await expect(page.getByTestId('inspector-key')).toHaveText('k10');
  await expect(page.getByTestId('inspector-timestamp')).toHaveText('2026-01-01 12:00:10.000 UTC');
  await expect(page.getByTestId('inspector-timestamp-raw')).toHaveText(`${base + 10_000} ms`);
  await screenshot(page, 'apisix-double-timestamp');

  // After the last record (12:00:39): no record at or after 13:00, said plainly; the list stays.
  await page.getByTestId('seek-time-input').fill('2026-01-01T13:00:00');
  await page.getByTestId('seek-time-button').click();
  await expect(notice).toHaveAttribute('data-kind', 'no-timestamp');
  await expect(notice).toContainText('No record at or after 2026-01-01 13:00:00 UTC was found in orders / 0');
  expect(await shownOffsets(page)).toEqual(range(10, 40));
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
});
