// The WASM SDK's hello negotiation from node, against kpg-apisix-double (which answers hello
// with "unknown command", as Apache APISIX does): the client falls back to the APISIX subset,
// subscriptions (whole-topic form with named partitions, pulling async iterator) still deliver
// every record once, and what the subset cannot do rejects clearly with a typed server code.
// Against the real gateway: push mode (skipped while the gateway does not offer "push").
// Run with: node --experimental-websocket --test tests/wasm/sdk_negotiation.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { Stack, bin } from '../support/stack.mjs';

globalThis.require ??= createRequire(import.meta.url);
globalThis.__dirname ??= bin.sdkDir;
const sdk = await import(path.join(bin.sdkDir, 'index.mjs'));
await sdk.loadModule({ wasmBinary: fs.readFileSync(path.join(bin.sdkDir, 'kpg_wasm.wasm')) });

const doubleBin = process.env.KPG_APISIX_DOUBLE_BIN
  ?? path.join(path.dirname(bin.gateway), '../tests/kpg-apisix-double');
let server;
let url;
const stack = new Stack();
before(async () => {
  server = spawn(doubleBin, ['--records', '60', '--max', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(readline.createInterface({ input: server.stdout }), 'line');
  url = `ws://127.0.0.1:${/listening port=(\d+)/.exec(line)[1]}/kafka`;
  await stack.start(['wasm-push:2', 'wasm-pull:1'], { web: false });
});
after(async () => {
  server.kill('SIGKILL');
  await stack.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('hello falls back to the APISIX subset and says so', async () => {
  const client = await sdk.connect(url);
  try {
    assert.equal(client.mode, 'apisix');
    assert.equal(client.serverInfo.protocolVersion, 0);
    assert.deepEqual(client.serverInfo.features, []);
    assert.equal(sdk.text(await client.ping('after hello')), 'after hello');
    await assert.rejects(client.metadata(['apisix']), (e) => {
      assert.ok(e instanceof sdk.KpgError);
      assert.equal(e.code, 'server');
      assert.equal(e.serverCode, 'unknown_command');
      assert.match(e.message, /does not offer metadata/);
      return true;
    });
    await assert.rejects(client.listOffsets('missing', 0), (e) => e.code === 'server' && e.serverCode === 'unspecified');
  } finally {
    client.close();
  }
});

test('a whole-topic subscription needs named partitions; named, it delivers every record once', async () => {
  const client = await sdk.connect(url);
  try {
    const all = client.subscribeTopic('apisix', [], 'earliest');
    await assert.rejects(all[Symbol.asyncIterator]().next(), /name the partitions/);

    const seen = [];
    for await (const batch of client.subscribeTopic('apisix', [0], 'earliest')) {
      for (const r of batch) {
        assert.equal(r.partition, 0);
        assert.deepEqual(r.headers, []);
        seen.push(r.offset);
      }
      if (seen.at(-1) >= 59n) break;
    }
    assert.deepEqual(seen, Array.from({ length: 60 }, (_, i) => BigInt(i)));
  } finally {
    client.close();
  }
});

test('the async iterator pulls: nothing is fetched before next(), little ahead of it', async () => {
  const client = await sdk.connect(url);
  try {
    const subscription = client.subscribe('apisix', 0, 'earliest');
    await sleep(300);
    assert.equal(subscription.nextOffset, 0n, 'no next(), no fetch');
    const iterator = subscription[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.value[0].offset, 0n);
    await sleep(300);
    // The loop asked for at most 4 batches ahead; a reply holds at most 20 records.
    assert.ok(subscription.nextOffset <= 20n * 5n, `read ahead to ${subscription.nextOffset}`);
    assert.deepEqual([...subscription.nextOffsets.keys()], [0]);
    await iterator.return();
    assert.equal(subscription.active, false);
  } finally {
    client.close();
  }
});

// A client of the real gateway, or null (the test skipped) while the gateway does not push.
async function pushClient(t) {
  const client = await sdk.connect(stack.gatewayUrl);
  if (client.mode === 'kpg' && client.serverInfo.features.includes('push')) return client;
  client.close();
  t.skip('the gateway does not offer push');
  return null;
}

test('push: a whole-topic subscription sees every record once while a producer writes', async (t) => {
  const client = await pushClient(t);
  if (!client) return;
  try {
    const [topic] = await client.metadata(['wasm-push']);
    assert.deepEqual(topic.partitions.map((p) => p.partition), [0, 1]);
    const next = new Map([[0, 0n], [1, 0n]]);
    let total = 0;
    const producing = (async () => {
      for (let i = 0; i < 5; i++) {
        await stack.produce('wasm-push', 0, [`0-${2 * i}`, `0-${2 * i + 1}`]);
        await stack.produce('wasm-push', 1, [`1-${2 * i}`, `1-${2 * i + 1}`]);
      }
    })();
    for await (const batch of client.subscribeTopic('wasm-push', [], 'earliest')) {
      for (const r of batch) {
        assert.equal(r.offset, next.get(r.partition), 'no gap, no duplicate');
        assert.equal(sdk.text(r.value), `${r.partition}-${r.offset}`);
        assert.ok(Array.isArray(r.headers));
        next.set(r.partition, r.offset + 1n);
        total++;
      }
      if (total >= 20) break;
    }
    await producing;
    assert.equal(total, 20);
  } finally {
    client.close();
  }
});

test('push: the iterator grants credit only as it pulls', async (t) => {
  const client = await pushClient(t);
  if (!client) return;
  try {
    await stack.produce('wasm-pull', 0, ['a', 'b', 'c']);
    const subscription = client.subscribe('wasm-pull', 0, 'earliest');
    await sleep(300);
    assert.equal(subscription.nextOffset, 0n, 'no next(), no credit, no records');
    const iterator = subscription[Symbol.asyncIterator]();
    const { value } = await iterator.next();
    assert.equal(value[0].offset, 0n);
    await iterator.return();
  } finally {
    client.close();
  }
});
