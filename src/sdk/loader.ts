// Reading a model's bytes in the worker: from the cache, the network (with progress), a Blob or (Node)
// a path; then its sha256, checked against the caller's integrity value. Aborting stops the read.

import { AbortError, ModelLoadError, OptionError } from '../errors.js';
import type { LoadProgress, WireSource } from './api.js';
import type { ModelStore } from './cache.js';
import { inMemory, type GGUFSource } from '../model/gguf.js';

/** Reads a file path with progress (Node; absent in browsers): small files (schedules). */
export type PathReader = (path: string, report: (loaded: number, total: number | null) => void, signal?: AbortSignal) => Promise<Uint8Array>;
/** Opens a model file for reading on demand and hashes it on the way, with progress (Node; absent in browsers). */
export type PathOpener = (path: string, report: (loaded: number, total: number | null) => void, signal?: AbortSignal) => Promise<{ file: GGUFSource; sha256: string }>;
/** Reads a `file:` URL (Node, whose fetch cannot). */
export type FileUrlReader = (url: URL) => Promise<Uint8Array>;

export interface ReadOptions {
  signal?: AbortSignal;
  onProgress?: (p: LoadProgress) => void;
  /** Where downloads are looked up first and kept after (null: no cache). */
  store: ModelStore | null;
  openPath?: PathOpener;
  readFileUrl?: FileUrlReader;
}

export interface ModelBytes {
  /** In memory, or read on demand (a Node path: never the whole file at once). */
  file: GGUFSource;
  sha256: string;
  fromCache: boolean;
  /** The file's name without `.gguf` (URL, File or path), for prebuilt schedules. */
  fileId: string | null;
}

/** At most this many progress events per phase (plus the last), so a large file does not flood the port. */
const PROGRESS_STEPS = 100;

function reporter(phase: LoadProgress['phase'], onProgress: ReadOptions['onProgress']) {
  let next = 0;
  return (loaded: number, total: number | null, last = false) => {
    if (!onProgress) return;
    if (!last && loaded < next) return;
    next = loaded + (total ? total / PROGRESS_STEPS : 1 << 20);
    onProgress({ phase, loaded, total });
  };
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(signal.reason, 'Loading');
}

/** Any abort-shaped failure (a DOMException from fetch or a stream) becomes our AbortError. */
function asAbort(e: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted || (e as Error)?.name === 'AbortError') return e instanceof AbortError ? e : new AbortError(signal?.reason ?? e, 'Loading');
  return e;
}

/** Reads a stream into one buffer (preallocated when the size is known), reporting progress. */
async function readStream(stream: ReadableStream<Uint8Array>, total: number | null, report: ReturnType<typeof reporter>, signal?: AbortSignal): Promise<Uint8Array> {
  const reader = stream.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let out = new Uint8Array(total ?? 1 << 20);
    let loaded = 0;
    report(0, total);
    for (;;) {
      checkAbort(signal);
      const { done, value } = await reader.read();
      checkAbort(signal);
      if (done) break;
      if (loaded + value.byteLength > out.byteLength) {
        const grown = new Uint8Array(Math.max(out.byteLength * 2, loaded + value.byteLength));
        grown.set(out.subarray(0, loaded));
        out = grown;
      }
      out.set(value, loaded);
      loaded += value.byteLength;
      report(loaded, total);
    }
    report(loaded, total, true);
    return loaded === out.byteLength ? out : out.slice(0, loaded);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}

/** `name.gguf` → `name` from the last segment of a URL path or file path. */
export function fileIdOf(pathOrUrl: string): string | null {
  const last = pathOrUrl.split(/[?#]/)[0]!.split(/[\\/]/).pop() ?? '';
  const id = decodeURIComponentSafe(last).replace(/\.gguf$/i, '');
  return id === '' ? null : id;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // digest() refuses views of a SharedArrayBuffer: hash a copy of those.
  const plain = bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
  const digest = await crypto.subtle.digest('SHA-256', plain as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** `sha256-<base64>` (Subresource Integrity) or 64 hex digits → lower-case hex. */
export function parseIntegrity(integrity: string): string {
  const hex = /^[0-9a-fA-F]{64}$/.test(integrity) ? integrity.toLowerCase() : null;
  if (hex) return hex;
  const m = /^sha256-([A-Za-z0-9+/]{43}=)$/.exec(integrity);
  if (!m) {
    throw new OptionError('integrity', `must be "sha256-<base64>" (as in Subresource Integrity) or 64 hex digits of the file's sha256, got "${integrity}".`);
  }
  return [...atob(m[1]!)].map((c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
}

async function fetchBytes(url: string, o: ReadOptions): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal: o.signal });
  } catch (e) {
    if (o.signal?.aborted || (e as Error)?.name === 'AbortError') throw asAbort(e, o.signal);
    throw new ModelLoadError('FETCH_FAILED', `could not fetch ${url} (${(e as Error).message}): check the URL, the network and the server's CORS headers.`, { cause: e });
  }
  if (!response.ok || !response.body) {
    throw new ModelLoadError('HTTP_STATUS', `GET ${url} answered HTTP ${response.status} ${response.statusText}: check the URL.`);
  }
  const length = Number(response.headers.get('content-length'));
  // A compressed response's length is not the body's: progress then has no total.
  const total = Number.isFinite(length) && length > 0 && !response.headers.get('content-encoding') ? length : null;
  return readStream(response.body, total, reporter('download', o.onProgress), o.signal);
}

/** The bytes of a model source, its sha256, and whether they came from the cache. */
export async function readModel(source: WireSource, o: ReadOptions): Promise<ModelBytes> {
  checkAbort(o.signal);
  try {
    if ('bytes' in source) {
      const b = source.bytes;
      const bytes = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      return { file: inMemory(bytes), sha256: await sha256Hex(bytes), fromCache: false, fileId: null };
    }
    if ('blob' in source) {
      const blob = source.blob;
      const bytes = await readStream(blob.stream() as ReadableStream<Uint8Array>, blob.size, reporter('read', o.onProgress), o.signal);
      const name = (blob as Partial<File>).name;
      return { file: inMemory(bytes), sha256: await sha256Hex(bytes), fromCache: false, fileId: name ? fileIdOf(name) : null };
    }
    if ('path' in source) {
      if (!o.openPath) throw new ModelLoadError('BAD_SOURCE', `a file path (${source.path}) can only be loaded in Node; in a browser pass a URL, bytes or a File.`);
      const report = reporter('read', o.onProgress);
      const { file, sha256 } = await o.openPath(source.path, (loaded, total) => report(loaded, total, loaded === total), o.signal);
      return { file, sha256, fromCache: false, fileId: fileIdOf(source.path) };
    }
    const url = source.url;
    const fileId = fileIdOf(new URL(url).pathname);
    if (url.startsWith('file:')) {
      if (!o.readFileUrl) throw new ModelLoadError('BAD_SOURCE', `cannot read ${url} here: serve the file over http(s) or pass its bytes.`);
      const bytes = await o.readFileUrl(new URL(url));
      return { file: inMemory(bytes), sha256: await sha256Hex(bytes), fromCache: false, fileId };
    }
    const cacheable = o.store !== null && /^https?:/i.test(url);
    if (cacheable) {
      const hit = await o.store!.get(url).catch(() => null);
      if (hit) {
        const bytes = await readStream(hit.stream, hit.bytes || null, reporter('cache', o.onProgress), o.signal);
        const sha256 = await sha256Hex(bytes);
        if (sha256 === hit.sha256) return { file: inMemory(bytes), sha256, fromCache: true, fileId };
        await o.store!.delete(url).catch(() => false); // damaged entry: fetch again
      }
    }
    const bytes = await fetchBytes(url, o);
    const sha256 = await sha256Hex(bytes);
    return { file: inMemory(bytes), sha256, fromCache: false, fileId };
  } catch (e) {
    throw asAbort(e, o.signal);
  }
}
