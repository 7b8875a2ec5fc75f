// The WASM SDK's produce API against the real gateway and a Kafka-protocol broker, from node:
// produce then read back (key, value, headers, timestamp), the batching producer, and the typed
// refusals (route without produce, topic not allowed, record too large, no consumer groups).
// Run with: node --experimental-websocket --test tests/wasm/sdk_produce.test.mjs
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
let writable;
before(async () => {
  await stack.start(['wasm-produce:2', 'wasm-batch:1', 'wasm-readonly:1'], { web: false });
  writable = await stack.putRoute('writable', '/writable', {
    'kafka-proxy': { produce: { topics: ['wasm-produce', 'wasm-batch'], max_record_bytes: 1000 } },
  });
});
after(async () => stack.stop());

test('produce resolves with partition, offset and timestamp; the record reads back whole', async () => {
  const client = await sdk.connect(writable);
  try {
    assert.ok(client.canProduce);
    assert.ok(client.serverInfo.features.includes('produce'));
    assert.equal(client.serverInfo.limits.maxRecordBytes, 1000);
    const written = await client.produce('wasm-produce', 'hello', {
      key: 'order-7',
      headers: { source: 'wasm', trace: new Uint8Array([0, 255]) },
      partition: 1,
      timestamp: 1767225600123n,
    });
    assert.equal(written.partition, 1);
    assert.equal(typeof written.offset, 'bigint');
    // Not written.timestamp's value: librdkafka's mock cluster acknowledges with a made-up
    // LogAppendTime; the record itself keeps its time (below).
    assert.equal(typeof written.timestamp, 'bigint');
    const [record] = await client.fetch('wasm-produce', 1, written.offset);
    assert.equal(record.offset, written.offset);
    assert.equal(sdk.text(record.key), 'order-7');
    assert.equal(sdk.text(record.value), 'hello');
    assert.equal(record.timestamp, 1767225600123n);
    assert.deepEqual(record.headers.map((h) => [sdk.text(h.key), [...h.value]]), [
      ['source', [...new TextEncoder().encode('wasm')]],
      ['trace', [0, 255]],
    ]);
  } finally {
    client.close();
  }
});

test('the batching producer keeps many records in flight and flush waits for all', async () => {
  const client = await sdk.connect(writable);
  try {
    const producer = client.createProducer({ lingerMs: 2 });
    const results = Array.from({ length: 200 }, (_, i) => producer.send('wasm-batch', `r${i}`, { partition: 0 }));
    assert.ok(producer.pending > 0);
    await producer.flush();
    assert.equal(producer.pending, 0);
    assert.equal(producer.succeeded, 200);
    const offsets = (await Promise.all(results)).map((r) => r.offset);
    // One partition, one connection: written in send() order.
    assert.deepEqual(offsets, offsets.map((_, i) => offsets[0] + BigInt(i)));
    const [first] = await client.fetch('wasm-batch', 0, offsets[0]);
    assert.equal(sdk.text(first.value), 'r0');
    // They went as batches (cmd_kafka_produce_batch), not a request per record: the gateway's
    // count of answered batch requests on this route.
    assert.equal(client.serverInfo.limits.maxProduceBatchRecords, 10000);
    const { body: metrics } = await stack.admin('GET', '/metrics');
    const batches = String(metrics).split('\n')
      .filter((l) => l.startsWith('kpg_commands_total{') && l.includes('command="produce_batch"')
        && l.includes('route="writable"') && l.includes('outcome="ok"'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    assert.ok(batches >= 1 && batches < 200, `${batches} produce_batch requests for 200 records`);
  } finally {
    client.close();
  }
});

test('refusals are typed: no produce on the route, topic not allowed, record too large', async () => {
  const readOnly = await sdk.connect(stack.gatewayUrl);
  try {
    assert.equal(readOnly.canProduce, false);
    await assert.rejects(readOnly.produce('wasm-readonly', 'x'), (e) => {
      assert.ok(e instanceof sdk.KpgError);
      assert.equal(e.code, 'server');
      assert.equal(e.serverCode, 'unknown_command');
      assert.match(e.message, /does not offer produce/);
      assert.equal(e.possiblyWritten, false);
      return true;
    });
  } finally {
    readOnly.close();
  }
  const client = await sdk.connect(writable);
  try {
    await assert.rejects(client.produce('wasm-readonly', 'x'), (e) => e.serverCode === 'not_allowed' && !e.possiblyWritten);
    await assert.rejects(client.produce('wasm-produce', 'x'.repeat(1001)), (e) => {
      assert.equal(e.serverCode, 'record_too_large');
      assert.equal(e.possiblyWritten, false);
      return true;
    });
    assert.throws(() => client.subscribeGroup('g', []), /non-empty array/);
    // A route without plugins.kafka-proxy.groups: the membership ends at once with a typed error.
    let ended;
    const member = client.subscribeGroup('g', ['wasm-produce'], {}, { onError: (e) => { ended = e; } });
    assert.equal(ended?.serverCode, 'unknown_command');
    assert.match(ended.message, /does not offer consumer groups/);
    assert.equal(member.active, false);
    await assert.rejects(member.commit(), (e) => e.code === 'closed');
  } finally {
    client.close();
  }
});
