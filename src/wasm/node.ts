// Node-only: reads the Wasm file from disk (fetch() cannot read file: URLs in Node 20).

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { WasEdgeError } from '../errors.js';
import { wasmUrl, type WasmVariant } from './location.js';
import { loadWasm } from './load.js';
import type { WasModule } from './module.js';

/** Loads the shipped Wasm module: `release` by default, `debug` (asserts on) for tests. */
export async function loadWasmNode(variant: WasmVariant = 'release'): Promise<WasModule> {
  if (variant !== 'release' && variant !== 'debug') {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `loadWasmNode: variant must be 'release' or 'debug', got ${String(variant)}`);
  }
  const url = wasmUrl(variant);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await readFile(url));
  } catch (cause) {
    const path = fileURLToPath(url);
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new WasEdgeError(
      missing ? 'WASM_NOT_FOUND' : 'WASM_LOAD_FAILED',
      missing
        ? `${path} does not exist: run \`npm run build\` first (\`npm test\` does it for you)`
        : `Could not read ${path}: check its permissions`,
      { cause },
    );
  }
  return loadWasm(bytes);
}
