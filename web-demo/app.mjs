// kpg web demo: read one Kafka partition live in the browser through the kpg WASM SDK.
// Plain ES module, no build step. serve.mjs serves the SDK package at /sdk/.

const SDK_URL = '/sdk/index.mjs';
const RECENT_COUNT = 20n; // "Last 20": start this many records before the end of the log
const MAX_ROWS = 500; // records kept in the list
const LATEST_REFRESH_MS = 1000; // how often the end of the log is asked for
const RATE_WINDOW_MS = 5000; // records/s is averaged over this window
const SPARK_SECONDS = 30; // the sparkline shows this many one-second buckets
const MAX_PARTITIONS = 256; // partition discovery stops here
const RECONNECT = { initialDelayMs: 250, maxDelayMs: 4000, jitter: 0.2 };
const HEX_DUMP_LIMIT = 4096; // bytes shown in a hex dump

// ---------------------------------------------------------------------------------------------
// State visible to tests and to the curious (open the console and look at window.kpgDemo).

const demo = {
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
window.kpgDemo = demo;

// ---------------------------------------------------------------------------------------------
// DOM

const $ = (selector, root = document) => root.querySelector(selector);
const byTestId = (id) => $(`[data-testid="${id}"]`);
const ui = {
  form: $('#connect-form'),
  gateway: byTestId('gateway-input'),
  topic: byTestId('topic-input'),
  topics: $('#recent-topics'),
  partition: byTestId('partition-select'),
  connect: byTestId('connect-button'),
  status: byTestId('status'),
  statusText: $('.status-text'),
  seekButtons: [...document.querySelectorAll('.seg')],
  offsetForm: $('#seek-offset-form'),
  offsetInput: byTestId('seek-offset-input'),
  timeForm: $('#seek-time-form'),
  timeInput: byTestId('seek-time-input'),
  pause: byTestId('pause-button'),
  pauseText: $('.pause-text'),
  banner: byTestId('banner'),
  bannerTitle: $('.banner-title'),
  bannerDetail: $('.banner-detail'),
  bannerCause: $('.banner-cause'),
  bannerAction: byTestId('banner-action'),
  notice: byTestId('notice'),
  noticeBody: $('.notice-body'),
  noticeAction: byTestId('notice-action'),
  noticeClose: $('.notice-close'),
  next: byTestId('next-offset'),
  latest: byTestId('latest-offset'),
  lag: byTestId('lag'),
  rate: byTestId('rate'),
  spark: byTestId('sparkline'),
  received: byTestId('received'),
  summary: byTestId('records-summary'),
  order: byTestId('order-button'),
  clear: byTestId('clear-button'),
  scroll: $('#records-scroll'),
  records: byTestId('records'),
  empty: byTestId('empty'),
  inspectorEmpty: byTestId('inspector-empty'),
  inspectorBody: $('.inspector-body'),
  inspectorTitle: $('.inspector-title-offset'),
  inspectorKind: byTestId('inspector-kind'),
  inspectorView: byTestId('inspector-view'),
  inspectorCopy: byTestId('inspector-copy'),
  inspectorPartition: byTestId('inspector-partition'),
  inspectorOffset: byTestId('inspector-offset'),
  inspectorTime: byTestId('inspector-timestamp'),
  inspectorTimeRaw: byTestId('inspector-timestamp-raw'),
  inspectorKey: byTestId('inspector-key'),
  inspectorSize: byTestId('inspector-size'),
  inspectorValue: byTestId('inspector-value'),
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const fmt = (n) => (n === null || n === undefined ? '–' : n.toLocaleString('en-US'));

// ---------------------------------------------------------------------------------------------
// Status, banner (problems with the connection or topic) and notice (results of a seek)

const STATUS_TEXT = {
  idle: 'Idle',
  connecting: 'Connecting…',
  live: 'Live',
  paused: 'Paused',
  reconnecting: 'Reconnecting…',
  error: 'Error',
};

/** `label` overrides the status text, e.g. 'Not connected' for an error before connecting. */
function setState(state, label) {
  demo.state = state;
  ui.status.dataset.state = state;
  ui.statusText.textContent = label ?? STATUS_TEXT[state];
  document.body.dataset.state = state;
  const canPause = !!session && (state === 'live' || state === 'paused' || state === 'reconnecting');
  ui.pause.disabled = !canPause;
  const paused = !!session?.paused;
  ui.pause.dataset.paused = String(paused);
  ui.pauseText.textContent = paused ? 'Resume' : 'Pause';
  for (const button of ui.seekButtons) button.disabled = !session && state !== 'error';
  updateEmpty();
}

/** The state of a running session once the connection is fine. */
function runningState() {
  return session?.paused ? 'paused' : 'live';
}

let bannerAction = null;

function showBanner(kind, { title, detail = '', cause = '', action = null }) {
  demo.banner = kind;
  demo.error = [title, detail, cause].filter(Boolean).join(' ');
  ui.banner.dataset.kind = kind;
  ui.bannerTitle.textContent = title;
  ui.bannerDetail.textContent = detail;
  ui.bannerCause.textContent = cause;
  ui.bannerCause.hidden = !cause;
  bannerAction = action?.run ?? null;
  ui.bannerAction.hidden = !action;
  if (action) ui.bannerAction.textContent = action.label;
  ui.banner.hidden = false;
}

function hideBanner(kind) {
  if (kind && demo.banner !== kind) return;
  demo.banner = null;
  demo.error = null;
  ui.banner.hidden = true;
  ui.banner.dataset.kind = '';
  bannerAction = null;
}

let noticeAction = null;

function showNotice(kind, text, action = null) {
  demo.notice = kind;
  ui.notice.dataset.kind = kind;
  ui.noticeBody.textContent = text;
  noticeAction = action?.run ?? null;
  ui.noticeAction.hidden = !action;
  if (action) ui.noticeAction.textContent = action.label;
  ui.notice.hidden = false;
}

function hideNotice(kind) {
  if (kind && demo.notice !== kind) return;
  demo.notice = null;
  ui.notice.hidden = true;
  ui.notice.dataset.kind = '';
  noticeAction = null;
}

ui.bannerAction.addEventListener('click', () => bannerAction?.());
ui.noticeAction.addEventListener('click', () => noticeAction?.());
ui.noticeClose.addEventListener('click', () => hideNotice());

// ---------------------------------------------------------------------------------------------
// Decoding and formatting record contents

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Valid UTF-8 that holds C0 control characters (other than tab, newline, CR) is binary data.
const CONTROL_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function decodeText(bytes) {
  let str;
  try {
    str = utf8.decode(bytes);
  } catch {
    return null;
  }
  return CONTROL_CHARS.test(str) ? null : str;
}

const hexBytes = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');

const JSON_TOKEN = /\s+|"(?:[^"\\]|\\.)*"?|[{}[\],:]|[^\s{}[\],:"]+/gy;

/**
 * Tokens of JSON text that JSON.parse accepted, classified for colouring. Literals are kept as
 * written: big integers and decimals such as 12.50 are not rounded through a double.
 */
function jsonTokens(source) {
  const raw = source.match(JSON_TOKEN)?.filter((t) => !/^\s/.test(t)) ?? [];
  return raw.map((t, i) => {
    if ('{}[],:'.includes(t)) return { text: t, cls: 'punct' };
    if (t[0] === '"') return { text: t, cls: raw[i + 1] === ':' ? 'j-key' : 'j-string' };
    if (t === 'true' || t === 'false') return { text: t, cls: 'j-bool' };
    if (t === 'null') return { text: t, cls: 'j-null' };
    return { text: t, cls: 'j-number' };
  });
}

/** Renders tokens into `node`: pretty (two-space indents like JSON.stringify(v, null, 2)) or on one line. */
function renderJson(node, tokens, pretty) {
  let depth = 0;
  let line = '';
  const flush = () => {
    if (line) node.append(line);
    line = '';
  };
  const newline = () => {
    if (pretty) line += '\n' + '  '.repeat(depth);
  };
  for (let i = 0; i < tokens.length; i++) {
    const { text, cls } = tokens[i];
    const next = tokens[i + 1]?.text;
    if (cls === 'punct') {
      if (text === '{' || text === '[') {
        if (next === '}' || next === ']') {
          line += text + next;
          i++;
        } else {
          line += text;
          depth++;
          newline();
        }
      } else if (text === '}' || text === ']') {
        depth--;
        newline();
        line += text;
      } else if (text === ',') {
        line += ',';
        newline();
      } else {
        line += pretty ? ': ' : ':';
      }
    } else {
      flush();
      node.append(el('span', cls, text));
    }
  }
  flush();
}

/**
 * How a value is shown: {kind: 'json'|'text'|'binary'|'empty', text, tokens?}. With `preview`
 * (characters), text and tokens cover only the start of the value (a list row).
 */
function describeValue(bytes, preview = Infinity) {
  if (bytes.length === 0) return { kind: 'empty', text: '' };
  const str = decodeText(bytes);
  if (str === null) return { kind: 'binary', text: hexBytes(bytes.subarray(0, Math.min(HEX_DUMP_LIMIT, preview))) };
  const trimmed = str.trim();
  if (trimmed && '{["-0123456789tfn'.includes(trimmed[0])) {
    try {
      JSON.parse(trimmed);
      return { kind: 'json', text: trimmed, tokens: jsonTokens(trimmed.slice(0, preview)) };
    } catch {
      // not JSON: plain text
    }
  }
  return { kind: 'text', text: str.slice(0, preview) };
}

function describeKey(bytes) {
  if (bytes.length === 0) return { kind: 'empty', text: '' };
  const str = decodeText(bytes);
  return str === null ? { kind: 'binary', text: hexBytes(bytes) } : { kind: 'text', text: str };
}

/** Classic hex dump: offset, 16 bytes in two groups of 8, printable ASCII. */
function hexDump(node, bytes) {
  const n = Math.min(bytes.length, HEX_DUMP_LIMIT);
  for (let i = 0; i < n; i += 16) {
    const chunk = bytes.subarray(i, Math.min(i + 16, n));
    let hex = '';
    for (let j = 0; j < 16; j++) {
      if (j === 8) hex += ' ';
      hex += j < chunk.length ? chunk[j].toString(16).padStart(2, '0') + ' ' : '   ';
    }
    const ascii = Array.from(chunk, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    node.append(el('span', 'hex-offset', i.toString(16).padStart(8, '0')), '  ', hex, ' ',
      el('span', 'hex-ascii', `|${ascii}|`), '\n');
  }
  if (bytes.length > n) node.append(el('span', 'hex-offset', `… ${fmt(bytes.length - n)} more bytes`));
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

function localDate(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function localTime(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

const zoneFormat = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });

function zoneName(date) {
  return zoneFormat.formatToParts(date).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** A time as the page shows it in sentences: 2026-11-25 13:50:00 UTC. */
function formatWhen(ms) {
  const date = new Date(ms);
  return `${localDate(date)} ${localTime(date).slice(0, 8)} ${zoneName(date)}`;
}

/** The value of a datetime-local input for `date` (local time, seconds). */
function dateTimeLocalValue(date) {
  return `${localDate(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function timestampDate(ms) {
  if (ms < 0n) return null;
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? null : date;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const KIND_LABEL = { json: 'JSON', text: 'text', binary: 'binary', empty: 'empty' };

// ---------------------------------------------------------------------------------------------
// The record list: records in ascending offset order, shown newest or oldest first.

const list = {
  records: [], // ascending offsets
  rows: new Map(), // offset (string) -> <li>
  byRow: new WeakMap(), // <li> -> record
  order: 'newest-first',
  userOrder: null, // set once the user picks an order
  selected: null, // <li>
};

function renderRow(record, fresh) {
  const row = el('li', fresh ? 'record fresh' : 'record');
  row.dataset.testid = 'record';
  row.dataset.offset = record.offset.toString();
  row.setAttribute('role', 'option');

  row.append(el('span', 'cell-offset mono', record.offset.toString()));

  const date = timestampDate(record.timestamp);
  const time = el('time', 'cell-time mono', date ? localTime(date) : '–');
  if (date) {
    time.dateTime = date.toISOString();
    time.title = `${localDate(date)} ${localTime(date)} ${zoneName(date)} · ${record.timestamp} ms`;
  }
  row.append(time);

  const key = describeKey(record.key);
  const keyNode = el('span', `cell-key mono kind-${key.kind}`, key.kind === 'empty' ? '—' : key.text);
  keyNode.dataset.testid = 'record-key';
  if (key.kind !== 'empty') keyNode.title = key.text;
  row.append(keyNode);

  const value = describeValue(record.value, 400);
  const valueNode = el('span', `cell-value mono kind-${value.kind}`);
  valueNode.dataset.testid = 'record-value';
  if (value.kind === 'json') {
    renderJson(valueNode, value.tokens, false);
  } else if (value.kind === 'empty') {
    valueNode.textContent = '(empty)';
  } else {
    valueNode.textContent = value.text.replace(/\s+/g, ' ');
  }
  row.append(valueNode);

  const badge = el('span', `badge badge-${value.kind}`, KIND_LABEL[value.kind]);
  badge.title = formatSize(record.value.length);
  row.append(badge);

  list.byRow.set(row, record);
  return row;
}

function addRecords(records, { fresh, keepAll }) {
  const scroll = ui.scroll;
  const newestFirst = list.order === 'newest-first';
  const heightBefore = scroll.scrollHeight;
  const atTop = scroll.scrollTop <= 2;
  const overflowing = scroll.scrollHeight > scroll.clientHeight + 2;
  const atBottom = overflowing && scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 24;

  const shown = keepAll ? records : records.slice(-MAX_ROWS);
  const rows = shown.map((r) => renderRow(r, fresh));
  for (const [i, r] of shown.entries()) list.rows.set(r.offset.toString(), rows[i]);
  list.records.push(...shown);
  if (newestFirst) ui.records.prepend(...rows.reverse());
  else ui.records.append(...rows);
  if (!keepAll) trimRows();

  if (newestFirst && !atTop) scroll.scrollTop += scroll.scrollHeight - heightBefore; // keep the reader's place
  if (!newestFirst && atBottom) scroll.scrollTop = scroll.scrollHeight; // follow the tail
  updateList();
}

function trimRows() {
  const excess = list.records.length - MAX_ROWS;
  if (excess <= 0) return;
  const scroll = ui.scroll;
  const heightBefore = scroll.scrollHeight;
  for (const record of list.records.splice(0, excess)) {
    const key = record.offset.toString();
    list.rows.get(key)?.remove();
    list.rows.delete(key);
  }
  if (list.order === 'oldest-first') scroll.scrollTop -= heightBefore - scroll.scrollHeight;
}

function clearRows() {
  list.records = [];
  list.rows.clear();
  ui.records.replaceChildren();
  list.selected = null;
  updateList();
}

function setOrder(order) {
  list.order = order;
  ui.records.dataset.order = order;
  ui.order.textContent = order === 'newest-first' ? 'Newest first' : 'Oldest first';
  ui.order.dataset.order = order;
  const rows = list.records.map((r) => list.rows.get(r.offset.toString()));
  if (order === 'newest-first') rows.reverse();
  ui.records.append(...rows);
  ui.scroll.scrollTop = 0;
}

function updateList() {
  demo.rows = list.records.length;
  if (list.records.length === 0) {
    ui.summary.textContent = '';
  } else {
    const first = list.records[0].offset;
    const last = list.records[list.records.length - 1].offset;
    const count = list.records.length;
    const where = session ? `${session.topic} / ${session.partition} · ` : '';
    ui.summary.textContent = `${where}${fmt(count)} ${count === 1 ? 'record' : 'records'} · offsets ${fmt(first)}–${fmt(last)}`;
  }
  updateEmpty();
}

function updateEmpty() {
  const empty = list.records.length === 0;
  ui.empty.hidden = !empty;
  if (!empty) return;
  let text;
  if (demo.state === 'connecting') text = 'Connecting…';
  else if (demo.state === 'error' || demo.state === 'idle') text = 'Nothing to show.';
  else if (session && session.received > 0) text = 'List cleared. New records appear here.';
  else if (session) text = `Waiting for new records on ${session.topic} / ${session.partition}…`;
  else text = 'Nothing to show.';
  ui.empty.textContent = text;
}

function select(row, { scroll = false } = {}) {
  if (!row) return;
  if (list.selected) {
    list.selected.classList.remove('selected');
    list.selected.removeAttribute('aria-selected');
  }
  list.selected = row;
  row.classList.add('selected');
  row.setAttribute('aria-selected', 'true');
  if (scroll) row.scrollIntoView({ block: 'nearest' });
  inspect(list.byRow.get(row), session?.partition ?? demo.partition);
}

ui.records.addEventListener('click', (event) => {
  const row = event.target.closest('li.record');
  if (row) select(row);
});

ui.records.addEventListener('keydown', (event) => {
  if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
  event.preventDefault();
  const current = list.selected?.isConnected ? list.selected : null;
  const next = !current
    ? ui.records.firstElementChild
    : event.key === 'ArrowDown' ? current.nextElementSibling : current.previousElementSibling;
  select(next, { scroll: true });
});

ui.order.addEventListener('click', () => {
  list.userOrder = list.order === 'newest-first' ? 'oldest-first' : 'newest-first';
  setOrder(list.userOrder);
});

ui.clear.addEventListener('click', () => clearRows());

// ---------------------------------------------------------------------------------------------
// The inspector

const inspector = { record: null, partition: null, view: 'formatted', described: null };

function inspect(record, partition) {
  inspector.record = record;
  inspector.partition = partition;
  inspector.described = describeValue(record.value);
  inspector.view = 'formatted';
  demo.selectedOffset = record.offset.toString();
  ui.inspectorEmpty.hidden = true;
  ui.inspectorBody.hidden = false;

  ui.inspectorTitle.textContent = `#${record.offset}`;
  ui.inspectorOffset.textContent = record.offset.toString();
  ui.inspectorPartition.textContent = String(partition);

  const date = timestampDate(record.timestamp);
  ui.inspectorTime.textContent = date ? `${localDate(date)} ${localTime(date)} ${zoneName(date)}` : 'no timestamp';
  ui.inspectorTime.title = date ? date.toISOString() : '';
  ui.inspectorTimeRaw.textContent = `${record.timestamp} ms`;

  const key = describeKey(record.key);
  ui.inspectorKey.className = `mono key-view kind-${key.kind}`;
  ui.inspectorKey.dataset.kind = key.kind;
  ui.inspectorKey.textContent = key.kind === 'empty' ? '(no key)' : key.text;

  const { kind } = inspector.described;
  ui.inspectorKind.textContent = KIND_LABEL[kind];
  ui.inspectorKind.className = `badge badge-${kind}`;
  ui.inspectorKind.dataset.kind = kind;
  ui.inspectorSize.textContent = `${fmt(record.value.length)} ${record.value.length === 1 ? 'byte' : 'bytes'}`;
  ui.inspectorView.hidden = kind === 'binary' || kind === 'empty';
  renderValue();
}

function renderValue() {
  const { record, described } = inspector;
  const node = ui.inspectorValue;
  node.replaceChildren();
  const view = described.kind === 'binary' ? 'hex' : inspector.view;
  node.dataset.kind = described.kind;
  node.dataset.view = view;
  ui.inspectorView.textContent = view === 'hex' ? 'Formatted' : 'Hex';
  if (view === 'hex') hexDump(node, record.value);
  else if (described.kind === 'json') renderJson(node, described.tokens, true);
  else if (described.kind === 'empty') node.append(el('span', 'faint', '(empty value)'));
  else node.textContent = described.text;
}

ui.inspectorView.addEventListener('click', () => {
  if (!inspector.record) return;
  inspector.view = inspector.view === 'hex' ? 'formatted' : 'hex';
  renderValue();
});

ui.inspectorCopy.addEventListener('click', async () => {
  if (!inspector.record) return;
  const text = ui.inspectorValue.textContent;
  try {
    await navigator.clipboard.writeText(text);
    ui.inspectorCopy.textContent = 'Copied';
  } catch {
    ui.inspectorCopy.textContent = 'Copy failed';
  }
  setTimeout(() => (ui.inspectorCopy.textContent = 'Copy'), 1200);
});

// ---------------------------------------------------------------------------------------------
// Records per second: records written after the read started, as they arrive.

const rate = {
  events: [], // [timeMs, count], last SPARK_SECONDS only
  since: performance.now(),
  reset() {
    this.events = [];
    this.since = performance.now();
  },
  add(count) {
    if (count > 0) this.events.push([performance.now(), count]);
  },
  perSecond(now) {
    while (this.events.length && now - this.events[0][0] > SPARK_SECONDS * 1000) this.events.shift();
    const window = Math.min(RATE_WINDOW_MS, now - this.since);
    if (window < 1000) return null;
    let total = 0;
    for (const [t, n] of this.events) if (now - t <= RATE_WINDOW_MS) total += n;
    return (total * 1000) / window;
  },
  buckets(now) {
    const buckets = new Array(SPARK_SECONDS).fill(0);
    for (const [t, n] of this.events) {
      const age = Math.floor((now - t) / 1000);
      if (age >= 0 && age < SPARK_SECONDS) buckets[SPARK_SECONDS - 1 - age] += n;
    }
    return buckets;
  },
};

const SVG_NS = 'http://www.w3.org/2000/svg';

function drawSparkline(now) {
  const buckets = rate.buckets(now);
  const max = Math.max(1, ...buckets);
  const width = 120 / SPARK_SECONDS;
  let d = '';
  buckets.forEach((n, i) => {
    if (n === 0) return;
    const h = Math.max(1.5, (n / max) * 30);
    d += `M${(i * width + 0.25).toFixed(2)} 32v${(-h).toFixed(2)}h${(width - 0.5).toFixed(2)}v${h.toFixed(2)}z`;
  });
  let path = ui.spark.firstElementChild;
  if (!path) {
    const base = document.createElementNS(SVG_NS, 'path');
    base.setAttribute('d', 'M0 31.5H120');
    base.setAttribute('class', 'spark-base');
    path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('class', 'spark-bars');
    ui.spark.append(path, base);
  }
  path.setAttribute('d', d);
}

function updateRate() {
  const now = performance.now();
  const live = session && (demo.state === 'live' || demo.state === 'paused' || demo.state === 'reconnecting');
  const value = live ? rate.perSecond(now) : null;
  ui.rate.textContent = !live ? '–' : value === null ? '…' : value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString('en-US');
  drawSparkline(now);
}
setInterval(updateRate, 500);

// ---------------------------------------------------------------------------------------------
// Position figures: next offset, end of log, distance between them

function updateStats() {
  const s = session;
  const next = s ? s.next : null;
  const latest = s ? s.latest : null;
  demo.nextOffset = next === null ? null : next.toString();
  demo.latestOffset = latest === null ? null : latest.toString();
  ui.next.textContent = fmt(next);
  ui.latest.textContent = fmt(latest);
  if (next === null || latest === null) {
    demo.lag = null;
    ui.lag.textContent = '–';
    ui.lag.dataset.lag = '';
  } else {
    const lag = latest > next ? latest - next : 0n;
    demo.lag = lag.toString();
    ui.lag.dataset.lag = demo.lag;
    ui.lag.replaceChildren(fmt(lag), el('span', 'stat-note', lag === 0n ? 'caught up' : lag === 1n ? 'record' : 'records'));
  }
  demo.recordsReceived = s ? s.received : 0;
  ui.received.textContent = fmt(demo.recordsReceived);
  // Keep the partition chooser's record count current for the partition being read.
  const entry = s && conn.topic === s.topic ? conn.partitions.find((p) => p.partition === s.partition) : null;
  if (entry && latest > entry.latest) {
    entry.latest = latest;
    const option = [...ui.partition.options].find((o) => o.value === String(s.partition));
    if (option) option.textContent = partitionLabel(entry);
  }
}

// ---------------------------------------------------------------------------------------------
// Where reading starts: recent | earliest | latest | offset | time

function parseFrom(text) {
  if (!text || text === 'recent') return { kind: 'recent' };
  if (text === 'earliest' || text === 'latest') return { kind: text };
  if (/^\d+$/.test(text)) return { kind: 'offset', offset: BigInt(text) };
  const ms = Date.parse(text);
  if (!Number.isNaN(ms)) return { kind: 'time', time: ms };
  return null;
}

function fromParam(mode) {
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

function showMode(mode) {
  for (const button of ui.seekButtons) button.setAttribute('aria-pressed', String(button.dataset.mode === mode.kind));
  ui.offsetForm.classList.toggle('active', mode.kind === 'offset');
  ui.timeForm.classList.toggle('active', mode.kind === 'time');
  if (mode.kind === 'offset') ui.offsetInput.value = mode.offset.toString();
  if (mode.kind === 'time') ui.timeInput.value = dateTimeLocalValue(new Date(mode.time));
}

function updateUrl() {
  if (!session) return;
  // Keep the address shareable and readable: ':' and '/' need no escaping in a query.
  const enc = (v) => encodeURIComponent(v).replace(/%3A/gi, ':').replace(/%2F/gi, '/');
  let query = `gateway=${enc(conn.url)}&topic=${enc(session.topic)}&partition=${session.partition}`;
  const from = fromParam(session.mode);
  if (from) query += `&from=${enc(from)}`;
  history.replaceState(null, '', `${location.pathname}?${query}`);
}

// ---------------------------------------------------------------------------------------------
// Connection, partition discovery and the reading session

let sdkPromise;
function loadSdk() {
  // Loading the WebAssembly module here (not inside connect) keeps a broken or half-built SDK
  // from looking like a gateway problem.
  sdkPromise ??= import(SDK_URL)
    .then(async (sdk) => {
      await sdk.loadModule();
      return sdk;
    })
    .catch((error) => {
      sdkPromise = undefined;
      throw error;
    });
  return sdkPromise;
}

const conn = {
  client: null,
  url: null,
  topic: null,
  partitions: [],
  reconnecting: false,
  lostAt: 0,
  lastError: null,
  pending: null, // {topic, partition, mode} to open once the connection is back
};
let generation = 0; // bumped by Connect: abandons older connection attempts
let seekToken = 0; // bumped by every seek: abandons older seeks
let session = null;

const messageOf = (error) => error?.message || String(error);
const isTopicMissing = (error) => /not found topic/i.test(messageOf(error));
const isPartitionMissing = (error) => /not found partition/i.test(messageOf(error));

function hostOf(url) {
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

/** True when something answers HTTP at the gateway's host and port (the WebSocket URL as http). */
async function gatewayAnswers(url) {
  const http = new URL(url);
  http.protocol = http.protocol === 'wss:' ? 'https:' : 'http:';
  try {
    await fetch(http, { mode: 'no-cors', cache: 'no-store', signal: AbortSignal.timeout(4000) });
    return true;
  } catch {
    return false;
  }
}

function validate(params) {
  let url;
  try {
    url = new URL(params.gateway);
  } catch {
    return `"${params.gateway}" is not a URL: expected ws://host:port/path or wss://…`;
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
    params.gateway = url.href;
    ui.gateway.value = url.href;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return `"${params.gateway}" has the scheme ${url.protocol} — use ws:// or wss://`;
  }
  if (!params.topic) return 'Enter a topic name.';
  return null;
}

function readForm() {
  return {
    gateway: ui.gateway.value.trim(),
    topic: ui.topic.value.trim(),
    partition: Number(ui.partition.value || 0),
  };
}

function rememberTopic(topic) {
  let topics = [];
  try {
    topics = JSON.parse(localStorage.getItem('kpg-demo-topics') ?? '[]');
  } catch {
    topics = [];
  }
  topics = [topic, ...topics.filter((t) => t !== topic)].slice(0, 12);
  try {
    localStorage.setItem('kpg-demo-topics', JSON.stringify(topics));
  } catch {
    // private mode: no history
  }
  ui.topics.replaceChildren(...topics.map((t) => Object.assign(document.createElement('option'), { value: t })));
}

function partitionLabel({ partition, earliest, latest }) {
  const count = latest - earliest;
  return `${partition} · ${fmt(count)} ${count === 1n ? 'record' : 'records'}`;
}

function fillPartitions(partitions, selected) {
  const options = partitions.map((entry) => {
    const option = document.createElement('option');
    option.value = String(entry.partition);
    option.textContent = partitionLabel(entry);
    return option;
  });
  if (!partitions.some((p) => p.partition === selected)) {
    const option = document.createElement('option');
    option.value = String(selected);
    option.textContent = `${selected} · missing`;
    options.push(option);
  }
  ui.partition.replaceChildren(...options);
  ui.partition.value = String(selected);
}

/** Finds the topic's partitions: 0, 1, … until the gateway answers with an error (kpg: "not found partition"). */
async function probePartitions(client, topic) {
  const found = [];
  for (let base = 0; base < MAX_PARTITIONS; base += 8) {
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

async function connectFromForm({ mode } = {}) {
  const params = readForm();
  const gen = ++generation;
  seekToken++;
  stopSession();
  closeClient();
  hideBanner();
  hideNotice();
  clearRows();
  rate.reset();
  updateStats();

  const problem = validate(params);
  if (problem) {
    setState('error');
    showBanner('invalid', { title: 'Check the form', detail: problem });
    return;
  }
  rememberTopic(params.topic);
  setState('connecting');

  let sdk;
  try {
    sdk = await loadSdk();
  } catch (error) {
    if (gen !== generation) return;
    setState('error');
    showBanner('sdk', {
      title: 'The kpg SDK could not be loaded',
      detail: `Build it with tools/test or cmake --build --preset wasm, then serve this page with web-demo/serve.mjs (it serves the SDK at ${SDK_URL}).`,
      cause: messageOf(error),
    });
    return;
  }

  let client;
  try {
    client = await sdk.connect(params.gateway, { reconnect: RECONNECT });
  } catch (error) {
    if (gen !== generation) return;
    const answers = await gatewayAnswers(params.gateway);
    if (gen !== generation) return;
    setState('error', 'Not connected');
    const retry = { label: 'Retry', run: () => connectFromForm({ mode }) };
    if (answers) {
      showBanner('route-missing', {
        title: `No PubSub route at ${pathOf(params.gateway)}`,
        detail: `The server at ${hostOf(params.gateway)} answers, but refused the WebSocket upgrade on ${pathOf(params.gateway)}. Check the route path, or create the route through the gateway's admin API.`,
        cause: messageOf(error),
        action: retry,
      });
    } else {
      showBanner('unreachable', {
        title: 'Cannot reach the gateway',
        detail: `Nothing answers at ${hostOf(params.gateway)}. Is kpg-gateway running there (for example kpg-gateway --embedded-kafka --listen ${hostOf(params.gateway)})?`,
        cause: messageOf(error),
        action: retry,
      });
    }
    return;
  }
  if (gen !== generation) {
    client.close();
    return;
  }
  conn.client = client;
  conn.url = params.gateway;
  wireClient(client);
  await openTopic({ topic: params.topic, partition: params.partition, mode: mode ?? currentMode() }, gen);
}

function currentMode() {
  return session?.mode ?? { kind: 'recent' };
}

async function openTopic(spec, gen) {
  const client = conn.client;
  conn.pending = spec;
  let partitions;
  try {
    partitions = await probePartitions(client, spec.topic);
  } catch (error) {
    if (gen !== generation) return;
    reportError(error, spec);
    return;
  }
  if (gen !== generation) return;
  conn.topic = spec.topic;
  conn.partitions = partitions;
  demo.partitions = partitions.map((p) => ({
    partition: p.partition, earliest: p.earliest.toString(), latest: p.latest.toString(),
  }));
  fillPartitions(partitions, spec.partition);
  if (!partitions.some((p) => p.partition === spec.partition)) {
    setState('error', 'No such partition');
    const last = partitions.length - 1;
    showBanner('partition-missing', {
      title: `Partition ${spec.partition} does not exist`,
      detail: `Topic "${spec.topic}" has ${partitions.length === 1 ? 'one partition, 0' : `partitions 0–${last}`}. Pick one in the partition list.`,
    });
    return;
  }
  await startSession(spec, gen);
}

/** Shows what went wrong with a call; keeps the page usable. */
function reportError(error, spec) {
  if (error?.code === 'closed' && conn.reconnecting) {
    conn.pending = spec; // opened again once the connection is back
    return;
  }
  if (isTopicMissing(error)) {
    stopSession();
    clearRows();
    updateStats();
    setState('error', 'No such topic');
    showBanner('topic-missing', {
      title: `Topic "${spec.topic}" not found`,
      detail: "The route's Kafka cluster has no topic by that name. Check the spelling, or pick another topic above.",
      cause: messageOf(error),
    });
    return;
  }
  if (isPartitionMissing(error)) {
    stopSession();
    setState('error', 'No such partition');
    showBanner('partition-missing', {
      title: `Partition ${spec.partition} of "${spec.topic}" not found`,
      cause: messageOf(error),
    });
    return;
  }
  if (!session) setState('error');
  showBanner('error', {
    title: 'The gateway could not answer',
    cause: messageOf(error),
    action: { label: 'Retry', run: () => connectFromForm() },
  });
}

function wireClient(client) {
  client.ondisconnect = (error) => {
    if (client !== conn.client) return;
    conn.reconnecting = true;
    conn.lostAt = Date.now();
    conn.lastError = messageOf(error);
    setState('reconnecting');
    showReconnecting();
  };
  client.onreconnect = () => {
    if (client !== conn.client) return;
    conn.reconnecting = false;
    hideBanner('reconnecting');
    if (session) {
      setState(runningState());
      refreshLatest();
    } else if (conn.pending) {
      setState('connecting');
      openTopic(conn.pending, generation);
    }
  };
  client.onclose = (error) => {
    if (client !== conn.client) return;
    conn.reconnecting = false;
    stopSession();
    setState('error', 'Not connected');
    showBanner('closed', {
      title: 'Connection closed',
      detail: 'The gateway connection ended and could not be re-established.',
      cause: messageOf(error),
      action: { label: 'Connect again', run: () => connectFromForm() },
    });
  };
}

function showReconnecting() {
  const seconds = Math.max(0, Math.round((Date.now() - conn.lostAt) / 1000));
  const where = session ? ` and carries on at offset ${fmt(session.next)}: no record is skipped or shown twice` : '';
  showBanner('reconnecting', {
    title: 'Connection lost — reconnecting…',
    detail: `The gateway at ${hostOf(conn.url)} went away ${seconds < 1 ? 'just now' : `${seconds} s ago`}. The page reconnects by itself${where}.`,
    cause: conn.lastError ?? '',
  });
}
setInterval(() => {
  if (conn.reconnecting && demo.banner === 'reconnecting') showReconnecting();
}, 1000);

function closeClient() {
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

function stopSession() {
  const s = session;
  session = null;
  if (!s) return;
  s.stopped = true;
  try {
    s.sub?.cancel();
  } catch {
    // already ended
  }
}

const HISTORY_MODES = new Set(['earliest', 'offset', 'time']);

/** Resolves where `spec.mode` starts, then reads from there (replacing the current read). */
async function startSession(spec, gen = generation) {
  const client = conn.client;
  if (!client) return;
  const token = ++seekToken;
  const stale = () => gen !== generation || token !== seekToken || client !== conn.client;
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
        const keep = session && session.topic === topic && session.partition === partition && !session.stopped;
        showNotice('no-timestamp',
          `No record at or after ${when} was found in ${topic} / ${partition}: either every record is older, ` +
          'or the broker cannot look records up by time. Brokers without timestamp lookup, like the embedded ' +
          "development broker (librdkafka's mock cluster), always give this answer. " +
          (keep ? 'The list carries on where it was.' : 'Showing new records from now on instead.'));
        if (keep) {
          showMode(session.mode);
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
    reportError(error, spec);
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

  stopSession();
  hideBanner();
  if (note !== 'kept') hideNotice();
  if (typeof note === 'string' && note !== 'kept') showNotice(mode.kind === 'time' ? 'time-found' : 'clamped', note);
  clearRows();
  rate.reset();
  if (!list.userOrder) setOrder(HISTORY_MODES.has(mode.kind) ? 'oldest-first' : 'newest-first');
  ui.scroll.scrollTop = 0;

  const s = {
    topic,
    partition,
    mode,
    start,
    next: start, // offset after the last record shown
    expected: start, // offset after the last record the SDK delivered
    latest,
    liveFrom: latest, // records from here on were written after the read started
    holdAt: HISTORY_MODES.has(mode.kind) && latest - start > BigInt(MAX_ROWS) ? start + BigInt(MAX_ROWS) : null,
    held: false,
    paused: false,
    received: 0,
    duplicates: 0,
    gaps: 0,
    buffered: [], // records that arrived while paused
    stopped: false,
    sub: null,
  };
  session = s;
  conn.pending = null;
  demo.duplicates = 0;
  demo.gaps = 0;
  demo.topic = topic;
  demo.partition = partition;
  demo.from = mode.kind;
  ui.partition.value = String(partition);
  showMode(mode);
  updateUrl();
  updateStats();
  setState(conn.reconnecting ? 'reconnecting' : 'live');

  s.sub = client.subscribe(topic, partition, { offset: start });
  readLoop(s); // runs until the session stops
}

async function readLoop(s) {
  try {
    for await (const batch of s.sub) {
      if (s.stopped) break;
      onBatch(s, batch);
    }
  } catch (error) {
    if (s.stopped) return;
    sessionFailed(s, error);
  }
}

function onBatch(s, batch) {
  // The SDK delivers each record once, in order, without gaps. Should it ever not, the page
  // shows each record once anyway and counts what it saw (window.kpgDemo.duplicates / gaps).
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
  demo.duplicates = s.duplicates;
  demo.gaps = s.gaps;
  if (s.paused) s.buffered.push(...records); // shown on resume: pausing is immediate
  else showBatch(s, records);
}

function showBatch(s, records) {
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
    rate.add(records.filter((r) => r.offset >= s.liveFrom).length);
    const keepAll = s.holdAt !== null;
    addRecords(records, { fresh: records.length <= 20 && s.received > records.length, keepAll });
  }
  if (s.holdAt !== null && !s.held && s.next >= s.holdAt) hold(s);
  updateStats();
}

/** Reading history: stop once the list is full so the start of the read stays on screen. */
function hold(s) {
  s.held = true;
  s.paused = true;
  s.sub.pause();
  setState(conn.reconnecting ? 'reconnecting' : 'paused');
  const more = s.latest > s.next ? s.latest - s.next : 0n;
  showNotice('hold',
    `Paused after ${fmt(s.received)} records from offset ${fmt(s.start)} so they stay on screen; ` +
    `${fmt(more)} more to the end of the log. Resuming drops the oldest rows to make room.`,
    { label: 'Keep reading', run: () => setPaused(false) });
}

function setPaused(paused) {
  const s = session;
  if (!s || s.paused === paused) return;
  s.paused = paused;
  if (paused) {
    s.sub.pause();
  } else {
    s.holdAt = null;
    hideNotice('hold');
    const buffered = s.buffered.splice(0);
    if (buffered.length) showBatch(s, buffered);
    s.sub.resume();
    trimRows();
    updateList();
  }
  setState(conn.reconnecting ? 'reconnecting' : runningState());
}

function sessionFailed(s, error) {
  if (session !== s) return;
  if (/OFFSET_OUT_OF_RANGE/.test(messageOf(error))) {
    stopSession();
    setState('error');
    showBanner('out-of-range', {
      title: 'The records at this position are gone',
      detail: 'The broker no longer has the next offset (removed by retention, or the log was truncated).',
      cause: messageOf(error),
      action: { label: 'Read from earliest', run: () => seek({ kind: 'earliest' }) },
    });
    return;
  }
  reportError(error, { topic: s.topic, partition: s.partition, mode: s.mode });
  if (session === s) {
    stopSession();
    setState('error');
  }
}

let refreshing = false;
async function refreshLatest() {
  const s = session;
  const client = conn.client;
  if (!s || !client || conn.reconnecting || refreshing) return;
  refreshing = true;
  try {
    const latest = await client.listOffsets(s.topic, s.partition, 'latest');
    if (s === session && latest > s.latest) {
      s.latest = latest;
      updateStats();
    }
  } catch (error) {
    // A lost connection shows through ondisconnect; a deleted topic shows here.
    if (s === session && isTopicMissing(error)) reportError(error, s);
  } finally {
    refreshing = false;
  }
}
setInterval(refreshLatest, LATEST_REFRESH_MS);

// ---------------------------------------------------------------------------------------------
// Controls

function seek(mode) {
  const topic = session?.topic ?? conn.topic;
  // Not connected, or the form names another gateway or topic: connect to what the form says.
  if (!conn.client || !topic || ui.gateway.value.trim() !== conn.url || ui.topic.value.trim() !== topic) {
    connectFromForm({ mode });
    return;
  }
  const partition = session?.partition ?? Number(ui.partition.value || 0);
  hideNotice();
  startSession({ topic, partition, mode });
}

for (const button of ui.seekButtons) {
  button.addEventListener('click', () => seek({ kind: button.dataset.mode }));
}

ui.offsetForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.offsetInput.value.trim().replace(/[,_\s]/g, '');
  if (!/^\d+$/.test(text)) {
    showNotice('invalid', `"${ui.offsetInput.value}" is not an offset: enter a whole number from 0.`);
    return;
  }
  seek({ kind: 'offset', offset: BigInt(text) });
});

ui.timeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const ms = new Date(ui.timeInput.value).getTime();
  if (!ui.timeInput.value || Number.isNaN(ms)) {
    showNotice('invalid', 'Pick a date and time to read from.');
    return;
  }
  seek({ kind: 'time', time: ms });
});

ui.partition.addEventListener('change', () => {
  const partition = Number(ui.partition.value);
  if (!conn.client || conn.topic === null) return;
  hideBanner('partition-missing');
  hideNotice();
  const mode = session && session.mode.kind !== 'offset' ? session.mode : { kind: 'recent' };
  startSession({ topic: conn.topic, partition, mode });
});

ui.pause.addEventListener('click', () => setPaused(!session?.paused));

document.addEventListener('keydown', (event) => {
  if (event.key !== ' ' || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest('input, select, textarea, button')) return;
  if (!session) return;
  event.preventDefault();
  setPaused(!session.paused);
});

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  connectFromForm();
});

// ---------------------------------------------------------------------------------------------
// Start-up: fill the form from the query string and connect.

const query = new URLSearchParams(location.search);
ui.gateway.value = query.get('gateway') || `ws://${location.hostname || '127.0.0.1'}:9080/kafka`;
ui.topic.value = query.get('topic') || 'demo';
const initialPartition = /^\d+$/.test(query.get('partition') ?? '') ? Number(query.get('partition')) : 0;
fillPartitions([], initialPartition);
ui.partition.firstElementChild.textContent = String(initialPartition);
ui.timeInput.value = dateTimeLocalValue(new Date(Date.now() - 5 * 60 * 1000));
let initialMode = parseFrom(query.get('from'));
showMode(initialMode ?? { kind: 'recent' });
setState('idle');
setOrder('newest-first');
updateStats();
updateRate();
connectFromForm({ mode: initialMode ?? { kind: 'recent' } }).then(() => {
  if (initialMode === null) {
    showNotice('invalid', `Ignored from=${query.get('from')}: use earliest, latest, recent, an offset or an ISO 8601 time.`);
  }
});
