// The gateway cannot be reached, or it has no PubSub route at the path: each has its own
// banner, and fixing the address from the form connects.
import net from 'node:net';
import { test, expect, screenshot, shownOffsets, expectState } from './stack.mjs';

/** A local port nothing listens on (bound, then released). */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('an unreachable gateway shows its banner', async ({ page, stack }) => {
  const port = await closedPort();
  await page.goto(stack.pageUrl({ topic: 'fixed', gateway: `ws://127.0.0.1:${port}/kafka` }));
  const banner = page.getByTestId('banner');
  await expect(banner).toHaveAttribute('data-kind', 'unreachable');
  await expect(banner).toContainText('Cannot reach the gateway');
  await expect(banner).toContainText(`127.0.0.1:${port}`);
  await expectState(page, 'error');
  await screenshot(page, 'gateway-unreachable');
});

test('a missing route shows its banner; fixing the URL connects', async ({ page, stack }) => {
  const wrong = stack.gatewayUrl.replace(/\/kafka$/, '/no-such-route');
  await page.goto(stack.pageUrl({ topic: 'fixed', gateway: wrong }));
  const banner = page.getByTestId('banner');
  await expect(banner).toHaveAttribute('data-kind', 'route-missing');
  await expect(banner).toContainText('No PubSub route at /no-such-route');
  await expectState(page, 'error');
  await screenshot(page, 'route-missing');

  await page.getByTestId('gateway-input').fill(stack.gatewayUrl);
  await page.getByTestId('connect-button').click();
  await expectState(page, 'live');
  await expect(banner).toBeHidden();
  await stack.produce('fixed', 0, ['after the fix']);
  await expect.poll(() => shownOffsets(page)).toEqual([0]);
  await expect(page.getByTestId('records')).toContainText('after the fix');
});
