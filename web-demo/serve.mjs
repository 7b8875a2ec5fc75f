#!/usr/bin/env node
// Static file server for the kpg web demo. No dependencies; Node 20+.
//
//   node web-demo/serve.mjs [--host 127.0.0.1] [--port 8080] [--sdk-dir DIR]
//
// Serves this directory at / and the WASM SDK package at /sdk/. Once listening it prints
// exactly one line, `web demo: http://HOST:PORT/`, to stdout.
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DEMO_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.resolve(DEMO_DIR, '..');
const DEFAULT_SDK_DIR = path.join(REPO_DIR, 'build', 'wasm', 'sdk-wasm', 'package');

const USAGE = `Usage: node web-demo/serve.mjs [--host HOST] [--port PORT] [--sdk-dir DIR]

Serves the kpg web demo (this directory) at / and the WASM SDK package at /sdk/.

Options:
  --host HOST     address to listen on (default 127.0.0.1)
  --port PORT     port to listen on; 0 picks a free port (default 8080)
  --sdk-dir DIR   SDK package directory (default ${path.relative(process.cwd(), DEFAULT_SDK_DIR) || '.'})
  -h, --help      print this help and exit

Prints "web demo: http://HOST:PORT/" once listening. Open it with a gateway running, e.g.
  http://127.0.0.1:8080/?gateway=ws://127.0.0.1:9080/kafka&topic=demo&partition=0
`;

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8', // covers .d.ts
  '.md': 'text/plain; charset=utf-8',
};

function fail(message) {
  process.stderr.write(`serve.mjs: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { host: '127.0.0.1', port: 8080, sdkDir: DEFAULT_SDK_DIR };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const takeValue = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) fail(`${arg} needs a value\n\n${USAGE}`);
      return argv[++i];
    };
    switch (arg) {
      case '-h':
      case '--help':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      case '--host':
        options.host = takeValue();
        break;
      case '--port': {
        const text = takeValue();
        const port = Number(text);
        if (!/^\d+$/.test(text) || port > 65535) fail(`invalid port: ${text}`);
        options.port = port;
        break;
      }
      case '--sdk-dir':
        options.sdkDir = path.resolve(takeValue());
        break;
      default:
        fail(`unknown argument: ${argv[i]}\n\n${USAGE}`);
    }
  }
  return options;
}

function mimeType(filePath) {
  return MIME_TYPES[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
}

function sendText(res, status, message, headOnly) {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(message),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : message);
}

/** Maps a URL path onto a file under root; null if it escapes root. */
function resolveUnder(root, relative) {
  const target = path.resolve(root, '.' + path.posix.sep + relative);
  if (target !== root && !target.startsWith(root + path.sep)) return null;
  return target;
}

async function handle(req, res, options) {
  const headOnly = req.method === 'HEAD';
  if (req.method !== 'GET' && !headOnly) {
    res.setHeader('Allow', 'GET, HEAD');
    return sendText(res, 405, 'method not allowed\n', headOnly);
  }

  const rawPath = (req.url ?? '/').split(/[?#]/, 1)[0];
  let urlPath;
  try {
    urlPath = decodeURIComponent(rawPath);
  } catch {
    return sendText(res, 400, 'bad request\n', headOnly);
  }
  // Traversal attempts: any '..' segment (after decoding, with either slash), NUL bytes.
  if (urlPath.includes('\0') || urlPath.split(/[\\/]+/).includes('..')) {
    return sendText(res, 403, 'forbidden\n', headOnly);
  }

  let root = DEMO_DIR;
  let relative = urlPath;
  if (urlPath === '/sdk') {
    res.writeHead(301, { Location: '/sdk/', 'Cache-Control': 'no-store' });
    return res.end();
  }
  if (urlPath.startsWith('/sdk/')) {
    root = options.sdkDir;
    relative = urlPath.slice('/sdk/'.length);
  }
  if (relative.endsWith('/') || relative === '') relative += 'index.html';
  relative = relative.replace(/^\/+/, '');

  const filePath = resolveUnder(root, relative);
  if (!filePath) return sendText(res, 403, 'forbidden\n', headOnly);

  let info;
  try {
    info = await stat(filePath);
  } catch {
    return sendText(res, 404, 'not found\n', headOnly);
  }
  if (info.isDirectory()) {
    res.writeHead(301, { Location: rawPath + '/', 'Cache-Control': 'no-store' });
    return res.end();
  }
  if (!info.isFile()) return sendText(res, 404, 'not found\n', headOnly);

  res.writeHead(200, {
    'Content-Type': mimeType(filePath),
    'Content-Length': info.size,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  if (headOnly) return res.end();
  const stream = createReadStream(filePath);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));

  let sdkInfo;
  try {
    sdkInfo = await stat(path.join(options.sdkDir, 'index.mjs'));
  } catch {
    sdkInfo = null;
  }
  if (!sdkInfo?.isFile()) {
    fail(
      `SDK package not found: ${options.sdkDir} has no index.mjs.\n` +
        `Build it first with \`tools/test\` or \`cmake --build --preset wasm\`, or pass --sdk-dir DIR.`,
    );
  }

  const server = createServer((req, res) => {
    handle(req, res, options).catch((error) => {
      process.stderr.write(`serve.mjs: ${req.method} ${req.url}: ${error.message}\n`);
      if (!res.headersSent) sendText(res, 500, 'internal error\n', false);
      else res.destroy();
    });
  });

  server.on('error', (error) => {
    if (error.code === 'EADDRINUSE') fail(`port ${options.port} on ${options.host} is already in use (try --port 0)`);
    if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') fail(`cannot listen on host ${options.host}`);
    if (error.code === 'EACCES') fail(`permission denied listening on ${options.host}:${options.port}`);
    fail(`cannot listen on ${options.host}:${options.port}: ${error.message}`);
  });

  server.listen(options.port, options.host, () => {
    const { port } = server.address();
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    process.stdout.write(`web demo: http://${host}:${port}/\n`);
  });

  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main();
