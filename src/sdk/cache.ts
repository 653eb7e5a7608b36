// The model cache: downloaded GGUF files kept by URL in the Cache API, or in the origin private file
// system (OPFS) where only that exists, with their sha256 so a damaged entry is noticed and refetched.
// Every operation is best effort: a cache that fails (quota, private mode) never fails a load.

import type { CacheStoreKind, CachedModel } from './api.js';

export interface CacheHit {
  stream: ReadableStream<Uint8Array>;
  bytes: number;
  sha256: string;
}

export interface ModelStore {
  readonly kind: CacheStoreKind;
  get(url: string): Promise<CacheHit | null>;
  put(url: string, bytes: Uint8Array, sha256: string): Promise<void>;
  list(): Promise<CachedModel[]>;
  delete(url: string): Promise<boolean>;
}

const CACHE_NAME = 'was-edge-models-v1';
const SHA_HEADER = 'x-was-edge-sha256';
const DATE_HEADER = 'x-was-edge-cached-at';

/** Cache API (`caches`): one Response per model URL; size, hash and date in its headers. */
class CacheApiStore implements ModelStore {
  readonly kind = 'cache-api' as const;
  private open() {
    return caches.open(CACHE_NAME);
  }
  async get(url: string): Promise<CacheHit | null> {
    const r = await (await this.open()).match(url);
    const sha256 = r?.headers.get(SHA_HEADER);
    if (!r?.body || !sha256) return null;
    return { stream: r.body, bytes: Number(r.headers.get('content-length') ?? 0), sha256 };
  }
  async put(url: string, bytes: Uint8Array, sha256: string): Promise<void> {
    const headers = {
      'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength),
      [SHA_HEADER]: sha256, [DATE_HEADER]: String(Date.now()),
    };
    await (await this.open()).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
  }
  async list(): Promise<CachedModel[]> {
    const cache = await this.open();
    const out: CachedModel[] = [];
    for (const request of await cache.keys()) {
      const r = await cache.match(request);
      if (!r) continue;
      out.push({
        url: request.url, bytes: Number(r.headers.get('content-length') ?? 0), sha256: r.headers.get(SHA_HEADER) ?? '',
        cachedAt: Number(r.headers.get(DATE_HEADER) ?? 0), store: this.kind,
      });
    }
    return out;
  }
  async delete(url: string): Promise<boolean> {
    return (await this.open()).delete(url);
  }
}

interface OpfsEntry {
  url: string;
  file: string;
  bytes: number;
  sha256: string;
  cachedAt: number;
}

/** OPFS: `was-edge-models/` holds one file per model and `index.json` mapping URLs to them. */
class OpfsStore implements ModelStore {
  readonly kind = 'opfs' as const;
  private async dir() {
    return (await navigator.storage.getDirectory()).getDirectoryHandle('was-edge-models', { create: true });
  }
  private async index(dir: FileSystemDirectoryHandle): Promise<OpfsEntry[]> {
    try {
      const text = await (await (await dir.getFileHandle('index.json')).getFile()).text();
      const parsed = JSON.parse(text) as unknown;
      return Array.isArray(parsed) ? (parsed as OpfsEntry[]) : [];
    } catch {
      return [];
    }
  }
  private async write(dir: FileSystemDirectoryHandle, name: string, data: Uint8Array | string): Promise<void> {
    const handle = await dir.getFileHandle(name, { create: true });
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if ('createWritable' in handle) {
      const w = await handle.createWritable();
      await w.write(bytes as Uint8Array<ArrayBuffer>);
      await w.close();
    } else {
      // Safari before 26 has only the synchronous handle (workers only).
      const h = await (handle as FileSystemFileHandle).createSyncAccessHandle();
      h.truncate(0);
      h.write(bytes as Uint8Array<ArrayBuffer>, { at: 0 });
      h.flush();
      h.close();
    }
  }
  async get(url: string): Promise<CacheHit | null> {
    const dir = await this.dir();
    const e = (await this.index(dir)).find((x) => x.url === url);
    if (!e) return null;
    const file = await (await dir.getFileHandle(e.file)).getFile();
    return { stream: file.stream() as ReadableStream<Uint8Array>, bytes: file.size, sha256: e.sha256 };
  }
  async put(url: string, bytes: Uint8Array, sha256: string): Promise<void> {
    const dir = await this.dir();
    const file = `${sha256}.gguf`;
    await this.write(dir, file, bytes);
    const entries = (await this.index(dir)).filter((x) => x.url !== url);
    entries.push({ url, file, bytes: bytes.byteLength, sha256, cachedAt: Date.now() });
    await this.write(dir, 'index.json', JSON.stringify(entries));
  }
  async list(): Promise<CachedModel[]> {
    return (await this.index(await this.dir())).map(({ url, bytes, sha256, cachedAt }) => ({ url, bytes, sha256, cachedAt, store: this.kind }));
  }
  async delete(url: string): Promise<boolean> {
    const dir = await this.dir();
    const entries = await this.index(dir);
    const e = entries.find((x) => x.url === url);
    if (!e) return false;
    const rest = entries.filter((x) => x !== e);
    await this.write(dir, 'index.json', JSON.stringify(rest));
    // Two URLs may share one file (same bytes): remove it only when the last goes.
    if (!rest.some((x) => x.file === e.file)) await dir.removeEntry(e.file).catch(() => undefined);
    return true;
  }
}

/** The stores this context offers, Cache API first. */
export function availableStores(): ModelStore[] {
  const out: ModelStore[] = [];
  if (typeof caches !== 'undefined') out.push(new CacheApiStore());
  if (typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function') out.push(new OpfsStore());
  return out;
}

/** The store a load uses: the first available, or the one asked for (null when there is none). */
export function pickStore(pref: boolean | 'auto' | CacheStoreKind | undefined): ModelStore | null {
  if (pref === false) return null;
  const stores = availableStores();
  if (pref === 'cache-api' || pref === 'opfs') return stores.find((s) => s.kind === pref) ?? null;
  return stores[0] ?? null;
}
