// The web demo's reader state machine (web-demo/reader.mjs) under node, without a page: a fake
// SDK client stands in for the gateway and a recording view for the DOM.
// Run with: node --test tests/e2e/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialStatus, parseFrom, readQuery, Reader, validate } from '../../../web-demo/reader.mjs';
import { RateMeter } from '../../../web-demo/rates.mjs';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
async function settle(rounds = 10) {
  for (let i = 0; i < rounds; i++) await tick();
}

class FakeSubscription {
  constructor(offset) {
    this.offset = offset;
    this.batches = [];
    this.waiting = null;
    this.paused = false;
    this.cancelled = false;
  }
  deliver(batch) {
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = null;
      resolve({ value: batch, done: false });
    } else this.batches.push(batch);
  }
  fail(error) {
    this.error = error;
    this.waiting?.reject(error);
  }
  pause() { this.paused = true; }
  resume() { this.paused = false; }
  cancel() {
    this.cancelled = true;
    this.waiting?.resolve({ value: undefined, done: true });
  }
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.batches.length) return Promise.resolve({ value: this.batches.shift(), done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.cancelled) return Promise.resolve({ done: true });
        return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; });
      },
    };
  }
}

// serverCode: what a kpg gateway says; an APISIX gateway's errors are all 'unspecified'.
const serverError = (message, serverCode = 'unspecified') =>
  Object.assign(new Error(message), { code: 'server', serverCode });

/** topics: {name: [[earliest, latest], ...]} with bigint offsets; mode: 'kpg' (push) or 'apisix'. */
class FakeClient {
  constructor(topics, { timestampLookup = -1n, mode = 'kpg' } = {}) {
    this.topics = topics;
    this.timestampLookup = timestampLookup;
    this.mode = mode;
    this.serverInfo = { limits: { maxSubscriptions: 0 } };
    this.subscriptions = [];
    this.closed = false;
  }
  #error(topic, partition, what, serverCode) {
    return serverError(`failed to list offset, topic: ${topic}, partition: ${partition}, err: ${what}`,
      this.mode === 'kpg' ? serverCode : 'unspecified');
  }
  async listOffsets(topic, partition, at) {
    const partitions = this.topics[topic];
    if (!partitions) throw this.#error(topic, partition, 'not found topic', 'unknown_topic');
    if (!partitions[partition]) throw this.#error(topic, partition, 'not found partition', 'unknown_partition');
    const [earliest, latest] = partitions[partition];
    if (at === 'earliest') return earliest;
    if (at === 'latest') return latest;
    return this.timestampLookup;
  }
  async metadata(topics) {
    if (this.mode !== 'kpg') throw serverError('unknown command');
    return topics.map((name) => {
      if (!this.topics[name]) throw serverError(`not found topic: ${name}`, 'unknown_topic');
      return { name, partitions: this.topics[name].map(([earliest, latest], partition) => ({ partition, earliest, latest })) };
    });
  }
  subscribe(topic, partition, from) {
    const sub = new FakeSubscription(from.offset);
    sub.topic = topic;
    sub.partition = partition;
    this.subscriptions.push(sub);
    return sub;
  }
  subscribeTopic(topic, partitions, from) {
    const sub = new FakeSubscription(from?.offset ?? from);
    sub.topic = topic;
    sub.partitions = partitions;
    this.subscriptions.push(sub);
    return sub;
  }
  close() { this.closed = true; }
}

function record(offset, value = `v${offset}`) {
  return { offset: BigInt(offset), timestamp: 1000n, key: new Uint8Array(), value: new TextEncoder().encode(value) };
}

/** A view that records what the reader shows. */
function recordingView(form) {
  const view = {
    form,
    rows: [],
    banner: null,
    notice: null,
    state: null,
    order: null,
    query: null,
    partitions: null,
    stats: null,
    gatewayInput: null,
    readForm: () => ({ ...view.form }),
    setGatewayInput: (url) => (view.gatewayInput = url),
    rememberTopic: () => {},
    setState: (state, label) => (view.state = { state, label }),
    showBanner: (kind, banner) => (view.banner = { kind, ...banner }),
    hideBanner: () => (view.banner = null),
    showNotice: (kind, text, action) => (view.notice = { kind, text, action }),
    hideNotice: () => (view.notice = null),
    clearRows: () => (view.rows = []),
    restartList: (order) => {
      view.rows = [];
      view.order = order;
    },
    addRecords: (records) => view.rows.push(...records.map((r) => Number(r.offset))),
    trimRows: () => {},
    setPartitions: (partitions, selected) => (view.partitions = { partitions, selected }),
    updatePartition: () => {},
    selectPartition: () => {},
    showMode: (mode) => (view.mode = mode),
    setQuery: (query) => (view.query = query),
    updateStats: (stats) => (view.stats = stats),
  };
  return view;
}

function makeReader({ topics = { t: [[0n, 30n]] }, form = {}, connectError = null, answers = false, maxRows = 500, client, mode } = {}) {
  const view = recordingView({ gateway: 'ws://127.0.0.1:1/kafka', topic: 't', partition: 0, ...form });
  const clients = [];
  const connects = []; // the options of every sdk.connect
  const sdk = {
    connect: async (url, options) => {
      connects.push(options);
      if (connectError) throw connectError;
      const c = client ?? new FakeClient(topics, { mode });
      clients.push(c);
      return c;
    },
  };
  const reader = new Reader(view, {
    loadSdk: async () => sdk,
    gatewayAnswers: async () => answers,
    rate: new RateMeter(() => 0),
    status: initialStatus(),
    maxRows,
    sdkUrl: '/sdk/index.mjs',
  });
  return { reader, view, clients, connects, status: reader.status };
}

test('connect discovers partitions and reads the last 20 records, then live', async () => {
  const { reader, view, clients, status } = makeReader({ topics: { t: [[0n, 30n], [5n, 7n]] } });
  await reader.connect({ mode: { kind: 'recent' } });
  assert.equal(status.state, 'live');
  assert.deepEqual(status.partitions, [
    { partition: 0, earliest: '0', latest: '30' },
    { partition: 1, earliest: '5', latest: '7' },
  ]);
  const [sub] = clients[0].subscriptions;
  assert.equal(sub.offset, 10n);
  assert.equal(view.order, 'newest-first');
  assert.equal(view.query, 'gateway=ws://127.0.0.1:1/kafka&topic=t&partition=0');
  assert.deepEqual([status.nextOffset, status.latestOffset, status.lag], ['10', '30', '20']);

  sub.deliver([record(10), record(11)]);
  await settle();
  assert.deepEqual(view.rows, [10, 11]);
  assert.deepEqual([status.nextOffset, status.lag, status.recordsReceived], ['12', '18', 2]);
  assert.deepEqual([status.duplicates, status.gaps], [0, 0]);
});

test('records delivered twice or skipped are shown once and counted', async () => {
  const { reader, view, clients, status } = makeReader();
  await reader.connect({ mode: { kind: 'offset', offset: 3n } });
  const [sub] = clients[0].subscriptions;
  sub.deliver([record(3), record(4)]);
  sub.deliver([record(4), record(7)]);
  await settle();
  assert.deepEqual(view.rows, [3, 4, 7]);
  assert.deepEqual([status.duplicates, status.gaps], [1, 2]);
});

test('an invalid form is an error banner; an http:// gateway becomes ws://', async () => {
  let { reader, view, status } = makeReader({ form: { gateway: 'not a url' } });
  await reader.connect();
  assert.equal(status.state, 'error');
  assert.equal(status.banner, 'invalid');
  assert.match(view.banner.detail, /is not a URL/);

  ({ reader, view, status } = makeReader({ form: { gateway: 'http://127.0.0.1:1/kafka' } }));
  await reader.connect();
  assert.equal(view.gatewayInput, 'ws://127.0.0.1:1/kafka');
  assert.equal(status.state, 'live');

  const params = { gateway: 'ftp://x/', topic: 't' };
  assert.match(validate(params), /has the scheme ftp:/);
  assert.match(validate({ gateway: 'ws://x/', topic: '' }), /Enter a topic/);
});

test('a missing topic or partition says so', async () => {
  let { reader, view, status } = makeReader({ form: { topic: 'nope' } });
  await reader.connect();
  assert.deepEqual([status.state, status.banner, view.state.label], ['error', 'topic-missing', 'No such topic']);
  assert.match(view.banner.cause, /not found topic/);

  ({ reader, view, status } = makeReader({ form: { partition: 3 } }));
  await reader.connect();
  assert.deepEqual([status.state, status.banner], ['error', 'partition-missing']);
  assert.match(view.banner.detail, /has one partition, 0/);
  assert.equal(view.partitions.selected, 3);
});

test('a failed connect tells an unreachable gateway from a missing route, with Retry', async () => {
  const error = Object.assign(new Error('connection failed'), { code: 'transport' });
  let { reader, view, status } = makeReader({ connectError: error, answers: false });
  await reader.connect();
  assert.deepEqual([status.state, status.banner, view.state.label], ['error', 'unreachable', 'Not connected']);
  assert.equal(view.banner.action.label, 'Retry');

  ({ reader, view, status } = makeReader({ connectError: error, answers: true }));
  await reader.connect();
  assert.equal(status.banner, 'route-missing');
  assert.match(view.banner.title, /No PubSub route at \/kafka/);
});

test('credentials from the form go to connect, never into the page URL', async () => {
  let { reader, view, connects } = makeReader({ form: { apiKey: 'k 1', token: '' } });
  await reader.connect();
  assert.equal(connects[0].apiKey, 'k 1');
  assert.equal('token' in connects[0], false);
  assert.doesNotMatch(view.query, /k 1|k%201|apikey/);
  ({ reader, connects } = makeReader());
  await reader.connect();
  assert.deepEqual(Object.keys(connects[0]), ['reconnect']);
});

test('a refused connect says Unauthorized or Forbidden with the gateway reason', async () => {
  const refused = Object.assign(new Error('Missing API key found in request'), { code: 'unauthorized' });
  let { reader, view, status } = makeReader({ connectError: refused, answers: true });
  await reader.connect();
  assert.deepEqual([status.state, status.banner, view.state.label], ['error', 'unauthorized', 'Unauthorized']);
  assert.equal(view.banner.title, 'Unauthorized: Missing API key found in request');
  assert.equal(view.banner.action.label, 'Retry');

  const forbidden = Object.assign(new Error('origin not allowed on this route'), { code: 'forbidden' });
  ({ reader, view, status } = makeReader({ connectError: forbidden }));
  await reader.connect();
  assert.equal(status.banner, 'forbidden');
  assert.equal(view.banner.title, 'Forbidden: origin not allowed on this route');

  // A reconnect refused (the token expired) ends the read the same way.
  ({ reader, view, status } = makeReader());
  await reader.connect();
  reader.conn.client.onclose(Object.assign(new Error('failed to verify jwt: token expired'), { code: 'unauthorized' }));
  assert.deepEqual([status.state, status.banner], ['error', 'unauthorized']);
  assert.equal(view.banner.title, 'Unauthorized: failed to verify jwt: token expired');
  assert.equal(reader.session, null);
});

test('an SDK that fails to load is not a gateway problem', async () => {
  const { reader, status, view } = makeReader();
  reader.loadSdk = async () => { throw new Error('cannot fetch http://x/sdk/kpg_wasm.wasm: HTTP 404 Not Found'); };
  await reader.connect();
  assert.equal(status.banner, 'sdk');
  assert.match(view.banner.cause, /kpg_wasm\.wasm: HTTP 404/);
});

test('pause holds records back, resume shows them in order', async () => {
  const { reader, view, clients, status } = makeReader();
  await reader.connect({ mode: { kind: 'latest' } });
  const [sub] = clients[0].subscriptions;
  assert.equal(sub.offset, 30n);
  reader.togglePause();
  assert.equal(status.state, 'paused');
  assert.equal(sub.paused, true);
  sub.deliver([record(30), record(31)]);
  await settle();
  assert.deepEqual(view.rows, []);
  reader.togglePause();
  assert.equal(status.state, 'live');
  assert.equal(sub.paused, false);
  assert.deepEqual(view.rows, [30, 31]);
});

test('reading history holds once the list is full; Keep reading goes on', async () => {
  const { reader, view, clients, status } = makeReader({ maxRows: 5 });
  await reader.connect({ mode: { kind: 'earliest' } });
  assert.equal(view.order, 'oldest-first');
  const [sub] = clients[0].subscriptions;
  sub.deliver([0, 1, 2, 3, 4, 5, 6].map((o) => record(o)));
  await settle();
  assert.deepEqual(view.rows, [0, 1, 2, 3, 4]);
  assert.equal(status.state, 'paused');
  assert.equal(status.notice, 'hold');
  view.notice.action.run();
  assert.deepEqual(view.rows, [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(status.state, 'live');
  assert.equal(status.notice, null);
});

test('seek clamps an offset outside the log and says so', async () => {
  const { reader, view, clients, status } = makeReader({ topics: { t: [[10n, 30n]] } });
  await reader.connect();
  reader.seek({ kind: 'offset', offset: 99n });
  await settle();
  assert.equal(clients[0].subscriptions.at(-1).offset, 30n);
  assert.equal(status.notice, 'clamped');
  assert.match(view.notice.text, /past the end of the log/);
  assert.equal(clients[0].subscriptions[0].cancelled, true);

  reader.seek({ kind: 'offset', offset: 2n });
  await settle();
  assert.equal(clients[0].subscriptions.at(-1).offset, 10n);
  assert.match(view.notice.text, /no longer in the log/);
  assert.equal(status.from, 'offset');
});

test('a time the broker cannot look up reads new records instead, and says why', async () => {
  const { reader, clients, status } = makeReader();
  await reader.connect({ mode: { kind: 'time', time: Date.UTC(2026, 0, 1) } });
  assert.equal(status.notice, 'no-timestamp');
  assert.equal(status.from, 'latest');
  assert.equal(clients[0].subscriptions[0].offset, 30n);
});

test('a lost connection shows reconnecting; the reconnect resumes the read', async () => {
  const { reader, view, clients, status } = makeReader();
  await reader.connect();
  const client = clients[0];
  client.ondisconnect(Object.assign(new Error('socket closed'), { code: 'transport' }));
  assert.deepEqual([status.state, status.banner], ['reconnecting', 'reconnecting']);
  assert.match(view.banner.detail, /carries on at offset 10/);
  client.onreconnect();
  assert.deepEqual([status.state, status.banner], ['live', null]);
  client.onclose(Object.assign(new Error('gave up'), { code: 'closed' }));
  assert.deepEqual([status.state, status.banner], ['error', 'closed']);
  assert.equal(reader.session, null);
});

test('a subscription past retention offers to read from the earliest', async () => {
  const { reader, view, clients, status } = makeReader();
  await reader.connect();
  clients[0].subscriptions[0].fail(serverError('failed to fetch message, err: OFFSET_OUT_OF_RANGE', 'offset_out_of_range'));
  await settle();
  assert.deepEqual([status.state, status.banner], ['error', 'out-of-range']);
  view.banner.action.run();
  await settle();
  assert.equal(clients[0].subscriptions.at(-1).offset, 0n);
  assert.equal(status.state, 'live');
});

test('a newer connect abandons an older one still on its way', async () => {
  const { reader, clients } = makeReader();
  const first = reader.connect();
  const second = reader.connect();
  await Promise.all([first, second]);
  assert.equal(clients.length, 2);
  assert.equal(clients[0].closed, true);
  assert.equal(reader.conn.client, clients[1]);
  assert.equal(clients[0].subscriptions.length, 0);
});

test('from= and the page query round-trip', () => {
  assert.deepEqual(parseFrom(null), { kind: 'recent' });
  assert.deepEqual(parseFrom('42'), { kind: 'offset', offset: 42n });
  assert.deepEqual(parseFrom('2026-11-25T13:50:00Z'), { kind: 'time', time: Date.UTC(2026, 10, 25, 13, 50) });
  assert.equal(parseFrom('soon'), null);
  assert.equal(readQuery('ws://h:1/k', { topic: 'a b', partition: 2, mode: { kind: 'time', time: 0 } }),
    'gateway=ws://h:1/k&topic=a%20b&partition=2&from=1970-01-01T00:00:00.000Z');
});

// --- Whole-topic reads (kpg mode) -------------------------------------------------------------

const inPartition = (partition, offset) => ({ ...record(offset), partition });

test('a whole-topic read starts every partition at its last 20, sharing subscriptions by offset', async () => {
  const { reader, view, clients, status } = makeReader({
    topics: { t: [[0n, 30n], [5n, 7n], [0n, 30n]] }, form: { partition: 'all' },
  });
  await reader.connect({ mode: { kind: 'recent' } });
  assert.deepEqual([status.state, status.mode, status.partition, status.notice], ['live', 'kpg', 'all', null]);
  assert.equal(view.partitions.selected, 'all');
  assert.deepEqual(view.partitions.partitions.length, 3);
  const subs = clients[0].subscriptions;
  assert.deepEqual(subs.map((s) => [s.partitions, s.offset]), [[[0, 2], 10n], [[1], 5n]]);
  assert.equal(view.query, 'gateway=ws://127.0.0.1:1/kafka&topic=t&partition=all');
  assert.deepEqual(status.nextOffsets, { 0: '10', 1: '5', 2: '10' });
  assert.equal(status.lag, '42'); // 20 + 2 + 20
  assert.equal(status.nextOffset, null);

  subs[0].deliver([inPartition(2, 10), inPartition(2, 11)]);
  subs[0].deliver([inPartition(0, 10)]);
  subs[1].deliver([inPartition(1, 5), inPartition(1, 6)]);
  await settle();
  assert.deepEqual(view.rows.sort((a, b) => a - b), [5, 6, 10, 10, 11]);
  assert.deepEqual(status.nextOffsets, { 0: '11', 1: '7', 2: '12' });
  assert.equal(status.lag, '37');
  // Offsets are per partition: the same offset in another partition is no duplicate.
  subs[0].deliver([inPartition(0, 10), inPartition(2, 12)]);
  await settle();
  assert.deepEqual([status.duplicates, status.gaps, status.recordsReceived], [1, 0, 6]);

  reader.togglePause();
  assert.deepEqual(subs.map((s) => s.paused), [true, true]);
  reader.togglePause();
  assert.deepEqual(subs.map((s) => s.paused), [false, false]);
});

test('a whole-topic read from the earliest is one subscription, held once the list is full', async () => {
  const { reader, view, clients, status } = makeReader({
    topics: { t: [[0n, 4n], [0n, 4n]] }, form: { partition: 'all' }, maxRows: 5,
  });
  await reader.connect({ mode: { kind: 'earliest' } });
  const [sub] = clients[0].subscriptions;
  assert.deepEqual([sub.partitions, sub.offset], [[], 'earliest']);
  sub.deliver([0, 1, 2, 3].map((o) => inPartition(0, o)));
  sub.deliver([0, 1, 2, 3].map((o) => inPartition(1, o)));
  await settle();
  assert.equal(view.rows.length, 5);
  assert.deepEqual([status.state, status.notice], ['paused', 'hold']);
  assert.match(view.notice.text, /Paused after 5 records across all partitions so they stay on screen; 3 more/);
  view.notice.action.run();
  assert.equal(view.rows.length, 8);
  assert.equal(status.state, 'live');
});

test('a whole-topic seek to an offset clamps it per partition; a partition can be picked', async () => {
  const { reader, view, clients, status } = makeReader({
    topics: { t: [[0n, 30n], [0n, 3n]] }, form: { partition: 'all' },
  });
  await reader.connect();
  reader.seek({ kind: 'offset', offset: 12n });
  await settle();
  const subs = clients[0].subscriptions.slice(-2);
  assert.deepEqual(subs.map((s) => [s.partitions, s.offset]), [[[0], 12n], [[1], 3n]]);
  assert.equal(status.notice, 'clamped');
  assert.match(view.notice.text, /outside the log of partition 1: it starts at the nearest end/);

  reader.seek({ kind: 'time', time: Date.UTC(2026, 0, 1) });
  await settle();
  const timed = clients[0].subscriptions.at(-1);
  assert.deepEqual([timed.partitions, timed.offset], [[], { timestamp: Date.UTC(2026, 0, 1) }]);
  assert.equal(status.notice, 'time-found');
  assert.deepEqual(status.nextOffsets, {}); // not known until records come
  timed.deliver([inPartition(1, 2)]);
  await settle();
  assert.deepEqual(status.nextOffsets, { 1: '3' });

  // One partition, then all again, keeping the position kind (time: the fake broker finds
  // nothing, so it reads new records).
  reader.choosePartition(1);
  await settle();
  const one = clients[0].subscriptions.at(-1);
  assert.deepEqual([one.partition, one.offset, status.partition, status.notice], [1, 3n, 1, 'no-timestamp']);
  reader.choosePartition('all');
  await settle();
  const all = clients[0].subscriptions.at(-1);
  assert.deepEqual([all.partitions, all.offset, status.partition], [[], 'latest', 'all']);
});

test('on an APISIX gateway a whole-topic read falls back to one partition and says why', async () => {
  const { reader, view, clients, status } = makeReader({
    topics: { t: [[0n, 30n], [0n, 3n]] }, form: { partition: 'all' }, mode: 'apisix',
  });
  await reader.connect();
  assert.deepEqual([status.state, status.mode, status.partition, status.notice], ['live', 'apisix', 0, 'one-partition']);
  assert.match(view.notice.text, /APISIX PubSub subset \(no push\).*partition 0/);
  assert.deepEqual(view.partitions.selected, 0);
  const [sub] = clients[0].subscriptions;
  assert.deepEqual([sub.partition, sub.offset], [0, 10n]);
  assert.equal(view.query, 'gateway=ws://127.0.0.1:1/kafka&topic=t&partition=0');
});

test('errors are told apart by serverCode, never by their text', async () => {
  // kpg: the code says the topic is missing.
  let { reader, view, status } = makeReader({ form: { topic: 'nope', partition: 'all' } });
  await reader.connect();
  assert.deepEqual([status.banner, view.state.label], ['topic-missing', 'No such topic']);

  // APISIX: the same words without a code are shown as they are, not parsed.
  ({ reader, view, status } = makeReader({ form: { topic: 'nope' }, mode: 'apisix' }));
  await reader.connect();
  assert.equal(status.banner, 'error');
  assert.match(view.banner.cause, /not found topic/);

  // Out of range only by its code: the same text with another code is another error.
  const { reader: r2, clients, status: s2 } = makeReader();
  await r2.connect();
  clients[0].subscriptions[0].fail(serverError('failed to fetch message, err: OFFSET_OUT_OF_RANGE', 'unavailable'));
  await settle();
  assert.equal(s2.banner, 'error');
});
