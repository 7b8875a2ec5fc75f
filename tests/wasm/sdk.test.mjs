// The WASM SDK (the same C++ core as the native SDK, compiled by Emscripten) against the real
// gateway and a Kafka-protocol broker, from node: the Promise API contract, including
// subscribe. Run with: node --experimental-websocket --test tests/wasm/sdk.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { Stack, bin } from '../support/stack.mjs';

// Emscripten 3.1.6's ES-module glue still uses CommonJS names under node.
globalThis.require ??= createRequire(import.meta.url);
globalThis.__dirname ??= bin.sdkDir;
const sdk = await import(path.join(bin.sdkDir, 'index.mjs'));
// node's fetch() cannot load a file path: hand the module its binary directly.
const wasmBinary = fs.readFileSync(path.join(bin.sdkDir, 'kpg_wasm.wasm'));
await sdk.loadModule({ wasmBinary });

const stack = new Stack();
before(async () => {
  await stack.start(['wasm:1', 'wasm-sub:1', 'wasm-restart:1'], { web: false });
  await stack.produce('wasm', 0, ['a', 'b', 'c'], 'key-1');
});
after(async () => stack.stop());

test('connect, ping, listOffsets and fetch return typed values', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    const pong = await client.ping('hello');
    assert.equal(sdk.text(pong), 'hello');
    assert.equal(await client.listOffsets('wasm', 0, 'earliest'), 0n);
    assert.equal(await client.listOffsets('wasm', 0, 'latest'), 3n);
    const records = await client.fetch('wasm', 0, 1n);
    assert.deepEqual(records.map((r) => r.offset), [1n, 2n]);
    assert.equal(sdk.text(records[0].value), 'b');
    assert.equal(sdk.text(records[0].key), 'key-1');
    assert.equal(typeof records[0].timestamp, 'bigint');
    assert.ok(records[0].value instanceof Uint8Array);
  } finally {
    client.close();
  }
});

test('server errors reject with KpgError code "server" and the server message', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    await assert.rejects(client.listOffsets('missing', 0, 'latest'), (e) => {
      assert.ok(e instanceof sdk.KpgError);
      assert.equal(e.code, 'server');
      assert.equal(e.message, 'failed to list offset, topic: missing, partition: 0, err: not found topic');
      return true;
    });
    await assert.rejects(client.fetch('wasm', 0, 99n), /OFFSET_OUT_OF_RANGE/);
  } finally {
    client.close();
  }
});

test('connecting to a wrong route or port rejects with code "transport"', async () => {
  await assert.rejects(sdk.connect(stack.gatewayUrl.replace('/kafka', '/nope')), (e) => e.code === 'transport');
  await assert.rejects(sdk.connect('ws://127.0.0.1:1/kafka'), (e) => e.code === 'transport');
  await assert.rejects(sdk.connect('not a url'), (e) => e.code === 'transport' && /invalid URL/.test(e.message));
});

test('subscribe with for await delivers every record in order, including later ones', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  await stack.produce('wasm-sub', 0, ['r0', 'r1', 'r2']);
  const subscription = client.subscribe('wasm-sub', 0, 'earliest');
  const seen = [];
  let producedMore = false;
  for await (const batch of subscription) {
    for (const record of batch) seen.push([record.offset, sdk.text(record.value)]);
    if (!producedMore && seen.length >= 3) {
      producedMore = true;
      await stack.produce('wasm-sub', 0, ['r3', 'r4']);
    }
    if (seen.length >= 5) break;  // leaving the loop cancels the subscription
  }
  assert.deepEqual(seen, [[0n, 'r0'], [1n, 'r1'], [2n, 'r2'], [3n, 'r3'], [4n, 'r4']]);
  assert.equal(subscription.active, false);
  client.close();
});

test('a subscription ends with a KpgError when the client closes', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  const subscription = client.subscribe('wasm-sub', 0, 'latest');
  const iterator = subscription[Symbol.asyncIterator]();
  const next = iterator.next();
  setTimeout(() => client.close(), 200);
  await assert.rejects(next, (e) => e.code === 'closed');
});

test('a subscription survives a gateway restart: every record once, in order', async () => {
  await stack.produce('wasm-restart', 0, ['x0', 'x1', 'x2']);
  const client = await sdk.connect(stack.gatewayUrl, { reconnect: { initialDelayMs: 50, maxDelayMs: 300 } });
  const events = [];
  client.ondisconnect = (e) => events.push(`disconnect:${e.code}`);
  client.onreconnect = () => events.push('reconnect');
  const seen = [];
  const subscription = client.subscribe('wasm-restart', 0, 'earliest',
    (batch) => { for (const r of batch) seen.push([r.offset, sdk.text(r.value)]); });
  const waitFor = async (predicate, what) => {
    const deadline = Date.now() + 20_000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; seen ${seen.length}, events ${events}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  try {
    await waitFor(() => seen.length >= 3, 'the first records');
    const port = Number(new URL(stack.gatewayUrl).port);
    await stack.stopGateway();
    await waitFor(() => client.reconnecting, 'the client to notice');
    await stack.produce('wasm-restart', 0, ['x3', 'x4']);  // written during the outage
    await stack.startGateway(port);
    await waitFor(() => events.includes('reconnect'), 'the reconnect');
    await stack.produce('wasm-restart', 0, ['x5']);
    await waitFor(() => seen.length >= 6, 'all records');
    await new Promise((r) => setTimeout(r, 300));  // a duplicate would arrive by now
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5].map((n) => [BigInt(n), `x${n}`]));
    assert.equal(subscription.active, true);
    assert.deepEqual(events, ['disconnect:transport', 'reconnect']);
  } finally {
    client.close();
  }
});

test('with reconnect off a drop ends the client: onclose, and the subscription rejects', async () => {
  const client = await sdk.connect(stack.gatewayUrl, { reconnect: false });
  const closed = new Promise((resolve) => { client.onclose = resolve; });
  const iterator = client.subscribe('wasm-sub', 0, 'latest')[Symbol.asyncIterator]();
  const ended = iterator.next().then(() => null, (e) => e);
  const port = Number(new URL(stack.gatewayUrl).port);
  await stack.stopGateway();
  try {
    assert.equal((await closed).code, 'transport');
    const error = await ended;
    assert.ok(error instanceof sdk.KpgError);
    assert.equal(error.code, 'closed');
    assert.match(error.message, /connection lost/);
    assert.equal(client.isOpen, false);
  } finally {
    await stack.startGateway(port);
  }
});

test('connect rejects invalid options with a message naming the option', async () => {
  await assert.rejects(sdk.connect(stack.gatewayUrl, { reconnect: { jitter: 3 } }),
    (e) => e.code === 'protocol' && /reconnect.jitter/.test(e.message));
  await assert.rejects(sdk.connect(stack.gatewayUrl, { requestTimeoutMs: -1 }),
    (e) => /requestTimeoutMs/.test(e.message));
});

test('credentials: an API key opens a key-auth route; a refusal rejects "unauthorized"', async () => {
  await stack.putConsumer({ username: 'wasm-user', plugins: { 'key-auth': { key: 'wasm key&1' } } });
  const url = `${await stack.putRoute('wasm-keyed', '/wasm-keyed', { 'key-auth': {} })}?x=1`;
  const client = await sdk.connect(url, { apiKey: 'wasm key&1' }); // percent-encoded after ?x=1
  assert.equal(sdk.text(await client.ping('hi')), 'hi');
  client.close();
  await assert.rejects(sdk.connect(url, { apiKey: 'wrong' }),
    (e) => e.code === 'unauthorized' && e.message === 'Invalid API key in request');
  await assert.rejects(sdk.connect(url, { tokenProvider: () => 'not a key' }),
    (e) => e.code === 'unauthorized' && e.message === 'Missing API key found in request');
  await assert.rejects(sdk.connect(url, { apiKey: 42 }), (e) => e.code === 'protocol' && /apiKey/.test(e.message));
  await assert.rejects(sdk.connect(url, { tokenProvider: 'token' }),
    (e) => e.code === 'protocol' && /tokenProvider/.test(e.message));
});

test('against an independent APISIX-behaviour server, subscribe still delivers every record once', async () => {
  const doubleBin = process.env.KPG_APISIX_DOUBLE_BIN
    ?? path.join(path.dirname(bin.gateway), '../tests/kpg-apisix-double');
  const server = spawn(doubleBin, ['--records', '40', '--max', '60', '--grow-every-ms', '10'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = await once(readline.createInterface({ input: server.stdout }), 'line');
    const port = /listening port=(\d+)/.exec(line)[1];
    const client = await sdk.connect(`ws://127.0.0.1:${port}/kafka`);
    const seen = [];
    for await (const batch of client.subscribe('apisix', 0, { offset: 13n })) {
      for (const r of batch) seen.push(r.offset);
      if (seen.at(-1) >= 59n) break;
    }
    client.close();
    assert.deepEqual(seen, Array.from({ length: 47 }, (_, i) => BigInt(13 + i)));
  } finally {
    server.kill('SIGKILL');
  }
});

test('a for-await loop slower than the partition stops the fetching until it catches up', async () => {
  const doubleBin = process.env.KPG_APISIX_DOUBLE_BIN
    ?? path.join(path.dirname(bin.gateway), '../tests/kpg-apisix-double');
  // 400 records; each fetch reply carries at most 20 of them.
  const server = spawn(doubleBin, ['--records', '400', '--max', '400'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = await once(readline.createInterface({ input: server.stdout }), 'line');
    const client = await sdk.connect(`ws://127.0.0.1:${/listening port=(\d+)/.exec(line)[1]}/kafka`);
    const subscription = client.subscribe('apisix', 0, 'earliest');
    const iterator = subscription[Symbol.asyncIterator]();
    const first = await iterator.next();
    await new Promise((r) => setTimeout(r, 500));  // the loop "works" while records wait
    // 16 unread batches of <= 20 records, plus at most one reply in flight: far from 400.
    assert.ok(subscription.nextOffset <= 20n * 18n, `read ahead to ${subscription.nextOffset}`);
    assert.equal(subscription.paused, false, 'flow control is not a user pause');
    const seen = first.value.map((r) => r.offset);
    while (seen.at(-1) < 399n) {
      const { value } = await iterator.next();
      seen.push(...value.map((r) => r.offset));
    }
    assert.deepEqual(seen, Array.from({ length: 400 }, (_, i) => BigInt(i)));
    client.close();
  } finally {
    server.kill('SIGKILL');
  }
});
