// The app as most web apps write it: the package finds its .wasm by itself.
import { run } from './run.js';

run();
