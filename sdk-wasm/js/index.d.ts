/**
 * Why a call failed. 'unauthorized': the gateway refused the credential (HTTP 401, e.g. "Missing
 * API key found in request", "failed to verify jwt: token expired"); 'forbidden': it refused the
 * client whatever the credential (HTTP 403, e.g. "origin not allowed on this route"). The
 * message is then the gateway's reason.
 */
export type KpgErrorCode =
  | 'transport'
  | 'timeout'
  | 'closed'
  | 'server'
  | 'protocol'
  | 'unauthorized'
  | 'forbidden';

/**
 * The gateway's reason for a 'server' error (kpg gateways, after hello). 'unspecified' from an
 * APISIX gateway and for other errors; 'unknown' for a code newer than this SDK.
 * 'unavailable' and 'overloaded' mean "try again later" (subscriptions do so by themselves).
 */
export type KpgServerCode =
  | 'unspecified'
  | 'unknown_command'
  | 'bad_request'
  | 'unknown_topic'
  | 'unknown_partition'
  | 'offset_out_of_range'
  | 'unavailable'
  | 'rejected'
  | 'overloaded'
  | 'unknown_subscription'
  | 'limit_exceeded'
  | 'internal'
  | 'not_allowed'
  | 'record_too_large'
  | 'rebalanced'
  | 'unknown';

export class KpgError extends Error {
  readonly name: 'KpgError';
  readonly code: KpgErrorCode;
  /** With code 'server': the gateway's reason. Use it, never the message text. */
  readonly serverCode: KpgServerCode;
  /**
   * produce() only: true when the record may have been written although the call failed (no
   * acknowledgement came: a timeout or lost connection after sending, or the gateway said so);
   * false when it certainly was not written.
   */
  readonly possiblyWritten: boolean;
}

/** A Kafka record header (keys are UTF-8 by Kafka convention; both are raw bytes). */
export interface KafkaHeader {
  key: Uint8Array;
  value: Uint8Array;
}

/** A Kafka record. Offsets and timestamps are bigint: no precision loss past 2^53. */
export interface KafkaRecord {
  offset: bigint;
  /** Milliseconds since the epoch. */
  timestamp: bigint;
  key: Uint8Array;
  value: Uint8Array;
  /** The partition the record belongs to. */
  partition: number;
  /** Record headers; always empty from an APISIX gateway. */
  headers: KafkaHeader[];
  /**
   * True for a snapshot record (subscriptions from 'snapshot'): the latest record of its key as
   * the partition was at subscribe time. False for live records.
   */
  snapshot: boolean;
}

/** The gateway's limits (0 = not announced). */
export interface ServerLimits {
  maxFrameBytes: number;
  maxBatchBytes: number;
  maxInflightRequests: number;
  maxSubscriptions: number;
  maxCredit: number;
  maxMetadataPartitions: number;
  maxRequestsPerSecond: number;
  /** Produce (0 when the route does not allow it): key + value + headers of one record. */
  maxRecordBytes: number;
  maxProduceInflightBytes: number;
  maxProduceRecordsPerSecond: number;
  /** 0: consumer groups not offered. */
  maxGroupSubscriptions: number;
  /** Records of one produce batch (0: one record per request). KpgProducer batches up to it. */
  maxProduceBatchRecords: number;
  /** Conditions of one filter (0: filters not offered, or no bound announced). */
  maxFilterConditions: number;
  /** Values of one jsonIn condition. */
  maxFilterValues: number;
  /** Latest-record bytes a connection's snapshots may hold on the gateway. */
  maxSnapshotBytes: number;
}

/** What hello negotiated; protocolVersion 0 and no features on an APISIX gateway. */
export interface ServerInfo {
  protocolVersion: number;
  /** 'push', 'metadata', 'headers', 'error_codes', 'produce', 'groups', 'filters', 'snapshot' */
  features: string[];
  limits: ServerLimits;
  /** e.g. 'kpg-gateway/0.2.0'; empty on APISIX. */
  server: string;
}

export interface PartitionInfo {
  partition: number;
  /** First offset still in the log. */
  earliest: bigint;
  /** Offset the next record written gets (high watermark). */
  latest: bigint;
}

export interface TopicInfo {
  name: string;
  /** Ascending by partition. */
  partitions: PartitionInfo[];
}

/** Where listOffsets looks: the first offset, the next offset to be written, or a time. */
export type OffsetSpec = 'earliest' | 'latest' | Date | bigint | number | { timestamp: bigint | number };

/**
 * Where a subscription starts: a position, an offset, or the first record at/after a time.
 * 'snapshot': the latest record of each key up to the end first (records marked `snapshot`),
 * then live (a gateway offering 'snapshot'; see SubscribeOptions).
 */
export type StartAt =
  | 'earliest'
  | 'latest'
  | 'snapshot'
  | Date
  | bigint
  | number
  | { offset: bigint | number | string }
  | { timestamp: bigint | number | string };

/**
 * A running subscription: async-iterable over record batches (each of one partition). Iterating
 * pulls: batches are asked for (credit granted to the gateway) only as the loop consumes them,
 * a few ahead, so a slow loop never buffers without bound.
 */
export interface KpgSubscription extends AsyncIterable<KafkaRecord[]> {
  readonly active: boolean;
  /** True between pause() and resume(). */
  readonly paused: boolean;
  /**
   * One-partition subscriptions: offset of the next record to be delivered; -1n before the start
   * is resolved, and always for several partitions (see nextOffsets).
   */
  readonly nextOffset: bigint;
  /** Partition -> offset of its next record, for every partition whose start is known. */
  readonly nextOffsets: Map<number, bigint>;
  pause(): void;
  resume(): void;
  cancel(): void;
}

/** Bytes as a record takes them: strings are encoded as UTF-8. */
export type Bytes = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** A JSON scalar a JSON field may equal: a string matches only a string, a number a number. */
export type JsonScalar = string | number | boolean | null;

/** How jsonCompare compares: field `op` value. */
export type CompareOp = '<' | '<=' | '>' | '>=';

/** One condition of a filter, as a literal. JSON paths are JSON Pointers: '', '/a/b', '/items/0'. */
export type FilterCondition =
  | { kind: 'keyEquals'; key: Bytes }
  | { kind: 'keyPrefix'; prefix: Bytes }
  | { kind: 'header'; key: Bytes; value: Bytes }
  | { kind: 'jsonIn'; path: string; values: JsonScalar[] }
  | { kind: 'jsonCompare'; path: string; op: CompareOp; value: number };

/**
 * Which records a subscription or fetch receives, evaluated by the gateway (feature 'filters').
 * A conjunction of conditions; `new Filter()` matches everything. Immutable. Invalid arguments
 * throw KpgError('protocol'); more conditions or values than the gateway's limits fail the call
 * with serverCode 'limit_exceeded' before anything is sent.
 *
 *   Filter.keyPrefix('eu-').and(Filter.jsonCompare('/amount', '>=', 100))
 */
export class Filter {
  constructor(conditions?: FilterCondition[]);
  /** The key is exactly `key`. */
  static keyEquals(key: Bytes): Filter;
  /** The key starts with `prefix`. */
  static keyPrefix(prefix: Bytes): Filter;
  /** Some header has key `key` and exactly the value `value`. */
  static header(key: Bytes, value: Bytes): Filter;
  /** The value is JSON and the field at `path` equals one of `values` (at least one). */
  static jsonIn(path: string, values: JsonScalar[]): Filter;
  /** The value is JSON and the field at `path` is a number with field `op` `value`. */
  static jsonCompare(path: string, op: CompareOp, value: number): Filter;
  /** This filter's conditions and the others'. */
  and(...others: Array<Filter | FilterCondition[]>): Filter;
  readonly conditions: readonly FilterCondition[];
  /** True when there is no condition. */
  readonly empty: boolean;
}

/** The last arguments of subscribe / subscribeTopic. */
export interface SubscribeOptions {
  /**
   * Only matching records are delivered (the snapshot's too). Needs the gateway's 'filters'
   * feature: elsewhere (mode 'apisix' included) the subscription ends with a KpgError,
   * serverCode 'unknown_command', rather than deliver unfiltered records. After a reconnect it
   * resumes with the same filter past every record the gateway read, matching or not.
   */
  filter?: Filter | FilterCondition[];
  /**
   * from 'snapshot': a partition's snapshot is complete (after its snapshot records, before its
   * live ones; once per partition, also when it had nothing to snapshot).
   */
  onSnapshotEnd?: (partition: number) => void;
  /** from 'snapshot': once, after the last partition's onSnapshotEnd: everything after is live. */
  onSnapshotComplete?: () => void;
}

/** A filtered fetch's answer. */
export interface FetchPage {
  records: KafkaRecord[];
  /** Fetch from here next: past every record read, matching or not. */
  nextOffset: bigint;
}

export interface ProduceOptions {
  /** null or absent: a null key (distinct from ''). */
  key?: Bytes | null;
  headers?: Array<{ key: Bytes; value: Bytes }> | Array<[Bytes, Bytes]> | Record<string, Bytes>;
  /** Absent: Kafka's default partitioner on the key. */
  partition?: number;
  /** Milliseconds since the epoch; absent: the time of sending. */
  timestamp?: bigint | number | string | Date;
}

/** Where a produced record was written. */
export interface Produced {
  partition: number;
  offset: bigint;
  /** The record's timestamp (ms) as written. */
  timestamp: bigint;
}

export interface ProducerOptions {
  /** Records in flight at most; 0 (default): as many as the gateway's limits allow. */
  maxInFlight?: number;
  /** How long a record may wait for others before they are sent together; default 0. */
  lingerMs?: number;
}

/**
 * A batching producer: send() returns at once; records go out in send() order and those of one
 * partition are written in that order. A failed record does not stop the ones after it (they may
 * be written after it, so retrying it puts it after them): stop at the first error if strict
 * order matters.
 */
export class KpgProducer {
  send(topic: string, value: Bytes | null, options?: ProduceOptions): Promise<Produced>;
  /** Resolves once every record sent before it has been answered (failed ones included). */
  flush(): Promise<void>;
  /** Records sent and not answered yet. */
  readonly pending: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** A partition of a topic, with an offset (where reading starts, or the next offset to read). */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}

export interface GroupOptions {
  /** Where a partition without a committed offset starts; default 'latest'. */
  start?: 'earliest' | 'latest';
  /** Record frames pushed ahead of the application; default 8. */
  credit?: number;
  /**
   * 'explicit' (default): only commit() commits. 'auto': a frame's records are committed once
   * the onRecords call for it returned (asynchronous work it starts is not waited for).
   */
  commit?: 'explicit' | 'auto';
}

export interface GroupCallbacks {
  onRecords?: (topic: string, partition: number, records: KafkaRecord[]) => void;
  onAssigned?: (partitions: TopicPartitionOffset[]) => void;
  /** Taken away after their last record was delivered: commit what was processed. */
  onRevoked?: (partitions: TopicPartitionOffset[]) => void;
  /** Lost without a clean handover (also when the connection drops); commits of them fail. */
  onLost?: (partitions: TopicPartitionOffset[]) => void;
  /** Once, when the membership ends on an error (not on a lost connection: it rejoins). */
  onError?: (error: KpgError) => void;
}

export class KpgGroupSubscription {
  /**
   * Commits offsets (last record processed + 1); none: everything delivered so far. Resolves
   * with what the gateway committed; rejects with serverCode 'rebalanced' for a partition no
   * longer this member's.
   */
  commit(
    offsets?: Array<{ topic: string; partition: number; offset: bigint | number | string }>,
  ): Promise<TopicPartitionOffset[]>;
  /** Leaves the group. */
  cancel(): void;
  readonly active: boolean;
  /** The partitions this member owns now. */
  readonly assignment: TopicPartitionOffset[];
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
  /**
   * A gateway that does not answer hello within this time is taken for one that serves only the
   * APISIX subset (kpg gateways older than hello ignore it); default 5000.
   */
  helloTimeoutMs?: number;
  /** Enabled by default; `false` turns it off (a drop then ends the client and its subscriptions). */
  reconnect?: ReconnectOptions | boolean;
  /** Passed to the Emscripten module factory on first load (e.g. locateFile, wasmBinary). */
  module?: object;
  /** For a key-auth route: the consumer's key, sent as `?apikey=` (percent-encoded). */
  apiKey?: string;
  /** For a jwt-auth route: a token, sent as `?jwt=`. */
  token?: string;
  /**
   * Asked for a token before every connect and reconnect (replacing `token`), so a token that
   * expires (the gateway closes the connection at its `exp`) is refreshed on the reconnect. A
   * rejection or an empty string fails that attempt with code 'unauthorized'. Without a
   * provider a reconnect refused with 'unauthorized' is not retried: the client ends and
   * `onclose` receives the error; 'forbidden' always ends it.
   */
  tokenProvider?: () => string | Promise<string>;
}

/**
 * When the connection drops, calls still pending reject with code 'closed' (message
 * "connection lost: ...") and `ondisconnect` receives the cause with code 'transport'. The
 * client then reconnects with exponential backoff (unless `reconnect: false`); calls made
 * meanwhile reject with code 'closed'; subscriptions survive and resume at their next offset,
 * with no gap and no duplicate. Every (re)connect first negotiates with hello (see serverInfo).
 * Fetching past the end of the log rejects with code 'server' (serverCode
 * 'offset_out_of_range' on a kpg gateway; on APISIX only the message says OFFSET_OUT_OF_RANGE).
 */
export class KpgClient {
  readonly isOpen: boolean;
  /** What hello negotiated on the current connection (renegotiated on every reconnect). */
  readonly serverInfo: ServerInfo;
  /** 'kpg' when the gateway offers the kpg extensions, 'apisix' otherwise. */
  readonly mode: 'kpg' | 'apisix';
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
   * The records from `offset` on matching `filter`, and where to fetch next (also when none
   * matched). A non-empty filter needs the gateway's 'filters' feature (else serverCode
   * 'unknown_command'); an empty one is a plain fetch.
   */
  fetchFiltered(
    topic: string,
    partition: number,
    offset: bigint | number | string,
    filter: Filter | FilterCondition[],
  ): Promise<FetchPage>;
  /**
   * Topics with their partitions and offsets (none named: every topic of the route). kpg mode
   * only; on APISIX it rejects with code 'server', serverCode 'unknown_command'.
   */
  metadata(topics?: string[]): Promise<TopicInfo[]>;
  /**
   * Every record from `from` on, in order, no gaps, no duplicates. On a kpg gateway the records
   * are pushed (with credit); on APISIX it runs list_offset + fetch. With a handler, batches go
   * to it (a batch is granted back when the handler returns); without, iterate the result.
   * from 'snapshot' and options.filter: see SubscribeOptions. A snapshot interrupted by a
   * reconnect starts again (some snapshot records may come twice); a completed one is not
   * sent again.
   */
  subscribe(
    topic: string,
    partition: number,
    from?: StartAt,
    handler?: (batch: KafkaRecord[]) => void,
    onError?: (error: KpgError) => void,
    options?: SubscribeOptions,
  ): KpgSubscription;
  /**
   * Several partitions of a topic (empty or omitted: every partition, kpg mode only; on APISIX
   * the subscription fails asking to name them). Records carry `partition`; order holds per
   * partition. A `from` offset applies to every partition named.
   */
  subscribeTopic(
    topic: string,
    partitions?: number[],
    from?: StartAt,
    handler?: (batch: KafkaRecord[]) => void,
    onError?: (error: KpgError) => void,
    options?: SubscribeOptions,
  ): KpgSubscription;
  /**
   * Writes one record; resolves once the broker acknowledged it. Rejects with KpgError:
   * serverCode 'not_allowed', 'unknown_topic', 'record_too_large' (also checked locally against
   * limits.maxRecordBytes, without sending), 'unavailable', 'limit_exceeded', or
   * 'unknown_command' when the route or gateway does not offer produce; see possiblyWritten.
   * Many may be in flight; beyond the gateway's limits the client queues them in call order.
   */
  produce(topic: string, value: Bytes | null, options?: ProduceOptions): Promise<Produced>;
  /** True when the route offers produce (hello feature 'produce'). */
  readonly canProduce: boolean;
  createProducer(options?: ProducerOptions): KpgProducer;
  /**
   * Joins a consumer group (a route offering 'groups'): the gateway assigns this member some of
   * the topics' partitions and pushes their records; rejoins after a reconnect.
   */
  subscribeGroup(
    group: string,
    topics: string[],
    options?: GroupOptions,
    callbacks?: GroupCallbacks,
  ): KpgGroupSubscription;
  close(): void;
}

/** Opens a connection to a PubSub route such as 'ws://localhost:9080/kafka'. */
export function connect(url: string, options?: ConnectOptions): Promise<KpgClient>;

/** Loads the WebAssembly module (done by connect() on first use). */
export function loadModule(moduleOptions?: object): Promise<unknown>;

/** Decodes bytes as UTF-8 (invalid sequences become U+FFFD). */
export function text(bytes: Uint8Array): string;
