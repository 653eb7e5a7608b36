// Calibration and the schedule search compute synchronously for seconds to minutes (the reference
// forward pass, the CPU backend): in a worker, an abort message would wait for the whole run. A
// checkpoint between steps lets the event loop turn now and then and stops with AbortError.

import { AbortError } from '../errors.js';
import { yielder } from '../event-loop.js';

/** Awaited between steps: lets the event loop turn now and then (event-loop.ts), throws AbortError once aborted. */
export type Checkpoint = () => Promise<void>;

/** No signal: a checkpoint that never yields (the CLI's runs, unchanged). `what` names the work in the AbortError. */
export function checkpoint(signal: AbortSignal | undefined, what: string): Checkpoint {
  if (!signal) return async () => undefined;
  const turn = yielder();
  return async () => {
    await turn();
    if (signal.aborted) throw new AbortError(signal.reason, what);
  };
}
