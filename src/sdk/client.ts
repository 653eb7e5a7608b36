// The main-thread end of the boundary: the Engine client over a comlink-wrapped endpoint, shared by
// the browser (Web Worker, src/client.ts) and Node (worker_threads, src/node.ts). It waits for the
// worker's ready message, tracks pending calls so dispose() can reject them, turns each generate()
// into a stream of pieces plus a result, and gives every call its own signal port.

import { proxy, wrap, type Endpoint, type Remote } from 'comlink';
import type { ChatMessage } from '../chat.js';
import { AbortError, EngineError, OptionError } from '../errors.js';
import type { Calibration } from '../sparsity/plan.js';
import type { Schedule } from '../sparsity/schedule.js';
import type {
  CalibrateOptions, CalibrateProgress, CachedModel, ChatFunction, ChatOptions, ChatStream, Engine, EngineOptions, EngineWorkerApi, GenerateOptions, GenerationStream, LoadOptions, LoadProgress,
  ModelInfo, ModelSource, ScheduleInfo, ScheduleProgress, SearchScheduleOptions, WireLoadOptions, WireSource,
} from './api.js';
import { WORKER_READY } from './api.js';
import { chatCompletions } from './openai.js';
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
  return new EngineClient(c, defaults);
}

/** The worker's "ready" message, or the connection's failure. */
function whenStarted(c: Connection): Promise<void> {
  const ready = new Promise<void>((resolve) => {
    const onMessage = (ev: MessageEvent) => {
      if (ev.data !== WORKER_READY) return;
      c.endpoint.removeEventListener('message', onMessage as EventListener);
      resolve();
    };
    c.endpoint.addEventListener('message', onMessage as EventListener);
    c.endpoint.start?.();
  });
  return Promise.race([ready, c.failed]);
}

/** A signal of this call only (its port is closed when the call settles), linked to the caller's. */
function callSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw new OptionError('signal', 'must be an AbortSignal.');
  return anySignal(signal);
}

function checkOptions(o: unknown, call: string): void {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new OptionError('options', `of ${call} must be an object, got ${o === null ? 'null' : typeof o}.`);
}

class EngineClient implements Engine {
  private readonly started: Promise<void>;
  private readonly remote: Remote<EngineWorkerApi>;
  /** Rejects of the calls in flight: dispose() and a worker failure settle them at once. */
  private readonly pending = new Set<(e: unknown) => void>();
  private disposed = false;
  private broken: unknown = null;
  private readonly loadDefaults: WireLoadOptions = {};
  /** The loaded model's id (the OpenAI facade's `model`). */
  private modelName = '';

  constructor(private readonly c: Connection, private readonly defaults: EngineOptions) {
    this.started = whenStarted(c);
    this.remote = wrap<EngineWorkerApi>(c.endpoint);
    c.failed.catch((e: unknown) => {
      this.broken = e;
      for (const reject of this.pending) reject(e);
      this.pending.clear();
      c.busy?.(false);
    });
    if (defaults.backend !== undefined) this.loadDefaults.backend = defaults.backend;
    if (defaults.contextSize !== undefined) this.loadDefaults.contextSize = defaults.contextSize;
    if (defaults.threads !== undefined) this.loadDefaults.threads = defaults.threads;
  }

  /** Runs `fn` once the worker is ready; dispose() or a worker failure rejects it at once. */
  private call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) return Promise.reject(new EngineError('ENGINE_DISPOSED', 'the engine was disposed; create a new one with createEngine().'));
    if (this.broken) return Promise.reject(this.broken);
    return new Promise<T>((resolve, reject) => {
      this.pending.add(reject);
      this.c.busy?.(true);
      this.started.then(fn).then(resolve, reject).finally(() => {
        this.pending.delete(reject);
        if (this.pending.size === 0) this.c.busy?.(false);
      });
    });
  }

  load(source: ModelSource, options: LoadOptions = {}): Promise<ModelInfo> {
    return this.call(async () => {
      checkOptions(options, 'load()');
      const { onProgress, signal, schedules, schedulesUrl, ...rest } = options;
      if (onProgress !== undefined && typeof onProgress !== 'function') throw new OptionError('onProgress', 'must be a function.');
      const wire: WireLoadOptions = { ...this.loadDefaults, ...rest };
      const folder = schedulesUrl ?? this.defaults.schedulesUrl;
      if (folder !== undefined) wire.schedulesUrl = typeof folder === 'string' || folder instanceof URL ? urlString(this.c.scheduleRef(folder)) : folder;
      if (schedules !== undefined) {
        if (!Array.isArray(schedules)) throw new OptionError('schedules', 'must be an array of schedule URLs or parsed schedules.');
        wire.schedules = schedules.map((s) => (typeof s === 'string' || s instanceof URL ? this.c.scheduleRef(s) : { json: s }));
      }
      const wireSource = this.c.source(source);
      const link = callSignal(signal);
      try {
        const info = await this.remote.load(wireSource, wire, link, onProgress && proxy((p: LoadProgress) => onProgress(p)));
        this.modelName = info.id ?? info.name;
        return info;
      } finally {
        releaseSignal(link);
      }
    });
  }

  generate(prompt: string, options: GenerateOptions = {}): GenerationStream {
    return this.stream(options, 'generate()', (rest, link, push) => {
      if (typeof prompt !== 'string') throw new OptionError('prompt', `must be a string, got ${prompt === null ? 'null' : typeof prompt}.`);
      return this.remote.generate(prompt, rest, link, push);
    });
  }

  readonly chat: ChatFunction = Object.assign(
    (messages: ChatMessage[], options: ChatOptions = {}): ChatStream =>
      this.stream(options, 'chat()', (rest, link, push) => this.remote.chat(messages, rest, link, push)),
    { completions: chatCompletions((m, o) => this.chat(m, o), () => this.modelName) },
  );

  tokenize(text: string): Promise<number[]> {
    return this.call(() => this.remote.tokenize(text));
  }

  countTokens(messages: ChatMessage[], options: Pick<ChatOptions, 'template'> = {}): Promise<number> {
    return this.call(() => this.remote.countTokens(messages, options?.template));
  }

  /**
   * A streamed call: pieces as the worker sends them, then the result. The caller's signal and the
   * reader's early exit both abort it.
   */
  private stream<O extends { signal?: AbortSignal }, R>(options: O, name: string,
    run: (rest: Omit<O, 'signal'>, link: AbortSignal | undefined, push: (piece: string) => void) => Promise<R>): AsyncIterable<string> & { result: Promise<R> } {
    const pieces = new PieceStream();
    const stop = new AbortController();
    const result: Promise<R> = this.call(async () => {
      checkOptions(options, name);
      const { signal, ...rest } = options;
      const link = anySignal(stop.signal, callSignal(signal));
      try {
        return await run(rest, link, proxy((piece: string) => pieces.push(piece)));
      } finally {
        releaseSignal(link);
      }
    }).then(
      (r) => {
        pieces.end();
        return r;
      },
      (e: unknown) => {
        pieces.fail(e);
        throw e;
      },
    );
    // A caller that only iterates learns of errors from the iterator: the result's rejection
    // must not also surface as unhandled.
    result.catch(() => undefined);
    return {
      result,
      [Symbol.asyncIterator]: () => pieces.iterate(() => stop.abort(new AbortError(undefined, 'Generation (the reader stopped iterating)'))),
    };
  }

  schedules(): Promise<ScheduleInfo[]> {
    return this.call(() => this.remote.schedules());
  }

  calibrate(text: string, options: CalibrateOptions = {}): Promise<Calibration> {
    return this.withProgress<CalibrateProgress, CalibrateOptions, Calibration>(options, 'calibrate()', (rest, link, report) =>
      this.remote.calibrate(text, rest, link, report && proxy((p: CalibrateProgress) => report(p))));
  }

  searchSchedule(options: SearchScheduleOptions = {}): Promise<Schedule> {
    return this.withProgress<ScheduleProgress, SearchScheduleOptions, Schedule>(options, 'searchSchedule()', (rest, link, report) =>
      this.remote.searchSchedule(rest, link, report && proxy((p: ScheduleProgress) => report(p))));
  }

  /** A call with its own signal port and an optional progress callback (calibrate(), searchSchedule()). */
  private withProgress<P, O extends { signal?: AbortSignal; onProgress?: (p: P) => void }, R>(options: O, name: string,
    run: (rest: Omit<O, 'signal' | 'onProgress'>, link: AbortSignal | undefined, report: ((p: P) => void) | undefined) => Promise<R>): Promise<R> {
    return this.call(async () => {
      checkOptions(options, name);
      const { signal, onProgress, ...rest } = options;
      if (onProgress !== undefined && typeof onProgress !== 'function') throw new OptionError('onProgress', 'must be a function.');
      const link = callSignal(signal);
      try {
        return await run(rest, link, onProgress);
      } finally {
        releaseSignal(link);
      }
    });
  }

  cachedModels(): Promise<CachedModel[]> {
    return this.call(() => this.remote.cachedModels());
  }

  deleteCachedModel(url: string | URL): Promise<boolean> {
    return this.call(() => this.remote.deleteCachedModel(urlString(this.c.scheduleRef(url))));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const error = new EngineError('ENGINE_DISPOSED', 'the engine was disposed before this call finished.');
    for (const reject of this.pending) reject(error);
    this.pending.clear();
    if (!this.broken) {
      // Let the worker free the model and the GPU device, but not wait forever on a stuck one.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, DISPOSE_GRACE_MS); });
      await Promise.race([this.started.then(() => this.remote.dispose()), grace]).catch(() => undefined);
      clearTimeout(timer);
    }
    this.c.terminate();
    this.c.busy?.(false);
  }
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
