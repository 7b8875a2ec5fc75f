// The record list: records in arrival order (ascending offsets within a partition), shown newest
// or oldest first, at most `maxRows` rows kept in the DOM. Records may carry `partition` (a read
// over a whole topic) and `headers`; rows are keyed by partition and offset.
import {
  describeKey, describeValue, fmt, formatSize, jsonSegments, KIND_LABEL, localDate, localTime,
  normalizeHeaders, timestampDate, zoneName,
} from './format.mjs';
import { appendSegments, el } from './dom.mjs';

const rowKey = (record) => (record.partition === undefined ? '' : `${record.partition}:`) + record.offset.toString();

export class RecordList {
  /**
   * ui: {records (<ol>), scroll, summary, empty, order (button), clear (button)}.
   * hooks: {onSelect(record), where() -> 'topic / partition · ' or '', emptyText() -> string,
   *         onChange(rowCount)}.
   */
  constructor(ui, hooks, { maxRows = 500 } = {}) {
    this.ui = ui;
    this.hooks = hooks;
    this.maxRows = maxRows;
    this.records = []; // arrival order
    this.rows = new Map(); // rowKey -> <li>
    this.byRow = new WeakMap(); // <li> -> record
    this.order = 'newest-first';
    this.userOrder = null; // set once the user picks an order
    this.selected = null; // <li>

    ui.records.addEventListener('click', (event) => {
      const row = event.target.closest('li.record');
      if (row) this.select(row);
    });
    ui.records.addEventListener('keydown', (event) => {
      if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
      event.preventDefault();
      const current = this.selected?.isConnected ? this.selected : null;
      const next = !current
        ? ui.records.firstElementChild
        : event.key === 'ArrowDown' ? current.nextElementSibling : current.previousElementSibling;
      this.select(next, { scroll: true });
    });
    ui.order.addEventListener('click', () => {
      this.userOrder = this.order === 'newest-first' ? 'oldest-first' : 'newest-first';
      this.setOrder(this.userOrder);
    });
    ui.clear.addEventListener('click', () => this.clear());
  }

  get length() {
    return this.records.length;
  }

  renderRow(record, fresh) {
    const row = el('li', fresh ? 'record fresh' : 'record');
    row.dataset.testid = 'record';
    row.dataset.offset = record.offset.toString();
    if (record.partition !== undefined) row.dataset.partition = String(record.partition);
    row.setAttribute('role', 'option');

    const offsetCell = el('span', 'cell-offset mono', record.offset.toString());
    if (record.partition !== undefined) offsetCell.prepend(el('span', 'cell-partition', `${record.partition} · `));
    row.append(offsetCell);

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
      appendSegments(valueNode, jsonSegments(value.tokens, false));
    } else if (value.kind === 'empty') {
      valueNode.textContent = '(empty)';
    } else {
      valueNode.textContent = value.text.replace(/\s+/g, ' ');
    }
    row.append(valueNode);

    const badge = el('span', `badge badge-${value.kind}`, KIND_LABEL[value.kind]);
    badge.title = formatSize(record.value.length);
    const headers = normalizeHeaders(record.headers);
    if (headers.length) {
      row.dataset.headers = String(headers.length);
      badge.title += ` · ${headers.length} ${headers.length === 1 ? 'header' : 'headers'}`;
    }
    row.append(badge);

    this.byRow.set(row, record);
    return row;
  }

  /** keepAll: keep every row (reading history until the hold); else keep the last maxRows. */
  add(records, { fresh, keepAll }) {
    const { scroll } = this.ui;
    const newestFirst = this.order === 'newest-first';
    const heightBefore = scroll.scrollHeight;
    const atTop = scroll.scrollTop <= 2;
    const overflowing = scroll.scrollHeight > scroll.clientHeight + 2;
    const atBottom = overflowing && scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 24;

    const shown = keepAll ? records : records.slice(-this.maxRows);
    const rows = shown.map((r) => this.renderRow(r, fresh));
    for (const [i, r] of shown.entries()) this.rows.set(rowKey(r), rows[i]);
    this.records.push(...shown);
    if (newestFirst) this.ui.records.prepend(...rows.reverse());
    else this.ui.records.append(...rows);
    if (!keepAll) this.trim();

    if (newestFirst && !atTop) scroll.scrollTop += scroll.scrollHeight - heightBefore; // keep the reader's place
    if (!newestFirst && atBottom) scroll.scrollTop = scroll.scrollHeight; // follow the tail
    this.update();
  }

  /** Drops the oldest rows beyond maxRows. */
  trim() {
    const excess = this.records.length - this.maxRows;
    if (excess <= 0) return;
    const { scroll } = this.ui;
    const heightBefore = scroll.scrollHeight;
    for (const record of this.records.splice(0, excess)) {
      const key = rowKey(record);
      this.rows.get(key)?.remove();
      this.rows.delete(key);
    }
    if (this.order === 'oldest-first') scroll.scrollTop -= heightBefore - scroll.scrollHeight;
  }

  clear() {
    this.records = [];
    this.rows.clear();
    this.ui.records.replaceChildren();
    this.selected = null;
    this.update();
  }

  setOrder(order) {
    this.order = order;
    this.ui.records.dataset.order = order;
    this.ui.order.textContent = order === 'newest-first' ? 'Newest first' : 'Oldest first';
    this.ui.order.dataset.order = order;
    const rows = this.records.map((r) => this.rows.get(rowKey(r)));
    if (order === 'newest-first') rows.reverse();
    this.ui.records.append(...rows);
    this.ui.scroll.scrollTop = 0;
  }

  /** A new read: empty list, the read's natural order unless the user chose one, at the top. */
  restart(order) {
    this.clear();
    if (!this.userOrder) this.setOrder(order);
    this.ui.scroll.scrollTop = 0;
  }

  update() {
    this.hooks.onChange?.(this.records.length);
    if (this.records.length === 0) {
      this.ui.summary.textContent = '';
    } else {
      const count = this.records.length;
      let first = this.records[0].offset;
      let last = this.records[count - 1].offset;
      if (this.records.some((r) => r.partition !== undefined)) {
        // Several partitions: arrival order is not offset order.
        for (const { offset } of this.records) {
          if (offset < first) first = offset;
          if (offset > last) last = offset;
        }
      }
      const spread = `offsets ${fmt(first)}–${fmt(last)}`;
      this.ui.summary.textContent = `${this.hooks.where()}${fmt(count)} ${count === 1 ? 'record' : 'records'} · ${spread}`;
    }
    this.updateEmpty();
  }

  updateEmpty() {
    const empty = this.records.length === 0;
    this.ui.empty.hidden = !empty;
    if (empty) this.ui.empty.textContent = this.hooks.emptyText();
  }

  select(row, { scroll = false } = {}) {
    if (!row) return;
    if (this.selected) {
      this.selected.classList.remove('selected');
      this.selected.removeAttribute('aria-selected');
    }
    this.selected = row;
    row.classList.add('selected');
    row.setAttribute('aria-selected', 'true');
    if (scroll) row.scrollIntoView({ block: 'nearest' });
    this.hooks.onSelect(this.byRow.get(row));
  }
}
