// The engine behind createEngine(), run inside a worker: one model, its backend(s), its schedules,
// and a queue so that calls never interleave. It knows nothing of comlink (src/sdk/expose.ts puts it
// on a port) and nothing of Node (the Node worker passes file and GPU access in EnginePlatform).
//
// Backends ('auto': WebGPU when an adapter exists, else the CPU): WebGPU dense storage (row-major W,
// GEMM prefill) is made at load; the first call with a sparse schedule makes a second backend that
// stores Wᵀ for the sparse GEMV, kept alongside, and later calls only swap its thresholds
// (setThresholds). Switching dense ↔ sparse per call is then free, at the price of holding the
// weights twice on the GPU once a schedule has been used. The CPU backend's one input-channel-major
// copy serves dense and sparse alike (setThresholds(null) is dense). The reference backend keeps one
// set of f32 weights and takes τ per call.

import type { Backend } from './backend.js';
import { CpuBackend, type CpuBackendOptions } from './cpu/backend.js';
import { EngineError, ModelLoadError, OptionError } from './errors.js';
import { AbortError, generate, normalizeGenerate } from './generate.js';
import { acquireDevice, type GpuContext } from './gpu/device.js';
import { ggufWeights, hasQuantizedBlocks, WebGPUBackend } from './gpu/engine.js';
import { WebGPUUnavailableError } from './gpu/errors.js';
import { openModel, type Model } from './model/model.js';
import { loadWeightsF32, type LlamaWeights } from './model/weights.js';
import { ReferenceBackend } from './reference/backend.js';
import type { ForwardOptions } from './reference/llama.js';
import { projectionMatrices, type ProjectionNorms } from './sparsity/plan.js';
import {
  columnL1Norms, defaultMethod, modelProjectionNorms, parseSchedule, ScheduleError, scheduleLevel, scheduleTargets, scheduleTau, type Schedule,
} from './sparsity/schedule.js';
import type {
  BackendChoice, BackendKind, Callback, CachedModel, EngineWorkerApi, GenerationResult, LoadProgress, ModelInfo, ScheduleInfo,
  WireGenerateOptions, WireLoadOptions, WireSource,
} from './sdk/api.js';
import { availableStores, pickStore } from './sdk/cache.js';
import { parseIntegrity, readModel, type FileUrlReader, type PathReader } from './sdk/loader.js';
import { anySignal, SerialQueue } from './sdk/queue.js';

/** What differs between a browser worker and a Node worker thread. */
export interface EnginePlatform {
  /** The WebGPU entry point: `navigator.gpu` in browsers, dawn.node in Node. */
  gpu?: () => Promise<GPU | undefined>;
  readPath?: PathReader;
  readFileUrl?: FileUrlReader;
  /** Default folder of prebuilt schedules (`<model-id>.json`). */
  schedulesUrl?: URL;
  /** CPU backend: its module, how worker threads start, and the default thread count (Node sets these). */
  cpu?: Pick<CpuBackendOptions, 'wasm' | 'spawn' | 'threads'>;
}

/** The runtime side of a backend kind: dense and sparse backends over one loaded model. */
interface Runner {
  readonly kind: BackendKind;
  dense(): Backend;
  /** A backend running with τ (same layout as WebGPUBackendOptions.sparse.tau). */
  sparse(tau: (Float32Array | null)[][]): Promise<Backend>;
  /** Skipped fraction of the run on `backend` since sparse() returned it, or null when not measured. */
  skipped(backend: Backend): Promise<number | null>;
  norms(): ProjectionNorms;
  dispose(): void;
}

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

/**
 * The reference computes synchronously, so between tokens only microtasks would run: an abort or
 * dispose message would wait for the whole generation. This lets the worker's event loop turn at
 * least every YIELD_MS.
 */
const YIELD_MS = 10;
class YieldingBackend implements Backend {
  private last = performance.now();
  constructor(private readonly inner: Backend) {}
  get name() { return this.inner.name; }
  get config() { return this.inner.config; }
  get contextSize() { return this.inner.contextSize; }
  private async turn(): Promise<void> {
    if (performance.now() - this.last < YIELD_MS) return;
    await nextTask();
    this.last = performance.now();
  }
  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    await this.turn();
    return this.inner.feed(tokens, pos, onLogits);
  }
  async feedArgmax(token: number, pos: number): Promise<number> {
    await this.turn();
    return this.inner.feedArgmax(token, pos);
  }
  dispose(): void {
    this.inner.dispose();
  }
}

function referenceRunner(model: Model, contextSize: number): Runner {
  const weights: LlamaWeights = loadWeightsF32(model.file, model.config);
  const options: ForwardOptions = {};
  // One backend (one KV cache); the sparse run is swapped in per call through its options object.
  const backend = new YieldingBackend(new ReferenceBackend(model.config, weights, contextSize, options));
  let norms: ProjectionNorms | null = null;
  return {
    kind: 'reference',
    dense() {
      delete options.sparse;
      return backend;
    },
    async sparse(tau) {
      options.sparse = { tau, skippedParams: 0, totalParams: 0 };
      return backend;
    },
    async skipped() {
      const s = options.sparse;
      return s ? s.skippedParams / Math.max(1, s.totalParams) : 0;
    },
    norms() {
      norms ??= Array.from({ length: model.config.nLayers }, (_, l) =>
        projectionMatrices(model.config, weights, l).map(([W, rows, cols]) => columnL1Norms(W, rows, cols)));
      return norms;
    },
    dispose() {
      backend.dispose();
    },
  };
}

async function cpuRunner(model: Model, contextSize: number, options: CpuBackendOptions): Promise<Runner> {
  const cpu = await CpuBackend.create(model, { ...options, contextSize });
  // The CPU computes synchronously: let abort and dispose messages through between tokens.
  const backend = new YieldingBackend(cpu);
  let norms: ProjectionNorms | null = null;
  return {
    kind: 'cpu',
    dense() {
      cpu.setThresholds(null);
      return backend;
    },
    async sparse(tau) {
      cpu.setThresholds(tau);
      return backend;
    },
    async skipped() {
      return (await cpu.skippedWeightFraction()) ?? 0;
    },
    norms() {
      norms ??= modelProjectionNorms(model);
      return norms;
    },
    dispose() {
      backend.dispose();
    },
  };
}

/** Where the page can share memory with workers: one thread per core (CpuBackend falls back to 1). */
function defaultThreads(): number {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
  return isolated ? Math.max(1, Math.min(cores, 16)) : 1;
}

async function webgpuRunner(model: Model, contextSize: number, gpu: GPU | undefined): Promise<Runner> {
  let ctx: GpuContext;
  try {
    ctx = await acquireDevice(gpu ? { gpu } : {});
  } catch (e) {
    if (!(e instanceof WebGPUUnavailableError)) throw e;
    throw new WebGPUUnavailableError(`${e.message}. Or pass { backend: 'cpu' } (WebAssembly; 'auto' picks it when WebGPU is missing) to createEngine() or load().`, { cause: e });
  }
  // Q8_0/Q4_0 blocks: dense mode runs the sparse program over input-major codes anyway (quantLayout),
  // so one engine serves both modes, thresholds swapped per call (calls never interleave): the model is
  // held on the GPU and loaded once. Float weights keep a row-major dense engine and load a sparse one
  // on the first sparse call.
  const shared = hasQuantizedBlocks(ggufWeights(model));
  let dense: WebGPUBackend;
  try {
    dense = await WebGPUBackend.create(ctx, model, shared ? { contextSize, sparse: { tau: [] } } : { contextSize });
  } catch (e) {
    ctx.device.destroy();
    throw e;
  }
  let sparse: WebGPUBackend | null = null;
  let sparseNow = false; // shared: the thresholds set are a sparse call's
  let norms: ProjectionNorms | null = null;
  return {
    kind: 'webgpu',
    dense() {
      if (sparseNow) dense.setThresholds([]);
      sparseNow = false;
      return dense;
    },
    async sparse(tau) {
      if (shared) {
        dense.setThresholds(tau);
        sparseNow = true;
        sparse = dense;
      } else if (sparse) sparse.setThresholds(tau);
      else sparse = await WebGPUBackend.create(ctx, model, { contextSize, sparse: { tau } });
      await sparse.skippedWeightFraction(); // resets the GPU's counters for this run
      return sparse;
    },
    async skipped(backend) {
      return backend === dense && !sparseNow ? 0 : (backend as WebGPUBackend).skippedWeightFraction();
    },
    norms() {
      norms ??= modelProjectionNorms(model);
      return norms;
    },
    dispose() {
      dense.dispose();
      if (sparse !== dense) sparse?.dispose();
      ctx.device.destroy();
    },
  };
}

interface Loaded {
  model: Model;
  info: ModelInfo;
  runner: Runner;
  /** By name: the prebuilt file of this model and the schedules passed to load(). */
  schedules: Map<string, Schedule>;
  schedulesUrl: URL | null;
  /** τ of (schedule, level) already built, by key. */
  taus: Map<string, (Float32Array | null)[][]>;
}

const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'cpu', 'reference'];
const LOAD_OPTIONS = new Set(['integrity', 'cache', 'id', 'contextSize', 'backend', 'threads', 'schedules', 'schedulesUrl']);
const GENERATE_OPTIONS = new Set(['maxTokens', 'temperature', 'topK', 'topP', 'seed', 'stop', 'schedule']);
const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Unknown keys are mistakes (`max_tokens`): name them rather than ignore them. */
function checkKeys(o: object, known: Set<string>, call: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new OptionError(k, `is not an option of ${call}; the options are ${[...known].join(', ')}.`);
  }
}

function scheduleInfo(name: string, s: Schedule): ScheduleInfo {
  return {
    name,
    levels: s.levels.map((l) => ({
      target: l.target, method: l.method, default: defaultMethod(s, l.target) === l.method,
      skippedWeightFraction: l.skippedWeightFraction, calibrationLoss: l.calibrationLoss, lossKind: l.lossKind,
    })),
  };
}

export class Engine implements EngineWorkerApi {
  private readonly queue = new SerialQueue();
  /** Aborts whatever runs when the engine is disposed. */
  private readonly lifetime = new AbortController();
  private loaded: Loaded | null = null;

  constructor(private readonly platform: EnginePlatform = {}) {}

  load(source: WireSource, options: WireLoadOptions = {}, signal?: AbortSignal, onProgress?: Callback<LoadProgress>): Promise<ModelInfo> {
    const all = anySignal(signal, this.lifetime.signal);
    return this.queue.run(() => this.doLoad(source, options, all, onProgress), all, 'Loading');
  }

  generate(prompt: string, options: WireGenerateOptions = {}, signal?: AbortSignal, onText?: Callback<string>): Promise<GenerationResult> {
    const all = anySignal(signal, this.lifetime.signal);
    return this.queue.run(() => this.doGenerate(prompt, options, all, onText), all);
  }

  async schedules(): Promise<ScheduleInfo[]> {
    return this.loaded?.info.schedules ?? [];
  }

  async cachedModels(): Promise<CachedModel[]> {
    const lists = await Promise.all(availableStores().map((s) => s.list().catch(() => [])));
    return lists.flat();
  }

  async deleteCachedModel(url: string): Promise<boolean> {
    const results = await Promise.all(availableStores().map((s) => s.delete(url).catch(() => false)));
    return results.some(Boolean);
  }

  /** Aborts the running call, fails the queued ones, and frees the model and the GPU device. */
  async dispose(): Promise<void> {
    if (this.lifetime.signal.aborted) return;
    this.lifetime.abort(new EngineError('ENGINE_DISPOSED', 'the engine was disposed.'));
    await this.queue.run(async () => {
      this.loaded?.runner.dispose();
      this.loaded = null;
    }).catch(() => undefined);
  }

  private checkAlive(): void {
    if (this.lifetime.signal.aborted) throw new EngineError('ENGINE_DISPOSED', 'the engine was disposed; create a new one with createEngine().');
  }

  private async doLoad(source: WireSource, o: WireLoadOptions, signal: AbortSignal, onProgress?: Callback<LoadProgress>): Promise<ModelInfo> {
    this.checkAlive();
    checkKeys(o, LOAD_OPTIONS, 'load()');
    const backend = o.backend ?? 'auto';
    if (!BACKENDS.includes(backend)) throw new OptionError('backend', `must be 'auto', 'webgpu', 'cpu' or 'reference', got ${JSON.stringify(backend)}.`);
    const threads = o.threads ?? this.platform.cpu?.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new OptionError('threads', `must be an integer in 1..256, got ${JSON.stringify(threads)}.`);
    if (o.cache !== undefined && ![true, false, 'auto', 'cache-api', 'opfs'].includes(o.cache)) {
      throw new OptionError('cache', `must be true, false, 'auto', 'cache-api' or 'opfs', got ${JSON.stringify(o.cache)}.`);
    }
    if (o.id !== undefined && (typeof o.id !== 'string' || !SCHEDULE_NAME.test(o.id))) {
      throw new OptionError('id', `must be a file-name-like id (letters, digits, . _ -), got ${JSON.stringify(o.id)}.`);
    }
    const expected = o.integrity === undefined ? null : parseIntegrity(o.integrity);
    const pending: Promise<unknown>[] = [];
    const progress = onProgress && ((p: LoadProgress) => void pending.push(Promise.resolve(onProgress(p)).catch(() => undefined)));
    const store = pickStore(o.cache);
    const read = await readModel(source, {
      signal, store, ...(progress && { onProgress: progress }),
      ...(this.platform.readPath && { readPath: this.platform.readPath }),
      ...(this.platform.readFileUrl && { readFileUrl: this.platform.readFileUrl }),
    });
    if (expected && expected !== read.sha256) {
      throw new ModelLoadError('INTEGRITY_MISMATCH',
        `the file's sha256 is ${read.sha256}, not ${expected} as \`integrity\` says: it is another file or damaged; check the URL and the hash.`);
    }
    if (store && !read.fromCache && 'url' in source && /^https?:/i.test(source.url)) {
      await store.put(source.url, read.bytes, read.sha256).catch(() => undefined);
    }
    progress?.({ phase: 'prepare', loaded: 0, total: null });
    const model = openModel(read.bytes);
    const c = model.config;
    const contextSize = o.contextSize ?? Math.min(c.contextLength, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 1 || contextSize > c.contextLength) {
      throw new OptionError('contextSize', `must be an integer in 1..${c.contextLength} (the model's context length), got ${String(contextSize)}.`);
    }
    const id = o.id ?? read.fileId;
    const schedulesUrl = o.schedulesUrl !== undefined ? new URL(o.schedulesUrl) : this.platform.schedulesUrl ?? null;

    // Schedules: the prebuilt file of this id (skipped when absent or made for other bytes), then the
    // caller's (which must fit).
    const schedules = new Map<string, Schedule>();
    const expect = { sha256: read.sha256, config: c };
    if (id && schedulesUrl) {
      const prebuilt = await this.fetchSchedule(new URL(`${id}.json`, schedulesUrl)).catch(() => null);
      if (prebuilt) {
        try {
          schedules.set(id, parseSchedule(prebuilt, expect));
        } catch {
          // made for another file of the same name: not offered
        }
      }
    }
    for (const s of o.schedules ?? []) {
      const json = 'json' in s ? s.json : await this.fetchSchedule('url' in s ? new URL(s.url) : s.path);
      const parsed = parseSchedule(json, expect);
      schedules.set(parsed.model.id, parsed);
    }
    if (signal.aborted) throw new AbortError(signal.reason, 'Loading');

    const cpu = () => cpuRunner(model, contextSize, { ...this.platform.cpu, threads });
    let runner: Runner;
    if (backend === 'reference') runner = referenceRunner(model, contextSize);
    else if (backend === 'cpu') runner = await cpu();
    else if (backend === 'webgpu') runner = await webgpuRunner(model, contextSize, await this.platform.gpu?.());
    else {
      runner = await webgpuRunner(model, contextSize, await this.platform.gpu?.()).catch((e: unknown) => {
        if (e instanceof WebGPUUnavailableError) return cpu();
        throw e;
      });
    }
    if (signal.aborted) {
      runner.dispose();
      throw new AbortError(signal.reason, 'Loading');
    }
    this.loaded?.runner.dispose();
    const info: ModelInfo = {
      id, name: c.name, sha256: read.sha256, bytes: read.bytes.byteLength, backend: runner.kind, contextSize,
      config: { nLayers: c.nLayers, dim: c.dim, hiddenDim: c.hiddenDim, nHeads: c.nHeads, nKVHeads: c.nKVHeads, vocabSize: c.vocabSize, contextLength: c.contextLength },
      fromCache: read.fromCache,
      schedules: [...schedules].map(([name, s]) => scheduleInfo(name, s)),
    };
    this.loaded = { model, info, runner, schedules, schedulesUrl, taus: new Map() };
    await Promise.all(pending);
    return info;
  }

  /** Schedule JSON from a URL (fetch; `file:` through the platform) or a Node path. */
  private async fetchSchedule(where: URL | string): Promise<unknown> {
    let text: string;
    if (typeof where === 'string' || where.protocol === 'file:') {
      const { readPath, readFileUrl } = this.platform;
      const bytes = typeof where === 'string' ? await readPath?.(where, () => undefined) : await readFileUrl?.(where);
      if (!bytes) throw new ScheduleError('UNKNOWN_SCHEDULE', `cannot read ${String(where)} here; pass the parsed schedule instead.`);
      text = new TextDecoder().decode(bytes);
    } else {
      const r = await fetch(where);
      if (r.status === 404) throw new ScheduleError('UNKNOWN_SCHEDULE', `no schedule at ${where.href} (HTTP 404).`);
      if (!r.ok) throw new ScheduleError('UNKNOWN_SCHEDULE', `GET ${where.href} answered HTTP ${r.status}.`);
      text = await r.text();
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new ScheduleError('BAD_SCHEDULE', `${String(where)} is not JSON: ${(cause as Error).message}.`);
    }
  }

  /** The schedule selection of a generate() call → its label and τ (null: dense). */
  private async resolveSchedule(L: Loaded, sel: WireGenerateOptions['schedule']): Promise<{ label: GenerationResult['schedule']; tau: (Float32Array | null)[][] | null }> {
    if (sel === undefined || sel === 'dense') return { label: 'dense', tau: null };
    const shape = "must be 'dense', { name, level } (a schedule from engine.schedules()) or { schedule, level } (a parsed schedule file)";
    if (typeof sel !== 'object' || sel === null) throw new OptionError('schedule', `${shape}, got ${JSON.stringify(sel)}.`);
    let schedule: Schedule;
    let name: string;
    let level: number | undefined = sel.level;
    if ('schedule' in sel) {
      schedule = parseSchedule(sel.schedule, { sha256: L.info.sha256, config: L.model.config });
      name = schedule.model.id;
      if (level === undefined) {
        const targets = scheduleTargets(schedule);
        if (targets.length !== 1) throw new OptionError('schedule.level', `is needed: the schedule has levels ${targets.join(', ')}.`);
        level = targets[0]!;
      }
    } else if ('name' in sel) {
      name = sel.name;
      if (typeof name !== 'string' || !SCHEDULE_NAME.test(name)) throw new OptionError('schedule.name', `must be a schedule name such as "stories260K", got ${JSON.stringify(name)}.`);
      const known = L.schedules.get(name);
      if (known) schedule = known;
      else {
        // Not offered for this model: a prebuilt file of that name may still exist (for another model).
        const available = [...L.schedules.keys()];
        const unknown = new ScheduleError('UNKNOWN_SCHEDULE',
          `no schedule "${name}" for the loaded model (${L.info.id ?? L.info.name}); ` +
          (available.length ? `available: ${available.join(', ')} (engine.schedules()).` : 'none is available: pass one to load({ schedules }) or use \'dense\'.'));
        if (!L.schedulesUrl) throw unknown;
        const json = await this.fetchSchedule(new URL(`${name}.json`, L.schedulesUrl)).catch(() => { throw unknown; });
        schedule = parseSchedule(json, { sha256: L.info.sha256, config: L.model.config });
      }
    } else {
      throw new OptionError('schedule', `${shape}.`);
    }
    if (typeof level !== 'number' || !(level >= 0 && level <= 1)) throw new OptionError('schedule.level', `must be a number in [0, 1], got ${JSON.stringify(level)}.`);
    scheduleLevel(schedule, level); // SCHEDULE_LEVEL_MISSING before any work
    // τ of registered schedules is kept per level; a schedule object passed inline is new each call.
    const key = 'schedule' in sel ? null : `${name}@${level}`;
    let tau = key ? L.taus.get(key) : undefined;
    if (!tau) {
      tau = scheduleTau(schedule, level, L.runner.norms());
      if (key) L.taus.set(key, tau);
    }
    return { label: { name, level }, tau };
  }

  private async doGenerate(prompt: string, o: WireGenerateOptions, signal: AbortSignal, onText?: Callback<string>): Promise<GenerationResult> {
    this.checkAlive();
    const L = this.loaded;
    if (!L) throw new EngineError('NO_MODEL', 'no model is loaded: call engine.load(source) first.');
    if (typeof prompt !== 'string') throw new OptionError('prompt', `must be a string, got ${typeof prompt}.`);
    if (typeof o !== 'object' || o === null) throw new OptionError('options', 'must be an object.');
    checkKeys(o, GENERATE_OPTIONS, 'generate()');
    const { schedule: selection, ...rest } = o;
    normalizeGenerate(rest); // option errors before schedule errors
    const { label, tau } = await this.resolveSchedule(L, selection);
    const backend = tau ? await L.runner.sparse(tau) : L.runner.dense();
    // Each piece is delivered (awaited on the main thread) before the result, which travels on
    // another port and could otherwise overtake the last pieces.
    const pending: Promise<unknown>[] = [];
    const r = await generate(backend, L.model.tokenizer, prompt, { ...rest, signal },
      onText && ((piece) => void pending.push(Promise.resolve(onText(piece)))));
    await Promise.all(pending);
    return {
      text: r.text, promptIds: r.promptIds, tokenIds: r.generatedIds, finishReason: r.finishReason,
      tokensPerSecond: r.tokensPerSecond, prefillMs: r.prefillMs, decodeMs: r.decodeMs,
      skippedWeightFraction: await L.runner.skipped(backend), schedule: label, backend: L.runner.kind,
    };
  }
}
