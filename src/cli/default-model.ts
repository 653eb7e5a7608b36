// Where the CLI finds a model when --model is absent: $WAS_EDGE_MODEL, then the shared models
// folder next to the project, then a verified download of stories260K into the user's cache.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileError, ModelDownloadError, OptionError } from '../errors.js';

export const DEFAULT_MODEL = {
  file: 'stories260K.gguf',
  url: 'https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf',
  sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
};


function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'was-edge');
}

/** What the download may take: no answer or no new bytes for this long aborts it. */
const STALL_MS = 30_000;

export interface DefaultModelOptions {
  /** Where a download goes (default ~/.cache/was-edge, or $XDG_CACHE_HOME/was-edge). */
  cacheDir?: string;
  /** Shared models folders to look in first (default: ../shared next to the cwd and the package). */
  candidates?: string[];
  url?: string;
  sha256?: string;
  stallMs?: number;
}

/** The innermost cause's code and message (`fetch failed` hides e.g. `getaddrinfo ENOTFOUND huggingface.co`). */
export function rootCause(e: unknown): string {
  let inner = e as { cause?: unknown; message?: string; code?: string } | undefined;
  const seen = new Set<unknown>();
  while (inner?.cause && !seen.has(inner.cause)) {
    seen.add(inner);
    inner = inner.cause as typeof inner;
  }
  const message = inner?.message ?? String(inner);
  return inner?.code && !message.includes(inner.code) ? `${inner.code}: ${message}` : message;
}

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** GET `url` with a stall timeout: no response, or no bytes, for `stallMs` aborts. */
async function download(url: string, stallMs: number): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), stallMs);
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), stallMs);
  };
  try {
    const res = await fetch(url, { signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} from ${new URL(url).host}`);
    const parts: Uint8Array[] = [];
    const reader = res.body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      parts.push(r.value);
      alive();
    }
    return new Uint8Array(Buffer.concat(parts));
  } catch (e) {
    if (controller.signal.aborted) throw new Error(`no data from ${new URL(url).host} for ${stallMs / 1000} s (stalled connection)`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

export async function resolveDefaultModel(log: (s: string) => void, o: DefaultModelOptions = {}): Promise<string> {
  const env = process.env.WAS_EDGE_MODEL;
  if (env && !o.candidates) return env;
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = o.candidates ?? [process.cwd(), packageRoot, resolve(packageRoot, '..')].map((d) =>
    resolve(d, '../shared/models/stories260K', DEFAULT_MODEL.file));
  for (const c of candidates) if (existsSync(c)) return c;

  const dir = o.cacheDir ?? cacheDir();
  const url = o.url ?? DEFAULT_MODEL.url;
  const expected = o.sha256 ?? DEFAULT_MODEL.sha256;
  const target = join(dir, DEFAULT_MODEL.file);
  // A cached copy is used only if it is still the file we verified (a partial write, disk damage or
  // an edit would otherwise be trusted forever).
  if (existsSync(target)) {
    const digest = sha256Hex(readFileSync(target));
    if (digest === expected) return target;
    log(`was-edge: the cached ${target} is not the verified model (sha256 ${digest.slice(0, 12)}…); downloading it again\n`);
  }
  log(`was-edge: downloading the default model (${url}) into ${dir}\n`);
  let bytes: Uint8Array;
  try {
    bytes = await download(url, o.stallMs ?? STALL_MS);
  } catch (e) {
    throw new ModelDownloadError('DOWNLOAD_FAILED',
      `could not download the default model: ${rootCause(e)}. Pass --model PATH or set WAS_EDGE_MODEL.`, { cause: e });
  }
  const digest = sha256Hex(bytes);
  if (digest !== expected) {
    throw new ModelDownloadError('INTEGRITY_MISMATCH',
      `the downloaded model's sha256 is ${digest}, expected ${expected}; it was not saved.`);
  }
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${target}.part`, bytes);
    renameSync(`${target}.part`, target);
  } catch (e) {
    throw fileError(e, dir, 'write');
  }
  return target;
}

/** The default calibration text of `was-edge schedule`: ../shared/data/tinystories_calib.txt, found like the default model. */
export function resolveDefaultCalibrationText(): string {
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [process.cwd(), packageRoot, resolve(packageRoot, '..')].map((d) => resolve(d, '../shared/data/tinystories_calib.txt'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new OptionError('--text', `no default calibration text (looked for ${candidates[0]}); pass --text PATH.`);
  return found;
}
