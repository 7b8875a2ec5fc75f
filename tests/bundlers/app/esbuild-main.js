// esbuild leaves `new URL('…wasm', import.meta.url)` alone: import the package's exported .wasm
// with the `file` loader, so that esbuild emits it, and tell the SDK where it went.
import wasmUrl from '@kpg/sdk/kpg_wasm.wasm';
import { run } from './run.js';

run({ module: { locateFile: () => new URL(wasmUrl, import.meta.url).href } });
