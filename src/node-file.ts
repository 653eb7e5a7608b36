// GGUF files read on demand in Node (the CLI, `loadModelFile`, the SDK's worker thread): the header
// when the model is opened, each tensor when a backend packs or uploads it, so a model is never held
// twice (the whole file in the heap, and again in Wasm or GPU memory). Node-only.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { fileError, ModelFormatError } from './errors.js';
import type { GGUFSource } from './model/gguf.js';

/** The file at `path` as a GGUFSource over one open descriptor (closed by `close()`). */
export function fileSource(path: string): GGUFSource & { close(): void } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fileError(e, path);
  }
  let size: number;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    size = st.size;
  } catch (e) {
    closeSync(fd);
    throw fileError(e, path);
  }
  let open = true;
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const out = new Uint8Array(length);
      for (let at = 0; at < length;) {
        const n = readSync(fd, out, at, length - at, offset + at);
        // The size was checked when the file was opened: a short read means it changed since.
        if (n === 0) throw new ModelFormatError('TRUNCATED', `${path} ended at ${offset + at} bytes while reading it; the file was changed or cut while in use.`);
        at += n;
      }
      return out;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

const CHUNK = 4 << 20;

/**
 * The sha256 of a source, read in 4 MiB chunks (never held whole); `step` runs after each chunk with
 * the bytes done (progress, and a turn of the event loop in a worker, where it may throw AbortError).
 */
export async function sha256Source(source: GGUFSource, step?: (done: number) => Promise<void> | void): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < source.size; at += CHUNK) {
    hash.update(source.read(at, Math.min(CHUNK, source.size - at)));
    await step?.(Math.min(source.size, at + CHUNK));
  }
  if (source.size === 0) await step?.(0);
  return hash.digest('hex');
}
