// Where the CLI finds a model when --model is absent: $WAS_EDGE_MODEL, then the shared models
// folder next to the project, then a verified download of stories260K into the user's cache.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelDownloadError, OptionError } from '../errors.js';

export const DEFAULT_MODEL = {
  file: 'stories260K.gguf',
  url: 'https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf',
  sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
};


function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'was-edge');
}

export async function resolveDefaultModel(log: (s: string) => void): Promise<string> {
  const env = process.env.WAS_EDGE_MODEL;
  if (env) return env;
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [process.cwd(), packageRoot, resolve(packageRoot, '..')].map((d) =>
    resolve(d, '../shared/models/stories260K', DEFAULT_MODEL.file));
  for (const c of candidates) if (existsSync(c)) return c;

  const target = join(cacheDir(), DEFAULT_MODEL.file);
  if (existsSync(target)) return target;
  log(`downloading ${DEFAULT_MODEL.url} into ${cacheDir()}`);
  let bytes: Uint8Array;
  try {
    const res = await fetch(DEFAULT_MODEL.url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new ModelDownloadError('DOWNLOAD_FAILED',
      `Could not download the default model (${String(e)}). Pass --model PATH or set WAS_EDGE_MODEL.`, { cause: e });
  }
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== DEFAULT_MODEL.sha256) {
    throw new ModelDownloadError('INTEGRITY_MISMATCH',
      `The downloaded model's sha256 is ${digest}, expected ${DEFAULT_MODEL.sha256}; it was not saved.`);
  }
  mkdirSync(cacheDir(), { recursive: true });
  writeFileSync(`${target}.part`, bytes);
  renameSync(`${target}.part`, target);
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
