// The reader: connection, partition discovery and the reading session (connect, subscribe,
// seek, pause, errors), as a state machine without a DOM. A read covers one partition, or the
// whole topic (partition 'all') when the gateway pushes (kpg mode); an APISIX gateway serves
// one partition at a time. What it decides goes to a `view`
// (the page, or a test's recorder) and into `status` (window.kpgDemo on the page). Everything it
// needs from outside comes in: the SDK loader, the "does anything answer there" probe, the
// rate meter and the clock.
import { fmt, formatWhen } from './format.mjs';

export const RECENT_COUNT = 20n; // "Last 20": start this many records before the end of the log
export const MAX_PARTITIONS = 256; // partition discovery stops here
export const RECONNECT = { initialDelayMs: 250, maxDelayMs: 4000, jitter: 0.2 };
export const ALL = 'all'; // the partition of a read over the whole topic
const DEFAULT_MAX_SUBSCRIPTIONS = 64; // the kpg gateway's default, when hello announces none
const HISTORY_MODES = new Set(['earliest', 'offset', 'time']);

/** A fresh status object (window.kpgDemo): what tests and the curious read. */
export function initialStatus() {
  return {
    state: 'idle', // idle | connecting | live | paused | reconnecting | error
    banner: null, // kind of the banner shown, or null
    error: null, // text of the banner shown, or null
    notice: null, // kind of the notice shown, or null
    mode: null, // kpg (push, headers, error codes) | apisix (the APISIX subset), once connected
    topic: null,
    partition: null, // a number, or 'all' for the whole topic
    partitions: [], // [{partition, earliest, latest}] as decimal strings
    from: null, // how the current read started: recent | earliest | latest | offset | time
    recordsReceived: 0,
    nextOffset: null, // decimal strings once known (one-partition reads)
    nextOffsets: null, // whole-topic reads: {partition: next offset}, decimal strings
    latestOffset: null,
    lag: null,
    rows: 0,
    selectedOffset: null,
    duplicates: 0, // records delivered twice (must stay 0)
    gaps: 0, // offsets skipped (must stay 0 but for compacted topics)
  };
}

/** Where reading starts, from the `from` query parameter; null when it is not understood. */
export function parseFrom(text) {
  if (!text || text === 'recent') return { kind: 'recent' };
  if (text === 'earliest' || text === 'latest') return { kind: text };
  if (/^\d+$/.test(text)) return { kind: 'offset', offset: BigInt(text) };
  const ms = Date.parse(text);
  if (!Number.isNaN(ms)) return { kind: 'time', time: ms };
  return null;
}

/** The `from` query parameter for a mode (null for the default, recent). */
export function fromParam(mode) {
  switch (mode.kind) {
    case 'recent':
      return null;
    case 'offset':
      return mode.offset.toString();
    case 'time':
      return new Date(mode.time).toISOString();
    default:
      return mode.kind;
  }
}

/** The `partition` query parameter: a partition number, or 'all' (the default) for the whole topic. */
export function parsePartition(text) {
  return /^\d+$/.test(text ?? '') ? Number(text) : ALL;
}

/** The page's query string for a read: readable (':' and '/' need no escaping in a query). */
export function readQuery(gateway, { topic, partition, mode }) {
  const enc = (v) => encodeURIComponent(v).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
  let query = `gateway=${enc(gateway)}&topic=${enc(topic)}&partition=${partition}`;
  const from = fromParam(mode);
  if (from) query += `&from=${enc(from)}`;
  return query;
}

export const messageOf = (error) => error?.message || String(error);

/** The SDK's options for a connect with what the form says; credentials only when given. */
export function connectOptions({ apiKey, token }) {
  const options = { reconnect: RECONNECT };
  if (apiKey) options.apiKey = apiKey;
  if (token) options.token = token;
  return options;
}

// How the page names the gateway's refusals (KpgError codes 'unauthorized', 'forbidden').
const REFUSALS = {
  unauthorized: {
    state: 'Unauthorized',
    title: 'Unauthorized',
    detail: 'The route requires a credential: enter the consumer\'s API key (key-auth) or a token (jwt-auth) under Credentials, then connect again.',
  },
  forbidden: {
    state: 'Forbidden',
    title: 'Forbidden',
    detail: 'The gateway does not let this page open the route (its origin is not among the route\'s cors.allow_origins). Another credential does not help.',
  },
};
// kpg gateways say why a call failed in KpgError.serverCode; an APISIX gateway only in words,
// which are not parsed: its errors show as they are.
const serverCode = (error) => (error?.code === 'server' ? error.serverCode : undefined);
const isTopicMissing = (error) => serverCode(error) === 'unknown_topic';
const isPartitionMissing = (error) => serverCode(error) === 'unknown_partition';
const isOutOfRange = (error) => serverCode(error) === 'offset_out_of_range';
// The SDK refused the filter's form ('protocol'), or the gateway its content or its size, or
// does not filter at all.
const isFilterRefusal = (error) => error?.code === 'protocol' ||
  ['bad_request', 'limit_exceeded', 'unknown_command'].includes(serverCode(error));
const partitionText = (partition) => (partition === ALL ? 'all partitions' : String(partition));

export function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function pathOf(url) {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/** A problem with the form, or null. May rewrite params.gateway (http:// → ws://). */
export function validate(params) {
  let url;
  try {
    url = new URL(params.gateway);
  } catch {
    return `"${params.gateway}" is not a URL: expected ws://host:port/path or wss://…`;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
    params.gateway = url.href;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return `"${params.gateway}" has the scheme ${url.protocol} — use ws:// or wss://`;
  }
  if (!params.topic) return 'Enter a topic name.';
  return null;
}

/** Finds the topic's partitions: 0, 1, … until the gateway answers with an error (kpg: "not found partition"). */
export async function probePartitions(client, topic, max = MAX_PARTITIONS) {
  const found = [];
  for (let base = 0; base < max; base += 8) {
    const batch = Array.from({ length: 8 }, (_, i) => base + i);
    const results = await Promise.allSettled(batch.map(async (partition) => {
      const [earliest, latest] = await Promise.all([
        client.listOffsets(topic, partition, 'earliest'),
        client.listOffsets(topic, partition, 'latest'),
      ]);
      return { partition, earliest, latest };
    }));
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') {
        found.push(result.value);
      } else if (batch[i] > 0 && result.reason?.code === 'server') {
        // kpg says "not found partition"; other APISIX-compatible servers word it differently.
        return found;
      } else {
        throw result.reason; // partition 0 (e.g. "not found topic"), or the connection
      }
    }
  }
  return found;
}

/**
 * view: {readForm() -> {gateway, topic, partition}, setGatewayInput(url), rememberTopic(topic),
 *   setState(state, label), showBanner(kind, {title, detail, cause, action}), hideBanner(),
 *   showNotice(kind, text, action), hideNotice(), clearRows(), restartList(order),
 *   addRecords(records, {fresh, keepAll}), trimRows(), setPartitions(partitions, selected, {all}),
 *   updatePartition(entry), selectPartition(partition), showMode(mode), setQuery(query),
 *   updateStats({next, latest, lag, received})}; actions are {label, run}.
 * deps: {loadSdk() -> Promise<sdk>, gatewayAnswers(url) -> Promise<boolean>, rate (RateMeter),
 *   status (initialStatus()), now() -> ms, maxRows, sdkUrl}.
 */
export class Reader {
  constructor(view, { loadSdk, gatewayAnswers, rate, status = initialStatus(), now = Date.now, maxRows = 500, sdkUrl = '' }) {
    this.view = view;
    this.loadSdk = loadSdk;
    this.gatewayAnswers = gatewayAnswers;
    this.rate = rate;
    this.status = status;
    this.now = now;
    this.maxRows = maxRows;
    this.sdkUrl = sdkUrl;
    this.conn = {
      client: null,
      url: null,
      topic: null,
      partitions: [],
      reconnecting: false,
      lostAt: 0,
      lastError: null,
      pending: null, // {topic, partition, mode} to open once the connection is back
    };
    this.generation = 0; // bumped by connect: abandons older connection attempts
    this.seekToken = 0; // bumped by every seek: abandons older seeks
    this.session = null;
    this.refreshing = false;
    this.filter = []; // filter conditions applied to every read (the SDK's literals)
  }

  // --- What the view shows, mirrored in status ------------------------------------------------

  /** `label` overrides the status text, e.g. 'Not connected' for an error before connecting. */
  setState(state, label) {
    this.status.state = state;
    this.view.setState(state, label);
  }

  /** The state of a running session once the connection is fine. */
  runningState() {
    return this.session?.paused ? 'paused' : 'live';
  }

  showBanner(kind, banner) {
    const { title, detail = '', cause = '' } = banner;
    this.status.banner = kind;
    this.status.error = [title, detail, cause].filter(Boolean).join(' ');
    this.view.showBanner(kind, { detail, cause, action: null, ...banner });
  }

  /** Hides the banner; with `kind`, only a banner of that kind. */
  hideBanner(kind) {
    if (kind && this.status.banner !== kind) return;
    this.status.banner = null;
    this.status.error = null;
    this.view.hideBanner();
  }

  showNotice(kind, text, action = null) {
    this.status.notice = kind;
    this.view.showNotice(kind, text, action);
  }

  /** Hides the notice; with `kind`, only a notice of that kind. */
  hideNotice(kind) {
    if (kind && this.status.notice !== kind) return;
    this.status.notice = null;
    this.view.hideNotice();
  }

  updateStats() {
    const s = this.session;
    const { status, conn } = this;
    if (s?.filtered) {
      // The read got past the records that did not match: the SDK's next offsets say how far.
      for (const sub of s.subs) {
        for (const [partition, offset] of sub.nextOffsets) {
          const part = s.parts.get(partition);
          if (part && (part.next === null || offset > part.next)) part.next = offset;
          if (part && part.next > part.latest) part.latest = part.next;
        }
      }
    }
    const parts = s ? [...s.parts.entries()] : [];
    // One partition: its offsets. The whole topic: the lag summed over partitions (offsets of
    // different partitions do not add up to an offset).
    const single = s && s.partition !== ALL ? s.parts.get(s.partition) : null;
    const next = single ? single.next : null;
    const latest = single ? single.latest : null;
    let lag = null;
    for (const [, p] of parts) {
      if (p.next === null) continue;
      lag = (lag ?? 0n) + (p.latest > p.next ? p.latest - p.next : 0n);
    }
    status.nextOffset = next === null ? null : next.toString();
    status.latestOffset = latest === null ? null : latest.toString();
    status.nextOffsets = s && s.partition === ALL
      ? Object.fromEntries(parts.filter(([, p]) => p.next !== null).map(([n, p]) => [n, p.next.toString()]))
      : null;
    status.lag = lag === null ? null : lag.toString();
    status.recordsReceived = s ? s.received : 0;
    this.view.updateStats({ next, latest, lag, received: status.recordsReceived });
    // Keep the partition chooser's record counts current for the partitions being read.
    if (!s || conn.topic !== s.topic) return;
    for (const [partition, p] of parts) {
      const entry = conn.partitions.find((e) => e.partition === partition);
      if (entry && p.latest > entry.latest) {
        entry.latest = p.latest;
        this.view.updatePartition(entry);
      }
    }
  }

  // --- Connecting ----------------------------------------------------------------------------

  /** Connects to what the form says and reads from `mode` (default: as the current read). */
  async connect({ mode } = {}) {
    const params = this.view.readForm();
    const gen = ++this.generation;
    this.seekToken++;
    this.stopSession();
    this.closeClient();
    this.hideBanner();
    this.hideNotice();
    this.view.clearRows();
    this.rate.reset();
    this.updateStats();

    const gatewayBefore = params.gateway;
    const problem = validate(params);
    if (params.gateway !== gatewayBefore) this.view.setGatewayInput(params.gateway);
    if (problem) {
      this.setState('error');
      this.showBanner('invalid', { title: 'Check the form', detail: problem });
      return;
    }
    this.view.rememberTopic(params.topic);
    this.setState('connecting');

    let sdk;
    try {
      sdk = await this.loadSdk();
    } catch (error) {
      if (gen !== this.generation) return;
      this.setState('error');
      this.showBanner('sdk', {
        title: 'The kpg SDK could not be loaded',
        detail: `Build it with tools/test or cmake --build --preset wasm, then serve this page with web-demo/serve.mjs (it serves the SDK at ${this.sdkUrl}).`,
        cause: messageOf(error),
      });
      return;
    }

    let client;
    try {
      client = await sdk.connect(params.gateway, connectOptions(params));
    } catch (error) {
      if (gen !== this.generation) return;
      const retry = { label: 'Retry', run: () => this.connect({ mode }) };
      if (this.showRefusal(error, retry)) return;
      const answers = await this.gatewayAnswers(params.gateway);
      if (gen !== this.generation) return;
      this.setState('error', 'Not connected');
      if (answers) {
        this.showBanner('route-missing', {
          title: `No PubSub route at ${pathOf(params.gateway)}`,
          detail: `The server at ${hostOf(params.gateway)} answers, but refused the WebSocket upgrade on ${pathOf(params.gateway)}. Check the route path, or create the route through the gateway's admin API.`,
          cause: messageOf(error),
          action: retry,
        });
      } else {
        this.showBanner('unreachable', {
          title: 'Cannot reach the gateway',
          detail: `Nothing answers at ${hostOf(params.gateway)}. Is kpg-gateway running there (for example kpg-gateway --embedded-kafka --listen ${hostOf(params.gateway)})?`,
          cause: messageOf(error),
          action: retry,
        });
      }
      return;
    }
    if (gen !== this.generation) {
      client.close();
      return;
    }
    this.conn.client = client;
    this.conn.url = params.gateway;
    this.status.mode = client.mode === 'kpg' ? 'kpg' : 'apisix';
    this.wireClient(client);
    await this.openTopic({ topic: params.topic, partition: params.partition, mode: mode ?? this.currentMode() }, gen);
  }

  /**
   * The gateway refused the credential (unauthorized) or the page (forbidden): says so with the
   * gateway's reason. False for any other error.
   */
  showRefusal(error, action) {
    const refusal = REFUSALS[error?.code];
    if (!refusal) return false;
    this.setState('error', refusal.state);
    this.showBanner(error.code, { title: `${refusal.title}: ${messageOf(error)}`, detail: refusal.detail, action });
    return true;
  }

  currentMode() {
    return this.session?.mode ?? { kind: 'recent' };
  }

  /** True when the gateway pushes: whole-topic reads, metadata, headers, error codes. */
  get pushes() {
    return this.conn.client?.mode === 'kpg';
  }

  /** The topic's partitions with their offsets: metadata on kpg, probing on APISIX. */
  async partitionsOf(client, topic) {
    if (client.mode !== 'kpg') return probePartitions(client, topic);
    const [info] = await client.metadata([topic]);
    return info ? info.partitions.map(({ partition, earliest, latest }) => ({ partition, earliest, latest })) : [];
  }

  async openTopic(spec, gen) {
    const { conn } = this;
    const client = conn.client;
    conn.pending = spec;
    let partitions;
    try {
      partitions = await this.partitionsOf(client, spec.topic);
    } catch (error) {
      if (gen !== this.generation) return;
      this.reportError(error, spec);
      return;
    }
    if (gen !== this.generation) return;
    conn.topic = spec.topic;
    conn.partitions = partitions;
    this.status.partitions = partitions.map((p) => ({
      partition: p.partition, earliest: p.earliest.toString(), latest: p.latest.toString(),
    }));
    if (spec.partition === ALL && !this.pushes) {
      // Without push, a read is a list_offset + fetch loop on one partition.
      spec = { ...spec, partition: partitions[0]?.partition ?? 0, keepNotice: true };
      this.showNotice('one-partition',
        `This gateway speaks only the APISIX PubSub subset (no push), so the page reads one partition at a time: partition ${spec.partition}. Pick another in the partition list.`);
    }
    this.view.setPartitions(partitions, spec.partition, { all: this.pushes });
    if (spec.partition !== ALL && !partitions.some((p) => p.partition === spec.partition)) {
      this.setState('error', 'No such partition');
      const last = partitions.length - 1;
      this.showBanner('partition-missing', {
        title: `Partition ${spec.partition} does not exist`,
        detail: `Topic "${spec.topic}" has ${partitions.length === 1 ? 'one partition, 0' : `partitions 0–${last}`}. Pick one in the partition list.`,
      });
      return;
    }
    await this.startSession(spec, gen);
  }

  /** Shows what went wrong with a call; keeps the page usable. */
  reportError(error, spec) {
    const { conn } = this;
    if (error?.code === 'closed' && conn.reconnecting) {
      conn.pending = spec; // opened again once the connection is back
      return;
    }
    if (isTopicMissing(error)) {
      this.stopSession();
      this.view.clearRows();
      this.updateStats();
      this.setState('error', 'No such topic');
      this.showBanner('topic-missing', {
        title: `Topic "${spec.topic}" not found`,
        detail: "The route's Kafka cluster has no topic by that name. Check the spelling, or pick another topic above.",
        cause: messageOf(error),
      });
      return;
    }
    if (isPartitionMissing(error)) {
      this.stopSession();
      this.setState('error', 'No such partition');
      this.showBanner('partition-missing', {
        title: `Partition ${partitionText(spec.partition)} of "${spec.topic}" not found`,
        cause: messageOf(error),
      });
      return;
    }
    if (!this.session) this.setState('error');
    this.showBanner('error', {
      title: 'The gateway could not answer',
      cause: messageOf(error),
      action: { label: 'Retry', run: () => this.connect() },
    });
  }

  wireClient(client) {
    const { conn } = this;
    client.ondisconnect = (error) => {
      if (client !== conn.client) return;
      conn.reconnecting = true;
      conn.lostAt = this.now();
      conn.lastError = messageOf(error);
      this.setState('reconnecting');
      this.showReconnecting();
    };
    client.onreconnect = () => {
      if (client !== conn.client) return;
      conn.reconnecting = false;
      this.hideBanner('reconnecting');
      if (this.session) {
        this.setState(this.runningState());
        this.refreshLatest();
      } else if (conn.pending) {
        this.setState('connecting');
        this.openTopic(conn.pending, this.generation);
      }
    };
    client.onclose = (error) => {
      if (client !== conn.client) return;
      conn.reconnecting = false;
      this.stopSession();
      // A reconnect refused (e.g. the token expired): the gateway's reason, not a lost network.
      if (this.showRefusal(error, { label: 'Connect again', run: () => this.connect() })) return;
      this.setState('error', 'Not connected');
      this.showBanner('closed', {
        title: 'Connection closed',
        detail: 'The gateway connection ended and could not be re-established.',
        cause: messageOf(error),
        action: { label: 'Connect again', run: () => this.connect() },
      });
    };
  }

  showReconnecting() {
    const { conn, session } = this;
    const seconds = Math.max(0, Math.round((this.now() - conn.lostAt) / 1000));
    let where = '';
    if (session?.partition === ALL) where = ' and carries on where each partition was: no record is skipped or shown twice';
    else if (session) where = ` and carries on at offset ${fmt(session.parts.get(session.partition).next)}: no record is skipped or shown twice`;
    this.showBanner('reconnecting', {
      title: 'Connection lost — reconnecting…',
      detail: `The gateway at ${hostOf(conn.url)} went away ${seconds < 1 ? 'just now' : `${seconds} s ago`}. The page reconnects by itself${where}.`,
      cause: conn.lastError ?? '',
    });
  }

  /** Called every second: keeps the "went away N s ago" text current. */
  tick() {
    if (this.conn.reconnecting && this.status.banner === 'reconnecting') this.showReconnecting();
  }

  closeClient() {
    const { conn } = this;
    const client = conn.client;
    conn.client = null;
    conn.url = null;
    conn.topic = null;
    conn.partitions = [];
    conn.reconnecting = false;
    conn.pending = null;
    if (!client) return;
    client.ondisconnect = client.onreconnect = client.onclose = null;
    try {
      client.close();
    } catch {
      // already gone
    }
  }

  // --- Reading -------------------------------------------------------------------------------

  stopSession() {
    const s = this.session;
    this.session = null;
    if (!s) return;
    s.stopped = true;
    for (const sub of s.subs) {
      try {
        sub.cancel();
      } catch {
        // already ended
      }
    }
  }

  /** Resolves where `spec.mode` starts, then reads from there (replacing the current read). */
  async startSession(spec, gen = this.generation) {
    const { conn } = this;
    const client = conn.client;
    if (!client) return;
    const token = ++this.seekToken;
    const stale = () => gen !== this.generation || token !== this.seekToken || client !== conn.client;
    let plan;
    try {
      plan = spec.partition === ALL ? await this.planTopic(client, spec) : await this.planPartition(client, spec, stale);
    } catch (error) {
      if (stale()) return;
      this.reportError(error, spec);
      return;
    }
    if (!plan || stale()) return;
    this.begin(client, spec, plan);
  }

  /**
   * Where a one-partition read starts. A plan is {mode, note, keepNotice, starts: Map partition ->
   * {start, latest}, subscribe(client) -> subscriptions}; null when the current read carries on.
   */
  async planPartition(client, { topic, partition, mode }, stale) {
    const [earliest, latest] = await Promise.all([
      client.listOffsets(topic, partition, 'earliest'),
      client.listOffsets(topic, partition, 'latest'),
    ]);
    if (stale()) return null;
    let keepNotice = false;
    if (mode.kind === 'time') {
      const found = await client.listOffsets(topic, partition, new Date(mode.time));
      if (stale()) return null;
      if (found < 0n) {
        const when = formatWhen(mode.time);
        const s = this.session;
        const keep = s && s.topic === topic && s.partition === partition && !s.stopped;
        this.showNotice('no-timestamp',
          `No record at or after ${when} was found in ${topic} / ${partition}: either every record is older, ` +
          'or the broker cannot look records up by time. Brokers without timestamp lookup, like the embedded ' +
          "development broker (librdkafka's mock cluster), always give this answer. " +
          (keep ? 'The list carries on where it was.' : 'Showing new records from now on instead.'));
        if (keep) {
          this.view.showMode(s.mode);
          return null;
        }
        mode = { kind: 'latest' };
        keepNotice = true;
      } else {
        mode = { ...mode, resolved: found };
      }
    }

    let start;
    let note = null;
    switch (mode.kind) {
      case 'earliest':
        start = earliest;
        break;
      case 'latest':
        start = latest;
        break;
      case 'offset':
        if (mode.offset < earliest) {
          start = earliest;
          note = `Offset ${fmt(mode.offset)} is no longer in the log: the earliest is ${fmt(earliest)}, so reading starts there.`;
        } else if (mode.offset > latest) {
          start = latest;
          note = `Offset ${fmt(mode.offset)} is past the end of the log (${fmt(latest)}): showing new records from ${fmt(latest)} on.`;
        } else {
          start = mode.offset;
        }
        break;
      case 'time':
        start = mode.resolved;
        note = `The first record at or after ${formatWhen(mode.time)} is offset ${fmt(start)}.`;
        break;
      default:
        start = latest - RECENT_COUNT > earliest ? latest - RECENT_COUNT : earliest;
    }
    return {
      mode, note, keepNotice,
      starts: new Map([[partition, { start, latest }]]),
      subscribe: (c) => [c.subscribe(topic, partition, { offset: start }, undefined, undefined, this.subscribeOptions())],
    };
  }

  /**
   * Where a whole-topic read starts (kpg mode): every partition from the same position, "Last
   * 20" being the last 20 of each partition and an offset clamped to each partition's log.
   */
  async planTopic(client, { topic, mode }) {
    const partitions = await this.partitionsOf(client, topic);
    const starts = new Map();
    const clamped = [];
    for (const { partition, earliest, latest } of partitions) {
      let start;
      if (mode.kind === 'earliest') start = earliest;
      else if (mode.kind === 'latest') start = latest;
      else if (mode.kind === 'time') start = null; // the gateway looks it up
      else if (mode.kind === 'offset') {
        start = mode.offset < earliest ? earliest : mode.offset > latest ? latest : mode.offset;
        if (start !== mode.offset) clamped.push(partition);
      } else start = latest - RECENT_COUNT > earliest ? latest - RECENT_COUNT : earliest;
      starts.set(partition, { start, latest });
    }
    let note = null;
    if (mode.kind === 'time') {
      note = `Each partition is read from its first record at or after ${formatWhen(mode.time)}; a partition without one (or on a broker that cannot look records up by time) starts at its end.`;
    } else if (clamped.length) {
      const many = clamped.length > 1;
      note = `Offset ${fmt(mode.offset)} is outside the log of partition${many ? 's' : ''} ${clamped.join(', ')}: ${many ? 'they start' : 'it starts'} at the nearest end of ${many ? 'their logs' : 'its log'}.`;
    }
    const from = { earliest: 'earliest', latest: 'latest', time: { timestamp: mode.time } }[mode.kind];
    if (from !== undefined) {
      return { mode, note, starts, subscribe: (c) => [c.subscribeTopic(topic, [], from, undefined, undefined, this.subscribeOptions())] };
    }
    // Partitions that start at the same offset share one subscription.
    const groups = new Map();
    for (const [partition, { start }] of starts) {
      if (!groups.has(start)) groups.set(start, []);
      groups.get(start).push(partition);
    }
    const max = client.serverInfo?.limits?.maxSubscriptions || DEFAULT_MAX_SUBSCRIPTIONS;
    if (groups.size > max) {
      for (const entry of starts.values()) entry.start = entry.latest;
      note = `Starting ${partitions.length} partitions at different offsets would take more subscriptions than the gateway allows (${max}): showing new records from now on instead.`;
      return { mode: { kind: 'latest' }, note, starts, subscribe: (c) => [c.subscribeTopic(topic, [], 'latest', undefined, undefined, this.subscribeOptions())] };
    }
    return {
      mode, note, starts,
      subscribe: (c) => [...groups].map(([start, group]) => c.subscribeTopic(topic, group, { offset: start }, undefined, undefined, this.subscribeOptions())),
    };
  }

  /** Starts reading as `plan` says (replacing the current read). */
  begin(client, { topic, partition, keepNotice: keep }, { mode, note, keepNotice, starts, subscribe }) {
    const { conn, status } = this;
    this.stopSession();
    this.hideBanner();
    if (!keep && !keepNotice) this.hideNotice();
    if (note) this.showNotice(mode.kind === 'time' ? 'time-found' : 'clamped', note);
    this.rate.reset();
    const history = HISTORY_MODES.has(mode.kind);
    this.view.restartList(history ? 'oldest-first' : 'newest-first');

    const parts = new Map(); // partition -> its position
    let backlog = 0n;
    let backlogKnown = true;
    for (const [p, { start, latest }] of starts) {
      // next: after the last record shown; expected: after the last the SDK delivered;
      // liveFrom: records from here on were written after the read started. null: not known yet.
      parts.set(p, { start, next: start, expected: start, latest, liveFrom: latest });
      if (start === null) backlogKnown = false;
      else backlog += latest - start;
    }
    const s = {
      topic,
      partition,
      mode,
      parts,
      // Reading history: hold after this many records (so the start of the read stays on screen).
      holdLeft: history && backlogKnown && backlog > BigInt(this.maxRows) ? this.maxRows : null,
      held: false,
      paused: false,
      received: 0,
      duplicates: 0,
      gaps: 0,
      buffered: [], // records that arrived while paused
      stopped: false,
      subs: [],
      // Filtered: offsets between matching records are no gaps, and the SDK's next offsets (past
      // every record the gateway read) say how far the read got.
      filtered: this.filter.length > 0,
    };
    this.session = s;
    conn.pending = null;
    status.duplicates = 0;
    status.gaps = 0;
    status.topic = topic;
    status.partition = partition;
    status.from = mode.kind;
    this.view.selectPartition(partition);
    this.view.showMode(mode);
    this.view.setQuery(readQuery(conn.url, s));
    this.updateStats();
    this.setState(conn.reconnecting ? 'reconnecting' : 'live');

    try {
      s.subs = subscribe(client);
    } catch (error) { // an argument the SDK refused at once (e.g. the filter)
      this.sessionFailed(s, error);
      return;
    }
    for (const sub of s.subs) this.readLoop(s, sub); // each runs until the session stops
  }

  subscribeOptions() {
    return this.filter.length ? { filter: this.filter } : {};
  }

  /** Reads again from the current position with `conditions` ([]: no filter). */
  setFilter(conditions) {
    this.filter = conditions;
    this.status.filter = conditions.length ? conditions : null;
    if (this.conn.client) this.seek(this.currentMode());
  }

  async readLoop(s, sub) {
    try {
      for await (const batch of sub) {
        if (s.stopped) break;
        this.onBatch(s, batch);
      }
    } catch (error) {
      if (s.stopped) return;
      this.sessionFailed(s, error);
    }
  }

  /** The position of `record`'s partition in the read. */
  partOf(s, record) {
    const partition = record.partition ?? s.partition;
    let part = s.parts.get(partition);
    if (!part) {
      part = { start: null, next: null, expected: null, latest: 0n, liveFrom: 0n };
      s.parts.set(partition, part);
    }
    return part;
  }

  onBatch(s, batch) {
    // The SDK delivers each record once, in order per partition, without gaps. Should it ever
    // not, the page shows each record once anyway and counts what it saw (status.duplicates / gaps).
    const records = [];
    for (const r of batch) {
      const part = this.partOf(s, r);
      const { expected } = part;
      if (expected !== null && r.offset < expected) {
        s.duplicates++;
        console.warn(`kpg demo: record ${r.offset} delivered again (next expected ${expected})`);
        continue;
      }
      if (expected !== null && r.offset > expected && !s.filtered) {
        s.gaps += Number(r.offset - expected);
        console.warn(`kpg demo: offsets ${expected}–${r.offset - 1n} skipped`);
      }
      records.push(r);
      part.expected = r.offset + 1n;
    }
    this.status.duplicates = s.duplicates;
    this.status.gaps = s.gaps;
    if (s.paused) s.buffered.push(...records); // shown on resume: pausing is immediate
    else this.showBatch(s, records);
  }

  showBatch(s, records) {
    if (records.length === 0) return;
    if (s.holdLeft !== null && records.length > s.holdLeft) {
      s.buffered.push(...records.slice(s.holdLeft));
      records = records.slice(0, s.holdLeft);
    }
    if (records.length > 0) {
      let live = 0;
      for (const r of records) {
        const part = this.partOf(s, r);
        if (part.next === null || r.offset + 1n > part.next || !s.filtered) part.next = r.offset + 1n;
        if (part.next > part.latest) part.latest = part.next;
        if (r.offset >= part.liveFrom) live++;
      }
      s.received += records.length;
      if (s.holdLeft !== null) s.holdLeft -= records.length;
      this.rate.add(live);
      const keepAll = s.holdLeft !== null;
      this.view.addRecords(records, { fresh: records.length <= 20 && s.received > records.length, keepAll });
    }
    if (s.holdLeft === 0 && !s.held) this.hold(s);
    this.updateStats();
  }

  /** Reading history: stop once the list is full so the start of the read stays on screen. */
  hold(s) {
    s.held = true;
    s.paused = true;
    for (const sub of s.subs) sub.pause();
    this.setState(this.conn.reconnecting ? 'reconnecting' : 'paused');
    let more = 0n;
    for (const p of s.parts.values()) if (p.next !== null && p.latest > p.next) more += p.latest - p.next;
    const from = s.partition === ALL ? 'across all partitions' : `from offset ${fmt(s.parts.get(s.partition).start)}`;
    this.showNotice('hold',
      `Paused after ${fmt(s.received)} records ${from} so they stay on screen; ` +
      `${fmt(more)} more to the end of the log. Resuming drops the oldest rows to make room.`,
      { label: 'Keep reading', run: () => this.setPaused(false) });
  }

  setPaused(paused) {
    const s = this.session;
    if (!s || s.paused === paused) return;
    s.paused = paused;
    if (paused) {
      for (const sub of s.subs) sub.pause();
    } else {
      s.holdLeft = null;
      this.hideNotice('hold');
      const buffered = s.buffered.splice(0);
      if (buffered.length) this.showBatch(s, buffered);
      for (const sub of s.subs) sub.resume();
      this.view.trimRows();
    }
    this.setState(this.conn.reconnecting ? 'reconnecting' : this.runningState());
  }

  sessionFailed(s, error) {
    if (this.session !== s) return;
    if (s.filtered && isFilterRefusal(error)) {
      this.stopSession();
      this.setState('error');
      this.showBanner('filter', {
        title: 'The filter was refused',
        detail: error.serverCode === 'unknown_command'
          ? 'This gateway does not filter records (no "filters" among its features): nothing unfiltered is shown instead.'
          : 'Change the filter, or clear it to read every record.',
        cause: messageOf(error),
        action: { label: 'Clear the filter', run: () => this.view.clearFilter() },
      });
      return;
    }
    if (isOutOfRange(error)) {
      this.stopSession();
      this.setState('error');
      this.showBanner('out-of-range', {
        title: 'The records at this position are gone',
        detail: 'The broker no longer has the next offset (removed by retention, or the log was truncated).',
        cause: messageOf(error),
        action: { label: 'Read from earliest', run: () => this.seek({ kind: 'earliest' }) },
      });
      return;
    }
    this.reportError(error, { topic: s.topic, partition: s.partition, mode: s.mode });
    if (this.session === s) {
      this.stopSession();
      this.setState('error');
    }
  }

  /** Asks for the end of the log (called every second). */
  async refreshLatest() {
    const s = this.session;
    const client = this.conn.client;
    if (!s || !client || this.conn.reconnecting || this.refreshing) return;
    this.refreshing = true;
    try {
      const ends = s.partition === ALL
        ? await this.partitionsOf(client, s.topic)
        : [{ partition: s.partition, latest: await client.listOffsets(s.topic, s.partition, 'latest') }];
      if (s !== this.session) return;
      let changed = false;
      for (const { partition, latest } of ends) {
        const part = s.parts.get(partition);
        if (part && latest > part.latest) {
          part.latest = latest;
          changed = true;
        }
      }
      if (changed) this.updateStats();
    } catch (error) {
      // A lost connection shows through ondisconnect; a deleted topic shows here.
      if (s === this.session && isTopicMissing(error)) this.reportError(error, s);
    } finally {
      this.refreshing = false;
    }
  }

  // --- Controls ------------------------------------------------------------------------------

  /** Reads from `mode`; connects first when not connected or the form names another gateway or topic. */
  seek(mode) {
    const { conn, session } = this;
    const topic = session?.topic ?? conn.topic;
    const form = this.view.readForm();
    if (!conn.client || !topic || form.gateway !== conn.url || form.topic !== topic) {
      this.connect({ mode });
      return;
    }
    const partition = session?.partition ?? form.partition;
    this.hideNotice();
    this.startSession({ topic, partition, mode });
  }

  /** The user picked another partition of the topic. */
  choosePartition(partition) {
    const { conn, session } = this;
    if (!conn.client || conn.topic === null) return;
    this.hideBanner('partition-missing');
    this.hideNotice();
    const mode = session && session.mode.kind !== 'offset' ? session.mode : { kind: 'recent' };
    this.startSession({ topic: conn.topic, partition, mode });
  }

  togglePause() {
    this.setPaused(!this.session?.paused);
  }
}
