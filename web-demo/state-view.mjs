// "Current state": the latest value of every key of a topic, read with a snapshot subscription
// (start 'snapshot'): the snapshot fills the table (rows marked as such), each partition's
// snapshot end is counted until the whole table is complete, then live records update rows and a
// tombstone (an empty value) removes its row. Its own connection, so that the reader's seeks and
// filters never disturb it.
import { el } from './dom.mjs';
import { decodeText, fmt, normalizeHeaders } from './format.mjs';

export const MAX_KEYS = 200; // rows kept; a topic with more keys shows the first ones

/** The table's content: key -> {key, value, fields, region, partition, offset, origin}. */
export class LatestByKey {
  constructor() {
    this.rows = new Map();
    this.partitionsDone = new Set();
    this.complete = false;
    this.dropped = 0; // keys beyond MAX_KEYS
  }

  /** Applies a batch; returns the keys that changed (removed ones included). */
  apply(records) {
    const changed = [];
    for (const r of records) {
      const key = decodeText(r.key);
      if (r.value.length === 0) { // a tombstone: the key is gone
        if (this.rows.delete(key)) changed.push(key);
        continue;
      }
      if (!this.rows.has(key) && this.rows.size >= MAX_KEYS) {
        this.dropped++;
        continue;
      }
      const text = decodeText(r.value);
      let fields = null;
      try {
        const parsed = JSON.parse(text);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) fields = parsed;
      } catch {
        // not JSON: shown as text
      }
      const headers = normalizeHeaders(r.headers);
      const regionHeader = headers.find((h) => h.key === 'region');
      const region = regionHeader?.value ? decodeText(regionHeader.value) : '';
      this.rows.set(key, {
        key, text, fields, region, partition: r.partition, offset: r.offset,
        origin: r.snapshot ? 'snapshot' : 'live',
      });
      changed.push(key);
    }
    return changed;
  }
}

/** "status: ok · temperature_c: 21.5" for JSON objects (nested values as JSON), else the text. */
export function valueSummary(row) {
  if (!row.fields) return row.text;
  return Object.entries(row.fields)
    .filter(([, v]) => v !== row.key) // the key again (e.g. "device": "boiler") says nothing new
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' · ');
}

export class StateView {
  /** ui: {form, topic, button, status, rows, empty}; deps: {loadSdk, connectOptions, gateway()}. */
  constructor(ui, deps) {
    this.ui = ui;
    this.deps = deps;
    this.client = null;
    this.sub = null;
    this.generation = 0;
    this.state = new LatestByKey();
    this.status = { state: 'idle', keys: 0, complete: false, partitionsDone: 0 };
  }

  setStatus(state, text) {
    this.status.state = state;
    this.ui.status.dataset.state = state;
    this.ui.status.textContent = text;
  }

  stop() {
    this.generation++;
    this.sub?.cancel();
    this.sub = null;
    this.client?.close();
    this.client = null;
  }

  async show(topic) {
    this.stop();
    const gen = this.generation;
    this.state = new LatestByKey();
    this.status.complete = false;
    this.status.partitionsDone = 0;
    this.render();
    this.setStatus('connecting', 'Connecting…');
    let client;
    try {
      const sdk = await this.deps.loadSdk();
      client = await sdk.connect(this.deps.gateway(), this.deps.connectOptions());
    } catch (error) {
      if (gen === this.generation) this.setStatus('error', `Cannot connect: ${error.message}`);
      return;
    }
    if (gen !== this.generation) return client.close();
    this.client = client;
    client.ondisconnect = () => gen === this.generation && this.setStatus('reconnecting', 'Reconnecting… (the table carries on from where it was)');
    client.onreconnect = () => gen === this.generation && this.showProgress();
    let total = null;
    const onError = (error) => {
      if (gen !== this.generation) return;
      const why = error.serverCode === 'unknown_command'
        ? 'this gateway does not offer snapshot subscriptions'
        : error.message;
      this.setStatus('error', `The current state cannot be read: ${why}`);
    };
    try {
      total = (await client.metadata([topic]))[0]?.partitions.length ?? null;
    } catch {
      // only for the progress text
    }
    this.total = total;
    this.setStatus('loading', 'Loading the snapshot…');
    this.sub = client.subscribeTopic(topic, [], 'snapshot', (batch) => {
      if (gen !== this.generation) return;
      const changed = this.state.apply(batch);
      this.render(changed);
      this.showProgress();
    }, onError, {
      onSnapshotEnd: (partition) => {
        if (gen !== this.generation) return;
        this.state.partitionsDone.add(partition);
        this.status.partitionsDone = this.state.partitionsDone.size;
        this.showProgress();
      },
      onSnapshotComplete: () => {
        if (gen !== this.generation) return;
        this.state.complete = true;
        this.status.complete = true;
        this.showProgress();
      },
    });
  }

  showProgress() {
    if (!this.sub || this.status.state === 'error') return;
    const keys = this.state.rows.size;
    const more = this.state.dropped ? ` (${fmt(MAX_KEYS)} shown)` : '';
    if (this.state.complete) {
      this.setStatus('live', `Snapshot complete: ${fmt(keys)} key${keys === 1 ? '' : 's'}${more} · live updates`);
    } else {
      const done = this.state.partitionsDone.size;
      const of = this.total ? ` ${done} of ${this.total} partitions` : '';
      this.setStatus('loading', `Loading the snapshot…${of} · ${fmt(keys)} key${keys === 1 ? '' : 's'}${more}`);
    }
  }

  render(changed = []) {
    const { rows, empty } = this.ui;
    const flash = new Set(this.state.complete ? changed : []);
    const sorted = [...this.state.rows.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.status.keys = sorted.length;
    rows.replaceChildren(...sorted.map((row) => {
      const tr = el('tr', flash.has(row.key) ? 'flash' : '');
      tr.dataset.key = row.key;
      tr.dataset.origin = row.origin;
      tr.append(
        el('td', 'mono state-key', row.key),
        el('td', 'mono state-value', valueSummary(row)),
        el('td', 'state-region', row.region),
        el('td', 'mono state-where', `${row.partition}:${row.offset}`),
        el('td', 'state-origin', row.origin === 'snapshot' ? 'snapshot' : 'live'),
      );
      return tr;
    }));
    empty.hidden = sorted.length > 0;
  }
}
