/** Why a call failed. */
export type KpgErrorCode = 'transport' | 'timeout' | 'closed' | 'server' | 'protocol';

export class KpgError extends Error {
  readonly name: 'KpgError';
  readonly code: KpgErrorCode;
}

/** A Kafka record. Offsets and timestamps are bigint: no precision loss past 2^53. */
export interface KafkaRecord {
  offset: bigint;
  /** Milliseconds since the epoch. */
  timestamp: bigint;
  key: Uint8Array;
  value: Uint8Array;
}

/** Where listOffsets looks: the first offset, the next offset to be written, or a time. */
export type OffsetSpec = 'earliest' | 'latest' | Date | bigint | number | { timestamp: bigint | number };

/** Where a subscription starts: a position, an offset, or the first record at/after a time. */
export type StartAt =
  | 'earliest'
  | 'latest'
  | Date
  | bigint
  | number
  | { offset: bigint | number | string }
  | { timestamp: bigint | number | string };

/** A running subscription: async-iterable over record batches. */
export interface KpgSubscription extends AsyncIterable<KafkaRecord[]> {
  readonly active: boolean;
  /** True between pause() and resume() (flow control of a slow for-await loop is not a pause). */
  readonly paused: boolean;
  /** Offset of the next record to be delivered; -1n before the start is resolved. */
  readonly nextOffset: bigint;
  pause(): void;
  resume(): void;
  cancel(): void;
}

/** Automatic reconnect: attempt n waits min(maxDelayMs, initialDelayMs * 2^n) ± jitter. */
export interface ReconnectOptions {
  /** Default 200. */
  initialDelayMs?: number;
  /** Default 10000. */
  maxDelayMs?: number;
  /** Fraction of the delay drawn at random in [-jitter, +jitter]; default 0.25. */
  jitter?: number;
  /** Attempts before giving up (then `onclose` fires); default 0 = until close(). */
  maxAttempts?: number;
}

export interface ConnectOptions {
  /** Default 10000. */
  connectTimeoutMs?: number;
  /** Default 15000. */
  requestTimeoutMs?: number;
  /** A subscription whose fetch came back empty waits at least this long before the next; default 100. */
  idleFetchIntervalMs?: number;
  /** Enabled by default; `false` turns it off (a drop then ends the client and its subscriptions). */
  reconnect?: ReconnectOptions | boolean;
  /** Passed to the Emscripten module factory on first load (e.g. locateFile, wasmBinary). */
  module?: object;
}

/**
 * When the connection drops, calls still pending reject with code 'closed' (message
 * "connection lost: ...") and `ondisconnect` receives the cause with code 'transport'. The
 * client then reconnects with exponential backoff (unless `reconnect: false`); calls made
 * meanwhile reject with code 'closed'; subscriptions survive and resume at their next offset,
 * with no gap and no duplicate. Fetching past the end of the log rejects with code 'server' and
 * a message containing OFFSET_OUT_OF_RANGE.
 */
export class KpgClient {
  readonly isOpen: boolean;
  /** True while the connection is lost and being re-established. */
  readonly reconnecting: boolean;
  /** Called each time the connection drops (not after close()). */
  ondisconnect: ((error: KpgError) => void) | null;
  /** Called each time an automatic reconnect succeeds. */
  onreconnect: (() => void) | null;
  /** Called once when the client ends for good other than by close() (reconnect off or given up). */
  onclose: ((error: KpgError) => void) | null;
  ping(state?: Uint8Array | string): Promise<Uint8Array>;
  listOffsets(topic: string, partition: number, at?: OffsetSpec): Promise<bigint>;
  fetch(topic: string, partition: number, offset: bigint | number | string): Promise<KafkaRecord[]>;
  /**
   * Every record from `from` on, in order, no gaps, no duplicates (list_offset + fetch, so it
   * works against any APISIX-compatible gateway). With a handler, batches go to it.
   */
  subscribe(
    topic: string,
    partition: number,
    from?: StartAt,
    handler?: (batch: KafkaRecord[]) => void,
    onError?: (error: KpgError) => void,
  ): KpgSubscription;
  close(): void;
}

/** Opens a connection to a PubSub route such as 'ws://localhost:9080/kafka'. */
export function connect(url: string, options?: ConnectOptions): Promise<KpgClient>;

/** Loads the WebAssembly module (done by connect() on first use). */
export function loadModule(moduleOptions?: object): Promise<unknown>;

/** Decodes bytes as UTF-8 (invalid sequences become U+FFFD). */
export function text(bytes: Uint8Array): string;
