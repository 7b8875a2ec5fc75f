// The WASM SDK (the same C++ core as the native SDK, compiled by Emscripten) against the real
// gateway and a Kafka-protocol broker, from node: the Promise API contract, including
// subscribe. Run with: node --experimental-websocket --test tests/wasm/sdk.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
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
  await stack.start(['wasm:1', 'wasm-sub:1'], { web: false });
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
