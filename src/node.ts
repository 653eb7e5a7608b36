// Node-only entry (`was-edge/node`): everything that needs Node built-ins lives behind it, so the
// browser bundle (src/index.ts) never imports them (STYLE lesson 11).

import { readFile } from 'node:fs/promises';
import { openModel, type Model } from './model/model.js';

export * from './index.js';
export { loadWasmNode } from './wasm/node.js';
export { nodeGPU } from './gpu/node-gpu.js';
export type { WasmVariant } from './wasm/location.js';

/** Reads a GGUF file once and parses it in place (tensor data stay views into that buffer). */
export async function loadModelFile(path: string): Promise<Model> {
  const buf = await readFile(path);
  return openModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}
