// createEngine() for browsers: the engine runs in a module Web Worker (dist/worker.js) and this page
// talks to it through comlink (src/sdk/client.ts). In Node, createEngine() from `was-edge/node` runs
// it in a worker thread instead.

import { EngineError } from './errors.js';
import type { Engine, EngineOptions, ModelSource, WireSource } from './sdk/api.js';
import { absoluteUrl, badSource, connectEngine, dataSource } from './sdk/client.js';

export interface CreateEngineOptions extends EngineOptions {
  /**
   * A worker you started yourself, running `exposeEngine()` from `was-edge/worker` (for bundlers that
   * build the worker). Default: dist/worker.js of this package. It is terminated by dispose().
   */
  worker?: Worker;
}

/** Starts the engine in a Web Worker and returns its client. */
export function createEngine(options: CreateEngineOptions = {}): Engine {
  if (typeof Worker === 'undefined') {
    throw new EngineError('NO_WORKER', "this environment has no Web Worker; in Node, import { createEngine } from 'was-edge/node'.");
  }
  const { worker: given, ...defaults } = options;
  // One expression, literal options (the name is WORKER_NAME, which dist/worker.js answers to): Vite
  // and webpack recognise it and bundle the worker too.
  const worker = given ?? new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'was-edge' });
  let started = false;
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('message', () => { started = true; }, { once: true });
    worker.addEventListener('error', (ev: ErrorEvent) => {
      // After start, errors are reported per call; only a worker that never came up is fatal.
      if (started) return;
      ev.preventDefault();
      reject(new EngineError('WORKER_FAILED',
        `the engine's worker did not start (${ev.message || 'its script or an import failed to load'}): serve dist/worker.js and dist/chunks/ ` +
        "next to dist/index.js, or pass { worker } running exposeEngine() from 'was-edge/worker'."));
    });
  });
  return connectEngine({
    endpoint: worker,
    failed,
    terminate: () => worker.terminate(),
    source: (source: ModelSource): WireSource =>
      typeof source === 'string' || source instanceof URL ? { url: absoluteUrl(source) } : dataSource(source) ?? badSource(source),
    scheduleRef: (ref) => ({ url: absoluteUrl(ref) }),
  }, defaults);
}
