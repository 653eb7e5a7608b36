// Calibration and the schedule search compute synchronously for seconds to minutes (the reference
// forward pass, the CPU backend): in a worker, an abort message would wait for the whole run. A
// checkpoint between steps lets the event loop turn now and then and stops with AbortError.

import { AbortError } from '../errors.js';

/** Awaited between steps: resolves at once, yields to the event loop at most every YIELD_MS, throws AbortError once aborted. */
export type Checkpoint = () => Promise<void>;

const YIELD_MS = 10;

/** Resolves from the macrotask queue (not clamped like setTimeout), so that messages get handled. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
    port2.close();
  });
}

/** No signal: a checkpoint that never yields (the CLI's runs, unchanged). `what` names the work in the AbortError. */
export function checkpoint(signal: AbortSignal | undefined, what: string): Checkpoint {
  if (!signal) return async () => undefined;
  let last = performance.now();
  return async () => {
    if (performance.now() - last >= YIELD_MS) {
      await nextTask();
      last = performance.now();
    }
    if (signal.aborted) throw new AbortError(signal.reason, what);
  };
}
