// The SDK's types: what `createEngine()` returns on the main thread (Engine) and the one interface the
// worker exposes through comlink (EngineWorkerApi). Everything that crosses is structured-cloneable,
// a comlink proxy (callbacks), or has a transfer handler (errors, AbortSignal: src/sdk/transfer.ts).

import type { FinishReason } from '../generate.js';
import type { SamplingOptions } from '../sampler.js';
import type { BackendKind } from '../backend.js';
import type { ChatMessage } from '../chat.js';
import type { ChatCompletions } from './openai.js';
import type { BackendChoice } from '../create-backend.js';
import type { ScheduleLabel, ScheduleSelection } from '../sparsity/resolve.js';
import type { LossKind, Schedule, ScheduleMethod } from '../sparsity/schedule.js';
import type { Calibration } from '../sparsity/plan.js';
import type { ScheduleProgress, ScheduleSearchOptions } from '../sparsity/make-schedule.js';

/**
 * A GGUF model: a URL (absolute, or relative to the page), its bytes, a Blob/File, or in Node a file
 * path.
 */
export type ModelSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

/**
 * Which forward pass runs the model: WebGPU; the CPU (WebAssembly SIMD, worker threads where the
 * page is cross-origin isolated); or the plain-TypeScript reference (slow, exact). 'auto': WebGPU on
 * a hardware adapter, else the CPU (a software WebGPU adapter is slower than the CPU backend).
 */
export type { BackendKind } from '../backend.js';
export type { BackendChoice } from '../create-backend.js';

export interface EngineOptions {
  /** Default backend of every load(). Default 'auto' (WebGPU when an adapter exists, else the CPU). */
  backend?: BackendChoice;
  /**
   * Worker threads of the CPU backend. Default: one per core (navigator.hardwareConcurrency) when
   * the page is cross-origin isolated (SharedArrayBuffer), else 1.
   */
  threads?: number;
  /** Default KV-cache positions of every load(). */
  contextSize?: number;
  /**
   * A folder of prebuilt schedules (`<model-id>.json`) to use instead of the package's own. Default:
   * the package's schedules, which travel inside its bundle (any bundler; nothing to serve).
   */
  schedulesUrl?: string | URL;
}

export interface LoadOptions {
  /** Called while the model is read: bytes so far and the total when known. */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborts the download or read (AbortError); the previous model, if any, stays loaded. */
  signal?: AbortSignal;
  /** Expected sha256 of the file: `sha256-<base64>` (Subresource Integrity form) or 64 hex digits. */
  integrity?: string;
  /**
   * Keep URL downloads in the Cache API (or OPFS where only that exists) and read them from there
   * next time: true/'auto' (default), 'cache-api', 'opfs', or false.
   */
  cache?: boolean | 'auto' | CacheStoreKind;
  /**
   * The model id prebuilt schedules are found by (`schedules/<id>.json`). Default: the file name
   * without `.gguf` (URL, File or path); bytes and plain Blobs have none.
   */
  id?: string;
  /** KV-cache positions (default: the model's context length, at most 4096). */
  contextSize?: number;
  backend?: BackendChoice;
  /** Worker threads of the CPU backend (see EngineOptions.threads). */
  threads?: number;
  /**
   * GPU bytes the model may take on WebGPU (weights, KV cache, activations, as planned before anything
   * is allocated). Over it: with backend 'webgpu', a GpuOutOfMemoryError (code MODEL_TOO_LARGE_FOR_GPU)
   * naming the planned bytes and the largest contextSize that fits; with 'auto', the CPU backend (said
   * in backendNote). Default: none (the adapter's buffer limits are checked all the same).
   */
  gpuMemoryBudget?: number;
  /**
   * More schedules for this model: URLs of schedule files (paths in Node) or parsed schedule JSON.
   * Each is checked against the loaded file (sha256) and listed under its `model.id`.
   */
  schedules?: (string | URL | Schedule)[];
  /** Folder of prebuilt schedules for this load (see EngineOptions.schedulesUrl). */
  schedulesUrl?: string | URL;
}

export interface LoadProgress {
  /** download: from the network; read: a Blob or file; cache: from the model cache; prepare: parsing and upload. */
  phase: 'download' | 'read' | 'cache' | 'prepare';
  loaded: number;
  /** Bytes in all, when known. */
  total: number | null;
}

export interface ModelInfo {
  id: string | null;
  /** general.name of the GGUF. */
  name: string;
  /** Hex sha256 of the GGUF bytes. */
  sha256: string;
  bytes: number;
  backend: BackendKind;
  /** Why this backend: the adapter WebGPU runs on, or why 'auto' fell back to the CPU. */
  backendNote: string;
  contextSize: number;
  config: { nLayers: number; dim: number; hiddenDim: number; nHeads: number; nKVHeads: number; vocabSize: number; contextLength: number };
  /** True when the bytes came from the model cache. */
  fromCache: boolean;
  schedules: ScheduleInfo[];
}

/**
 * A schedule usable with the loaded model: `{ name, level }` picks one of its levels, the one marked
 * `default` (the winner of the file's validation; `was-bo` in files made before it) unless `method` says which.
 */
export interface ScheduleInfo {
  name: string;
  levels: {
    target: number; method: ScheduleMethod; default: boolean; skippedWeightFraction: number;
    /** Mean KL(dense ‖ sparse) per token on the calibration text (lossKind 'mean-kl'), as the file records it. */
    calibrationLoss: number | null; lossKind: LossKind;
    /** What that KL means for text: see SCHEDULE_QUALITY. null when the file has no KL. */
    quality: ScheduleQuality | null;
  }[];
}

/**
 * A level's quality cost in words, from its mean KL to dense on calibration text: 'close' (KL ≤ 0.3;
 * stories260K at 0.4 has 1.3× dense perplexity), 'noticeable' (≤ 0.7), 'degraded' (more; stories260K
 * at 0.6, KL 1.5, has 3.9× dense perplexity and visibly worse text). Measured in BENCHMARKS.md.
 */
export type ScheduleQuality = 'close' | 'noticeable' | 'degraded';

/** The sparsity of one generate() call (src/sparsity/resolve.ts). */
export type { ScheduleSelection, ScheduleLabel } from '../sparsity/resolve.js';
export type { ChatMessage, ChatRole } from '../chat.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 128. */
  maxTokens?: number;
  /** Generation stops before the first occurrence of any of these strings. */
  stop?: string[];
  /** Default 'dense'. */
  schedule?: ScheduleSelection;
  /** Aborts this call (AbortError), also while it waits behind another call. */
  signal?: AbortSignal;
}

export interface ChatOptions extends GenerateOptions {
  /**
   * Ends the reply: `result` resolves with finishReason 'abort' and the text so far (the stream just
   * ends); while the call still waits behind another, it rejects with AbortError as generate() does.
   */
  signal?: AbortSignal;
  /** The chat template: template text, or a built-in 'chatml' | 'llama2' | 'llama3'. Default: the model's own. */
  template?: string;
}

/**
 * Why a chat reply ended: the model's end-of-generation token, maxTokens, a stop string, a full
 * context, or the caller's signal (or a reader that stopped iterating) once the reply had begun.
 */
export type ChatFinishReason = 'eog' | 'length' | 'stop' | 'context' | 'abort';

export interface ChatResult extends Omit<GenerationResult, 'finishReason'> {
  finishReason: ChatFinishReason;
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number };
}

/** Text pieces of a chat reply as they are generated; `result` settles when it ends. */
export interface ChatStream extends AsyncIterable<string> {
  readonly result: Promise<ChatResult>;
}

/** `engine.chat(messages)`, with the OpenAI-shaped facade on it (src/sdk/openai.ts). */
export interface ChatFunction {
  (messages: ChatMessage[], options?: ChatOptions): ChatStream;
  readonly completions: ChatCompletions;
}

export interface GenerationResult {
  /** The generated text (prompt excluded). */
  text: string;
  promptIds: number[];
  /** Generated token ids. */
  tokenIds: number[];
  /** generate() never ends with 'abort': an aborted call rejects with AbortError. */
  finishReason: FinishReason;
  /** Decode speed over generated tokens (prompt excluded). */
  tokensPerSecond: number;
  prefillMs: number;
  decodeMs: number;
  /** Prompt tokens whose KV the engine kept from the previous call (a shared prefix), not fed again. */
  cachedTokens: number;
  /**
   * Fraction of block weights whose input channel was skipped, measured while running (0 for
   * dense); null when the backend does not measure it.
   */
  skippedWeightFraction: number | null;
  schedule: ScheduleLabel;
  backend: BackendKind;
  /** Only on the first result after the engine made its backend again (its GPU device was lost): what it did. */
  backendNote?: string;
}

/** Text pieces as they are generated; `result` settles when generation ends. */
export interface GenerationStream extends AsyncIterable<string> {
  readonly result: Promise<GenerationResult>;
}

export type CacheStoreKind = 'cache-api' | 'opfs';

export interface CachedModel {
  url: string;
  bytes: number;
  sha256: string;
  /** Milliseconds since the epoch. */
  cachedAt: number;
  store: CacheStoreKind;
}

/**
 * Options of engine.calibrate(text), the SDK's `was-edge calibrate`: the loaded model's score
 * thresholds and greedy splits recorded over `text` with the reference forward pass (f32 weights,
 * whatever backend runs the model).
 */
export interface CalibrateOptions {
  /** Calibration tokens to record, in chunks of `ctx` tokens each starting with BOS. Default 16384 (at most what the text has). */
  tokens?: number;
  /** Tokens per chunk. Default 256 (at most the model's context length). */
  ctx?: number;
  /** Tokens whose block outputs judge the greedy splits. Default 64. */
  greedyTokens?: number;
  /** The text's name, recorded in the calibration and in schedules made from it. Default `text-<first 12 hex digits of its sha256>`. */
  textName?: string;
  /** Chunks recorded, then layers split. */
  onProgress?: (progress: CalibrateProgress) => void;
  /** Aborts the calibration (AbortError); the engine and the last calibration stay as they were. */
  signal?: AbortSignal;
}

export interface CalibrateProgress {
  /** record: score histograms over the text's chunks; greedy: each layer's greedy split. */
  phase: 'record' | 'greedy';
  done: number;
  total: number;
}

/**
 * Options of engine.searchSchedule(), the SDK's `was-edge schedule`, with the same defaults: targets
 * 0.4–0.8, budget 24, seed 1, 2048 search tokens, as many validation tokens, ctx min(256, contextSize).
 */
export interface SearchScheduleOptions extends ScheduleSearchOptions {
  /** A calibration of the loaded file (from calibrate() or a calibration file). Default: the last calibrate()'s. */
  calibration?: Calibration;
  /** The text to search and validate on. Default: the text given to calibrate() (needed with `calibration`). */
  text?: string;
  /** The text's name, recorded in the schedule. Default: the calibration's name for its own text, else `text-<sha256 prefix>`. */
  textName?: string;
  /** The dense pass, each evaluation, each validated target. */
  onProgress?: (progress: ScheduleProgress) => void;
  /** Aborts the search (AbortError); the engine stays usable and its schedules unchanged. */
  signal?: AbortSignal;
}

export type { Calibration } from '../sparsity/plan.js';
export type { ScheduleProgress, ScheduleSearchOptions } from '../sparsity/make-schedule.js';
export type { SearchProgress } from '../sparsity/search.js';

/** The main-thread client of an engine running in a worker. */
export interface Engine {
  /** Loads a model (replacing the current one once the new one is ready). */
  load(source: ModelSource, options?: LoadOptions): Promise<ModelInfo>;
  /** Generates from `prompt`; calls are queued and run one at a time. */
  generate(prompt: string, options?: GenerateOptions): GenerationStream;
  /** Chat: messages rendered with the model's chat template; the reply streams like generate()'s. */
  readonly chat: ChatFunction;
  /** The token ids of `text` (special tokens parsed), as a prompt would get them, without BOS. */
  tokenize(text: string): Promise<number[]>;
  /** Prompt tokens `messages` take with the chat template (to budget the context). */
  countTokens(messages: ChatMessage[], options?: Pick<ChatOptions, 'template'>): Promise<number>;
  /** Schedules available for the loaded model. */
  schedules(): Promise<ScheduleInfo[]>;
  /**
   * Calibrates the loaded model on `text` (score thresholds, greedy splits); the engine keeps the
   * result for searchSchedule(). Serialisable: the same object `was-edge calibrate` writes.
   */
  calibrate(text: string, options?: CalibrateOptions): Promise<Calibration>;
  /**
   * Searches a schedule on the loaded backend (constrained BO per target, then the validation gate),
   * as `was-edge schedule` does, and registers it under its `model.id` (the loaded id): generate()
   * runs it with `{ schedule: { name, level } }`, or `{ schedule: theReturnedObject, level }`.
   */
  searchSchedule(options?: SearchScheduleOptions): Promise<Schedule>;
  /** Models in the cache (Cache API and OPFS). */
  cachedModels(): Promise<CachedModel[]>;
  /** Removes a cached model by URL; false if it was not cached. */
  deleteCachedModel(url: string | URL): Promise<boolean>;
  /** Rejects pending calls with EngineError ENGINE_DISPOSED, frees the GPU and ends the worker. */
  dispose(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The worker boundary

/** A model source as it crosses: URLs absolute, paths (Node) apart from URLs. */
export type WireSource = { url: string } | { path: string } | { bytes: ArrayBuffer | ArrayBufferView } | { blob: Blob };

export type WireLoadOptions = Omit<LoadOptions, 'onProgress' | 'signal' | 'schedules' | 'integrity' | 'schedulesUrl'> & {
  integrity?: string;
  /** Schedule URLs made absolute (or `{ path }` in Node), or parsed JSON. */
  schedules?: ({ url: string } | { path: string } | { json: unknown })[];
  schedulesUrl?: string;
};

export type WireGenerateOptions = Omit<GenerateOptions, 'signal'>;
export type WireCalibrateOptions = Omit<CalibrateOptions, 'signal' | 'onProgress'>;
export type WireSearchScheduleOptions = Omit<SearchScheduleOptions, 'signal' | 'onProgress'>;

/** Receives values from the worker; the worker awaits the returned promise (comlink proxy). */
export type Callback<T> = (value: T) => unknown;

/** The object the worker exposes (src/sdk/engine.ts implements it; src/sdk/client.ts calls it). */
export interface EngineWorkerApi {
  load(source: WireSource, options: WireLoadOptions, signal: AbortSignal | undefined, onProgress: Callback<LoadProgress> | undefined): Promise<ModelInfo>;
  generate(prompt: string, options: WireGenerateOptions, signal: AbortSignal | undefined, onText: Callback<string>): Promise<GenerationResult>;
  chat(messages: ChatMessage[], options: Omit<ChatOptions, 'signal'>, signal: AbortSignal | undefined, onText: Callback<string>): Promise<ChatResult>;
  tokenize(text: string): Promise<number[]>;
  countTokens(messages: ChatMessage[], template: string | undefined): Promise<number>;
  schedules(): Promise<ScheduleInfo[]>;
  calibrate(text: string, options: WireCalibrateOptions, signal: AbortSignal | undefined, onProgress: Callback<CalibrateProgress> | undefined): Promise<Calibration>;
  searchSchedule(options: WireSearchScheduleOptions, signal: AbortSignal | undefined, onProgress: Callback<ScheduleProgress> | undefined): Promise<Schedule>;
  cachedModels(): Promise<CachedModel[]>;
  deleteCachedModel(url: string): Promise<boolean>;
  dispose(): Promise<void>;
}

/**
 * Anything the engine can be served on or reached through: a worker's global scope, a Worker, a
 * MessagePort (structurally comlink's Endpoint, which stays out of the published types).
 */
export interface MessageEndpoint {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: object): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: object): void;
  start?: () => void;
}

/** What a worker posts once its engine listens: the client waits for it before the first call. */
export const WORKER_READY = 'was-edge:ready';

/** The name createEngine() gives the Web Worker it starts; dist/worker.js exposes itself under it. */
export const WORKER_NAME = 'was-edge';
