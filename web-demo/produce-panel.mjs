// The produce panel: writes a record (key, value, headers as key=value lines, optional partition)
// to the topic being read, through the connected client, and shows where it was written or why
// not. The record then arrives in the live view like any other. No DOM beyond the elements given.

/**
 * Headers from text: one `key=value` per line (the first '=' separates, so values may hold '=');
 * blank lines are skipped. Returns {headers: [[key, value]]} or {error}.
 */
export function parseHeaders(text) {
  const headers = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { error: `Header line ${i + 1} ("${line}") is not key=value.` };
    headers.push([line.slice(0, eq).trim(), line.slice(eq + 1)]);
  }
  return { headers };
}

/** '' (the default partitioner) or a partition number; {error} otherwise. */
export function parseProducePartition(text) {
  const t = text.trim();
  if (t === '') return { partition: undefined };
  if (!/^\d+$/.test(t) || Number(t) > 2147483647) return { error: `"${text}" is not a partition number.` };
  return { partition: Number(t) };
}

/** What the panel says when the connection does not offer produce. */
export function unavailableText(client) {
  if (!client) return 'Connect to write records.';
  if (client.mode !== 'kpg') {
    return 'This gateway speaks only the APISIX PubSub subset, which is read-only: it cannot write records.';
  }
  return 'This route does not allow writing (no plugins.kafka-proxy.produce on it), so the panel is off.';
}

export class ProducePanel {
  /**
   * ui: {panel, form, key, value, headers, partition, button, result, unavailable};
   * getClient() -> the connected KpgClient or null; getTopic() -> the topic to write to.
   */
  constructor(ui, { getClient, getTopic }) {
    this.ui = ui;
    this.getClient = getClient;
    this.getTopic = getTopic;
    this.sending = false;
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    this.refresh();
  }

  /** Enables the panel when the connection offers produce, else explains why not. */
  refresh() {
    const client = this.getClient();
    const available = !!client && client.isOpen && client.canProduce;
    this.ui.panel.dataset.available = String(available);
    this.ui.unavailable.hidden = available;
    if (!available) this.ui.unavailable.textContent = unavailableText(client);
    for (const input of [this.ui.key, this.ui.value, this.ui.headers, this.ui.partition]) input.disabled = !available;
    this.ui.button.disabled = !available || this.sending;
    this.ui.button.textContent = this.sending ? 'Sending…' : `Send to ${this.getTopic() || 'the topic'}`;
  }

  show(kind, text) {
    this.ui.result.dataset.kind = kind;
    this.ui.result.textContent = text;
    this.ui.result.hidden = false;
  }

  async send() {
    const client = this.getClient();
    const topic = this.getTopic();
    if (!client || !client.canProduce || this.sending) return;
    const headers = parseHeaders(this.ui.headers.value);
    if (headers.error) return this.show('error', headers.error);
    const partition = parseProducePartition(this.ui.partition.value);
    if (partition.error) return this.show('error', partition.error);
    const key = this.ui.key.value;
    this.sending = true;
    this.refresh();
    try {
      const options = { key: key === '' ? null : key, headers: headers.headers };
      if (partition.partition !== undefined) options.partition = partition.partition;
      const written = await client.produce(topic, this.ui.value.value, options);
      this.show('ok', `Written to ${topic} partition ${written.partition} at offset ${written.offset}.`);
      this.ui.result.dataset.partition = String(written.partition);
      this.ui.result.dataset.offset = written.offset.toString();
    } catch (error) {
      const reason = error.serverCode && error.serverCode !== 'unspecified' ? error.serverCode : error.code;
      const maybe = error.possiblyWritten ? ' It may have been written anyway.' : ' It was not written.';
      this.show('error', `Not written (${reason}): ${error.message}.${maybe}`);
    } finally {
      this.sending = false;
      this.refresh();
    }
  }
}
