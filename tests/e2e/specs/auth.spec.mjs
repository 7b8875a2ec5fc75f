// Routes with key-auth, jwt-auth and an Origin allow-list, created through the gateway's admin
// API: the demo reads with a token or a key from its form, and a refusal shows the gateway's
// reason (the browser SDK learns it although browsers hide why a WebSocket was refused). The
// SDK's token provider replaces a token that expired.
import crypto from 'node:crypto';
import { test, expect, screenshot, expectState } from './stack.mjs';

/** An HS256 JSON Web Token of `claims`, signed with `secret`. */
function hs256(claims, secret) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${signed}.${crypto.createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);
const routes = {};

test.beforeAll(async ({ stack }) => {
  await stack.putConsumer({ username: 'alice', plugins: { 'key-auth': { key: 'alice key/1' } } });
  await stack.putConsumer({ username: 'bob', plugins: { 'jwt-auth': { key: 'bob-key', secret: 'bob-secret' } } });
  routes.jwt = await stack.putRoute('auth-jwt', '/auth-jwt', { 'jwt-auth': {} });
  routes.key = await stack.putRoute('auth-key', '/auth-key', { 'key-auth': {} });
  // The demo's page is served from another origin than this one.
  routes.web = await stack.putRoute('auth-web', '/auth-web', { cors: { allow_origins: 'https://app.example' } });
  await stack.produce('auth', 0, ['first', 'second']);
});

/** Opens the credentials part of the form and fills it. */
async function fillCredentials(page, { apiKey = '', token = '' }) {
  const details = page.getByTestId('credentials');
  if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
  await page.getByTestId('apikey-input').fill(apiKey);
  await page.getByTestId('token-input').fill(token);
}

test('a jwt-auth route refuses the page without a token and reads with one', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ gateway: routes.jwt, topic: 'auth', partition: '0' }));
  const banner = page.getByTestId('banner');
  await expect(banner).toHaveAttribute('data-kind', 'unauthorized');
  await expect(banner).toContainText('Unauthorized: Missing JWT token in request');
  await expectState(page, 'error');
  await screenshot(page, 'auth-unauthorized');

  const token = hs256({ key: 'bob-key', exp: now() + 600 }, 'bob-secret');
  await fillCredentials(page, { token });
  await page.getByTestId('connect-button').click();
  await expectState(page, 'live');
  await expect(banner).toBeHidden();
  await expect(page.getByTestId('records')).toContainText('second');
  await stack.produce('auth', 0, ['with a token']);
  await expect(page.getByTestId('records')).toContainText('with a token');
  // The credential never goes into the page's address.
  expect(page.url()).not.toContain(token.split('.')[2]);
  expect(page.url()).not.toContain('jwt=');

  await fillCredentials(page, { token: hs256({ key: 'bob-key' }, 'not-bobs-secret') });
  await page.getByTestId('connect-button').click();
  await expect(banner).toContainText('Unauthorized: failed to verify jwt: signature mismatch');
});

test('a key-auth route: a wrong key is unauthorized, the right one reads', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ gateway: routes.key, topic: 'auth', partition: '0' }));
  const banner = page.getByTestId('banner');
  await expect(banner).toContainText('Unauthorized: Missing API key found in request');

  await fillCredentials(page, { apiKey: 'mallory' });
  await page.getByTestId('connect-button').click();
  await expect(banner).toContainText('Unauthorized: Invalid API key in request');
  await expectState(page, 'error');

  await fillCredentials(page, { apiKey: 'alice key/1' }); // percent-encoded in the query
  await page.getByTestId('connect-button').click();
  await expectState(page, 'live');
  await expect(page.getByTestId('records')).toContainText('first');
});

test('a route that does not allow the page origin is forbidden', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ gateway: routes.web, topic: 'auth', partition: '0' }));
  const banner = page.getByTestId('banner');
  await expect(banner).toHaveAttribute('data-kind', 'forbidden');
  await expect(banner).toContainText('Forbidden: origin not allowed on this route');
  await expectState(page, 'error');
  await screenshot(page, 'auth-forbidden');
});

test('the SDK rejects with typed codes and asks its token provider again after expiry', async ({ page, stack }) => {
  await page.goto(stack.pageUrl({ gateway: routes.jwt, topic: 'auth', partition: '0' }));
  // The first token expires in 3 s: the gateway closes the connection then, and the SDK
  // reconnects with the provider's next token; the subscription carries on.
  const tokens = [
    hs256({ key: 'bob-key', exp: now() + 3 }, 'bob-secret'),
    hs256({ key: 'bob-key', exp: now() + 600 }, 'bob-secret'),
  ];
  const result = await page.evaluate(async ({ jwtUrl, webUrl, tokens }) => {
    const sdk = await import('/sdk/index.mjs');
    let asked = 0;
    const client = await sdk.connect(jwtUrl, {
      tokenProvider: async () => tokens[Math.min(asked++, tokens.length - 1)],
      reconnect: { initialDelayMs: 100, jitter: 0 },
    });
    window.authValues = [];
    const reconnected = new Promise((resolve) => (client.onreconnect = resolve));
    client.subscribe('auth', 0, 'earliest', (batch) => window.authValues.push(...batch.map((r) => sdk.text(r.value))));
    // Refusals, while the first token runs out.
    const failure = (promise) => promise.then(() => null, (e) => [e.code, e.message]);
    const refused = await failure(sdk.connect(jwtUrl, { reconnect: false }));
    const forbidden = await failure(sdk.connect(webUrl, { reconnect: false }));
    const badProvider = await failure(sdk.connect(jwtUrl, { tokenProvider: () => Promise.reject(new Error('no session')) }));
    await reconnected;
    window.authClient = client;
    return { refused, forbidden, badProvider, askedAtReconnect: asked };
  }, { jwtUrl: routes.jwt, webUrl: routes.web, tokens });
  expect(result.refused).toEqual(['unauthorized', 'Missing JWT token in request']);
  expect(result.forbidden).toEqual(['forbidden', 'origin not allowed on this route']);
  expect(result.badProvider).toEqual(['unauthorized', 'tokenProvider failed: no session']);
  expect(result.askedAtReconnect).toBe(2);

  await stack.produce('auth', 0, ['after the expiry']);
  await expect.poll(() => page.evaluate(() => window.authValues)).toContain('after the expiry');
  const values = await page.evaluate(() => window.authValues);
  expect(values.slice(0, 2)).toEqual(['first', 'second']);
  expect(new Set(values).size).toBe(values.length); // no duplicate across the reconnect
  await page.evaluate(() => window.authClient.close());
});
