// @kpg/sdk for node (package.json `exports`, condition "node"): the browser API unchanged, with
// the .wasm read from disk (node's fetch() cannot read file: URLs). Node 22.4+ has a global
// WebSocket; node 20 needs --experimental-websocket.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as sdk from './index.mjs';

export * from './index.mjs';

const WASM_DIR = fileURLToPath(new URL('.', import.meta.url));
let modulePromise;

/**
 * As the browser's loadModule (once; options go to the Emscripten module factory), but the .wasm
 * is read from disk: from beside this file, or from locateFile('kpg_wasm.wasm', directory).
 */
export function loadModule(moduleOptions = {}) {
  modulePromise ??= load(moduleOptions).catch((error) => {
    modulePromise = undefined;
    throw error;
  });
  return modulePromise;
}

async function load(options) {
  if (options.wasmBinary || options.instantiateWasm) return sdk.loadModule(options);
  const file = options.locateFile?.('kpg_wasm.wasm', WASM_DIR) ?? path.join(WASM_DIR, 'kpg_wasm.wasm');
  let wasmBinary;
  try {
    wasmBinary = await readFile(file);
  } catch (error) {
    throw new sdk.KpgError('transport', `cannot load the kpg WebAssembly module: cannot read ${file}: ${error.message}`);
  }
  return sdk.loadModule({ ...options, wasmBinary });
}

/** As the browser's connect; loads the module from disk first. */
export async function connect(url, options = {}) {
  await loadModule(options.module);
  return sdk.connect(url, options);
}
