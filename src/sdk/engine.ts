// The engine behind createEngine(), run inside a worker: one model, its one backend (which owns
// sparsity: a schedule switch is a threshold write on the same weights), its schedules, and a queue so
// that calls never interleave. It knows nothing of comlink (expose.ts puts it on a port) and nothing
// of Node (the Node worker passes file and GPU access in EnginePlatform).

import type { Backend } from '../backend.js';
import { createBackend, type BackendChoice, type BackendPlatform } from '../create-backend.js';
import { AbortError, CalibrationError, EngineError, GpuDeviceLostError, GpuRecoveryError, ModelLoadError, OptionError } from '../errors.js';
import { chatPromptIds, checkMessages, type ChatMessage } from '../chat.js';
import { generate, generateTokens, normalizeGenerate, type KvState, type OnAbort } from '../generate.js';
import { openModel, type Model } from '../model/model.js';
import { projectionNorms, type ProjectionNorms, type Thresholds } from '../model/projections.js';
import { loadWeightsF32 } from '../model/weights.js';
import { calibrate, checkCalibrateOptions } from '../sparsity/calibrate.js';
import { checkCalibrationModel, makeSchedule, planScheduleSearch, splitScheduleText, type ScheduleProgress } from '../sparsity/make-schedule.js';
import { parseCalibration, type Calibration } from '../sparsity/plan.js';
import { resolveSchedule, SCHEDULE_NAME } from '../sparsity/resolve.js';
import type { Schedule } from '../sparsity/schedule.js';
import type { WasModule } from '../wasm/module.js';
import type {
  CalibrateProgress, Callback, CachedModel, ChatOptions, ChatResult, EngineWorkerApi, GenerationResult, LoadProgress, ModelInfo, ScheduleInfo,
  WireCalibrateOptions, WireGenerateOptions, WireLoadOptions, WireSearchScheduleOptions, WireSource,
} from './api.js';
import { availableStores, pickStore, type ModelStore } from './cache.js';
import { parseIntegrity, readModel, type FileUrlReader, type ModelBytes, type PathOpener, type PathReader } from './loader.js';
import { anySignal, SerialQueue } from './queue.js';
import { ModelSchedules } from './schedules.js';
import {
  CALIBRATE_OPTIONS, checkKeys, checkLoadOptions, checkTextName, defaultThreads, fetchWasm, GENERATE_OPTIONS, progressOf, scheduleId, schedulesFolder,
  SEARCH_OPTIONS, textNameOf,
} from './engine-options.js';

/** What differs between a browser worker and a Node worker thread. */
export interface EnginePlatform extends BackendPlatform {
  /** Reads small files by path (schedules). */
  readPath?: PathReader;
  /** Opens a model file by path, read on demand (never the whole file in memory). */
  openPath?: PathOpener;
  readFileUrl?: FileUrlReader;
  /** Default folder of prebuilt schedules (`<model-id>.json`). */
  schedulesUrl?: URL;
  /** Default thread count of the CPU backend (Node: one per core). */
  threads?: number;
  /**
   * A fresh instance of the score and BO module (build/was.wasm) for calibrate() and searchSchedule().
   * Default: fetched from next to the bundle (wasmUrl()); Node reads the file (loadWasmNode()).
   */
  wasm?: () => Promise<WasModule>;
}

interface Loaded {
  model: Model;
  info: ModelInfo;
  backend: Backend;
  /** A backend like the loaded one (its kind and options, a new GPU device, the weights read again from the model's source). */
  remake: () => Promise<Backend>;
  /** Set once the backend's GPU device was lost: the next call makes the backend again first. */
  lost: GpuDeviceLostError | null;
  /** How the backend was made again, told once with the next result. */
  recovered: string | null;
  schedules: ModelSchedules;
  /** Column norms of the projections, for schedule thresholds (on first use). */
  norms: ProjectionNorms | null;
  /** Thresholds of (schedule, level) already built. */
  thresholds: Map<string, Thresholds>;
  /** What the backend's KV cache holds, and the schedule it was computed under. */
  kv: KvState;
  kvSchedule: string;
  /** The last calibrate()'s result and its text (searchSchedule()'s defaults). */
  calibration: { cal: Calibration; text: string } | null;
}

export class Engine implements EngineWorkerApi {
  private readonly queue = new SerialQueue();
  /** Aborts whatever runs when the engine is disposed. */
  private readonly lifetime = new AbortController();
  private loaded: Loaded | null = null;

  constructor(private readonly platform: EnginePlatform = {}) {}

  load(source: WireSource, options: WireLoadOptions = {}, signal?: AbortSignal, onProgress?: Callback<LoadProgress>): Promise<ModelInfo> {
    const all = anySignal(signal, this.lifetime.signal);
    const { report, delivered } = progressOf(onProgress);
    return this.queue.run(() => this.doLoad(source, options ?? {}, all, report).finally(delivered), all, 'Loading');
  }

  generate(prompt: string, options: WireGenerateOptions = {}, signal?: AbortSignal, onText?: Callback<string>): Promise<GenerationResult> {
    const all = anySignal(signal, this.lifetime.signal);
    return this.queue.run(() => this.onBackend((L) => this.doGenerate(L, prompt, options, all, onText)), all);
  }

  calibrate(text: string, options: WireCalibrateOptions = {}, signal?: AbortSignal, onProgress?: Callback<CalibrateProgress>): Promise<Calibration> {
    const all = anySignal(signal, this.lifetime.signal);
    const { report, delivered } = progressOf(onProgress);
    return this.queue.run(() => this.doCalibrate(text, options, all, report).finally(delivered), all, 'Calibration');
  }

  searchSchedule(options: WireSearchScheduleOptions = {}, signal?: AbortSignal, onProgress?: Callback<ScheduleProgress>): Promise<Schedule> {
    const all = anySignal(signal, this.lifetime.signal);
    const { report, delivered } = progressOf(onProgress);
    return this.queue.run(() => this.onBackend((L) => this.doSearchSchedule(L, options, all, report)).finally(delivered), all, 'The schedule search');
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
      this.unload();
    }).catch(() => undefined);
  }

  /** Frees the loaded model: its backend, and its file when it is read on demand. */
  private unload(): void {
    this.loaded?.backend.dispose();
    this.loaded?.model.file.source.close?.();
    this.loaded = null;
  }

  private checkAlive(): void {
    if (this.lifetime.signal.aborted) throw new EngineError('ENGINE_DISPOSED', 'the engine was disposed; create a new one with createEngine().');
  }

  private async doLoad(source: WireSource, o: WireLoadOptions, signal: AbortSignal, progress?: (p: LoadProgress) => void): Promise<ModelInfo> {
    this.checkAlive();
    if (typeof o !== 'object') throw new OptionError('options', 'must be an object.');
    checkLoadOptions(o);
    const expected = o.integrity === undefined ? null : parseIntegrity(o.integrity);
    const folder = schedulesFolder(o, this.platform);
    const store = pickStore(o.cache);
    const { openPath, readFileUrl } = this.platform;
    const read = await readModel(source, { signal, store, ...(progress && { onProgress: progress }), ...(openPath && { openPath }), ...(readFileUrl && { readFileUrl }) });
    // A file read on demand (a Node path) stays open while its model is loaded: closed if this load fails.
    try {
      return await this.prepare(source, o, signal, read, store, expected, folder, progress);
    } catch (e) {
      read.file.close?.();
      throw e;
    }
  }

  private async prepare(source: WireSource, o: WireLoadOptions, signal: AbortSignal, read: ModelBytes, store: ModelStore | null,
    expected: string | null, folder: URL | null, progress?: (p: LoadProgress) => void): Promise<ModelInfo> {
    const { readPath, readFileUrl } = this.platform;
    if (expected && expected !== read.sha256) {
      throw new ModelLoadError('INTEGRITY_MISMATCH',
        `the file's sha256 is ${read.sha256}, not ${expected} as \`integrity\` says: it is another file or damaged; check the URL and the hash.`);
    }
    if (store && !read.fromCache && 'url' in source && /^https?:/i.test(source.url)) {
      await store.put(source.url, read.file.read(0, read.file.size), read.sha256).catch(() => undefined);
    }
    progress?.({ phase: 'prepare', loaded: 0, total: null });
    const model = openModel(read.file);
    const c = model.config;
    const contextSize = o.contextSize ?? Math.min(c.contextLength, 4096);
    // A file name that is not a plain id (`..%2F..`) finds no prebuilt schedule.
    const id = o.id ?? (read.fileId && SCHEDULE_NAME.test(read.fileId) ? read.fileId : null);

    // Schedules: the prebuilt file of this id (skipped when absent or made for other bytes), then the caller's (which must fit).
    const schedules = new ModelSchedules({ sha256: read.sha256, config: c }, folder, { readPath, readFileUrl }, id ?? c.name);
    await schedules.addPrebuilt(id);
    for (const s of o.schedules ?? []) await schedules.add(s);
    if (signal.aborted) throw new AbortError(signal.reason, 'Loading');

    let backendNote = '';
    // Kept as `remake`: after a GPU device loss the same backend is made again from the same model.
    const make = (choice: BackendChoice) => createBackend(choice, model, {
      contextSize, threads: o.threads ?? this.platform.threads ?? defaultThreads(), platform: this.platform,
      ...(o.gpuMemoryBudget !== undefined ? { gpuMemoryBudget: o.gpuMemoryBudget } : {}),
      onNote: (note) => { backendNote = note; },
    });
    const backend = await make(o.backend ?? 'auto');
    if (signal.aborted) {
      backend.dispose();
      throw new AbortError(signal.reason, 'Loading');
    }
    this.unload();
    const info: ModelInfo = {
      id, name: c.name, sha256: read.sha256, bytes: read.file.size, backend: backend.name, backendNote: backendNote || backend.name, contextSize,
      config: { nLayers: c.nLayers, dim: c.dim, hiddenDim: c.hiddenDim, nHeads: c.nHeads, nKVHeads: c.nKVHeads, vocabSize: c.vocabSize, contextLength: c.contextLength },
      fromCache: read.fromCache,
      schedules: schedules.info(),
    };
    this.loaded = {
      model, info, backend, remake: () => make(backend.name), lost: null, recovered: null,
      schedules, norms: null, thresholds: new Map(), kv: { ids: [] }, kvSchedule: 'dense', calibration: null,
    };
    return info;
  }

  chat(messages: ChatMessage[], options: Omit<ChatOptions, 'signal'> = {}, signal?: AbortSignal, onText?: Callback<string>): Promise<ChatResult> {
    const all = anySignal(signal, this.lifetime.signal);
    return this.queue.run(() => this.onBackend(async (L) => {
      if (typeof options !== 'object' || options === null) throw new OptionError('options', 'must be an object.');
      const { template, ...rest } = options;
      const ids = chatPromptIds(L.model, checkMessages(messages), template);
      // A reply stopped by the caller resolves with what it had ('abort'); a disposed engine still fails.
      const r = await this.run(L, ids, rest, all, onText, 'finish');
      this.checkAlive();
      return {
        ...r, finishReason: r.finishReason === 'eos' ? 'eog' : r.finishReason,
        usage: { promptTokens: ids.length, completionTokens: r.tokenIds.length, cachedTokens: r.cachedTokens },
      };
    }), all);
  }

  async tokenize(text: string): Promise<number[]> {
    if (typeof text !== 'string') throw new OptionError('text', `must be a string, got ${typeof text}.`);
    return this.ready().model.tokenizer.encode(text, { bos: false, parseSpecial: true });
  }

  async countTokens(messages: ChatMessage[], template?: string): Promise<number> {
    return chatPromptIds(this.ready().model, checkMessages(messages), template).length;
  }

  private async doCalibrate(text: string, o: WireCalibrateOptions, signal: AbortSignal, report?: (p: CalibrateProgress) => void): Promise<Calibration> {
    const L = this.ready();
    if (typeof text !== 'string' || text === '') throw new OptionError('text', `must be a non-empty string, got ${typeof text === 'string' ? 'an empty one' : typeof text}.`);
    if (typeof o !== 'object' || o === null) throw new OptionError('options', 'must be an object.');
    checkKeys(o, CALIBRATE_OPTIONS, 'calibrate()');
    checkCalibrateOptions(o);
    checkTextName(o.textName);
    const wasm = await (this.platform.wasm ?? fetchWasm)();
    const cal = await calibrate(L.model, loadWeightsF32(L.model.file, L.model.config), text, wasm, {
      textName: o.textName ?? (await textNameOf(text)), modelSha256: L.info.sha256,
      tokens: o.tokens, ctx: o.ctx, greedyTokens: o.greedyTokens, signal,
      onProgress: report && ((phase, done, total) => report({ phase, done, total })),
    });
    L.calibration = { cal, text };
    return cal;
  }

  private async doSearchSchedule(L: Loaded, o: WireSearchScheduleOptions, signal: AbortSignal, report?: (p: ScheduleProgress) => void): Promise<Schedule> {
    if (typeof o !== 'object' || o === null) throw new OptionError('options', 'must be an object.');
    checkKeys(o, SEARCH_OPTIONS, 'searchSchedule()');
    const c = L.model.config;
    const plan = planScheduleSearch(o, L.backend.contextSize, 'the contextSize the model was loaded with');
    checkTextName(o.textName);
    if (o.text !== undefined && (typeof o.text !== 'string' || o.text === '')) throw new OptionError('text', 'must be a non-empty string.');
    let cal: Calibration;
    let text = o.text;
    if (o.calibration !== undefined) {
      cal = parseCalibration(o.calibration, c);
      checkCalibrationModel(cal, L.info.sha256, 'the loaded model', 'calibrate this model with engine.calibrate(text) and pass that result.');
    } else if (L.calibration) {
      cal = L.calibration.cal;
      text ??= L.calibration.text;
    } else {
      throw new CalibrationError('NO_CALIBRATION',
        'searchSchedule() needs a calibration of the loaded model: call engine.calibrate(text) first, or pass { calibration } (with { text }).');
    }
    if (text === undefined) throw new CalibrationError('NO_CALIBRATION_TEXT', 'searchSchedule({ calibration }) needs the text to search on: pass { text } too.');
    const textName = o.textName ?? (text === L.calibration?.text && cal === L.calibration.cal ? cal.data.text : await textNameOf(text));
    const split = splitScheduleText(L.model, cal, text, textName, plan);
    const id = scheduleId(L.info);
    const wasm = await (this.platform.wasm ?? fetchWasm)();
    let schedule: Schedule;
    try {
      schedule = await makeSchedule({
        model: L.model, sha256: L.info.sha256, id, backend: L.backend, calibration: cal, split, textName, wasm,
        norms: (L.norms ??= projectionNorms(L.model)),
      }, plan, { signal, ...(report && { onProgress: report }) });
    } finally {
      // The search ran the backend's KV cache and thresholds: nothing a later call may reuse.
      L.backend.setThresholds(null);
      await L.backend.skippedWeightFraction();
      L.kv.ids = [];
      L.kvSchedule = 'dense';
    }
    L.schedules.register(schedule);
    for (const key of [...L.thresholds.keys()]) if (key.startsWith(`${id}@`)) L.thresholds.delete(key);
    L.info.schedules = L.schedules.info();
    return schedule;
  }

  private ready(): Loaded {
    this.checkAlive();
    if (!this.loaded) throw new EngineError('NO_MODEL', 'no model is loaded: call engine.load(source) first.');
    return this.loaded;
  }

  /**
   * Runs `work` on the loaded model's backend. A backend whose GPU device was lost is made again first
   * (issue 20: the app does nothing); a loss during `work` fails this call and marks the backend lost.
   */
  private async onBackend<T>(work: (L: Loaded) => Promise<T>): Promise<T> {
    const L = this.ready();
    if (L.lost) await this.recover(L, L.lost);
    try {
      return await work(L);
    } catch (e) {
      if (!(e instanceof GpuDeviceLostError) || L.lost) throw e;
      L.lost = e;
      L.backend.dispose(); // frees what a lost device still holds
      throw new GpuDeviceLostError(e.reason, 'this call stopped', { then: 'the next call acquires a new device and reloads the weights by itself', cause: e });
    }
  }

  private async recover(L: Loaded, lost: GpuDeviceLostError): Promise<void> {
    let backend: Backend;
    try {
      backend = await L.remake();
    } catch (e) {
      throw new GpuRecoveryError(lost.reason, e);
    }
    L.backend = backend;
    L.lost = null;
    // The new backend's KV cache is empty: no conversation prefix survives.
    L.kv.ids = [];
    L.kvSchedule = 'dense';
    L.recovered = `the GPU device was lost (${lost.reason}): acquired a new one and reloaded the weights; the KV cache started empty`;
  }

  private async doGenerate(L: Loaded, prompt: string, o: WireGenerateOptions, signal: AbortSignal, onText?: Callback<string>): Promise<GenerationResult> {
    if (typeof prompt !== 'string') throw new OptionError('prompt', `must be a string, got ${typeof prompt}.`);
    return this.run(L, prompt, o, signal, onText);
  }

  /** One generation on the loaded model: options, schedule, KV reuse, streaming. */
  private async run(
    L: Loaded, prompt: string | number[], o: WireGenerateOptions, signal: AbortSignal, onText?: Callback<string>, onAbort: OnAbort = 'throw',
  ): Promise<GenerationResult> {
    if (typeof o !== 'object' || o === null) throw new OptionError('options', 'must be an object.');
    checkKeys(o, GENERATE_OPTIONS, 'generate()');
    const { schedule: selection, ...rest } = o;
    normalizeGenerate(rest); // option errors before schedule errors
    const { label, thresholds } = await resolveSchedule(selection, {
      expect: { sha256: L.info.sha256, config: L.model.config },
      find: (name) => L.schedules.find(name),
      norms: () => (L.norms ??= projectionNorms(L.model)),
      cache: L.thresholds,
    });
    L.backend.setThresholds(thresholds);
    await L.backend.skippedWeightFraction(); // counts this call's tokens only
    // A KV cache computed under other thresholds is not this call's prefix.
    const schedule = JSON.stringify(label);
    if (schedule !== L.kvSchedule) L.kv.ids = [];
    L.kvSchedule = schedule;
    // Each piece is delivered (awaited on the main thread) before the result, which travels on
    // another port and could otherwise overtake the last pieces.
    const pending: Promise<unknown>[] = [];
    const piece = onText && ((p: string) => void pending.push(Promise.resolve(onText(p))));
    const options = { ...rest, signal };
    // Conversations reuse the KV cache of their last turn; a generate() call runs its prompt whole (and
    // leaves nothing a chat could mistake for its prefix).
    let r;
    if (typeof prompt === 'string') {
      L.kv.ids = [];
      r = await generate(L.backend, L.model.tokenizer, prompt, options, piece);
    } else {
      r = await generateTokens(L.backend, L.model.tokenizer, prompt, options, piece, L.kv, onAbort);
    }
    await Promise.all(pending);
    const recovered = L.recovered;
    L.recovered = null;
    return {
      text: r.text, promptIds: r.promptIds, tokenIds: r.generatedIds, finishReason: r.finishReason,
      tokensPerSecond: r.tokensPerSecond, prefillMs: r.prefillMs, decodeMs: r.decodeMs, cachedTokens: r.cachedTokens,
      skippedWeightFraction: thresholds ? (await L.backend.skippedWeightFraction()) ?? 0 : 0, schedule: label, backend: L.backend.name,
      ...(recovered && { backendNote: recovered }),
    };
  }
}
