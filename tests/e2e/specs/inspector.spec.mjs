// The message inspector: JSON pretty-printed (literals kept as written), text as text, binary
// as a hex dump; key, offset, partition and the timestamp as a date and in raw milliseconds.
import { test, expect, screenshot, expectState } from './stack.mjs';

const JSON_VALUE = '{"order_id":"ord-7","total":12.50,"big":12345678901234567890,' +
  '"tags":["a","b"],"nested":{"ok":true,"none":null},"empty":[]}';
const JSON_PRETTY = `{
  "order_id": "ord-7",
  "total": 12.50,
  "big": 12345678901234567890,
  "tags": [
    "a",
    "b"
  ],
  "nested": {
    "ok": true,
    "none": null
  },
  "empty": []
}`;
const TEXT_VALUE = 'first line\nsecond line — ünïcödé ✓';
const BINARY_VALUE = Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x80, 0x7f, 0x41, 0x42, 0x43, 0x0d, 0x09,
  0x89, 0x50, 0x4e, 0x47, 0x1b, 0xc3, 0x28]);

/** What the page must show for a timestamp in UTC: "YYYY-MM-DD HH:MM:SS.mmm UTC". */
const utcText = (ms) => `${new Date(ms).toISOString().replace('T', ' ').replace('Z', '')} UTC`;

test('the inspector renders JSON (pretty), text and binary (hex) values', async ({ page, stack }) => {
  const before = Date.now();
  expect(await stack.produce('inspect', 0, [JSON_VALUE], 'order-7')).toEqual([0]);
  expect(await stack.produce('inspect', 0, [TEXT_VALUE], 'note')).toEqual([1]);
  expect(await stack.produce('inspect', 0, [BINARY_VALUE], 'blob')).toEqual([2]);
  const after = Date.now();

  await page.goto(stack.pageUrl({ topic: 'inspect', partition: '0', from: 'earliest' }));
  await expectState(page, 'live');
  const row = (offset) => page.locator(`[data-testid="record"][data-offset="${offset}"]`);
  await expect(row(2)).toBeVisible();
  await expect(page.getByTestId('inspector-empty')).toBeVisible();

  // JSON
  await row(0).click();
  await expect(row(0)).toHaveAttribute('aria-selected', 'true');
  const inspector = page.getByTestId('inspector');
  await expect(inspector.getByTestId('inspector-kind')).toHaveAttribute('data-kind', 'json');
  expect(await inspector.getByTestId('inspector-value').textContent()).toBe(JSON_PRETTY);
  await expect(inspector.getByTestId('inspector-key')).toHaveText('order-7');
  await expect(inspector.getByTestId('inspector-offset')).toHaveText('0');
  await expect(inspector.getByTestId('inspector-partition')).toHaveText('0');
  await expect(inspector.getByTestId('inspector-size')).toHaveText(`${JSON_VALUE.length} bytes`);
  const raw = Number((await inspector.getByTestId('inspector-timestamp-raw').textContent()).replace(' ms', ''));
  expect(raw).toBeGreaterThanOrEqual(before - 1000);
  expect(raw).toBeLessThanOrEqual(after + 1000);
  await expect(inspector.getByTestId('inspector-timestamp')).toHaveText(utcText(raw));
  await screenshot(page, 'inspector-json');

  // The same value as hex, and back.
  await inspector.getByTestId('inspector-view').click();
  await expect(inspector.getByTestId('inspector-value')).toHaveAttribute('data-view', 'hex');
  await expect(inspector.getByTestId('inspector-value')).toContainText('00000000  7b 22 6f 72 64 65 72 5f  69 64 22 3a 22 6f 72 64  |{"order_id":"ord|');
  await inspector.getByTestId('inspector-view').click();
  await expect(inspector.getByTestId('inspector-value')).toHaveAttribute('data-view', 'formatted');

  // Text, by keyboard: the next row (oldest first after an earliest seek).
  await page.getByTestId('records').press('ArrowDown');
  await expect(row(1)).toHaveAttribute('aria-selected', 'true');
  await expect(inspector.getByTestId('inspector-kind')).toHaveAttribute('data-kind', 'text');
  expect(await inspector.getByTestId('inspector-value').textContent()).toBe(TEXT_VALUE);
  await expect(inspector.getByTestId('inspector-key')).toHaveText('note');
  await expect(inspector.getByTestId('inspector-offset')).toHaveText('1');
  await expect(inspector.getByTestId('inspector-size')).toHaveText(`${Buffer.byteLength(TEXT_VALUE)} bytes`);

  // Binary: a hex dump with offsets and the printable characters.
  await row(2).click();
  await expect(inspector.getByTestId('inspector-kind')).toHaveAttribute('data-kind', 'binary');
  await expect(row(2).locator('.badge')).toHaveText('binary');
  const dump = await inspector.getByTestId('inspector-value').textContent();
  expect(dump).toBe(
    '00000000  00 01 02 ff fe 80 7f 41  42 43 0d 09 89 50 4e 47  |.......ABC...PNG|\n' +
    `00000010  ${'1b c3 28'.padEnd(49)} |..(|\n`);
  await expect(inspector.getByTestId('inspector-key')).toHaveText('blob');
  await expect(inspector.getByTestId('inspector-size')).toHaveText('19 bytes');
  await expect(inspector.getByTestId('inspector-view')).toBeHidden();
  await screenshot(page, 'inspector-binary');
});
