// Browser -> WASM SDK -> kpg-gateway: the demo's produce panel writes a record (key, value,
// headers, partition) that appears in the live view; on a route without produce the panel is off
// and says why.
import { test, expect, expectState } from './stack.mjs';

test('the produce panel writes a record that appears in the live view', async ({ page, stack }) => {
  const gateway = await stack.putRoute('writable', '/writable', {
    'kafka-proxy': { produce: { topics: ['produce'] } },
  });
  await page.goto(stack.pageUrl({ gateway, topic: 'produce' }));
  await expectState(page, 'live');
  const panel = page.getByTestId('produce-panel');
  await expect(panel).toHaveAttribute('data-available', 'true');
  await expect(page.getByTestId('produce-unavailable')).toBeHidden();

  await page.getByTestId('produce-key').fill('order-42');
  await page.getByTestId('produce-value').fill('{"item":"written-from-the-page"}');
  await page.getByTestId('produce-headers').fill('source=web-demo\ntrace=a=b');
  await page.getByTestId('produce-partition').fill('1');
  await page.getByTestId('produce-button').click();

  const result = page.getByTestId('produce-result');
  await expect(result).toHaveAttribute('data-kind', 'ok');
  await expect(result).toContainText('partition 1 at offset 0');
  const row = page.locator('[data-testid="record"][data-partition="1"][data-offset="0"]');
  await expect(row).toBeVisible();
  await expect(row.getByTestId('record-key')).toHaveText('order-42');
  await expect(row.getByTestId('record-value')).toContainText('written-from-the-page');
  await row.click();
  await expect(page.getByTestId('inspector-headers')).toContainText('source');
  await expect(page.getByTestId('inspector-headers')).toContainText('a=b');

  // A malformed header line is refused in the page, before anything is sent.
  await page.getByTestId('produce-headers').fill('no equals sign');
  await page.getByTestId('produce-button').click();
  await expect(result).toHaveAttribute('data-kind', 'error');
  await expect(result).toContainText('is not key=value');
});

test('on a route without produce the panel is off and says why', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ topic: 'produce' }));
  await expectState(page, 'live');
  await expect(page.getByTestId('produce-panel')).toHaveAttribute('data-available', 'false');
  await expect(page.getByTestId('produce-unavailable')).toContainText('does not allow writing');
  await expect(page.getByTestId('produce-button')).toBeDisabled();
});
