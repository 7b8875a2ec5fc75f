// @kpg/sdk — Kafka PubSub client for the browser (and node with a WebSocket), compiled from the
// same C++ core as the native SDK. Promise API; errors reject with KpgError.
import createKpgModule from './kpg_wasm.mjs';

let modulePromise;

/** Loads the WebAssembly module once. Options go to the Emscripten module factory. */
export function loadModule(moduleOptions) {
  modulePromise ??= instantiate(moduleOptions ?? {}).catch((error) => {
    modulePromise = undefined;  // a failed load (e.g. network) may be retried
    throw new KpgError('transport', `cannot load the kpg WebAssembly module: ${error?.message ?? error}`);
  });
  return modulePromise;
}

// The .wasm beside this file, written as `new URL('<literal>', import.meta.url)` so that bundlers
// (vite, rollup, webpack 5, parcel) emit it with the bundle and rewrite the URL. Inside a
// function: a script bundle without import.meta must still load when locateFile is given.
function defaultWasmUrl() {
  return new URL('./kpg_wasm.wasm', import.meta.url).href;
}

// Fetches and compiles the .wasm here rather than in the Emscripten glue, so that a failure names
// the URL it tried (the glue only reports "both async and sync fetching of the wasm failed").
async function compileWasm(url) {
  let response;
  try {
    response = await fetch(url, { credentials: 'same-origin' });
  } catch (error) {
    throw new Error(`cannot fetch ${url}: ${error?.message ?? error}`);
  }
  if (!response.ok) throw new Error(`cannot fetch ${url}: HTTP ${response.status} ${response.statusText}`.trimEnd());
  const type = response.headers.get('content-type') ?? '';
  try {
    // Streaming compilation needs application/wasm; any other type still works, just slower.
    if (/^application\/wasm\b/i.test(type) && WebAssembly.compileStreaming) {
      return await WebAssembly.compileStreaming(response);
    }
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (error) {
    throw new Error(`${url} (served as ${type || 'no type'}) is not the kpg WebAssembly module: ${error?.message ?? error}`);
  }
}

async function instantiate(options) {
  if (options.wasmBinary || options.instantiateWasm) return createKpgModule(options);
  let url;
  if (options.locateFile) {
    let directory = '';
    try {
      directory = defaultWasmUrl().replace(/[^/]*$/, '');
    } catch {
      // no import.meta (a classic-script bundle): locateFile alone decides
    }
    url = options.locateFile('kpg_wasm.wasm', directory);
  } else {
    url = defaultWasmUrl();
  }
  const wasmModule = await compileWasm(url);
  // The glue never settles when instantiateWasm fails asynchronously: race the failure.
  let failed;
  const failure = new Promise((_, reject) => { failed = reject; });
  const instantiateWasm = (imports, receiveInstance) => {
    WebAssembly.instantiate(wasmModule, imports)
      .then((instance) => receiveInstance(instance, wasmModule))
      .catch((error) => failed(new Error(`cannot instantiate ${url}: ${error?.message ?? error}`)));
    return {};
  };
  return Promise.race([createKpgModule({ ...options, instantiateWasm }), failure]);
}

export class KpgError extends Error {
  constructor(code, message, serverCode = 'unspecified', possiblyWritten = false) {
    super(message);
    this.name = 'KpgError';
    /**
     * 'transport' | 'timeout' | 'closed' | 'server' | 'protocol' | 'unauthorized' (the gateway
     * refused the credential: HTTP 401) | 'forbidden' (it refused the client: HTTP 403, e.g.
     * the page's origin); `message` is then the gateway's reason.
     */
    this.code = code;
    /**
     * With code 'server': the gateway's reason ('unknown_topic', 'offset_out_of_range',
     * 'unavailable', ...); 'unspecified' from an APISIX gateway. Never parse `message`.
     */
    this.serverCode = serverCode;
    /**
     * produce() only: true when the record may have been written although the call failed (no
     * acknowledgement came); false when it certainly was not.
     */
    this.possiblyWritten = possiblyWritten;
  }
}

function kpgError(error) {
  return new KpgError(error.code, error.message, error.serverCode, !!error.possiblyWritten);
}

const encoder = new TextEncoder();

// null / undefined stay null (a null key or value); strings are UTF-8 encoded.
function toBytesOrNull(data, what) {
  if (data === null || data === undefined) return null;
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new KpgError('protocol', `${what} must be a string, a Uint8Array, an ArrayBuffer or null`);
}

// headers: [{key, value}] or [[key, value]] or {key: value} (strings or bytes).
function toHeaders(headers) {
  if (headers === undefined || headers === null) return [];
  const entries = Array.isArray(headers)
    ? headers.map((h) => (Array.isArray(h) ? { key: h[0], value: h[1] } : h))
    : Object.entries(headers).map(([key, value]) => ({ key, value }));
  return entries.map((h) => {
    if (!h || typeof h !== 'object') throw new KpgError('protocol', 'headers must be [{key, value}], [[key, value]] or {key: value}');
    return {
      key: toBytesOrNull(h.key, 'header key') ?? new Uint8Array(),
      value: toBytesOrNull(h.value, 'header value') ?? new Uint8Array(),
    };
  });
}

function checkProduceOptions(options) {
  if (options === null || typeof options !== 'object') throw new KpgError('protocol', 'produce options must be an object');
  const { key, headers, partition, timestamp } = options;
  if (partition !== undefined && partition !== null) checkPartition(partition);
  let ts = '';
  if (timestamp !== undefined && timestamp !== null) {
    ts = timestamp instanceof Date ? String(timestamp.getTime()) : toInt64String(timestamp, 'timestamp');
  }
  return {
    key: toBytesOrNull(key, 'key'),
    headers: toHeaders(headers),
    partition: partition === undefined || partition === null ? -1 : partition,
    timestamp: ts,
  };
}

/**
 * A batching producer (KpgClient.createProducer): send() returns at once with a Promise of the
 * record's result; records are handed to the client together after `lingerMs` (0: in the same
 * task), at most `maxInFlight` unanswered (0: as many as the gateway's limits allow; the client
 * queues beyond those). flush() resolves once everything sent before it is answered.
 *
 * Ordering: records go out in send() order and the records of one partition are written in that
 * order. A failed record does not stop later ones (they may be written after it), so retrying a
 * failed record puts it after them; stop at the first error if strict order matters.
 */
const MICROTASK = Symbol('microtask');

export class KpgProducer {
  #client;
  #maxInFlight;
  #lingerMs;
  #lingering = [];
  #timer = null;
  #inFlight = 0;
  #flushes = [];
  #succeeded = 0;
  #failed = 0;

  /** @internal use KpgClient.createProducer */
  constructor(client, { maxInFlight = 0, lingerMs = 0 } = {}) {
    if (!(Number.isInteger(maxInFlight) && maxInFlight >= 0)) throw new KpgError('protocol', 'maxInFlight must be a non-negative integer (0: the gateway\'s limits)');
    if (!(typeof lingerMs === 'number' && Number.isFinite(lingerMs) && lingerMs >= 0)) throw new KpgError('protocol', 'lingerMs must be a non-negative number of milliseconds');
    this.#client = client;
    this.#maxInFlight = maxInFlight;
    this.#lingerMs = lingerMs;
  }

  /** Like KpgClient.produce, without waiting: resolves with {partition, offset, timestamp}. */
  send(topic, value, options = {}) {
    return new Promise((resolve, reject) => {
      this.#lingering.push({ topic, value, options, resolve, reject });
      if (this.#timer === null) {
        if (this.#lingerMs > 0) {
          this.#timer = setTimeout(() => this.#handOver(), this.#lingerMs);
        } else {
          // Records sent in the same task go over together.
          this.#timer = MICROTASK;
          queueMicrotask(() => { if (this.#timer === MICROTASK) this.#handOver(); });
        }
      }
    });
  }

  /** Resolves once every record sent before it has been answered (failed ones included). */
  flush() {
    this.#handOver();
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushes.push(resolve));
  }

  /** Records sent and not answered yet. */
  get pending() { return this.#lingering.length + this.#inFlight; }
  get succeeded() { return this.#succeeded; }
  get failed() { return this.#failed; }

  #handOver() {
    if (this.#timer !== null && this.#timer !== MICROTASK) clearTimeout(this.#timer);
    this.#timer = null;
    // Everything that may go is handed over together: the client sends it in as few requests as
    // the gateway allows (one cmd_kafka_produce_batch where it offers batches).
    const records = [];
    while (this.#lingering.length && (this.#maxInFlight === 0 || this.#inFlight < this.#maxInFlight)) {
      records.push(this.#lingering.shift());
      this.#inFlight += 1;
    }
    if (!records.length) return;
    let answers;
    try {
      answers = this.#client._produceMany(records);
    } catch (error) {
      answers = records.map(() => Promise.reject(error));
    }
    records.forEach(({ resolve, reject }, i) => answers[i].then(
      (result) => { this.#succeeded += 1; this.#answered(); resolve(result); },
      (error) => { this.#failed += 1; this.#answered(); reject(error); },
    ));
  }

  #answered() {
    this.#inFlight -= 1;
    if (this.#lingering.length && this.#timer === null) this.#handOver();
    if (this.pending === 0 && this.#flushes.length) {
      const flushes = this.#flushes;
      this.#flushes = [];
      for (const resolve of flushes) resolve();
    }
  }
}

/**
 * A consumer-group membership (KpgClient.subscribeGroup). commit() commits; cancel() leaves the
 * group. `assignment` lists the partitions this member owns now.
 */
export class KpgGroupSubscription {
  #native;
  #done = false;

  /** @internal */
  constructor(native) {
    this.#native = native;
  }

  /**
   * Commits offsets (the next offsets to read: last record processed + 1), e.g. [{topic,
   * partition, offset}]; none (or []) commits everything delivered so far. Resolves with what
   * the gateway committed; rejects with serverCode 'rebalanced' for a partition no longer this
   * member's.
   */
  commit(offsets = []) {
    return promisify((cb) => {
      if (this.#done || !this.#native) throw new KpgError('closed', 'the group subscription has ended');
      if (!Array.isArray(offsets)) throw new KpgError('protocol', 'offsets must be an array of {topic, partition, offset}');
      const list = offsets.map((o) => {
        checkPartition(o?.partition);
        return { topic: String(o.topic), partition: o.partition, offset: toInt64String(o.offset, 'offset') };
      });
      this.#native.commit(list, cb);
    });
  }

  /** Leaves the group; no callback runs afterwards. Idempotent. */
  cancel() {
    if (this.#done) return;
    this.#native?.cancel();
    this.#end();
  }

  get active() { return !this.#done && !!this.#native?.active(); }
  /** [{topic, partition, offset: bigint}]: the partitions this member owns (offset: where it started). */
  get assignment() { return this.#done || !this.#native ? [] : this.#native.assignment(); }

  /** @internal */
  _ended() { this.#end(); }

  #end() {
    if (this.#done) return;
    this.#done = true;
    const native = this.#native;
    setTimeout(() => { native?.delete(); this.#native = null; }, 0);
  }
}

const COMPARE_OPS = ['<', '<=', '>', '>='];

function checkJsonPath(path) {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
    throw new KpgError('protocol', `JSON path must be a JSON Pointer string ('' or starting with '/'), got ${JSON.stringify(path)}`);
  }
  return path;
}

function checkJsonScalar(value) {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  throw new KpgError('protocol', 'JSON values must be strings, finite numbers, booleans or null');
}

// A condition literal checked and normalised (bytes stay as given: strings or bytes).
function checkCondition(c) {
  if (!c || typeof c !== 'object') throw new KpgError('protocol', 'a filter condition must be an object with a kind');
  switch (c.kind) {
    case 'keyEquals':
      return Object.freeze({ kind: 'keyEquals', key: bytesOf(c.key, 'keyEquals key') });
    case 'keyPrefix':
      return Object.freeze({ kind: 'keyPrefix', prefix: bytesOf(c.prefix, 'keyPrefix prefix') });
    case 'header':
      return Object.freeze({ kind: 'header', key: bytesOf(c.key, 'header key'), value: bytesOf(c.value, 'header value') });
    case 'jsonIn': {
      if (!Array.isArray(c.values) || c.values.length === 0) throw new KpgError('protocol', 'jsonIn needs a non-empty array of values');
      return Object.freeze({ kind: 'jsonIn', path: checkJsonPath(c.path), values: Object.freeze(c.values.map(checkJsonScalar)) });
    }
    case 'jsonCompare':
      if (!COMPARE_OPS.includes(c.op)) throw new KpgError('protocol', "jsonCompare op must be '<', '<=', '>' or '>='");
      if (!(typeof c.value === 'number' && Number.isFinite(c.value))) throw new KpgError('protocol', 'jsonCompare value must be a finite number');
      return Object.freeze({ kind: 'jsonCompare', path: checkJsonPath(c.path), op: c.op, value: c.value });
    default:
      throw new KpgError('protocol', `unknown filter condition kind ${JSON.stringify(c.kind)} (keyEquals, keyPrefix, header, jsonIn, jsonCompare)`);
  }
}

function bytesOf(data, what) {
  const bytes = toBytesOrNull(data, what);
  if (bytes === null) throw new KpgError('protocol', `${what} must be a string or bytes`);
  return typeof data === 'string' ? data : bytes;
}

/**
 * Which records a subscription or a fetch receives, evaluated by the gateway (a kpg gateway
 * offering the 'filters' feature). A conjunction: a record matches when every condition holds;
 * `new Filter()` has none and matches everything. Immutable: and() returns a new Filter.
 *
 *   Filter.keyPrefix('eu-').and(Filter.header('region', 'eu-west'),
 *                               Filter.jsonIn('/status', ['open', 'paid']),
 *                               Filter.jsonCompare('/amount', '>=', 100))
 *
 * Wherever a filter is taken, an array of condition literals works too:
 * [{kind: 'keyPrefix', prefix: 'eu-'}, {kind: 'jsonCompare', path: '/amount', op: '>=', value: 100}].
 */
export class Filter {
  #conditions;

  /** conditions: condition literals (see `conditions`); none: every record matches. */
  constructor(conditions = []) {
    if (!Array.isArray(conditions)) throw new KpgError('protocol', 'a filter is an array of conditions');
    this.#conditions = Object.freeze(conditions.map(checkCondition));
  }

  /** The record's key is exactly `key` (a string is UTF-8). */
  static keyEquals(key) { return new Filter([{ kind: 'keyEquals', key }]); }
  /** The record's key starts with `prefix`. */
  static keyPrefix(prefix) { return new Filter([{ kind: 'keyPrefix', prefix }]); }
  /** Some header of the record has key `key` and exactly the value `value`. */
  static header(key, value) { return new Filter([{ kind: 'header', key, value }]); }
  /** The value is JSON and the field at `path` (a JSON Pointer: '/a/b', '/items/0') equals one of `values`. */
  static jsonIn(path, values) { return new Filter([{ kind: 'jsonIn', path, values }]); }
  /** The value is JSON and the field at `path` is a number with field `op` `value`. */
  static jsonCompare(path, op, value) { return new Filter([{ kind: 'jsonCompare', path, op, value }]); }

  /** This filter's conditions and those of every other (Filters or condition arrays). */
  and(...others) {
    return new Filter([...this.#conditions, ...others.flatMap((f) => toFilter(f).conditions)]);
  }

  /** The conditions, as frozen literals. */
  get conditions() { return this.#conditions; }
  /** True when there is no condition (every record matches). */
  get empty() { return this.#conditions.length === 0; }
}

function toFilter(filter) {
  if (filter === undefined || filter === null) return new Filter();
  if (filter instanceof Filter) return filter;
  if (Array.isArray(filter)) return new Filter(filter);
  throw new KpgError('protocol', 'filter must be a Filter or an array of filter conditions');
}

// The shape bindings.cpp reads: bytes as Uint8Array, JSON values typed.
function nativeFilter(filter) {
  const typed = (v) => (v === null ? { type: 'null', value: 0 }
    : typeof v === 'string' ? { type: 'string', value: v }
      : typeof v === 'boolean' ? { type: 'bool', value: v } : { type: 'number', value: v });
  return toFilter(filter).conditions.map((c) => {
    switch (c.kind) {
      case 'keyEquals': return { kind: c.kind, key: toBytesOrNull(c.key, 'key') };
      case 'keyPrefix': return { kind: c.kind, key: toBytesOrNull(c.prefix, 'prefix') };
      case 'header': return { kind: c.kind, key: toBytesOrNull(c.key, 'key'), value: toBytesOrNull(c.value, 'value') };
      case 'jsonIn': return { kind: c.kind, path: c.path, values: c.values.map(typed) };
      default: return { kind: c.kind, path: c.path, op: c.op, number: c.value };
    }
  });
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function toInt64String(value, what) {
  let big;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
  else if (typeof value === 'string' && /^-?\d+$/.test(value)) big = BigInt(value);
  else throw new KpgError('protocol', `${what} must be a bigint, a safe integer or a decimal string`);
  if (big < INT64_MIN || big > INT64_MAX) throw new KpgError('protocol', `${what} is out of int64 range`);
  return big.toString();
}

function atToString(at) {
  if (at === 'earliest') return '-2';
  if (at === 'latest') return '-1';
  if (at instanceof Date) return String(at.getTime());
  if (at && typeof at === 'object' && 'timestamp' in at) return toInt64String(at.timestamp, 'timestamp');
  return toInt64String(at, 'at');
}

function checkPartition(partition) {
  if (!Number.isInteger(partition) || partition < 0 || partition > 2147483647) {
    throw new KpgError('protocol', 'partition must be an integer from 0 to 2147483647');
  }
}

function checkPartitions(partitions) {
  if (!Array.isArray(partitions)) throw new KpgError('protocol', 'partitions must be an array of partition numbers');
  partitions.forEach(checkPartition);
}

// Every Promise-returning call rejects (never throws), argument errors included.
function promisify(start) {
  return new Promise((resolve, reject) => {
    start((error, value) => (error ? reject(kpgError(error)) : resolve(value)));
  });
}

function fromToKind(from) {
  if (from === 'earliest' || from === 'latest' || from === 'snapshot') return [from, '0'];
  if (from instanceof Date) return ['timestamp', String(from.getTime())];
  if (from && typeof from === 'object') {
    if ('offset' in from) return ['offset', toInt64String(from.offset, 'from.offset')];
    if ('timestamp' in from) return ['timestamp', toInt64String(from.timestamp, 'from.timestamp')];
  }
  return ['offset', toInt64String(from, 'from')];
}

// The async iterator pulls: it asks the core for at most this many batches ahead of the loop
// (in kpg mode that is the credit granted to the gateway), so a slow page never buffers more.
const PULL_AHEAD = 4;

/**
 * A running subscription. Iterate it with `for await (const batch of subscription)` (each next()
 * asks for the next batch: nothing is fetched or pushed beyond what the loop consumes), or pass a
 * handler to subscribe(). Ends (iteration finishes) on cancel(); rejects with KpgError when
 * the subscription fails.
 */
export class KpgSubscription {
  #native;
  #single;
  #batches = [];
  #asked = 0; // pull mode: batches asked for and not yet delivered
  #userPaused = false;
  #waiting = null;
  #error = null;
  #done = false;
  #final = { nextOffset: -1n, nextOffsets: new Map() };

  /** @internal */
  constructor(start, handler, onError, single, { onSnapshotEnd, onSnapshotComplete } = {}) {
    this.#single = single;
    this.#native = start(
      !handler, // no handler: the iterator pulls
      (batch) => {
        if (handler) handler(batch);
        else this.#push(batch);
      },
      (error) => {
        this.#error = kpgError(error);
        this.#finish();
        onError?.(this.#error);
      },
      (partition) => {
        if (partition >= 0) onSnapshotEnd?.(partition);
        else onSnapshotComplete?.();
      },
    );
  }

  #push(batch) {
    if (this.#asked > 0) this.#asked -= 1;
    if (this.#waiting) {
      const { resolve } = this.#waiting;
      this.#waiting = null;
      resolve({ value: batch, done: false });
      this.#askAhead();
    } else {
      this.#batches.push(batch);
    }
  }

  #askAhead() {
    const want = PULL_AHEAD - this.#batches.length - this.#asked;
    if (want > 0 && !this.#done && this.#native) {
      this.#asked += want;
      this.#native.request(want);
    }
  }

  #finish() {
    if (this.#done) return;
    this.#done = true;
    // Free the wasm-side handle once the current native callback has returned.
    setTimeout(() => {
      if (this.#native) {
        this.#final = { nextOffset: this.#native.nextOffset(), nextOffsets: new Map(this.#native.nextOffsets()) };
        this.#native.delete();
        this.#native = null;
      }
    }, 0);
    if (this.#waiting) {
      const { resolve, reject } = this.#waiting;
      this.#waiting = null;
      if (this.#error) reject(this.#error);
      else resolve({ value: undefined, done: true });
    }
  }

  /** Stops delivery until resume(); records keep their place. */
  pause() {
    if (this.#done) return;
    this.#userPaused = true;
    this.#native?.pause();
  }
  resume() {
    if (this.#done) return;
    this.#userPaused = false;
    this.#native?.resume();
  }
  /** Stops for good; a pending iteration step finishes with done. */
  cancel() {
    if (this.#done) return;
    this.#native?.cancel();
    this.#finish();
  }
  get active() { return !this.#done && !!this.#native?.active(); }
  get paused() { return this.#userPaused; }
  /**
   * Of a one-partition subscription: the offset of the next record to be delivered (bigint; -1n
   * before the start is known). -1n for several partitions: see nextOffsets.
   */
  get nextOffset() {
    if (!this.#single) return -1n;
    return this.#native ? this.#native.nextOffset() : this.#final.nextOffset;
  }
  /** Map partition -> next offset (bigint) of every partition whose start is known. */
  get nextOffsets() { return this.#native ? new Map(this.#native.nextOffsets()) : this.#final.nextOffsets; }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.#batches.length) {
          const value = this.#batches.shift();
          this.#askAhead();
          return Promise.resolve({ value, done: false });
        }
        if (this.#done) return this.#error ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
        const step = new Promise((resolve, reject) => { this.#waiting = { resolve, reject }; });
        this.#askAhead();
        return step;
      },
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** Decodes bytes as UTF-8 text. */
export function text(bytes) {
  return new TextDecoder().decode(bytes);
}

export class KpgClient {
  #native;
  #closed = false;

  /** @internal use connect() */
  constructor(native) {
    this.#native = native;
    /** Called with a KpgError each time the connection drops (the client then reconnects). */
    this.ondisconnect = null;
    /** Called each time an automatic reconnect succeeds; subscriptions carry on by themselves. */
    this.onreconnect = null;
    /** Called once with a KpgError when the client ends for good other than by close(). */
    this.onclose = null;
    native.setOnEvent((kind, error) => {
      if (kind === 'disconnect') this.ondisconnect?.(kpgError(error));
      else if (kind === 'reconnect') this.onreconnect?.();
      else if (kind === 'close') {
        this.#release();
        this.onclose?.(kpgError(error));
      }
    });
  }

  get isOpen() {
    return !this.#closed && this.#native.isOpen();
  }

  /**
   * What hello negotiated on the current connection: {protocolVersion, features, limits,
   * server}. protocolVersion 0 and no features on an APISIX gateway (mode 'apisix').
   */
  get serverInfo() {
    return this.#live().serverInfo();
  }

  /** 'kpg' when the gateway speaks the kpg extensions (push, metadata, headers, codes), else 'apisix'. */
  get mode() {
    return this.serverInfo.protocolVersion > 0 ? 'kpg' : 'apisix';
  }

  /**
   * Topics with their partitions: [{name, partitions: [{partition, earliest: bigint, latest:
   * bigint}]}]; no topics = every topic of the route. kpg mode only: an APISIX gateway does not
   * offer it (rejects with code 'server', serverCode 'unknown_command').
   */
  metadata(topics = []) {
    return promisify((cb) => {
      if (!Array.isArray(topics)) throw new KpgError('protocol', 'topics must be an array of names');
      this.#live().metadata(topics.map(String), cb);
    });
  }

  /** True while the connection is lost and the client is trying to re-establish it. */
  get reconnecting() {
    return !this.#closed && this.#native.reconnecting();
  }

  #live() {
    if (this.#closed) throw new KpgError('closed', 'client is closed');
    return this.#native;
  }

  /** Round trip; resolves with the state echoed by the gateway. */
  ping(state = new Uint8Array()) {
    return promisify((cb) => {
      const bytes = typeof state === 'string' ? new TextEncoder().encode(state) : state;
      this.#live().ping(bytes, cb);
    });
  }

  /** at: 'earliest' | 'latest' | Date | bigint/number ms timestamp. Resolves with a bigint offset. */
  listOffsets(topic, partition, at = 'latest') {
    return promisify((cb) => {
      checkPartition(partition);
      this.#live().listOffsets(String(topic), partition, atToString(at), cb);
    });
  }

  /** Records from `offset` on: [{offset: bigint, timestamp: bigint, key: Uint8Array, value: Uint8Array}] */
  fetch(topic, partition, offset) {
    return promisify((cb) => {
      checkPartition(partition);
      this.#live().fetch(String(topic), partition, toInt64String(offset, 'offset'), cb);
    });
  }

  /**
   * The records from `offset` on that match `filter` (a Filter or condition literals), and where
   * to fetch from next: resolves with {records, nextOffset: bigint}. nextOffset is past every
   * record the gateway read, matching or not, so a loop fetching from it moves on even when
   * nothing matched. A non-empty filter needs the gateway's 'filters' feature: otherwise it
   * rejects with serverCode 'unknown_command' (also in mode 'apisix'); beyond the gateway's
   * limits.maxFilterConditions / maxFilterValues with 'limit_exceeded', before sending.
   */
  fetchFiltered(topic, partition, offset, filter) {
    return promisify((cb) => {
      checkPartition(partition);
      const conditions = nativeFilter(filter);
      this.#live().fetchFiltered(String(topic), partition, toInt64String(offset, 'offset'), conditions, cb);
    });
  }

  /**
   * Every record of the partition from `from` on, in order, without gaps or duplicates.
   * from: 'earliest' | 'latest' | {offset} | {timestamp} | Date | bigint/number offset.
   * With `handler(batch)` batches go to it (and `onError(KpgError)` learns when the subscription
   * ends on an error); without, iterate the result with for await. Subscriptions survive
   * reconnects; one made while reconnecting starts when the connection is back.
   * Throws KpgError('protocol') at once for invalid arguments or a closed client.
   *
   * from 'snapshot': first the latest record of each key up to the end of the partition as it
   * is now (tombstoned keys left out), records marked `snapshot: true`, then
   * `options.onSnapshotEnd(partition)`, then live records with no gap and no duplicate. After a
   * reconnect a completed snapshot is not sent again (live records resume where they were); an
   * interrupted one starts again, so some snapshot records may come twice.
   * options: {filter: Filter | condition literals (only matching records, snapshot included),
   *           onSnapshotEnd(partition), onSnapshotComplete() (once, after the last partition's
   *           end)}. A filter or 'snapshot' needs a gateway offering 'filters' / 'snapshot': on
   * another (mode 'apisix' included) the subscription ends with a KpgError (serverCode
   * 'unknown_command') instead of delivering unfiltered records.
   */
  subscribe(topic, partition, from = 'latest', handler = undefined, onError = undefined, options = {}) {
    checkPartition(partition);
    return this.#subscribe(topic, [partition], true, from, handler, onError, options);
  }

  /**
   * The same over several partitions of a topic; records carry `partition`. An empty list means
   * every partition: kpg mode only (an APISIX gateway cannot list partitions, so the subscription
   * fails with a KpgError saying to name them). Per-partition order, no gap, no duplicate.
   */
  subscribeTopic(topic, partitions = [], from = 'latest', handler = undefined, onError = undefined, options = {}) {
    checkPartitions(partitions);
    return this.#subscribe(topic, partitions, false, from, handler, onError, options);
  }

  #subscribe(topic, partitions, single, from, handler, onError, options) {
    if (options === null || typeof options !== 'object') throw new KpgError('protocol', 'subscribe options must be an object');
    const { filter, onSnapshotEnd, onSnapshotComplete } = options;
    for (const [name, f] of [['onSnapshotEnd', onSnapshotEnd], ['onSnapshotComplete', onSnapshotComplete]]) {
      if (f !== undefined && typeof f !== 'function') throw new KpgError('protocol', `${name} must be a function`);
    }
    const [kind, value] = fromToKind(from);
    const conditions = nativeFilter(filter);
    const native = this.#live();
    return new KpgSubscription(
      (pull, onRecords, onEnded, onSnapshot) =>
        native.subscribe(String(topic), partitions, single, kind, value, pull, conditions, onRecords, onEnded, onSnapshot),
      handler,
      onError,
      single,
      { onSnapshotEnd, onSnapshotComplete },
    );
  }

  /**
   * Writes one record; resolves with {partition, offset: bigint, timestamp: bigint} once the
   * broker acknowledged it. value and options.key: string (UTF-8), Uint8Array, ArrayBuffer or
   * null (a null value / key, distinct from ''); options: {key, headers: [{key, value}] |
   * {key: value}, partition (absent: Kafka's partitioner on the key), timestamp (ms, bigint or
   * Date)}. Rejects with KpgError: serverCode 'not_allowed', 'unknown_topic',
   * 'record_too_large' (also checked here, without sending, against the gateway's
   * maxRecordBytes), 'unavailable', 'limit_exceeded', ...; error.possiblyWritten says whether it
   * may have been written anyway. A gateway or route without produce (see serverInfo.features)
   * rejects with serverCode 'unknown_command'. Many may be in flight: beyond the gateway's limits
   * the client queues and sends them in call order.
   */
  produce(topic, value, options = {}) {
    return promisify((cb) => {
      const bytes = toBytesOrNull(value, 'value');
      const o = checkProduceOptions(options);
      this.#live().produce(String(topic), bytes, o.key, o.headers, o.partition, o.timestamp, cb);
    });
  }

  /**
   * @internal KpgProducer's path: [{topic, value, options}] queued together, so that they leave in
   * as few requests as the gateway allows. One Promise per record, as produce() would return.
   */
  _produceMany(records) {
    const native = this.#live();
    const items = [];
    const answers = records.map(({ topic, value, options = {} }) => new Promise((resolve, reject) => {
      const bytes = toBytesOrNull(value, 'value');
      const o = checkProduceOptions(options);
      items.push({
        topic: String(topic), value: bytes, key: o.key, headers: o.headers, partition: o.partition,
        timestamp: o.timestamp, callback: (error, result) => (error ? reject(kpgError(error)) : resolve(result)),
      });
    }));
    native.produceMany(items);
    return answers;
  }

  /** True when the gateway offers produce on this route (hello feature "produce"). */
  get canProduce() {
    return !this.#closed && this.serverInfo.features.includes('produce');
  }

  /** A batching producer over this client: see KpgProducer. options: {maxInFlight, lingerMs}. */
  createProducer(options = {}) {
    return new KpgProducer(this, options);
  }

  /**
   * Joins consumer group `group` for `topics` (kpg mode, a route offering "groups"). The gateway
   * assigns this member some of the topics' partitions and pushes their records.
   * options: {start: 'earliest' | 'latest' (partitions without a committed offset), credit:
   *           frames pushed ahead (default 8), commit: 'explicit' (only commit() commits) |
   *           'auto' (a frame is committed once its onRecords call returned; work an onRecords
   *           starts asynchronously is not waited for: use 'explicit' then)}.
   * callbacks: {onRecords(topic, partition, records), onAssigned(partitions),
   *             onRevoked(partitions), onLost(partitions), onError(KpgError)}; partitions are
   *             [{topic, partition, offset: bigint}].
   */
  subscribeGroup(group, topics, options = {}, callbacks = {}) {
    if (!Array.isArray(topics) || topics.length === 0) throw new KpgError('protocol', 'topics must be a non-empty array of names');
    const { start = 'latest', credit = 8, commit = 'explicit' } = options ?? {};
    if (start !== 'earliest' && start !== 'latest') throw new KpgError('protocol', "start must be 'earliest' or 'latest'");
    if (!(Number.isInteger(credit) && credit > 0)) throw new KpgError('protocol', 'credit must be a positive integer');
    if (commit !== 'explicit' && commit !== 'auto') throw new KpgError('protocol', "commit must be 'explicit' or 'auto'");
    const native = this.#live();
    let subscription;
    const inner = native.subscribeGroup(
      String(group), topics.map(String), start, credit, commit,
      (topic, partition, records) => callbacks.onRecords?.(topic, partition, records),
      (kind, partitions) => {
        if (kind === 'assigned') callbacks.onAssigned?.(partitions);
        else if (kind === 'revoked') callbacks.onRevoked?.(partitions);
        else callbacks.onLost?.(partitions);
      },
      (error) => {
        subscription?._ended();
        callbacks.onError?.(kpgError(error));
      },
    );
    subscription = new KpgGroupSubscription(inner);
    if (!inner.active()) subscription._ended();
    return subscription;
  }

  /** Closes the connection; pending calls reject with code 'closed'. Idempotent. */
  close() {
    if (this.#closed) return;
    this.#native.close();
    this.#release();
  }

  #release() {
    if (this.#closed) return;
    this.#closed = true;
    // Deleting inside a native callback is unsafe; defer to a fresh task.
    const native = this.#native;
    setTimeout(() => native.delete(), 0);
  }
}

function checkOptions(options) {
  const positive = (value, what) => {
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new KpgError('protocol', `${what} must be a non-negative number of milliseconds`);
    }
  };
  positive(options.connectTimeoutMs, 'connectTimeoutMs');
  positive(options.requestTimeoutMs, 'requestTimeoutMs');
  positive(options.idleFetchIntervalMs, 'idleFetchIntervalMs');
  positive(options.helloTimeoutMs, 'helloTimeoutMs');
  for (const name of ['apiKey', 'token']) {
    if (options[name] !== undefined && typeof options[name] !== 'string') {
      throw new KpgError('protocol', `${name} must be a string`);
    }
  }
  if (options.tokenProvider !== undefined && typeof options.tokenProvider !== 'function') {
    throw new KpgError('protocol', 'tokenProvider must be a function returning a token (or a Promise of one)');
  }
  const r = options.reconnect;
  if (r === undefined || r === true || r === false) return;
  if (r === null || typeof r !== 'object') {
    throw new KpgError('protocol', 'reconnect must be false or {initialDelayMs, maxDelayMs, jitter, maxAttempts}');
  }
  positive(r.initialDelayMs, 'reconnect.initialDelayMs');
  positive(r.maxDelayMs, 'reconnect.maxDelayMs');
  if (r.jitter !== undefined && !(typeof r.jitter === 'number' && r.jitter >= 0 && r.jitter <= 1)) {
    throw new KpgError('protocol', 'reconnect.jitter must be a number from 0 to 1');
  }
  if (r.maxAttempts !== undefined && !(Number.isInteger(r.maxAttempts) && r.maxAttempts >= 0)) {
    throw new KpgError('protocol', 'reconnect.maxAttempts must be a non-negative integer (0: no limit)');
  }
}

// Asks a PubSub route's URL over http(s) (see the hooks below): a kpg gateway answers a refused
// credential or origin as it refused the WebSocket, 401 / 403 with its reason, and lets the page
// read that. Status 0 when nothing readable came back.
async function probeHttp(url) {
  try {
    const response = await fetch(url, { credentials: 'omit', cache: 'no-store', redirect: 'manual' });
    return { status: response.status, body: (await response.text()).slice(0, 4096) };
  } catch {
    return { status: 0, body: '' };
  }
}

// Hands an answer to the wasm client, which may have been deleted meanwhile (then nobody waits).
function answer(call) {
  try {
    call();
  } catch {
    // deleted client
  }
}

// What the core asks of JS asynchronously: a token (before every connect and reconnect) and, when
// a WebSocket could not be opened, an HTTP probe of the same URL. Answers go back by id.
function nativeHooks(tokenProvider, getNative) {
  return {
    token(id) {
      Promise.resolve()
        .then(() => tokenProvider())
        .then((token) => {
          if (typeof token !== 'string' || token === '') throw new TypeError('tokenProvider must return a non-empty string');
          return token;
        })
        .then(
          (token) => answer(() => getNative().tokenDone(id, '', token)),
          (error) => answer(() => getNative().tokenDone(id, String(error?.message ?? error) || 'no token', '')),
        );
    },
    probe(url, id) {
      probeHttp(url).then(({ status, body }) => answer(() => getNative().probeDone(id, status, body)));
    },
  };
}

/**
 * Opens a connection to a kpg (or Apache APISIX) PubSub route, e.g. 'ws://localhost:9080/kafka'.
 * options: { connectTimeoutMs = 10000, requestTimeoutMs = 15000, idleFetchIntervalMs = 100,
 *            helloTimeoutMs = 5000,
 *            reconnect = { initialDelayMs = 200, maxDelayMs = 10000, jitter = 0.25,
 *                          maxAttempts = 0 } | false, module,
 *            apiKey, token, tokenProvider: () => string | Promise<string> }.
 * Credentials go in the URL's query (?apikey=, ?jwt=): browsers cannot set WebSocket headers.
 */
export async function connect(url, options = {}) {
  checkOptions(options);
  const Module = await loadModule(options.module);
  const { module: _ignored, tokenProvider, ...clientOptions } = options;
  let native;
  const hooks = nativeHooks(tokenProvider, () => native);
  native = new Module.WasmClient({ ...clientOptions, tokenProvider: !!tokenProvider, hooks });
  try {
    await promisify((cb) => native.connect(String(url), cb));
  } catch (error) {
    setTimeout(() => native.delete(), 0);
    throw error;
  }
  return new KpgClient(native);
}
