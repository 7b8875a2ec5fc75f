// The WASM SDK as a web app gets it: `npm pack` of the package directory, `npm install` of the
// tarball into a fresh project, `import ... from '@kpg/sdk'`, and a real round trip (against
// kpg-apisix-double, a small independent PubSub server). Under node, `exports` picks the node
// entry, which needs nothing but a WebSocket global. Run with:
//   node --experimental-websocket --test tests/wasm/pack.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { bin } from '../support/stack.mjs';

const doubleBin = process.env.KPG_APISIX_DOUBLE_BIN
  ?? path.join(path.dirname(bin.gateway), '../tests/kpg-apisix-double');

test('npm pack yields an installable package that imports as @kpg/sdk and works', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kpg-pack-'));
  try {
    const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd, encoding: 'utf8' });
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], bin.sdkDir));
    const files = packed[0].files.map((f) => f.path).sort();
    assert.deepEqual(files, ['README.md', 'index.d.ts', 'index.mjs', 'index.node.mjs', 'kpg_wasm.mjs', 'kpg_wasm.wasm', 'package.json']);
    const tarball = path.join(work, packed[0].filename);
    assert.match(packed[0].filename, /^kpg-sdk-\d+\.\d+\.\d+\.tgz$/);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    npm(['install', '--offline', tarball], app);
    const installed = path.join(app, 'node_modules/@kpg/sdk');
    assert.ok(fs.existsSync(path.join(installed, 'kpg_wasm.wasm')));
    const manifest = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
    assert.equal(manifest.types, './index.d.ts');

    // Run a consumer script inside the app so that the bare specifier resolves like in a web app.
    const server = spawn(doubleBin, ['--records', '5', '--max', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await once(readline.createInterface({ input: server.stdout }), 'line');
      const port = /listening port=(\d+)/.exec(line)[1];
      fs.writeFileSync(path.join(app, 'main.mjs'), `
        import { connect, text } from '@kpg/sdk';
        const client = await connect('ws://127.0.0.1:${port}/kafka');
        const latest = await client.listOffsets('apisix', 0, 'latest');
        const records = await client.fetch('apisix', 0, 3n);
        console.log(JSON.stringify({ latest: String(latest), values: records.map((r) => text(r.value)) }));
        client.close();
      `);
      const out = execFileSync(process.execPath, ['--experimental-websocket', 'main.mjs'], { cwd: app, encoding: 'utf8' });
      const result = JSON.parse(out.trim().split('\n').at(-1));
      assert.deepEqual(result, { latest: '5', values: ['apisix-0', 'apisix-1', 'apisix-2', 'apisix-3', 'apisix-4'] });
    } finally {
      server.kill('SIGKILL');
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
