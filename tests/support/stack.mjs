// Runs the real stack for JavaScript tests (browser and node): kpg-devkafka (a Kafka-protocol
// broker in its own process), kpg-gateway routed to it and, on request, the web demo's server.
// Binaries come from the build (or KPG_* environment variables).
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';

export const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const buildDir = process.env.KPG_BUILD_DIR ?? path.join(repo, 'build/native');
export const bin = {
  gateway: process.env.KPG_GATEWAY_BIN ?? path.join(buildDir, 'gateway/kpg-gateway'),
  devkafka: process.env.KPG_DEVKAFKA_BIN ?? path.join(buildDir, 'tools/kpg-devkafka'),
  sdkDir: process.env.KPG_SDK_DIR ?? path.join(repo, 'build/wasm/sdk-wasm/package'),
};

// An independent server with Apache APISIX's PubSub behaviour (tests/support/apisix_double.cpp):
// unlike librdkafka's mock, it looks timestamps up. Optional: only Stack.startApisixDouble needs it.
export const apisixDoubleBin = process.env.KPG_APISIX_DOUBLE_BIN
  ?? path.join(path.dirname(bin.gateway), '../tests/kpg-apisix-double');

// Starts a process and resolves with the first stdout line that matches `pattern`.
async function startProcess(name, command, args, pattern, timeoutMs = 20_000) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave a broker or gateway behind, even when the test process dies early.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  const log = [];
  const lines = readline.createInterface({ input: child.stdout });
  child.stderr.on('data', (d) => log.push(String(d)));
  const match = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${log.join('\n')}`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${log.join('\n')}`)));
    lines.on('line', (line) => {
      log.push(line);
      const m = line.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
  return { child, match, log };
}

async function stopProcess(proc) {
  if (!proc || proc.child.exitCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
  await once(proc.child, 'exit');
  clearTimeout(timer);
}

// Runs a command with `input` on stdin; resolves with its stdout.
function runWithInput(command, args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, (error, stdout) => (error ? reject(error) : resolve(stdout)));
    child.stdin.end(input);
  });
}

export class Stack {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpg-e2e-'));
  }

  async start(topics, { web = true } = {}) {
    for (const [what, file] of Object.entries(bin)) {
      if (!fs.existsSync(file)) throw new Error(`${what} not found at ${file}: build first (tools/test)`);
    }
    this.broker = await startProcess('kpg-devkafka', bin.devkafka,
      ['mock', ...topics.flatMap((t) => ['--topic', t])], /^bootstrap=(\S+)/);
    this.bootstrap = this.broker.match[1];
    await this.startGateway();
    if (!web) return;
    this.web = await startProcess('web demo server', process.execPath,
      [path.join(repo, 'web-demo/serve.mjs'), '--host', '127.0.0.1', '--port', '0', '--sdk-dir', bin.sdkDir],
      /web demo: (http:\/\/\S+)/);
    this.demoUrl = this.web.match[1];
  }

  // Writes a gateway config (route /kafka to this stack's broker) named `name`; `extra` lines
  // go before the routes. Returns its path.
  #gatewayConfig(name, port, extra = []) {
    const config = path.join(this.dir, `${name}.yaml`);
    fs.writeFileSync(config, [
      `listen: 127.0.0.1:${port}`,
      'admin_listen: 127.0.0.1:0',
      `data_dir: ${path.join(this.dir, `${name}-data`)}`,
      ...extra,
      'routes:',
      '  - id: e2e',
      '    uri: /kafka',
      `    upstream: {scheme: kafka, type: none, nodes: {"${this.bootstrap}": 1}}`,
      '',
    ].join('\n'));
    return config;
  }

  async startGateway(port = 0) {
    const config = this.#gatewayConfig('gateway', port);
    this.gateway = await startProcess('kpg-gateway', bin.gateway, ['--config', config],
      /event=listening address=(\S+)/);
    this.gatewayUrl = `ws://${this.gateway.match[1]}/kafka`;
  }

  /**
   * Calls the gateway's admin API (its address from the log, its key from the data dir, where the
   * gateway generated it); resolves with {status, body}, body parsed as JSON when it is.
   */
  async admin(method, apiPath, body) {
    const address = this.gateway.log.map((l) => l.match(/event=admin_listening address=(\S+)/)).find(Boolean)?.[1];
    if (!address) throw new Error('the gateway did not log its admin address');
    const key = fs.readFileSync(path.join(this.dir, 'gateway-data', 'admin.key'), 'utf8').trim();
    const response = await fetch(`http://${address}${apiPath}`, {
      method,
      headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the text
    }
    return { status: response.status, body: parsed };
  }

  /** Creates (or replaces) a route `id` at `uri` to this stack's broker; returns its ws:// URL. */
  async putRoute(id, uri, plugins = {}) {
    const { status, body } = await this.admin('PUT', `/apisix/admin/routes/${id}`, {
      uri,
      plugins,
      upstream: { scheme: 'kafka', type: 'none', nodes: { [this.bootstrap]: 1 } },
    });
    if (status !== 200 && status !== 201) throw new Error(`route ${id}: HTTP ${status} ${JSON.stringify(body)}`);
    return new URL(uri, this.gatewayUrl.replace(/^ws/, 'http')).href.replace(/^http/, 'ws');
  }

  /** Creates (or replaces) a consumer: {username, plugins}. */
  async putConsumer(consumer) {
    const { status, body } = await this.admin('PUT', '/apisix/admin/consumers', consumer);
    if (status !== 200 && status !== 201) throw new Error(`consumer: HTTP ${status} ${JSON.stringify(body)}`);
  }

  async stopGateway() {
    await stopProcess(this.gateway);
  }

  /** The gateway's data-plane port (kept across stopGateway()). */
  get gatewayPort() {
    return Number(new URL(this.gatewayUrl).port);
  }

  /** Stops the gateway and starts it again on the same port (same routes, same broker). */
  async restartGateway() {
    const port = this.gatewayPort;
    await this.stopGateway();
    await this.startGateway(port);
  }

  /**
   * Produces values to topic/partition through the Kafka protocol; returns offsets. Values are
   * strings, or byte arrays (Buffer/Uint8Array: any bytes but '\n', sent one per stdin line).
   * `headers` ({name: value}) go on every record.
   */
  async produce(topic, partition, values, key, headers = {}) {
    const args = ['produce', '--bootstrap', this.bootstrap, '--topic', topic, '--partition', String(partition)];
    if (key !== undefined) args.push('--key', key);
    for (const [name, value] of Object.entries(headers)) args.push('--header', `${name}=${value}`);
    let stdout;
    if (values.some((v) => typeof v !== 'string')) {
      const lines = values.map((v) => Buffer.from(v));
      if (lines.some((b) => b.includes(0x0a))) throw new Error('produce: byte values cannot contain \\n (0x0a)');
      stdout = await runWithInput(bin.devkafka, args, Buffer.concat(lines.flatMap((b) => [b, Buffer.from('\n')])));
    } else {
      ({ stdout } = await promisify(execFile)(bin.devkafka, [...args, '--', ...values]));
    }
    return [...stdout.matchAll(/offset=(\d+)/g)].map((m) => Number(m[1]));
  }

  /**
   * Starts an APISIX-behaviour server (one topic, partition 0; record n has value "apisix-<n>",
   * key "k<n>", timestamp baseTimestamp + n * 1000); returns its route URL. Stopped by stop().
   */
  async startApisixDouble({ topic = 'apisix', records = 0, max = records, growEveryMs = 1000, baseTimestamp = 0 } = {}) {
    if (!fs.existsSync(apisixDoubleBin)) {
      throw new Error(`kpg-apisix-double not found at ${apisixDoubleBin}: build first, or set KPG_APISIX_DOUBLE_BIN`);
    }
    const proc = await startProcess('kpg-apisix-double', apisixDoubleBin, ['--host', '127.0.0.1', '--port', '0',
      '--topic', topic, '--records', String(records), '--max', String(max),
      '--grow-every-ms', String(growEveryMs), '--base-timestamp', String(baseTimestamp)], /listening port=(\d+)/);
    (this.extraProcesses ??= []).push(proc);
    return `ws://127.0.0.1:${proc.match[1]}/kafka`;
  }

  pageUrl(params) {
    const q = new URLSearchParams({ gateway: this.gatewayUrl, ...params });
    return `${this.demoUrl}?${q}`;
  }

  /**
   * A second gateway on the same broker that serves wss:// with a self-signed certificate for
   * 127.0.0.1 (made here with openssl); resolves with its route URL.
   */
  async startTlsGateway() {
    const cert = path.join(this.dir, 'tls-cert.pem');
    const key = path.join(this.dir, 'tls-key.pem');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
    const config = this.#gatewayConfig('gateway-tls', 0, [`tls_cert_file: ${cert}`, `tls_key_file: ${key}`]);
    const proc = await startProcess('kpg-gateway (wss)', bin.gateway, ['--config', config],
      /event=listening address=(\S+) scheme=wss/);
    (this.extraProcesses ??= []).push(proc);
    return `wss://${proc.match[1]}/kafka`;
  }

  async stop() {
    for (const proc of this.extraProcesses ?? []) await stopProcess(proc);
    await stopProcess(this.web);
    await stopProcess(this.gateway);
    await stopProcess(this.broker);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

