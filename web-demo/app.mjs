// kpg web demo: read a Kafka topic (every partition, or one) live in the browser through the kpg
// WASM SDK.
// Plain ES modules, no build step; serve.mjs serves the SDK package at /sdk/. This file is the
// composition root: it finds the page's elements, makes the parts and wires them together.
//   format.mjs       bytes as text / JSON / hex, times, sizes (no DOM)
//   record-list.mjs  the list of records
//   inspector.mjs    one record in full
//   rates.mjs        records per second and the sparkline
//   reader.mjs       connection, partition discovery and the read itself (no DOM)
//   produce-panel.mjs  writes a record to the topic (when the route allows produce)
import { el } from './dom.mjs';
import { describeFilter, FILTER_KINDS, parseFilterForm } from './filter-box.mjs';
import { dateTimeLocalValue, fmt } from './format.mjs';
import { Inspector } from './inspector.mjs';
import { drawSparkline, formatRate, RateMeter } from './rates.mjs';
import { ProducePanel } from './produce-panel.mjs';
import { ALL, connectOptions, initialStatus, parseFrom, parsePartition, Reader } from './reader.mjs';
import { RecordList } from './record-list.mjs';
import { StateView } from './state-view.mjs';

const SDK_URL = '/sdk/index.mjs';
const MAX_ROWS = 500; // records kept in the list
const LATEST_REFRESH_MS = 1000; // how often the end of the log is asked for

// State visible to tests and to the curious (open the console and look at window.kpgDemo).
const status = initialStatus();
window.kpgDemo = status;

// ---------------------------------------------------------------------------------------------
// DOM

const $ = (selector, root = document) => root.querySelector(selector);
const byTestId = (id) => $(`[data-testid="${id}"]`);
const ui = {
  form: $('#connect-form'),
  gateway: byTestId('gateway-input'),
  topic: byTestId('topic-input'),
  apiKey: byTestId('apikey-input'),
  token: byTestId('token-input'),
  credentials: byTestId('credentials'),
  topics: $('#recent-topics'),
  partition: byTestId('partition-select'),
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
  filterForm: $('#filter-form'),
  filterKind: byTestId('filter-kind'),
  filterFirst: byTestId('filter-first'),
  filterOp: byTestId('filter-op'),
  filterSecond: byTestId('filter-second'),
  filterActive: byTestId('filter-active'),
  stateForm: $('#state-form'),
  statePanel: byTestId('state-panel'),
  stateBody: $('.state-body'),
  stateHide: byTestId('state-hide'),
  stateTopic: byTestId('state-topic'),
  stateStatus: byTestId('state-status'),
  stateRows: byTestId('state-rows'),
  stateEmpty: byTestId('state-empty'),
};

// ---------------------------------------------------------------------------------------------
// The parts

const rate = new RateMeter();

const inspector = new Inspector({
  empty: byTestId('inspector-empty'),
  body: $('.inspector-body'),
  title: $('.inspector-title-offset'),
  kind: byTestId('inspector-kind'),
  view: byTestId('inspector-view'),
  copy: byTestId('inspector-copy'),
  partition: byTestId('inspector-partition'),
  offset: byTestId('inspector-offset'),
  time: byTestId('inspector-timestamp'),
  timeRaw: byTestId('inspector-timestamp-raw'),
  key: byTestId('inspector-key'),
  headersFact: $('.fact-headers'),
  headers: byTestId('inspector-headers'),
  size: byTestId('inspector-size'),
  value: byTestId('inspector-value'),
}, { onInspect: (record) => (status.selectedOffset = record.offset.toString()) });

const list = new RecordList({
  records: byTestId('records'),
  scroll: $('#records-scroll'),
  summary: byTestId('records-summary'),
  empty: byTestId('empty'),
  order: byTestId('order-button'),
  clear: byTestId('clear-button'),
}, {
  onSelect: (record) => inspector.inspect(record, reader.session?.partition ?? status.partition),
  onChange: (rows) => (status.rows = rows),
  where: () => (reader.session ? `${reader.session.topic} / ${partitionName(reader.session.partition)} · ` : ''),
  emptyText: () => {
    const { state } = status;
    const session = reader.session;
    if (state === 'connecting') return 'Connecting…';
    if (state === 'error' || state === 'idle') return 'Nothing to show.';
    if (session && session.received > 0) return 'List cleared. New records appear here.';
    if (session) return `Waiting for new records on ${session.topic} / ${partitionName(session.partition)}…`;
    return 'Nothing to show.';
  },
}, { maxRows: MAX_ROWS });

// ---------------------------------------------------------------------------------------------
// The page as the reader's view

const STATUS_TEXT = {
  idle: 'Idle',
  connecting: 'Connecting…',
  live: 'Live',
  paused: 'Paused',
  reconnecting: 'Reconnecting…',
  error: 'Error',
};

// The page's own state: what the banner's and the notice's buttons do, the SDK once loaded.
const page = { bannerAction: null, noticeAction: null, sdk: undefined };

/** Shows `action` ({label, run}) on `button`, or hides the button; page[slot] runs on click. */
function setAction(slot, button, action) {
  page[slot] = action?.run ?? null;
  button.hidden = !action;
  if (action) button.textContent = action.label;
}

const partitionName = (partition) => (partition === ALL ? 'all partitions' : String(partition));
const recordCount = (count) => `${fmt(count)} ${count === 1n ? 'record' : 'records'}`;

function partitionLabel({ partition, earliest, latest }) {
  return `${partition} · ${recordCount(latest - earliest)}`;
}

/** The chooser's "All" entry: the records of every partition. */
function allLabel() {
  let count = 0n;
  for (const { earliest, latest } of reader.conn.partitions) count += latest - earliest;
  return `All · ${recordCount(count)}`;
}

function showMode(mode) {
  for (const button of ui.seekButtons) button.setAttribute('aria-pressed', String(button.dataset.mode === mode.kind));
  ui.offsetForm.classList.toggle('active', mode.kind === 'offset');
  ui.timeForm.classList.toggle('active', mode.kind === 'time');
  if (mode.kind === 'offset') ui.offsetInput.value = mode.offset.toString();
  if (mode.kind === 'time') ui.timeInput.value = dateTimeLocalValue(new Date(mode.time));
}

/** all: offer "All" (a gateway that pushes reads a whole topic). */
function setPartitions(partitions, selected, { all = selected === ALL } = {}) {
  const options = partitions.map((entry) => {
    const option = document.createElement('option');
    option.value = String(entry.partition);
    option.textContent = partitionLabel(entry);
    return option;
  });
  if (all) {
    const option = document.createElement('option');
    option.value = ALL;
    option.textContent = partitions.length ? allLabel() : 'All';
    options.unshift(option);
  }
  if (selected !== ALL && !partitions.some((p) => p.partition === selected)) {
    const option = document.createElement('option');
    option.value = String(selected);
    option.textContent = `${selected} · missing`;
    options.push(option);
  }
  ui.partition.replaceChildren(...options);
  ui.partition.value = String(selected);
}

const view = {
  readForm: () => ({
    gateway: ui.gateway.value.trim(),
    topic: ui.topic.value.trim(),
    partition: parsePartition(ui.partition.value || ALL),
    // Never put in the page's URL (readQuery): they would end up in history and logs.
    apiKey: ui.apiKey.value.trim(),
    token: ui.token.value.trim(),
  }),

  setGatewayInput: (url) => (ui.gateway.value = url),

  rememberTopic(topic) {
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
  },

  setState(state, label) {
    const session = reader.session;
    ui.status.dataset.state = state;
    ui.statusText.textContent = label ?? STATUS_TEXT[state];
    document.body.dataset.state = state;
    const canPause = !!session && (state === 'live' || state === 'paused' || state === 'reconnecting');
    ui.pause.disabled = !canPause;
    const paused = !!session?.paused;
    ui.pause.dataset.paused = String(paused);
    ui.pauseText.textContent = paused ? 'Resume' : 'Pause';
    for (const button of ui.seekButtons) button.disabled = !session && state !== 'error';
    list.updateEmpty();
  },

  showBanner(kind, { title, detail, cause, action }) {
    ui.banner.dataset.kind = kind;
    ui.bannerTitle.textContent = title;
    ui.bannerDetail.textContent = detail;
    ui.bannerCause.textContent = cause;
    ui.bannerCause.hidden = !cause;
    setAction('bannerAction', ui.bannerAction, action);
    ui.banner.hidden = false;
    // The fields that fix it, in view.
    if (kind === 'unauthorized') ui.credentials.open = true;
  },

  hideBanner() {
    ui.banner.hidden = true;
    ui.banner.dataset.kind = '';
    setAction('bannerAction', ui.bannerAction, null);
  },

  showNotice(kind, text, action) {
    ui.notice.dataset.kind = kind;
    ui.noticeBody.textContent = text;
    setAction('noticeAction', ui.noticeAction, action);
    ui.notice.hidden = false;
  },

  hideNotice() {
    ui.notice.hidden = true;
    ui.notice.dataset.kind = '';
    setAction('noticeAction', ui.noticeAction, null);
  },

  clearRows: () => list.clear(),
  restartList: (order) => list.restart(order),
  addRecords: (records, options) => list.add(records, options),
  trimRows() {
    list.trim();
    list.update();
  },

  setPartitions,
  updatePartition(entry) {
    const option = [...ui.partition.options].find((o) => o.value === String(entry.partition));
    if (option) option.textContent = partitionLabel(entry);
    const all = [...ui.partition.options].find((o) => o.value === ALL);
    if (all) all.textContent = allLabel();
  },
  selectPartition: (partition) => (ui.partition.value = String(partition)),
  showMode,
  setQuery: (query) => history.replaceState(null, '', `${location.pathname}?${query}`),

  clearFilter() {
    ui.filterKind.value = 'none';
    showFilterFields();
    applyFilter();
  },

  updateStats({ next, latest, lag, received }) {
    ui.next.textContent = fmt(next);
    ui.latest.textContent = fmt(latest);
    if (lag === null) {
      ui.lag.textContent = '–';
      ui.lag.dataset.lag = '';
    } else {
      ui.lag.dataset.lag = lag.toString();
      ui.lag.replaceChildren(fmt(lag), el('span', 'stat-note', lag === 0n ? 'caught up' : lag === 1n ? 'record' : 'records'));
    }
    ui.received.textContent = fmt(received);
  },
};

function loadSdk() {
  // Loading the WebAssembly module here (not inside connect) keeps a broken or half-built SDK
  // from looking like a gateway problem.
  page.sdk ??= import(SDK_URL)
    .then(async (sdk) => {
      await sdk.loadModule();
      return sdk;
    })
    .catch((error) => {
      page.sdk = undefined;
      throw error;
    });
  return page.sdk;
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

// The list's and the view's callbacks refer to the reader; none runs before this line.
const reader = new Reader(view, { loadSdk, gatewayAnswers, rate, status, maxRows: MAX_ROWS, sdkUrl: SDK_URL });

const producePanel = new ProducePanel({
  panel: byTestId('produce-panel'),
  form: $('#produce-form'),
  key: byTestId('produce-key'),
  value: byTestId('produce-value'),
  headers: byTestId('produce-headers'),
  partition: byTestId('produce-partition'),
  button: byTestId('produce-button'),
  result: byTestId('produce-result'),
  unavailable: byTestId('produce-unavailable'),
}, {
  getClient: () => reader.conn.client,
  getTopic: () => reader.session?.topic ?? ui.topic.value.trim(),
});

// ---------------------------------------------------------------------------------------------
// Controls and timers

ui.bannerAction.addEventListener('click', () => page.bannerAction?.());
ui.noticeAction.addEventListener('click', () => page.noticeAction?.());
ui.noticeClose.addEventListener('click', () => reader.hideNotice());

for (const button of ui.seekButtons) {
  button.addEventListener('click', () => reader.seek({ kind: button.dataset.mode }));
}

ui.offsetForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.offsetInput.value.trim().replace(/[,_\s]/g, '');
  if (!/^\d+$/.test(text)) {
    reader.showNotice('invalid', `"${ui.offsetInput.value}" is not an offset: enter a whole number from 0.`);
    return;
  }
  reader.seek({ kind: 'offset', offset: BigInt(text) });
});

ui.timeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const ms = new Date(ui.timeInput.value).getTime();
  if (!ui.timeInput.value || Number.isNaN(ms)) {
    reader.showNotice('invalid', 'Pick a date and time to read from.');
    return;
  }
  reader.seek({ kind: 'time', time: ms });
});

ui.partition.addEventListener('change', () => reader.choosePartition(parsePartition(ui.partition.value)));

// The filter box: the fields the chosen kind needs, applied on submit (the reader reads again
// from its current position with it; the SDK and the gateway refuse what they cannot take).
function showFilterFields() {
  const kind = ui.filterKind.value;
  const spec = FILTER_KINDS[kind];
  ui.filterFirst.hidden = !spec.first;
  ui.filterFirst.placeholder = spec.first ?? '';
  ui.filterSecond.hidden = !spec.second;
  ui.filterSecond.placeholder = spec.second ?? '';
  ui.filterOp.hidden = kind !== 'jsonCompare';
}

function applyFilter() {
  let conditions;
  try {
    conditions = parseFilterForm({
      kind: ui.filterKind.value,
      first: ui.filterFirst.value,
      second: ui.filterSecond.value,
      op: ui.filterOp.value,
    });
  } catch (error) {
    reader.showNotice('invalid', `Filter: ${error.message}`);
    return;
  }
  reader.hideBanner('filter');
  ui.filterForm.dataset.active = String(conditions.length > 0);
  ui.filterActive.textContent = conditions.length ? `Showing only records where ${describeFilter(conditions)}` : '';
  reader.setFilter(conditions);
}

ui.filterKind.addEventListener('change', showFilterFields);
ui.filterForm.addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilter();
});
showFilterFields();

// The current-state table: its own connection to the same gateway.
const stateView = new StateView({
  status: ui.stateStatus,
  rows: ui.stateRows,
  empty: ui.stateEmpty,
}, {
  loadSdk,
  gateway: () => ui.gateway.value.trim(),
  connectOptions: () => connectOptions(view.readForm()),
});
window.kpgState = stateView.status;
// The table opens (taking room from the record list) only when asked for.
function openState(open) {
  ui.statePanel.dataset.open = String(open);
  ui.stateBody.hidden = !open;
  ui.stateHide.hidden = !open;
}
ui.stateForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const topic = ui.stateTopic.value.trim();
  if (!topic) return;
  openState(true);
  stateView.show(topic);
});
ui.stateHide.addEventListener('click', () => {
  stateView.stop();
  openState(false);
});

ui.pause.addEventListener('click', () => reader.togglePause());

document.addEventListener('keydown', (event) => {
  if (event.key !== ' ' || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest('input, select, textarea, button')) return;
  if (!reader.session) return;
  event.preventDefault();
  reader.togglePause();
});

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  reader.connect();
});

function updateRate() {
  const now = performance.now();
  const live = !!reader.session && (status.state === 'live' || status.state === 'paused' || status.state === 'reconnecting');
  ui.rate.textContent = formatRate(live ? rate.perSecond(now) : null, live);
  drawSparkline(ui.spark, rate, now);
}
setInterval(updateRate, 500);
setInterval(() => reader.tick(), 1000);
setInterval(() => producePanel.refresh(), 500);  // follows connects, reconnects and topic changes
setInterval(() => reader.refreshLatest(), LATEST_REFRESH_MS);

// ---------------------------------------------------------------------------------------------
// Start-up: fill the form from the query string and connect.

const query = new URLSearchParams(location.search);
ui.gateway.value = query.get('gateway') || `ws://${location.hostname || '127.0.0.1'}:9080/kafka`;
ui.topic.value = query.get('topic') || 'demo';
const initialPartition = parsePartition(query.get('partition'));
setPartitions([], initialPartition);
ui.partition.firstElementChild.textContent = initialPartition === ALL ? 'All' : String(initialPartition);
ui.timeInput.value = dateTimeLocalValue(new Date(Date.now() - 5 * 60 * 1000));
const initialMode = parseFrom(query.get('from'));
showMode(initialMode ?? { kind: 'recent' });
reader.setState('idle');
list.setOrder('newest-first');
reader.updateStats();
updateRate();
// ?state=TOPIC opens the current-state table at once.
if (query.get('state')) {
  ui.stateTopic.value = query.get('state');
  openState(true);
  stateView.show(ui.stateTopic.value);
}
reader.connect({ mode: initialMode ?? { kind: 'recent' } }).then(() => {
  if (initialMode === null) {
    reader.showNotice('invalid', `Ignored from=${query.get('from')}: use earliest, latest, recent, an offset or an ISO 8601 time.`);
  }
});
