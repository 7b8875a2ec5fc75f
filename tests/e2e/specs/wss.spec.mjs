// A page reading through wss://: the gateway terminates TLS itself (--tls-cert / --tls-key) and
// the WASM SDK uses the browser's TLS. The certificate is self-signed for 127.0.0.1, so this
// file's browser is told to accept it (a real deployment uses a CA the browser trusts).
import config from '../playwright.config.mjs';
import { test, expect, screenshot, shownOffsets, expectState, integrity } from './stack.mjs';

test.use({
  launchOptions: {
    ...config.use.launchOptions,
    args: [...config.use.launchOptions.args, '--ignore-certificate-errors'],
  },
});

test('the page tails a partition through a wss:// gateway', async ({ page, stack }) => {
  const url = await stack.startTlsGateway();
  expect(url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/kafka$/);
  await stack.produce('wss', 0, ['{"over":"tls","n":0}', '{"over":"tls","n":1}']);
  await page.goto(stack.pageUrl({ gateway: url, topic: 'wss', partition: '0', from: 'earliest' }));
  await expectState(page, 'live');
  await expect.poll(() => shownOffsets(page)).toEqual([0, 1]);  // from earliest: oldest first

  await stack.produce('wss', 0, ['{"over":"tls","n":2}']);  // live over TLS too
  await expect.poll(() => shownOffsets(page)).toEqual([0, 1, 2]);
  await expect(page.locator('[data-testid="record"][data-offset="2"]')).toContainText('"n":2');
  expect(await integrity(page)).toEqual({ duplicates: 0, gaps: 0 });
  await screenshot(page, 'wss');
});
