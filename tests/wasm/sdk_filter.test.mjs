// The WASM SDK's filters and snapshot subscriptions against the real gateway and a
// Kafka-protocol broker, from node: a filtered subscription gets only matching records and its
// next offset still reaches the end; a filtered fetch says where to go on; a snapshot delivers
// the latest record per key (tombstones drop keys), reports each partition's end, then goes live.
// Run with: node --experimental-websocket --test tests/wasm/sdk_filter.test.mjs
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
await sdk.loadModule({ wasmBinary: fs.readFileSync(path.join(bin.sdkDir, 'kpg_wasm.wasm')) });

const stack = new Stack();
before(async () => {
  await stack.start(['wasm-filter:1', 'wasm-state:2'], { web: false });
  await stack.produce('wasm-filter', 0, ['{"status":"paid","total":10}'], 'eu-1', { region: 'eu' });
  await stack.produce('wasm-filter', 0, ['{"status":"open","total":50}'], 'na-1', { region: 'na' });
  await stack.produce('wasm-filter', 0, ['{"status":"open","total":70}'], 'eu-2', { region: 'eu' });
  await stack.produce('wasm-state', 0, ['v1'], 'k1');
  await stack.produce('wasm-state', 0, ['v2'], 'k2');
  await stack.produce('wasm-state', 0, ['v3'], 'k1');
  await stack.produce('wasm-state', 0, [''], 'k2'); // a tombstone: k2 is gone
});
after(async () => stack.stop());

const until = async (check, what, ms = 10000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

test('the gateway announces filters and snapshots with their limits', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    assert.ok(client.serverInfo.features.includes('filters'));
    assert.ok(client.serverInfo.features.includes('snapshot'));
    assert.ok(client.serverInfo.limits.maxFilterConditions > 0);
    assert.ok(client.serverInfo.limits.maxFilterValues > 0);
    assert.equal(typeof client.serverInfo.limits.maxSnapshotBytes, 'number');
  } finally {
    client.close();
  }
});

test('a filtered subscription gets only matching records and its next offset reaches the end', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    const keys = [];
    const filter = sdk.Filter.header('region', 'eu').and(sdk.Filter.jsonCompare('/total', '>=', 50));
    const sub = client.subscribe('wasm-filter', 0, 'earliest', (batch) => {
      for (const r of batch) keys.push(sdk.text(r.key));
    }, undefined, { filter });
    await until(() => sub.nextOffset === 3n, 'next offset 3');
    assert.deepEqual(keys, ['eu-2']);
    sub.cancel();
  } finally {
    client.close();
  }
});

test('a filtered fetch returns the matches and where to fetch next', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    const page = await client.fetchFiltered('wasm-filter', 0, 0n, [{ kind: 'jsonIn', path: '/status', values: ['open'] }]);
    assert.deepEqual(page.records.map((r) => sdk.text(r.key)), ['na-1', 'eu-2']);
    assert.equal(page.nextOffset, 3n);
    const none = await client.fetchFiltered('wasm-filter', 0, 0n, sdk.Filter.keyEquals('nobody'));
    assert.deepEqual(none.records, []);
    assert.equal(none.nextOffset, 3n, 'past the records that did not match');
  } finally {
    client.close();
  }
});

test('a malformed filter is refused at once, before anything is sent', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    assert.throws(() => client.subscribe('wasm-filter', 0, 'earliest', () => {}, undefined,
      { filter: [{ kind: 'jsonIn', path: 'status', values: ['open'] }] }), { name: 'KpgError', code: 'protocol' });
    assert.throws(() => sdk.Filter.jsonCompare('/n', '==', 1), { code: 'protocol' });
  } finally {
    client.close();
  }
});

test('a snapshot delivers the latest record per key, each partition\'s end, then live records', async () => {
  const client = await sdk.connect(stack.gatewayUrl);
  try {
    const events = [];
    client.subscribeTopic('wasm-state', [], 'snapshot', (batch) => {
      for (const r of batch) events.push(`${r.snapshot ? 'S' : 'L'} ${sdk.text(r.key)}=${sdk.text(r.value)}`);
    }, (error) => events.push(`error ${error.message}`), {
      onSnapshotEnd: (partition) => events.push(`end ${partition}`),
      onSnapshotComplete: () => events.push('complete'),
    });
    await until(() => events.includes('complete'), 'the snapshot to complete');
    assert.deepEqual(events.filter((e) => e.startsWith('S ')), ['S k1=v3']);
    assert.deepEqual(events.filter((e) => e.startsWith('end ')).sort(), ['end 0', 'end 1']);
    assert.equal(events.at(-1), 'complete');
    await stack.produce('wasm-state', 1, ['v4'], 'k3');
    await until(() => events.includes('L k3=v4'), 'the live record');
  } finally {
    client.close();
  }
});
