// The reader: connection, partition discovery and the reading session (connect, subscribe,
// seek, pause, errors), as a state machine without a DOM. What it decides goes to a `view`
// (the page, or a test's recorder) and into `status` (window.kpgDemo on the page). Everything it
// needs from outside comes in: the SDK loader, the "does anything answer there" probe, the
// rate meter and the clock.
import { fmt, formatWhen } from './format.mjs';

export const RECENT_COUNT = 20n; // "Last 20": start this many records before the end of the log
export const MAX_PARTITIONS = 256; // partition discovery stops here
export const RECONNECT = { initialDelayMs: 250, maxDelayMs: 4000, jitter: 0.2 };
const HISTORY_MODES = new Set(['earliest', 'offset', 'time']);

/** A fresh status object (window.kpgDemo): what tests and the curious read. */
export function initialStatus() {
  return {
    state: 'idle', // idle | connecting | live | paused | reconnecting | error
    banner: null, // kind of the banner shown, or null
    error: null, // text of the banner shown, or null
    notice: null, // kind of the notice shown, or null
    topic: null,
    partition: null,
    partitions: [], // [{partition, earliest, latest}] as decimal strings
    from: null, // how the current read started: recent | earliest | latest | offset | time
    recordsReceived: 0,
    nextOffset: null, // decimal strings once known
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

/** The page's query string for a read: readable (':' and '/' need no escaping in a query). */
export function readQuery(gateway, { topic, partition, mode }) {
  const enc = (v) => encodeURIComponent(v).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
  let query = `gateway=${enc(gateway)}&topic=${enc(topic)}&partition=${partition}`;
  const from = fromParam(mode);
  if (from) query += `&from=${enc(from)}`;
  return query;
}

export const messageOf = (error) => error?.message || String(error);
const isTopicMissing = (error) => /not found topic/i.test(messageOf(error));
const isPartitionMissing = (error) => /not found partition/i.test(messageOf(error));

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
 *   addRecords(records, {fresh, keepAll}), trimRows(), setPartitions(partitions, selected),
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
    const next = s ? s.next : null;
    const latest = s ? s.latest : null;
    status.nextOffset = next === null ? null : next.toString();
    status.latestOffset = latest === null ? null : latest.toString();
    const lag = next === null || latest === null ? null : latest > next ? latest - next : 0n;
    status.lag = lag === null ? null : lag.toString();
    status.recordsReceived = s ? s.received : 0;
    this.view.updateStats({ next, latest, lag, received: status.recordsReceived });
    // Keep the partition chooser's record count current for the partition being read.
    const entry = s && conn.topic === s.topic ? conn.partitions.find((p) => p.partition === s.partition) : null;
    if (entry && latest > entry.latest) {
      entry.latest = latest;
      this.view.updatePartition(entry);
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
      client = await sdk.connect(params.gateway, { reconnect: RECONNECT });
    } catch (error) {
      if (gen !== this.generation) return;
      const answers = await this.gatewayAnswers(params.gateway);
      if (gen !== this.generation) return;
      this.setState('error', 'Not connected');
      const retry = { label: 'Retry', run: () => this.connect({ mode }) };
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
    this.wireClient(client);
    await this.openTopic({ topic: params.topic, partition: params.partition, mode: mode ?? this.currentMode() }, gen);
  }

  currentMode() {
    return this.session?.mode ?? { kind: 'recent' };
  }

  async openTopic(spec, gen) {
    const { conn } = this;
    const client = conn.client;
    conn.pending = spec;
    let partitions;
    try {
      partitions = await probePartitions(client, spec.topic);
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
    this.view.setPartitions(partitions, spec.partition);
    if (!partitions.some((p) => p.partition === spec.partition)) {
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
        title: `Partition ${spec.partition} of "${spec.topic}" not found`,
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
    const where = session ? ` and carries on at offset ${fmt(session.next)}: no record is skipped or shown twice` : '';
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
    try {
      s.sub?.cancel();
    } catch {
      // already ended
    }
  }

  /** Resolves where `spec.mode` starts, then reads from there (replacing the current read). */
  async startSession(spec, gen = this.generation) {
    const { conn } = this;
    const client = conn.client;
    if (!client) return;
    const token = ++this.seekToken;
    const stale = () => gen !== this.generation || token !== this.seekToken || client !== conn.client;
    const { topic, partition } = spec;
    let { mode } = spec;
    let earliest;
    let latest;
    let note = null;
    try {
      [earliest, latest] = await Promise.all([
        client.listOffsets(topic, partition, 'earliest'),
        client.listOffsets(topic, partition, 'latest'),
      ]);
      if (stale()) return;
      if (mode.kind === 'time') {
        const found = await client.listOffsets(topic, partition, new Date(mode.time));
        if (stale()) return;
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
            return;
          }
          mode = { kind: 'latest' };
          note = 'kept';
        } else {
          mode = { ...mode, resolved: found };
        }
      }
    } catch (error) {
      if (stale()) return;
      this.reportError(error, spec);
      return;
    }

    let start;
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

    this.stopSession();
    this.hideBanner();
    if (note !== 'kept') this.hideNotice();
    if (typeof note === 'string' && note !== 'kept') this.showNotice(mode.kind === 'time' ? 'time-found' : 'clamped', note);
    this.rate.reset();
    this.view.restartList(HISTORY_MODES.has(mode.kind) ? 'oldest-first' : 'newest-first');

    const maxRows = BigInt(this.maxRows);
    const s = {
      topic,
      partition,
      mode,
      start,
      next: start, // offset after the last record shown
      expected: start, // offset after the last record the SDK delivered
      latest,
      liveFrom: latest, // records from here on were written after the read started
      holdAt: HISTORY_MODES.has(mode.kind) && latest - start > maxRows ? start + maxRows : null,
      held: false,
      paused: false,
      received: 0,
      duplicates: 0,
      gaps: 0,
      buffered: [], // records that arrived while paused
      stopped: false,
      sub: null,
    };
    this.session = s;
    conn.pending = null;
    const { status } = this;
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

    s.sub = client.subscribe(topic, partition, { offset: start });
    this.readLoop(s); // runs until the session stops
  }

  async readLoop(s) {
    try {
      for await (const batch of s.sub) {
        if (s.stopped) break;
        this.onBatch(s, batch);
      }
    } catch (error) {
      if (s.stopped) return;
      this.sessionFailed(s, error);
    }
  }

  onBatch(s, batch) {
    // The SDK delivers each record once, in order, without gaps. Should it ever not, the page
    // shows each record once anyway and counts what it saw (status.duplicates / gaps).
    let expected = s.expected;
    const records = [];
    for (const r of batch) {
      if (r.offset < expected) {
        s.duplicates++;
        console.warn(`kpg demo: record ${r.offset} delivered again (next expected ${expected})`);
        continue;
      }
      if (r.offset > expected) {
        s.gaps += Number(r.offset - expected);
        console.warn(`kpg demo: offsets ${expected}–${r.offset - 1n} skipped`);
      }
      records.push(r);
      expected = r.offset + 1n;
    }
    s.expected = expected;
    this.status.duplicates = s.duplicates;
    this.status.gaps = s.gaps;
    if (s.paused) s.buffered.push(...records); // shown on resume: pausing is immediate
    else this.showBatch(s, records);
  }

  showBatch(s, records) {
    if (records.length === 0) return;
    if (s.holdAt !== null) {
      const cut = records.findIndex((r) => r.offset >= s.holdAt);
      if (cut >= 0) {
        s.buffered.push(...records.slice(cut));
        records = records.slice(0, cut);
      }
    }
    if (records.length > 0) {
      s.next = records[records.length - 1].offset + 1n;
      if (s.next > s.latest) s.latest = s.next;
      s.received += records.length;
      this.rate.add(records.filter((r) => r.offset >= s.liveFrom).length);
      const keepAll = s.holdAt !== null;
      this.view.addRecords(records, { fresh: records.length <= 20 && s.received > records.length, keepAll });
    }
    if (s.holdAt !== null && !s.held && s.next >= s.holdAt) this.hold(s);
    this.updateStats();
  }

  /** Reading history: stop once the list is full so the start of the read stays on screen. */
  hold(s) {
    s.held = true;
    s.paused = true;
    s.sub.pause();
    this.setState(this.conn.reconnecting ? 'reconnecting' : 'paused');
    const more = s.latest > s.next ? s.latest - s.next : 0n;
    this.showNotice('hold',
      `Paused after ${fmt(s.received)} records from offset ${fmt(s.start)} so they stay on screen; ` +
      `${fmt(more)} more to the end of the log. Resuming drops the oldest rows to make room.`,
      { label: 'Keep reading', run: () => this.setPaused(false) });
  }

  setPaused(paused) {
    const s = this.session;
    if (!s || s.paused === paused) return;
    s.paused = paused;
    if (paused) {
      s.sub.pause();
    } else {
      s.holdAt = null;
      this.hideNotice('hold');
      const buffered = s.buffered.splice(0);
      if (buffered.length) this.showBatch(s, buffered);
      s.sub.resume();
      this.view.trimRows();
    }
    this.setState(this.conn.reconnecting ? 'reconnecting' : this.runningState());
  }

  sessionFailed(s, error) {
    if (this.session !== s) return;
    if (/OFFSET_OUT_OF_RANGE/.test(messageOf(error))) {
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
      const latest = await client.listOffsets(s.topic, s.partition, 'latest');
      if (s === this.session && latest > s.latest) {
        s.latest = latest;
        this.updateStats();
      }
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
