// Choosing where to read: the last 20 (the default), earliest, an offset, latest, a time, the
// `from` query parameter, and the partition chooser. Records are produced first, so exactly
// which offsets must show is known.
import { test, expect, screenshot, shownOffsets, range, expectState, integrity } from './stack.mjs';

test('seek to an offset, to earliest and to latest shows exactly the right records', async ({ page, stack }) => {
  const offsets = await stack.produce('seek', 0, range(0, 30).map((i) => `seek-${i}`), 'k');
  expect(offsets).toEqual(range(0, 30));

  await page.goto(stack.pageUrl({ topic: 'seek', partition: '0' }));
  await expectState(page, 'live');
  // Default: the last 20 records, newest first.
  await expect.poll(() => shownOffsets(page)).toEqual(range(10, 30).reverse());
  await expect(page.getByTestId('seek-recent')).toHaveAttribute('aria-pressed', 'true');

  // Earliest: everything, oldest first.
  await page.getByTestId('seek-earliest').click();
  await expect.poll(() => shownOffsets(page)).toEqual(range(0, 30));
  await expect(page.getByTestId('seek-earliest')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.locator('[data-testid="record"][data-offset="0"]')).toContainText('seek-0');
  await expect(page.locator('[data-testid="record"][data-offset="29"]')).toContainText('seek-29');
  expect(new URL(page.url()).searchParams.get('from')).toBe('earliest');

  // An offset: from 12 on.
  await page.getByTestId('seek-offset-input').fill('12');
  await page.getByTestId('seek-offset-button').click();
  await expect.poll(() => shownOffsets(page)).toEqual(range(12, 30));
  await expect(page.locator('[data-testid="record"][data-offset="12"]')).toContainText('seek-12');
  await expect(page.getByTestId('next-offset')).toHaveText('30');
  expect(new URL(page.url()).searchParams.get('from')).toBe('12');
  await screenshot(page, 'seek-offset');

  // Latest: nothing until new records are written, then only those.
  await page.getByTestId('seek-latest').click();
  await expect(page.getByTestId('seek-latest')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('empty')).toContainText('Waiting for new records');
  expect(await shownOffsets(page)).toEqual([]);
  expect(await stack.produce('seek', 0, ['seek-30', 'seek-31'])).toEqual([30, 31]);
  await expect.poll(() => shownOffsets(page)).toEqual([31, 30]);

  // An offset past the end: said so, and reading continues at the end.
  await page.getByTestId('seek-offset-input').fill('999');
  await page.getByTestId('seek-offset-button').click();
  await expect(page.getByTestId('notice')).toHaveAttribute('data-kind', 'clamped');
  await expect(page.getByTestId('notice')).toContainText('Offset 999 is past the end of the log (32)');
  await expect(page.getByTestId('next-offset')).toHaveText('32');
  expect(await shownOffsets(page)).toEqual([]);
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
});

test('a timestamp seek the broker cannot answer says so and keeps the list', async ({ page, stack }) => {
  // seek has offsets 0..31 from the test above (or at least one record when run alone).
  await stack.produce('seek', 0, ['seek-more']);
  await page.goto(stack.pageUrl({ topic: 'seek', partition: '0', from: 'earliest' }));
  await expectState(page, 'live');
  await expect.poll(async () => (await shownOffsets(page)).length).toBeGreaterThan(0);
  const before = await shownOffsets(page);

  await page.getByTestId('seek-time-input').fill('2020-01-01T12:00:00');
  await page.getByTestId('seek-time-button').click();
  const notice = page.getByTestId('notice');
  await expect(notice).toHaveAttribute('data-kind', 'no-timestamp');
  await expect(notice).toContainText('No record at or after 2020-01-01 12:00:00 UTC was found in seek / 0');
  await expect(notice).toContainText('like the embedded development broker');
  await expect(notice).toContainText('The list carries on where it was.');
  // The earliest read goes on untouched.
  await expect(page.getByTestId('seek-earliest')).toHaveAttribute('aria-pressed', 'true');
  expect(await shownOffsets(page)).toEqual(before);
  await expectState(page, 'live');
  await screenshot(page, 'seek-timestamp');
});

test('the from query parameter starts at an offset; the partition chooser lists and switches partitions', async ({ page, stack }) => {
  await stack.produce('parts', 0, range(0, 8).map((i) => `p0-${i}`));
  await stack.produce('parts', 1, ['p1-0', 'p1-1', 'p1-2']);
  await page.goto(stack.pageUrl({ topic: 'parts', partition: '0', from: '5' }));
  await expectState(page, 'live');
  await expect.poll(() => shownOffsets(page)).toEqual([5, 6, 7]);
  await expect(page.locator('[data-testid="record"][data-offset="5"]')).toContainText('p0-5');

  const select = page.getByTestId('partition-select');
  await expect(select.locator('option')).toHaveText(['All · 11 records', '0 · 8 records', '1 · 3 records', '2 · 0 records']);
  await select.selectOption('1');
  await expect.poll(() => shownOffsets(page)).toEqual([2, 1, 0]);
  await expect(page.locator('[data-testid="record"][data-offset="0"]')).toContainText('p1-0');
  expect(new URL(page.url()).searchParams.get('partition')).toBe('1');

  await select.selectOption('2');
  await expect(page.getByTestId('empty')).toContainText('Waiting for new records on parts / 2');
  await stack.produce('parts', 2, ['p2-0']);
  await expect.poll(() => shownOffsets(page)).toEqual([0]);
  await expect(page.getByTestId('records')).toContainText('p2-0');
});

test('reading a long history stops when the list is full, and reads on when asked', async ({ page, stack }) => {
  // 600 records: more than the 500 the list keeps.
  const offsets = await stack.produce('history', 0, range(0, 600).map((i) => `h-${i}`));
  expect(offsets.length).toBe(600);
  await page.goto(stack.pageUrl({ topic: 'history', partition: '0', from: 'earliest' }));

  // The start of the read stays on screen: exactly offsets 0..499, then a pause.
  await expectState(page, 'paused');
  await expect.poll(() => shownOffsets(page)).toEqual(range(0, 500));
  const notice = page.getByTestId('notice');
  await expect(notice).toHaveAttribute('data-kind', 'hold');
  await expect(notice).toContainText('Paused after 500 records from offset 0');
  await expect(notice).toContainText('100 more to the end of the log');
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '100');
  await expect(page.locator('[data-testid="record"]').first()).toContainText('h-0');
  await screenshot(page, 'seek-history-hold');

  // Reading on: the last 500 stay, and the page catches up.
  await page.getByTestId('notice-action').click();
  await expectState(page, 'live');
  await expect.poll(() => shownOffsets(page)).toEqual(range(100, 600));
  await expect(page.getByTestId('lag')).toHaveAttribute('data-lag', '0');
  await expect(page.getByTestId('received')).toHaveText('600');
  await expect(notice).toBeHidden();
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
});
