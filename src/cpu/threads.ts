// Worker threads for the CPU backend: n − 1 workers instantiate the same module over the same shared
// memory and wait on a control block in it. `run(job)` publishes a job descriptor
// (assembly/cpu/jobs.ts) cut into `slices`; every thread, the caller included, takes slices from a
// ticket counter until none is left, and the caller returns when all are done. Taking slices rather
// than owning a fixed share keeps a descheduled worker (a busy or oversubscribed CPU) from stalling
// the token: the others take its slices. Only the job's address crosses threads, through Atomics.
//
// Workers spin a while after each job (the next one comes within microseconds while a token runs),
// then sleep in Atomics.wait, so an idle model costs no CPU.

import type { CpuExports } from './wasm.js';
import { CpuThreadError } from '../errors.js';

/** Words of the control block (Int32 at `ctl`). */
const GEN = 0; // job generation, bumped per job: workers wait for it to change
const JOB = 1; // the job descriptor's address
const SLICES = 2; // slices of the current job
const DONE = 3; // slices finished
const QUIT = 4; // 1: workers return
const FAILED = 5; // 1 + a slice that failed
const TICKET = 6; // (generation & 0xffff) << 16 | next slice to take
export const CONTROL_BYTES = 64;
/** Slices per thread: enough to even out, few enough that each slice keeps long rows. */
export const SLICES_PER_THREAD = 2;

/** A started worker, whatever the platform: a Web Worker or a Node worker thread. */
export interface ThreadHandle {
  postMessage(message: unknown): void;
  terminate(): unknown;
  /** Called with every message the worker posts, and with an Error if the worker fails. */
  listen(onMessage: (data: unknown) => void, onError: (error: Error) => void): void;
}

/** Starts a worker running the JavaScript `source` (a classic script; see THREAD_SOURCE). */
export type ThreadSpawner = (source: string) => ThreadHandle;

/**
 * The workers' code, a self-contained classic script (no imports), so that it runs unchanged as a
 * Web Worker from a Blob URL and as a Node worker thread with `eval: true`.
 */
export const THREAD_SOURCE = `'use strict';
const isNode = typeof process === 'object' && !!(process.versions && process.versions.node);
const port = isNode ? require('node:worker_threads').parentPort : self;
const post = (m) => port.postMessage(m);
const onMessage = (f) => (isNode ? port.once('message', f) : (self.onmessage = (e) => { self.onmessage = null; f(e.data); }));
onMessage(async ({ module, memory, ctl, spin }) => {
  let exports;
  try {
    const env = { memory, abort() { throw new Error('Wasm abort in a CPU worker thread'); } };
    exports = (await WebAssembly.instantiate(module, { env })).exports;
  } catch (e) {
    post({ failed: String(e && e.message || e) });
    return;
  }
  const c = new Int32Array(memory.buffer, ctl, ${CONTROL_BYTES / 4});
  post({ ready: true });
  let seen = Atomics.load(c, ${GEN});
  for (;;) {
    for (let s = 0; Atomics.load(c, ${GEN}) === seen; s++) {
      if (s > spin) { Atomics.wait(c, ${GEN}, seen); s = 0; }
    }
    seen = Atomics.load(c, ${GEN});
    if (Atomics.load(c, ${QUIT})) return;
    for (;;) {
      const t = Atomics.load(c, ${TICKET});
      const n = Atomics.load(c, ${SLICES});
      if (t >>> 16 !== (seen & 0xffff) || (t & 0xffff) >= n) break;
      if (Atomics.compareExchange(c, ${TICKET}, t, t + 1) !== t) continue;
      let status = -2;
      try { status = exports.runJob(Atomics.load(c, ${JOB}), t & 0xffff, n); } catch (e) { status = -2; }
      if (status !== 0) Atomics.store(c, ${FAILED}, (t & 0xffff) + 1);
      if (Atomics.add(c, ${DONE}, 1) === n - 1) Atomics.notify(c, ${DONE});
    }
  }
});
`;

/** Browsers: a classic Web Worker from a Blob URL of THREAD_SOURCE. */
export const webWorkerSpawner: ThreadSpawner = (source) => {
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const worker = new Worker(url, { name: 'was-edge-cpu-thread' });
  URL.revokeObjectURL(url);
  return {
    postMessage: (m) => worker.postMessage(m),
    terminate: () => worker.terminate(),
    listen(onMessage, onError) {
      worker.onmessage = (e) => onMessage(e.data);
      worker.onerror = (e) => onError(new Error(e.message || 'worker error'));
    },
  };
};

/** Whether this context can share Wasm memory with workers (browsers: only when cross-origin isolated). */
export function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return isolated !== false; // undefined in Node, where sharing always works
}

/** Iterations a worker spins for the next job before it sleeps (tens of microseconds). */
const SPIN = 20_000;
/** Iterations the calling thread spins for the other shares before it sleeps. */
const SPIN_MAIN = 2_000;

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
const CAN_WAIT = (() => {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
})();

export class ThreadPool {
  private readonly ctl: Int32Array;
  private disposed = false;
  private gen = 0;

  private constructor(
    private readonly exports: CpuExports,
    readonly threads: number,
    ctl: number,
    memory: WebAssembly.Memory,
    private readonly workers: ThreadHandle[],
  ) {
    this.ctl = new Int32Array(memory.buffer, ctl, CONTROL_BYTES / 4);
  }

  /**
   * Starts `threads − 1` workers over the shared `memory` and waits until each has instantiated
   * `module`. The control block at `ctl` (CONTROL_BYTES, zeroed) must be reserved in that memory.
   */
  static async start(exports: CpuExports, module: WebAssembly.Module, memory: WebAssembly.Memory, ctl: number,
    threads: number, spawn: ThreadSpawner): Promise<ThreadPool> {
    if (!(memory.buffer instanceof SharedArrayBuffer)) throw new CpuThreadError('THREADS_UNAVAILABLE', 'threads need a shared memory');
    const workers: ThreadHandle[] = [];
    try {
      await Promise.all(Array.from({ length: threads - 1 }, () => new Promise<void>((resolve, reject) => {
        const w = spawn(THREAD_SOURCE);
        workers.push(w);
        w.listen((data) => {
          const m = data as { ready?: boolean; failed?: string };
          if (m.ready) resolve();
          else if (m.failed) reject(new CpuThreadError('THREAD_START_FAILED', `a CPU worker thread could not start: ${m.failed}`));
        }, (e) => reject(new CpuThreadError('THREAD_START_FAILED', `a CPU worker thread failed: ${e.message}`, { cause: e })));
        w.postMessage({ module, memory, ctl, spin: SPIN });
      })));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new ThreadPool(exports, threads, ctl, memory, workers);
  }

  /** Slices a job is cut into (scratch slots the plan reserves). */
  get slices(): number {
    return this.threads * SLICES_PER_THREAD;
  }

  /** Runs the job at `job` on every thread; returns when all its slices are done. */
  run(job: number): void {
    const c = this.ctl;
    if (this.disposed) throw new CpuThreadError('THREADS_DISPOSED', 'the CPU backend was disposed');
    const n = this.slices;
    const gen = (this.gen = (this.gen + 1) | 0);
    Atomics.store(c, JOB, job);
    Atomics.store(c, SLICES, n);
    Atomics.store(c, DONE, 0);
    Atomics.store(c, TICKET, (gen & 0xffff) << 16);
    Atomics.store(c, GEN, gen);
    Atomics.notify(c, GEN);
    let status = 0;
    for (;;) {
      const t = Atomics.load(c, TICKET);
      if ((t & 0xffff) >= n) break;
      if (Atomics.compareExchange(c, TICKET, t, t + 1) !== t) continue;
      if (this.exports.runJob(job, t & 0xffff, n) !== 0) status = (t & 0xffff) + 1;
      Atomics.add(c, DONE, 1);
    }
    // Slices still running elsewhere end about when ours did: spin a little, then sleep where this
    // thread may (Node, workers), since spinning on an oversubscribed CPU starves the thread we wait for.
    let deadline = 0;
    for (let s = 0; ; s++) {
      const done = Atomics.load(c, DONE);
      if (done >= n) break;
      if (s < SPIN_MAIN) continue;
      if (CAN_WAIT) Atomics.wait(c, DONE, done, 1);
      if ((s & 0xfff) === 0) {
        // A slice takes microseconds to milliseconds; a worker gone for seconds is dead, not slow.
        const now = performance.now();
        if (deadline === 0) deadline = now + 10_000;
        else if (now > deadline) {
          this.dispose();
          throw new CpuThreadError('THREAD_STALLED', 'a CPU worker thread stopped answering; create the backend again');
        }
      }
    }
    const failed = Atomics.exchange(c, FAILED, 0) || status;
    if (failed !== 0) throw new CpuThreadError('THREAD_JOB_FAILED', `slice ${failed - 1} of the job at ${job} failed`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) w.terminate();
  }
}
