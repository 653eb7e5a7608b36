// One call at a time: generate() and load() calls run in arrival order and never interleave (they
// share one KV cache and one set of GPU buffers). A call whose signal aborts while it waits leaves
// the queue at once with AbortError.

import { AbortError } from '../errors.js';

export class SerialQueue {
  /** Settles when the last task queued so far has finished (never rejects). */
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>, signal?: AbortSignal, what?: string): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    const done = new Promise<void>((resolve) => { release = resolve; });
    this.tail = before.then(() => done);
    return (async () => {
      try {
        await waitOrAbort(before, signal, what);
        return await task();
      } finally {
        release();
      }
    })();
  }
}

/** Resolves with `p`, or rejects with AbortError as soon as `signal` aborts. */
export function waitOrAbort<T>(p: Promise<T>, signal: AbortSignal | undefined, what?: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new AbortError(signal.reason, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError(signal.reason, what));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A signal that aborts when any of `signals` does (AbortSignal.any where present). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(list);
  const c = new AbortController();
  for (const s of list) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}
