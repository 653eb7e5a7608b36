// The engine's Web Worker (`was-edge/worker`, dist/worker.js). createEngine() starts this file itself;
// a bundler that wants to own the worker makes a two-line entry instead:
//   import { exposeEngine } from 'was-edge/worker';
//   exposeEngine();
// and passes `createEngine({ worker: new Worker(new URL('./that-entry.js', import.meta.url), { type: 'module' }) })`.

import { WORKER_NAME, type MessageEndpoint } from './sdk/api.js';
import { serveEngine } from './sdk/expose.js';

export interface ExposeOptions {
  /** Default: this worker's global scope. */
  endpoint?: MessageEndpoint;
  /**
   * A folder of prebuilt schedules (`<model-id>.json`) to use instead of the package's own, which
   * are bundled with this worker (no folder needs serving). Relative to this file.
   */
  schedulesUrl?: string | URL;
}

/** Runs the engine in this worker: answers createEngine()'s client on `endpoint`. Idempotent. */
export function exposeEngine(options: ExposeOptions = {}): void {
  serveEngine(options.endpoint ?? (globalThis as unknown as MessageEndpoint), {
    gpu: async () => (globalThis.navigator as Navigator | undefined)?.gpu,
    ...(options.schedulesUrl !== undefined && { schedulesUrl: new URL(options.schedulesUrl, import.meta.url) }),
  });
}

// Started by createEngine() (which names its worker): serve at once.
if (typeof WorkerGlobalScope !== 'undefined' && (globalThis as { name?: unknown }).name === WORKER_NAME) exposeEngine();
