// The SDK's loader and call queue, in Node: progress, integrity, abort half-way, HTTP errors, file ids;
// calls in arrival order, never interleaved, and leaving the queue when aborted while they wait.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AbortError, ModelLoadError, OptionError } from '../../src/errors.js';
import type { LoadProgress } from '../../src/sdk/api.js';
import { fileIdOf, parseIntegrity, readModel } from '../../src/sdk/loader.js';
import { SerialQueue } from '../../src/sdk/queue.js';
import { serveRoutes, type TestServer } from '../helpers/http.js';

const bytes = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7919) & 255);
const hex = createHash('sha256').update(bytes).digest('hex');
const sri = `sha256-${createHash('sha256').update(bytes).digest('base64')}`;
let server: TestServer;

beforeAll(async () => {
  server = await serveRoutes({
    '/m/model.gguf': { body: bytes, slices: 6, pauseMs: 5 },
    '/m/slow.gguf': { body: bytes, slices: 10, pauseMs: 200 },
    '/m/gone.gguf': { status: 404 },
  });
});
afterAll(() => server.close());

describe('readModel', () => {
  test('a URL: bytes, sha256, progress up to the total, file id from the path', async () => {
    const events: LoadProgress[] = [];
    const r = await readModel({ url: `${server.origin}/m/model.gguf?v=1` }, { store: null, onProgress: (p) => events.push(p) });
    expect(r.file.read(0, r.file.size)).toEqual(bytes);
    expect(r.sha256).toBe(hex);
    expect(r.fileId).toBe('model');
    expect(r.fromCache).toBe(false);
    expect(events.length).toBeGreaterThan(2);
    expect(events.every((e) => e.phase === 'download' && e.total === bytes.length)).toBe(true);
    expect(events.at(-1)!.loaded).toBe(bytes.length);
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);
  });

  test('bytes and Blobs (a File keeps its name as the id)', async () => {
    expect((await readModel({ bytes: bytes.buffer }, { store: null })).sha256).toBe(hex);
    const part = (await readModel({ bytes: bytes.subarray(10, 20) }, { store: null })).file;
    expect(part.read(0, part.size)).toEqual(bytes.subarray(10, 20));
    const file = new File([bytes], 'stories260K.gguf');
    const r = await readModel({ blob: file }, { store: null });
    expect(r.sha256).toBe(hex);
    expect(r.fileId).toBe('stories260K');
  });

  test('aborted half-way: AbortError (code ABORTED) while the body streams', async () => {
    const c = new AbortController();
    const events: LoadProgress[] = [];
    const p = readModel({ url: `${server.origin}/m/slow.gguf` }, {
      store: null, signal: c.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.loaded > 0) c.abort();
      },
    });
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await expect(p).rejects.toMatchObject({ code: 'ABORTED', message: 'Loading was aborted by its AbortSignal.' });
    expect(events.at(-1)!.loaded).toBeLessThan(bytes.length);
  });

  test('HTTP 404 and a refused connection are ModelLoadErrors; paths need Node', async () => {
    await expect(readModel({ url: `${server.origin}/m/gone.gguf` }, { store: null })).rejects.toMatchObject({ name: 'ModelLoadError', code: 'HTTP_STATUS' });
    await expect(readModel({ url: 'http://127.0.0.1:9/x.gguf' }, { store: null })).rejects.toMatchObject({ code: 'FETCH_FAILED' });
    await expect(readModel({ path: '/x.gguf' }, { store: null })).rejects.toBeInstanceOf(ModelLoadError);
  });

  test('integrity: SRI and hex forms, anything else is an OptionError', () => {
    expect(parseIntegrity(sri)).toBe(hex);
    expect(parseIntegrity(hex.toUpperCase())).toBe(hex);
    expect(() => parseIntegrity('md5-abc')).toThrow(OptionError);
  });

  test('file ids', () => {
    expect(fileIdOf('https://x.org/a/stories260K.gguf?download=1#x')).toBe('stories260K');
    expect(fileIdOf('/models/llama16m-debtext-F32.gguf')).toBe('llama16m-debtext-F32');
    expect(fileIdOf('C:\\models\\m%20x.GGUF')).toBe('m x');
    expect(fileIdOf('https://x.org/')).toBe(null);
  });
});

describe('SerialQueue', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('tasks run one at a time in arrival order, a failure does not block the next', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => q.run(async () => {
      log.push(`${name}+`);
      await sleep(ms);
      log.push(`${name}-`);
      if (fail) throw new Error(name);
      return name;
    });
    const results = await Promise.allSettled([task('a', 20), task('b', 1, true), task('c', 5)]);
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  test('a task aborted while it waits leaves at once; the ones behind it keep their order', async () => {
    const q = new SerialQueue();
    const log: string[] = [];
    const c = new AbortController();
    const a = q.run(async () => { await sleep(30); log.push('a'); });
    const b = q.run(async () => { log.push('b'); }, c.signal);
    const d = q.run(async () => { log.push('d'); });
    c.abort();
    await expect(b).rejects.toBeInstanceOf(AbortError);
    expect(log).toEqual([]);
    await Promise.all([a, d]);
    expect(log).toEqual(['a', 'd']);
  });
});
