// Node-only entry (`was-edge/node`): everything that needs Node built-ins lives behind it, so the
// browser bundle (src/index.ts) never imports them (STYLE lesson 11).

import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import nodeEndpoint from 'comlink/dist/esm/node-adapter';
import { EngineError } from './errors.js';
import { fileSource } from './node-file.js';
import { openModel, type Model } from './model/model.js';
import type { Engine, EngineOptions, ModelSource, WireSource } from './sdk/api.js';
import { badSource, connectEngine, dataSource } from './sdk/client.js';

export * from './index.js';
export { loadWasmNode } from './wasm/node.js';
export { nodeGPU } from './gpu/node-gpu.js';
export { cpuWasmNode, nodeCpuOptions, nodeThreadSpawner } from './cpu/node.js';
export type { WasmVariant } from './wasm/location.js';

/** Opens a GGUF file: its header is read now, each tensor when a backend loads it (src/node-file.ts). */
export async function loadModelFile(path: string): Promise<Model> {
  const source = fileSource(path);
  try {
    return openModel(source);
  } catch (e) {
    source.close();
    throw e;
  }
}

export interface NodeEngineOptions extends EngineOptions {
  /** A worker thread you started yourself that serves the engine (default: dist/node-worker.js). */
  worker?: Worker;
}

/** `https:`, `data:` … stay URLs; `file:` URLs and everything else are paths (relative to the cwd). */
function nodeRef(ref: string | URL): { url: string } | { path: string } {
  const s = String(ref);
  if (/^[a-z][a-z0-9+.-]+:/i.test(s) && !s.startsWith('file:')) return { url: s };
  return { path: s.startsWith('file:') ? fileURLToPath(s) : resolve(s) };
}

/**
 * Starts the engine in a worker thread and returns its client: the same API as createEngine() from
 * `was-edge` in a browser, plus file paths as model sources. The thread keeps the process alive only
 * while calls are pending; dispose() ends it.
 */
export function createEngine(options: NodeEngineOptions = {}): Engine {
  const { worker: given, ...defaults } = options;
  const worker = given ?? new Worker(new URL('./node-worker.js', import.meta.url));
  worker.unref();
  let disposed = false;
  const failed = new Promise<never>((_, reject) => {
    const fail = (what: string) => reject(new EngineError('WORKER_FAILED', `the engine's worker thread ${what}; create a new engine.`));
    worker.once('error', (e) => fail(`failed: ${e.message}`));
    worker.once('exit', (code) => { if (!disposed) fail(`exited (code ${code})`); });
  });
  return connectEngine({
    endpoint: nodeEndpoint(worker),
    failed,
    terminate: () => {
      disposed = true;
      void worker.terminate();
    },
    source: (source: ModelSource): WireSource =>
      typeof source === 'string' || source instanceof URL ? nodeRef(source) : dataSource(source) ?? badSource(source, ', or a file path'),
    scheduleRef: nodeRef,
    busy: (busy) => (busy ? worker.ref() : worker.unref()),
  }, defaults);
}
