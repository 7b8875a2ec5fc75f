// A whole topic in one list: on a gateway that pushes, the page reads every partition of the
// topic by default, each row naming its partition; the inspector shows the record's headers.
// On an APISIX gateway it reads one partition and says why.
import { test, expect, screenshot, expectState, integrity } from './stack.mjs';

const PARTITIONS = [0, 1, 2];

/** [partition, offset] of each row, in the order the page shows them. */
function shownRows(page) {
  return page.locator('[data-testid="record"]').evaluateAll((rows) =>
    rows.map((r) => [Number(r.dataset.partition), Number(r.dataset.offset)]));
}

test('the demo tails every partition of a topic, in offset order per partition, with headers', async ({ page, stack }) => {
  for (const p of PARTITIONS) await stack.produce('whole', p, [`before-${p}-0`, `before-${p}-1`], `k${p}`);

  await page.goto(stack.pageUrl({ topic: 'whole' })); // no partition named: the whole topic
  await expectState(page, 'live');
  expect(await page.evaluate(() => [window.kpgDemo.mode, window.kpgDemo.partition])).toEqual(['kpg', 'all']);
  await expect(page.getByTestId('partition-select')).toHaveValue('all');
  await expect(page.getByTestId('partition-select').locator('option'))
    .toHaveText(['All · 6 records', '0 · 2 records', '1 · 2 records', '2 · 2 records']);
  const rows = page.getByTestId('record');
  await expect(rows).toHaveCount(6);

  // Written while the page tails, partitions interleaved; the last one with headers.
  for (let i = 0; i < 3; i++) {
    for (const p of [2, 0, 1]) await stack.produce('whole', p, [`live-${p}-${i}`], `k${p}`);
  }
  expect(await stack.produce('whole', 1, ['with-headers'], 'hk', { 'trace-id': 'abc-123', source: 'e2e' })).toEqual([5]);
  const expected = { 0: 5, 1: 6, 2: 5 }; // records per partition

  await expect(rows).toHaveCount(16);
  const shown = (await shownRows(page)).reverse(); // newest first on screen: arrival order reversed
  for (const p of PARTITIONS) {
    const offsets = shown.filter(([partition]) => partition === p).map(([, offset]) => offset);
    expect(offsets, `partition ${p}`).toEqual(Array.from({ length: expected[p] }, (_, i) => i));
  }
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
  await expect(rows.first().locator('.cell-partition')).toHaveText(/^1 ·/);

  // The inspector: the record's partition and its headers.
  await page.locator('[data-testid="record"][data-partition="1"][data-offset="5"]').click();
  const inspector = page.getByTestId('inspector');
  await expect(inspector.getByTestId('inspector-partition')).toHaveText('1');
  await expect(inspector.getByTestId('inspector-value')).toHaveText('with-headers');
  const headers = inspector.getByTestId('inspector-header');
  await expect(headers).toHaveCount(2);
  await expect(headers.nth(0)).toHaveText('trace-idabc-123');
  await expect(headers.nth(1)).toHaveText('sourcee2e');
  await expect(inspector.getByTestId('inspector-headers')).toBeVisible();
  await screenshot(page, 'whole-topic');

  // The partition filter: one partition, then all again; the query string follows.
  await page.getByTestId('partition-select').selectOption('2');
  await expect.poll(() => shownRows(page)).toEqual([4, 3, 2, 1, 0].map((o) => [2, o]));
  expect(new URL(page.url()).searchParams.get('partition')).toBe('2');
  await page.getByTestId('partition-select').selectOption('all');
  await expect(rows).toHaveCount(16);
  expect(new URL(page.url()).searchParams.get('partition')).toBe('all');

  // Seeking over the whole topic: from the earliest, oldest first, every partition from 0.
  await page.getByTestId('seek-earliest').click();
  await expect(rows).toHaveCount(16);
  await expect.poll(async () => (await shownRows(page)).filter(([p]) => p === 0).map(([, o]) => o)).toEqual([0, 1, 2, 3, 4]);
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
});

test('on an APISIX gateway the page reads one partition and says why', async ({ page, stack }) => {
  const url = await stack.startApisixDouble({ topic: 'orders', records: 5, max: 5 });
  await page.goto(stack.pageUrl({ gateway: url, topic: 'orders' }));
  await expectState(page, 'live');
  await expect(page.getByTestId('notice')).toHaveAttribute('data-kind', 'one-partition');
  await expect(page.getByTestId('notice')).toContainText('APISIX PubSub subset (no push)');
  await expect(page.getByTestId('partition-select')).toHaveValue('0');
  await expect(page.getByTestId('partition-select').locator('option')).toHaveText(['0 · 5 records']);
  await expect(page.getByTestId('record')).toHaveCount(5);
});
