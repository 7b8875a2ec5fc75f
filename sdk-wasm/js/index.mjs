// @kpg/sdk — Kafka PubSub client for the browser (and node with a WebSocket), compiled from the
// same C++ core as the native SDK. Promise API; errors reject with KpgError.
import createKpgModule from './kpg_wasm.mjs';

let modulePromise;

/** Loads the WebAssembly module once. Options go to the Emscripten module factory. */
export function loadModule(moduleOptions) {
  modulePromise ??= createKpgModule(moduleOptions ?? {});
  return modulePromise;
}

export class KpgError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'KpgError';
    /** 'transport' | 'timeout' | 'closed' | 'server' | 'protocol' */
    this.code = code;
  }
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

function promisify(start) {
  return new Promise((resolve, reject) => {
    start((error, value) => (error ? reject(new KpgError(error.code, error.message)) : resolve(value)));
  });
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
    /** Called with a KpgError when the connection ends other than by close(). */
    this.ondisconnect = null;
    native.setOnDisconnect((error) => {
      this.#release();
      this.ondisconnect?.(new KpgError(error.code, error.message));
    });
  }

  get isOpen() {
    return !this.#closed && this.#native.isOpen();
  }

  #live() {
    if (this.#closed) throw new KpgError('closed', 'client is closed');
    return this.#native;
  }

  /** Round trip; resolves with the state echoed by the gateway. */
  ping(state = new Uint8Array()) {
    const bytes = typeof state === 'string' ? new TextEncoder().encode(state) : state;
    return promisify((cb) => this.#live().ping(bytes, cb));
  }

  /** at: 'earliest' | 'latest' | Date | bigint/number ms timestamp. Resolves with a bigint offset. */
  listOffsets(topic, partition, at = 'latest') {
    checkPartition(partition);
    const atString = atToString(at);
    return promisify((cb) => this.#live().listOffsets(String(topic), partition, atString, cb));
  }

  /** Records from `offset` on: [{offset: bigint, timestamp: bigint, key: Uint8Array, value: Uint8Array}] */
  fetch(topic, partition, offset) {
    checkPartition(partition);
    const offsetString = toInt64String(offset, 'offset');
    return promisify((cb) => this.#live().fetch(String(topic), partition, offsetString, cb));
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

/**
 * Opens a connection to a kpg (or Apache APISIX) PubSub route, e.g. 'ws://localhost:9080/kafka'.
 * options: { connectTimeoutMs = 10000, requestTimeoutMs = 15000, module }.
 */
export async function connect(url, options = {}) {
  const Module = await loadModule(options.module);
  const native = new Module.WasmClient(options.connectTimeoutMs ?? 10000, options.requestTimeoutMs ?? 15000);
  try {
    await promisify((cb) => native.connect(String(url), cb));
  } catch (error) {
    setTimeout(() => native.delete(), 0);
    throw error;
  }
  return new KpgClient(native);
}
