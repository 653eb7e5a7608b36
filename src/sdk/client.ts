// The main-thread end of the boundary: the Engine client over a comlink-wrapped endpoint, shared by
// the browser (Web Worker, src/client.ts) and Node (worker_threads, src/node.ts). It waits for the
// worker's ready message, tracks pending calls so dispose() can reject them, turns each generate()
// into a stream of pieces plus a result, and gives every call its own signal port.

import { proxy, wrap, type Endpoint } from 'comlink';
import { AbortError, EngineError, OptionError } from '../errors.js';
import type {
  Engine, EngineOptions, EngineWorkerApi, GenerateOptions, GenerationResult, GenerationStream, LoadOptions, LoadProgress,
  ModelSource, WireLoadOptions, WireSource,
} from './api.js';
import { WORKER_READY } from './api.js';
import { anySignal } from './queue.js';
import { installTransferHandlers, releaseSignal } from './transfer.js';

/** What a platform gives the client: the endpoint, how the worker fails, and how sources cross. */
export interface Connection {
  endpoint: Endpoint;
  /** Rejects with EngineError WORKER_FAILED when the worker cannot start or dies. */
  failed: Promise<never>;
  terminate(): void;
  /** A model source as it crosses (URLs made absolute; paths in Node). */
  source(source: ModelSource): WireSource;
  /** A schedule file reference (URL, or a path in Node) as it crosses. */
  scheduleRef(ref: string | URL): { url: string } | { path: string };
  /** Called with true while calls are pending (Node keeps the process alive only then). */
  busy?(busy: boolean): void;
}

/** How long dispose() gives the worker to free the GPU before terminating it. */
const DISPOSE_GRACE_MS = 2000;

/** Text pieces pushed by the worker, read by one async iterator. */
class PieceStream {
  private readonly pieces: string[] = [];
  private state: 'open' | 'done' | 'failed' = 'open';
  private error: unknown;
  private wake: (() => void) | null = null;
  private iterator: AsyncGenerator<string> | null = null;

  push(piece: string): void {
    this.pieces.push(piece);
    this.notify();
  }
  end(): void {
    if (this.state === 'open') this.state = 'done';
    this.notify();
  }
  fail(e: unknown): void {
    if (this.state !== 'open') return;
    this.state = 'failed';
    this.error = e;
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  /** One shared iterator: pieces are consumed once. `onStop` runs when the reader breaks off early. */
  iterate(onStop: () => void): AsyncGenerator<string> {
    this.iterator ??= this.run(onStop);
    return this.iterator;
  }
  private async *run(onStop: () => void): AsyncGenerator<string> {
    try {
      for (;;) {
        if (this.pieces.length > 0) {
          yield this.pieces.shift()!;
          continue;
        }
        if (this.state === 'failed') throw this.error;
        if (this.state === 'done') return;
        await new Promise<void>((resolve) => { this.wake = resolve; });
      }
    } finally {
      if (this.state === 'open') onStop();
    }
  }
}

/** The Engine client over `c`; `defaults` apply to every load(). */
export function connectEngine(c: Connection, defaults: EngineOptions = {}): Engine {
  installTransferHandlers();
  const ready = new Promise<void>((resolve) => {
    const onMessage = (ev: MessageEvent) => {
      if (ev.data !== WORKER_READY) return;
      c.endpoint.removeEventListener('message', onMessage as EventListener);
      resolve();
    };
    c.endpoint.addEventListener('message', onMessage as EventListener);
    c.endpoint.start?.();
  });
  const started = Promise.race([ready, c.failed]);
  const remote = wrap<EngineWorkerApi>(c.endpoint);
  const pending = new Set<(e: unknown) => void>();
  let disposed = false;
  let broken: unknown = null;
  c.failed.catch((e: unknown) => {
    broken = e;
    for (const reject of pending) reject(e);
    pending.clear();
    c.busy?.(false);
  });

  const loadDefaults: WireLoadOptions = {};
  if (defaults.backend !== undefined) loadDefaults.backend = defaults.backend;
  if (defaults.contextSize !== undefined) loadDefaults.contextSize = defaults.contextSize;
  if (defaults.threads !== undefined) loadDefaults.threads = defaults.threads;

  /** Runs `fn` once the worker is ready; dispose() or a worker failure rejects it at once. */
  function call<T>(fn: () => Promise<T>): Promise<T> {
    if (disposed) return Promise.reject(new EngineError('ENGINE_DISPOSED', 'the engine was disposed; create a new one with createEngine().'));
    if (broken) return Promise.reject(broken);
    return new Promise<T>((resolve, reject) => {
      pending.add(reject);
      c.busy?.(true);
      started.then(fn).then(resolve, reject).finally(() => {
        pending.delete(reject);
        if (pending.size === 0) c.busy?.(false);
      });
    });
  }

  /** A signal of this call only (its port is closed when the call settles), linked to the caller's. */
  function callSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
    if (signal === undefined) return undefined;
    if (!(signal instanceof AbortSignal)) throw new OptionError('signal', 'must be an AbortSignal.');
    return anySignal(signal);
  }

  const engine: Engine = {
    load(source: ModelSource, options: LoadOptions = {}) {
      return call(async () => {
        const { onProgress, signal, schedules, ...rest } = options;
        if (onProgress !== undefined && typeof onProgress !== 'function') throw new OptionError('onProgress', 'must be a function.');
        const wire: WireLoadOptions = { ...loadDefaults, ...rest };
        if (defaults.schedulesUrl !== undefined && wire.schedulesUrl === undefined) wire.schedulesUrl = urlString(c.scheduleRef(defaults.schedulesUrl));
        if (schedules !== undefined) {
          if (!Array.isArray(schedules)) throw new OptionError('schedules', 'must be an array of schedule URLs or parsed schedules.');
          wire.schedules = schedules.map((s) => (typeof s === 'string' || s instanceof URL ? c.scheduleRef(s) : { json: s }));
        }
        const wireSource = c.source(source);
        const link = callSignal(signal);
        try {
          return await remote.load(wireSource, wire, link, onProgress && proxy((p: LoadProgress) => onProgress(p)));
        } finally {
          releaseSignal(link);
        }
      });
    },

    generate(prompt: string, options: GenerateOptions = {}): GenerationStream {
      const stream = new PieceStream();
      const stop = new AbortController();
      const result: Promise<GenerationResult> = call(async () => {
        const { signal, ...rest } = options;
        const link = anySignal(stop.signal, callSignal(signal));
        try {
          return await remote.generate(prompt, rest, link, proxy((piece: string) => stream.push(piece)));
        } finally {
          releaseSignal(link);
        }
      }).then(
        (r) => {
          stream.end();
          return r;
        },
        (e: unknown) => {
          stream.fail(e);
          throw e;
        },
      );
      // A caller that only iterates learns of errors from the iterator: the result's rejection
      // must not also surface as unhandled.
      result.catch(() => undefined);
      return {
        result,
        [Symbol.asyncIterator]: () => stream.iterate(() => stop.abort(new AbortError(undefined, 'Generation (the reader stopped iterating)'))),
      };
    },

    schedules: () => call(() => remote.schedules()),
    cachedModels: () => call(() => remote.cachedModels()),
    deleteCachedModel: (url) => call(() => remote.deleteCachedModel(urlString(c.scheduleRef(url)))),

    async dispose() {
      if (disposed) return;
      disposed = true;
      const error = new EngineError('ENGINE_DISPOSED', 'the engine was disposed before this call finished.');
      for (const reject of pending) reject(error);
      pending.clear();
      if (!broken) {
        // Let the worker free the model and the GPU device, but not wait forever on a stuck one.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, DISPOSE_GRACE_MS); });
        await Promise.race([started.then(() => remote.dispose()), grace]).catch(() => undefined);
        clearTimeout(timer);
      }
      c.terminate();
      c.busy?.(false);
    },
  };
  return engine;
}

function urlString(ref: { url: string } | { path: string }): string {
  return 'url' in ref ? ref.url : ref.path;
}

/** A URL made absolute against the page (documents) or the script (workers). */
export function absoluteUrl(u: string | URL): string {
  const base = (globalThis as { document?: Document }).document?.baseURI ?? globalThis.location?.href;
  try {
    return new URL(u, base).href;
  } catch {
    throw new OptionError('source', `${String(u)} is not a URL${base ? '' : ' (relative URLs need a page to resolve against)'}.`);
  }
}

/** Bytes and Blobs cross as they are; anything else is not a model source. */
export function dataSource(source: ModelSource): WireSource | null {
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return { bytes: source };
  if (typeof Blob !== 'undefined' && source instanceof Blob) return { blob: source };
  return null;
}

export function badSource(source: unknown, also = ''): never {
  throw new OptionError('source', `must be a URL, an ArrayBuffer, a typed array, a Blob or a File${also}; got ${Object.prototype.toString.call(source)}.`);
}
