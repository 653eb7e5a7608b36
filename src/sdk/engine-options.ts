// The worker engine's option checks and small decisions (src/sdk/engine.ts calls them): which keys each
// call takes, load options, text names, the schedules folder, progress delivery, a schedule's id.

import { BACKEND_CHOICES } from '../create-backend.js';
import { OptionError } from '../errors.js';
import { SCHEDULE_NAME } from '../sparsity/resolve.js';
import { loadWasm } from '../wasm/load.js';
import { wasmUrl } from '../wasm/location.js';
import type { WasModule } from '../wasm/module.js';
import type { Callback, ModelInfo, WireLoadOptions } from './api.js';
import type { EnginePlatform } from './engine.js';
import { sha256Hex } from './loader.js';

export const LOAD_OPTIONS = new Set(['integrity', 'cache', 'id', 'contextSize', 'backend', 'threads', 'gpuMemoryBudget', 'schedules', 'schedulesUrl']);
export const CALIBRATE_OPTIONS = new Set(['tokens', 'ctx', 'greedyTokens', 'textName']);
export const SEARCH_OPTIONS = new Set(['targets', 'budget', 'seed', 'tokens', 'validationTokens', 'ctx', 'calibration', 'text', 'textName']);
export const GENERATE_OPTIONS = new Set([
  'maxTokens', 'temperature', 'topK', 'topP', 'seed', 'stop', 'schedule', 'minP', 'repeatPenalty', 'repeatLastN', 'presencePenalty', 'frequencyPenalty', 'logitBias',
]);

/** Unknown keys are mistakes (`max_tokens`): name them rather than ignore them. */
export function checkKeys(o: object, known: Set<string>, call: string): void {
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new OptionError(k, `is not an option of ${call}; the options are ${[...known].join(', ')}.`);
  }
}

/** Where the page can share memory with workers: one thread per core (CpuBackend falls back to 1). */
export function defaultThreads(): number {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
  return isolated ? Math.max(1, Math.min(cores, 16)) : 1;
}

export function checkLoadOptions(o: WireLoadOptions): void {
  checkKeys(o, LOAD_OPTIONS, 'load()');
  if (o.backend !== undefined && !BACKEND_CHOICES.includes(o.backend)) {
    throw new OptionError('backend', `must be 'auto', 'webgpu', 'cpu' or 'reference', got ${JSON.stringify(o.backend)}.`);
  }
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 1 || o.threads > 256)) {
    throw new OptionError('threads', `must be an integer in 1..256, got ${JSON.stringify(o.threads)}.`);
  }
  if (o.gpuMemoryBudget !== undefined && !(typeof o.gpuMemoryBudget === 'number' && o.gpuMemoryBudget > 0 && Number.isFinite(o.gpuMemoryBudget))) {
    throw new OptionError('gpuMemoryBudget', `must be a positive number of bytes, got ${JSON.stringify(o.gpuMemoryBudget)}.`);
  }
  if (o.cache !== undefined && ![true, false, 'auto', 'cache-api', 'opfs'].includes(o.cache)) {
    throw new OptionError('cache', `must be true, false, 'auto', 'cache-api' or 'opfs', got ${JSON.stringify(o.cache)}.`);
  }
  if (o.id !== undefined && (typeof o.id !== 'string' || !SCHEDULE_NAME.test(o.id))) {
    throw new OptionError('id', `must be a file-name-like id (letters, digits, . _ -), got ${JSON.stringify(o.id)}.`);
  }
}

/** The name a text is recorded under when the caller gives none: its content's, so equal texts get equal names. */
export async function textNameOf(text: string): Promise<string> {
  return `text-${(await sha256Hex(new TextEncoder().encode(text))).slice(0, 12)}`;
}

export function checkTextName(name: unknown): void {
  if (name !== undefined && (typeof name !== 'string' || name === '')) throw new OptionError('textName', `must be a non-empty string, got ${JSON.stringify(name)}.`);
}

/** build/was.wasm fetched from next to the bundle (HTTP errors named by loadWasm): a fresh instance per call. */
export const fetchWasm = (): Promise<WasModule> => loadWasm(wasmUrl('release'));

/** The folder of prebuilt schedules: a URL, or (where files can be read: Node) an absolute path. */
export function schedulesFolder(o: WireLoadOptions, platform: EnginePlatform): URL | null {
  const s = o.schedulesUrl;
  if (s === undefined) return platform.schedulesUrl ?? null;
  let url: URL | null = null;
  if (typeof s === 'string' && s.startsWith('/') && platform.readPath) url = new URL(`file://${s.split('/').map(encodeURIComponent).join('/')}`);
  else if (typeof s === 'string') url = URL.canParse(s) ? new URL(s) : null;
  if (!url) throw new OptionError('schedulesUrl', `must be an absolute URL of a folder (https:, file:, …)${platform.readPath ? ' or an absolute path' : ''}, got ${JSON.stringify(s)}.`);
  return url.href.endsWith('/') ? url : new URL(`${url.href}/`);
}

/**
 * A progress callback whose reports all reach the caller before the call settles, failed or not
 * (a late report would overwrite the error a page shows): `delivered` waits for them.
 */
export function progressOf<T>(onProgress: Callback<T> | undefined): { report?: (p: T) => void; delivered: () => Promise<unknown> } {
  const pending: Promise<unknown>[] = [];
  return {
    ...(onProgress && { report: (p: T) => void pending.push(Promise.resolve(onProgress(p)).catch(() => undefined)) }),
    delivered: () => Promise.all(pending),
  };
}

/** A schedule's `model.id`: the loaded id, else the model's name made a valid schedule name. */
export function scheduleId(info: ModelInfo): string {
  if (info.id) return info.id;
  const name = info.name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return SCHEDULE_NAME.test(name) ? name : 'model';
}
