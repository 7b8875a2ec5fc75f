// The inspector: one record in full. Key, partition (the record's own when it has one), offset,
// timestamp, headers (when the record carries them), and the value formatted (JSON, text) or as
// a hex dump.
import {
  describeKey, describeValue, fmt, hexDumpSegments, jsonSegments, KIND_LABEL, localDate, localTime,
  normalizeHeaders, timestampDate, zoneName,
} from './format.mjs';
import { appendSegments, el } from './dom.mjs';

export class Inspector {
  /** ui: the inspector's elements (see app.mjs); onInspect(record) is told of each record shown. */
  constructor(ui, { onInspect } = {}) {
    this.ui = ui;
    this.onInspect = onInspect;
    this.record = null;
    this.view = 'formatted';
    this.described = null;

    ui.view.addEventListener('click', () => {
      if (!this.record) return;
      this.view = this.view === 'hex' ? 'formatted' : 'hex';
      this.renderValue();
    });
    ui.copy.addEventListener('click', async () => {
      if (!this.record) return;
      const text = ui.value.textContent;
      try {
        await navigator.clipboard.writeText(text);
        ui.copy.textContent = 'Copied';
      } catch {
        ui.copy.textContent = 'Copy failed';
      }
      setTimeout(() => (ui.copy.textContent = 'Copy'), 1200);
    });
  }

  /** Shows `record`; `partition` is the read's partition, used when the record names none. */
  inspect(record, partition) {
    const { ui } = this;
    this.record = record;
    this.described = describeValue(record.value);
    this.view = 'formatted';
    this.onInspect?.(record);
    ui.empty.hidden = true;
    ui.body.hidden = false;

    ui.title.textContent = `#${record.offset}`;
    ui.offset.textContent = record.offset.toString();
    ui.partition.textContent = String(record.partition ?? partition);

    const date = timestampDate(record.timestamp);
    ui.time.textContent = date ? `${localDate(date)} ${localTime(date)} ${zoneName(date)}` : 'no timestamp';
    ui.time.title = date ? date.toISOString() : '';
    ui.timeRaw.textContent = `${record.timestamp} ms`;

    const key = describeKey(record.key);
    ui.key.className = `mono key-view kind-${key.kind}`;
    ui.key.dataset.kind = key.kind;
    ui.key.textContent = key.kind === 'empty' ? '(no key)' : key.text;

    this.renderHeaders(normalizeHeaders(record.headers));

    const { kind } = this.described;
    ui.kind.textContent = KIND_LABEL[kind];
    ui.kind.className = `badge badge-${kind}`;
    ui.kind.dataset.kind = kind;
    ui.size.textContent = `${fmt(record.value.length)} ${record.value.length === 1 ? 'byte' : 'bytes'}`;
    ui.view.hidden = kind === 'binary' || kind === 'empty';
    this.renderValue();
  }

  renderHeaders(headers) {
    const { ui } = this;
    if (!ui.headers) return;
    ui.headersFact.hidden = headers.length === 0;
    ui.headers.replaceChildren(...headers.map(({ key, value }) => {
      const row = el('div', 'header');
      row.dataset.testid = 'inspector-header';
      const shown = value === null ? { kind: 'empty', text: '(null)' } : describeKey(value);
      row.append(el('dt', 'mono', key), el('dd', `mono kind-${shown.kind}`, shown.kind === 'empty' && value !== null ? '(empty)' : shown.text));
      return row;
    }));
  }

  renderValue() {
    const { record, described, ui } = this;
    const node = ui.value;
    node.replaceChildren();
    const view = described.kind === 'binary' ? 'hex' : this.view;
    node.dataset.kind = described.kind;
    node.dataset.view = view;
    ui.view.textContent = view === 'hex' ? 'Formatted' : 'Hex';
    if (view === 'hex') appendSegments(node, hexDumpSegments(record.value));
    else if (described.kind === 'json') appendSegments(node, jsonSegments(described.tokens, true));
    else if (described.kind === 'empty') node.append(el('span', 'faint', '(empty value)'));
    else node.textContent = described.text;
  }
}
