// kpg web demo: live tail of one Kafka partition through the kpg WASM SDK.
// Plain ES module, no build step. The SDK is served at /sdk/ by serve.mjs.

const SDK_URL = '/sdk/index.mjs';
const TAIL_BACKLOG = 20n; // start this many records before the end of the log
const MAX_ROWS = 200; // records kept in the DOM
const LATEST_REFRESH_MS = 2000;
const RATE_WINDOW_MS = 5000;

// ---------------------------------------------------------------------------------------------
// State visible to tests and to the curious (open the console and look at window.kpgDemo).

const demo = {
  state: 'idle',
  recordsReceived: 0,
  latestOffset: null, // decimal string once known
  error: null,
};
window.kpgDemo = demo;

// ---------------------------------------------------------------------------------------------
// DOM

const $ = (selector) => document.querySelector(selector);
const ui = {
  form: $('#connect-form'),
  gateway: $('[data-testid="gateway-input"]'),
  topic: $('[data-testid="topic-input"]'),
  partition: $('[data-testid="partition-input"]'),
  connect: $('[data-testid="connect-button"]'),
  status: $('[data-testid="status"]'),
  latest: $('[data-testid="latest-offset"]'),
  error: $('[data-testid="error"]'),
  records: $('[data-testid="records"]'),
  empty: $('#empty'),
  rate: $('#rate'),
  received: $('#received'),
  source: $('#source'),
};

const STATUS_TEXT = {
  idle: 'idle',
  connecting: 'connecting…',
  connected: 'connected',
  error: 'error',
  disconnected: 'disconnected',
};

function setState(state, detail) {
  demo.state = state;
  ui.status.dataset.state = state;
  ui.status.textContent = detail ? `${STATUS_TEXT[state]} · ${detail}` : STATUS_TEXT[state];
  document.body.dataset.state = state;
}

function showError(message) {
  demo.error = message;
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  demo.error = null;
  ui.error.textContent = '';
  ui.error.hidden = true;
}

function setLatest(offset) {
  if (offset === null) {
    demo.latestOffset = null;
    ui.latest.textContent = '–';
    return;
  }
  demo.latestOffset = offset.toString();
  ui.latest.textContent = demo.latestOffset;
}

// ---------------------------------------------------------------------------------------------
// Decoding and formatting

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

const JSON_TOKEN = /\s+|"(?:[^"\\]|\\.)*"|[{}[\],:]|[^\s{}[\],:"]+/gy;

/**
 * Pretty-prints JSON text that JSON.parse accepted, with two-space indents like
 * JSON.stringify(value, null, 2), but keeping every literal as written: big integers and
 * decimals such as 12.50 are not rounded through a double. Returns [{text, cls}] tokens.
 */
function prettyJson(source) {
  const out = [];
  const push = (text, cls) => out.push({ text, cls });
  let depth = 0;
  const newline = () => push('\n' + '  '.repeat(depth));
  const tokens = source.match(JSON_TOKEN).filter((t) => !/^\s/.test(t));
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t === '{' || t === '[') {
      push(t, 'j-punct');
      if (next === '}' || next === ']') {
        push(next, 'j-punct');
        i++;
      } else {
        depth++;
        newline();
      }
    } else if (t === '}' || t === ']') {
      depth--;
      newline();
      push(t, 'j-punct');
    } else if (t === ',') {
      push(t, 'j-punct');
      newline();
    } else if (t === ':') {
      push(': ', 'j-punct');
    } else if (t[0] === '"') {
      push(t, next === ':' ? 'j-key' : 'j-string');
    } else if (t === 'true' || t === 'false') {
      push(t, 'j-bool');
    } else if (t === 'null') {
      push(t, 'j-null');
    } else {
      push(t, 'j-number');
    }
  }
  return out;
}

/** How a record value is shown: {kind: 'json'|'text'|'hex'|'empty', text, tokens?}. */
function describeValue(bytes) {
  if (bytes.length === 0) return { kind: 'empty', text: '' };
  const str = decodeUtf8(bytes);
  if (str === null) return { kind: 'hex', text: hex(bytes) };
  const trimmed = str.trim();
  if (trimmed) {
    try {
      JSON.parse(trimmed);
      const tokens = prettyJson(trimmed);
      return { kind: 'json', text: tokens.map((t) => t.text).join(''), tokens };
    } catch {
      // not JSON: plain text
    }
  }
  return { kind: 'text', text: str };
}

function describeKey(bytes) {
  if (bytes.length === 0) return { kind: 'empty', text: '' };
  const str = decodeUtf8(bytes);
  return str === null ? { kind: 'hex', text: hex(bytes) } : { kind: 'text', text: str };
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

function formatTimestamp(ms) {
  if (ms < 0n) return { text: 'no timestamp', title: '' };
  const date = new Date(Number(ms));
  if (Number.isNaN(date.getTime())) return { text: ms.toString(), title: '' };
  const text =
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}`;
  return { text, title: `${date.toISOString()} (${ms} ms)` };
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderRecord(record) {
  const row = el('li', 'record');
  row.dataset.testid = 'record';
  row.dataset.offset = record.offset.toString();

  const meta = el('div', 'record-meta');
  meta.append(el('span', 'record-offset mono', `#${record.offset}`));

  const ts = formatTimestamp(record.timestamp);
  const time = el('time', 'record-time mono', ts.text);
  if (ts.title) time.title = ts.title;
  if (record.timestamp >= 0n) time.dateTime = new Date(Number(record.timestamp)).toISOString();
  meta.append(time);

  const key = describeKey(record.key);
  const keyWrap = el('span', 'record-key-wrap');
  keyWrap.append(el('span', 'label', 'key'));
  const keyNode = el('span', `record-key mono kind-${key.kind}`, key.text);
  keyNode.dataset.testid = 'record-key';
  keyWrap.append(keyNode);
  meta.append(keyWrap);

  const value = describeValue(record.value);
  const tags = el('div', 'record-tags');
  tags.append(el('span', `badge badge-${value.kind}`, value.kind));
  tags.append(el('span', 'record-size', formatSize(record.value.length)));
  meta.append(tags);

  const valueNode = el('pre', `record-value mono kind-${value.kind}`);
  valueNode.dataset.testid = 'record-value';
  if (value.tokens) {
    for (const token of value.tokens) {
      if (token.cls === 'j-punct' || /^\s/.test(token.text)) valueNode.append(token.text);
      else valueNode.append(el('span', token.cls, token.text));
    }
  } else {
    valueNode.textContent = value.text;
  }

  row.append(meta, valueNode);
  return row;
}

function addRecords(records) {
  // records arrive oldest first; the list shows newest first.
  const fragment = document.createDocumentFragment();
  const shown = records.slice(-MAX_ROWS);
  for (let i = shown.length - 1; i >= 0; i--) fragment.append(renderRecord(shown[i]));
  ui.records.prepend(fragment);
  while (ui.records.childElementCount > MAX_ROWS) ui.records.lastElementChild.remove();
  ui.empty.hidden = ui.records.childElementCount > 0;
}

function clearRecords() {
  ui.records.replaceChildren();
  ui.empty.hidden = false;
  ui.empty.textContent = 'No records yet.';
}

// ---------------------------------------------------------------------------------------------
// Records per second over a sliding window.

const rate = {
  samples: [], // [timeMs, count]
  since: 0,
  reset() {
    this.samples = [];
    this.since = performance.now();
  },
  add(count) {
    this.samples.push([performance.now(), count]);
  },
  value() {
    const now = performance.now();
    while (this.samples.length && now - this.samples[0][0] > RATE_WINDOW_MS) this.samples.shift();
    const window = Math.min(RATE_WINDOW_MS, now - this.since);
    if (window < 500) return null;
    const total = this.samples.reduce((sum, [, n]) => sum + n, 0);
    return (total * 1000) / window;
  },
};

function updateCounters() {
  ui.received.textContent = demo.recordsReceived.toLocaleString('en-US');
  if (demo.state !== 'connected') {
    ui.rate.textContent = '–';
    return;
  }
  const value = rate.value();
  ui.rate.textContent = value === null ? '…' : value.toFixed(1);
}
setInterval(updateCounters, 500);

// ---------------------------------------------------------------------------------------------
// Sessions: one connection + tail loop. Connecting again abandons the previous session.

let sdkPromise;
function loadSdk() {
  sdkPromise ??= import(SDK_URL).catch((error) => {
    sdkPromise = undefined;
    throw new Error(
      `could not load the kpg SDK from ${SDK_URL} (${error.message}). ` +
        'Build it with tools/test or cmake --build --preset wasm, then serve this page with web-demo/serve.mjs.',
    );
  });
  return sdkPromise;
}

let current = null;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function describeError(error) {
  if (error && error.name === 'KpgError') {
    return error.message || `${error.code} error`;
  }
  return error?.message || String(error);
}

function validate(params) {
  let url;
  try {
    url = new URL(params.gateway);
  } catch {
    return `invalid gateway URL "${params.gateway}": expected ws://host:port/path or wss://…`;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
    params.gateway = url.href;
    ui.gateway.value = url.href;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return `invalid gateway URL "${params.gateway}": the scheme must be ws:// or wss://`;
  }
  if (!params.topic) return 'the topic is empty';
  if (!/^\d+$/.test(params.partitionText) || Number(params.partitionText) > 2147483647) {
    return `invalid partition "${params.partitionText}": expected an integer from 0`;
  }
  return null;
}

class Session {
  constructor(params) {
    this.params = params;
    this.client = null;
    this.ended = false;
    this.latest = null;
    this.liveFrom = 0n;
    this.timer = null;
  }

  get live() {
    return current === this && !this.ended;
  }

  /** Ends the session once; later calls are ignored. */
  end(state, message) {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    try {
      this.client?.close();
    } catch {
      // already gone
    }
    if (current !== this) return;
    setState(state);
    if (message) showError(message);
    updateCounters();
  }

  bumpLatest(offset) {
    if (this.latest === null || offset > this.latest) {
      this.latest = offset;
      setLatest(offset);
    }
  }

  async run() {
    const { gateway, topic, partition } = this.params;
    setState('connecting');
    ui.source.textContent = `${topic} / ${partition} @ ${gateway}`;

    let sdk;
    try {
      sdk = await loadSdk();
    } catch (error) {
      return this.end('error', error.message);
    }
    if (!this.live) return;

    let client;
    try {
      client = await sdk.connect(gateway);
    } catch (error) {
      if (this.live) this.end('error', `cannot connect to the gateway: ${describeError(error)}`);
      return;
    }
    if (!this.live) {
      client.close();
      return;
    }
    this.client = client;
    client.ondisconnect = (error) => this.end('disconnected', `connection lost: ${describeError(error)}`);

    let offset;
    try {
      const [earliest, latest] = await Promise.all([
        client.listOffsets(topic, partition, 'earliest'),
        client.listOffsets(topic, partition, 'latest'),
      ]);
      if (!this.live) return;
      this.bumpLatest(latest);
      this.liveFrom = latest;
      offset = latest - TAIL_BACKLOG > earliest ? latest - TAIL_BACKLOG : earliest;
    } catch (error) {
      return this.fail(error);
    }

    setState('connected');
    rate.reset();
    updateCounters();
    ui.empty.textContent = 'Waiting for records…';
    this.timer = setInterval(() => this.refreshLatest(), LATEST_REFRESH_MS);

    while (this.live) {
      let records;
      const started = performance.now();
      try {
        records = await client.fetch(topic, partition, offset);
      } catch (error) {
        return this.fail(error);
      }
      if (!this.live) return;
      // A fetch may start at the beginning of a record batch: skip what we already have.
      records = records.filter((r) => r.offset >= offset);
      if (records.length === 0) {
        // The gateway holds an empty fetch for a moment; guard against one that does not.
        if (performance.now() - started < 50) await sleep(250);
        continue;
      }
      offset = records[records.length - 1].offset + 1n;
      demo.recordsReceived += records.length;
      // The backlog fetched at start-up is not traffic: the rate counts new records only.
      rate.add(records.filter((r) => r.offset >= this.liveFrom).length);
      addRecords(records);
      ui.received.textContent = demo.recordsReceived.toLocaleString('en-US');
      this.bumpLatest(offset);
    }
  }

  async refreshLatest() {
    if (!this.live || !this.client) return;
    try {
      const latest = await this.client.listOffsets(this.params.topic, this.params.partition, 'latest');
      if (this.live) this.bumpLatest(latest);
    } catch (error) {
      // The tail loop reports lasting failures; a lost connection arrives via ondisconnect.
      if (this.live && error?.code === 'server') this.fail(error);
    }
  }

  fail(error) {
    if (!this.live) return;
    const lost = error?.code === 'closed' || error?.code === 'transport' || !this.client?.isOpen;
    if (lost) {
      const message = describeError(error);
      this.end('disconnected', message.startsWith('connection lost') ? message : `connection lost: ${message}`);
    } else {
      this.end('error', describeError(error));
    }
  }

  stop() {
    this.ended = true;
    clearInterval(this.timer);
    try {
      this.client?.close();
    } catch {
      // already gone
    }
  }
}

function readForm() {
  const partitionText = ui.partition.value.trim();
  return {
    gateway: ui.gateway.value.trim(),
    topic: ui.topic.value.trim(),
    partitionText,
    partition: Number(partitionText),
  };
}

function start() {
  current?.stop();
  current = null;
  clearError();
  clearRecords();
  setLatest(null);
  demo.recordsReceived = 0;
  rate.reset();
  updateCounters();

  const params = readForm();
  const problem = validate(params);
  if (problem) {
    setState('error');
    showError(problem);
    return;
  }

  // Keep the address shareable and readable: ':' and '/' need no escaping in a query.
  const enc = (v) => encodeURIComponent(v).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
  const query = `gateway=${enc(params.gateway)}&topic=${enc(params.topic)}&partition=${params.partition}`;
  history.replaceState(null, '', `${location.pathname}?${query}`);

  const session = new Session(params);
  current = session;
  session.run().catch((error) => {
    // Anything unexpected still leaves the page usable.
    console.error(error);
    if (session.live) session.end('error', describeError(error));
  });
}

// ---------------------------------------------------------------------------------------------
// Start-up: fill the form from the query string and connect.

const query = new URLSearchParams(location.search);
ui.gateway.value = query.get('gateway') || `ws://${location.hostname || '127.0.0.1'}:9080/kafka`;
ui.topic.value = query.get('topic') || 'demo';
ui.partition.value = query.get('partition') || '0';

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  start();
});

setState('idle');
start();
