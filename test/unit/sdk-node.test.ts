// The SDK over worker_threads: createEngine() from the built `was-edge/node` (dist/node.js starts
// dist/node-worker.js), on the reference backend (and WebGPU through dawn.node where an adapter
// exists). Errors arrive as their own classes; after each failure the engine still generates.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type * as Sdk from '../../src/node.js';
import { defaultMethod, type Schedule } from '../../src/sparsity/schedule.js';
import { serveRoutes, type TestServer } from '../helpers/http.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const dist = new URL('../../dist/node.js', import.meta.url);
if (!existsSync(new URL('node-worker.js', dist))) throw new Error('dist/node-worker.js is missing: run `npm run build` first');
const sdk = (await import(dist.href)) as typeof Sdk;

const MODEL = sharedPath('models/stories260K/stories260K.gguf');
const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8')) as {
  prompt: string; prompt_ids: number[]; generated_ids: number[]; text_llama2c: string;
};
const GREEDY = { maxTokens: golden.generated_ids.length };
const schedule = JSON.parse(readFileSync(new URL('../../schedules/stories260K.json', import.meta.url), 'utf8')) as Schedule;

/** Collects a stream's pieces and its result. */
async function run(stream: Sdk.GenerationStream): Promise<{ pieces: string[]; result: Sdk.GenerationResult }> {
  const pieces: string[] = [];
  for await (const p of stream) pieces.push(p);
  return { pieces, result: await stream.result };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; option?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('createEngine over worker_threads (reference backend)', () => {
  let engine: Sdk.Engine;
  let server: TestServer;

  beforeAll(async () => {
    engine = sdk.createEngine({ backend: 'reference' });
    const bytes = readShared('models/stories260K/stories260K.gguf');
    server = await serveRoutes({ '/slow/stories260K.gguf': { body: bytes, slices: 20, pauseMs: 100 } });
  });
  afterAll(async () => {
    await engine.dispose();
    await server.close();
  });

  test('load a path with progress; the prebuilt schedule is listed', async () => {
    const events: Sdk.LoadProgress[] = [];
    const info = await engine.load(MODEL, { onProgress: (p) => events.push(p) });
    expect(info).toMatchObject({ id: 'stories260K', name: 'llama', backend: 'reference', fromCache: false, contextSize: 2048 });
    expect(info.sha256).toBe(schedule.model.sha256);
    expect(events.at(-1)).toEqual({ phase: 'prepare', loaded: 0, total: null });
    expect(events.some((e) => e.phase === 'read' && e.loaded === info.bytes && e.total === info.bytes)).toBe(true);
    const list = await engine.schedules();
    expect(list.map((s) => s.name)).toEqual(['stories260K']);
    expect([...new Set(list[0]!.levels.map((l) => l.target))]).toEqual([0.4, 0.5, 0.6, 0.7, 0.8]);
    expect(new Set(list[0]!.levels.map((l) => l.method))).toEqual(new Set(['was-greedy', 'was-bo']));
    // One default level per target, the method the file's validation chose: what { name, level } runs.
    for (const t of [0.4, 0.5, 0.6, 0.7, 0.8]) {
      expect(list[0]!.levels.filter((l) => l.target === t && l.default).map((l) => l.method)).toEqual([sdk.defaultMethod(schedule, t)]);
    }
  });

  test('dense greedy text streams and equals the llama2.c golden', async () => {
    const { pieces, result } = await run(engine.generate(golden.prompt, GREEDY));
    expect(result.promptIds).toEqual(golden.prompt_ids);
    expect(result.tokenIds).toEqual(golden.generated_ids);
    expect(pieces.join('')).toBe(result.text);
    expect(result.text).toBe(golden.text_llama2c.slice(golden.prompt.length));
    expect(result).toMatchObject({ finishReason: 'length', schedule: 'dense', backend: 'reference', skippedWeightFraction: 0 });
    expect(result.tokensPerSecond).toBeGreaterThan(0);
  });

  test('a prebuilt schedule by name and level, and the same schedule passed as an object', async () => {
    const named = (await run(engine.generate(golden.prompt, { ...GREEDY, schedule: { name: 'stories260K', level: 0.6 } }))).result;
    expect(named.schedule).toEqual({ name: 'stories260K', level: 0.6, method: defaultMethod(schedule, 0.6) });
    expect(named.tokenIds).toHaveLength(GREEDY.maxTokens);
    expect(named.skippedWeightFraction).toBeGreaterThan(0.5);
    expect(named.skippedWeightFraction).toBeLessThan(0.7);
    const inline = (await run(engine.generate(golden.prompt, { ...GREEDY, schedule: { schedule, level: 0.6 } }))).result;
    expect(inline.tokenIds).toEqual(named.tokenIds);
    expect(inline.skippedWeightFraction).toBe(named.skippedWeightFraction);
  });

  test('abort mid-stream, then generate again', async () => {
    const c = new AbortController();
    const stream = engine.generate(golden.prompt, { maxTokens: 1000, signal: c.signal });
    const pieces: string[] = [];
    const e = await rejection((async () => {
      for await (const p of stream) {
        pieces.push(p);
        if (pieces.length === 3) c.abort();
      }
    })());
    expect(e).toBeInstanceOf(sdk.AbortError);
    expect(e.code).toBe('ABORTED');
    expect(pieces.length).toBeLessThan(100);
    await expect(stream.result).rejects.toBeInstanceOf(sdk.AbortError);
    expect((await engine.generate(golden.prompt, GREEDY).result).tokenIds).toEqual(golden.generated_ids);
  });

  test('breaking out of the loop stops generation', async () => {
    const stream = engine.generate(golden.prompt, { maxTokens: 1000 });
    for await (const _ of stream) break;
    await expect(stream.result).rejects.toMatchObject({ code: 'ABORTED' });
  });

  test('concurrent calls are queued: each runs alone, in order, with its own text', async () => {
    const log: string[] = [];
    const tag = async (name: string, stream: Sdk.GenerationStream) => {
      for await (const p of stream) log.push(`${name}:${p}`);
      return stream.result;
    };
    const [a, b, c] = await Promise.all([
      tag('a', engine.generate(golden.prompt, GREEDY)),
      tag('b', engine.generate('The cat', { maxTokens: 8, temperature: 0.8, seed: 7 })),
      tag('c', engine.generate(golden.prompt, { ...GREEDY, schedule: { name: 'stories260K', level: 0.4 } })),
    ]);
    const order = log.map((l) => l[0]).join('').replace(/(.)\1*/g, '$1');
    expect(order).toBe('abc');
    expect(a.tokenIds).toEqual(golden.generated_ids);
    expect(b.tokenIds).toHaveLength(8);
    expect(c.schedule).toEqual({ name: 'stories260K', level: 0.4, method: defaultMethod(schedule, 0.4) });
  });

  test('bad calls are typed errors that arrive intact; the engine still generates after each', async () => {
    const other = JSON.parse(readFileSync(new URL('../../schedules/llama16m-debtext-F32.json', import.meta.url), 'utf8')) as Schedule;
    const sameShapeOtherBytes: Schedule = { ...schedule, model: { ...schedule.model, sha256: 'f'.repeat(64) } };
    const cases: [string, () => Promise<unknown>, new (...a: never[]) => Error, string][] = [
      ['unknown schedule name', () => engine.generate('x', { schedule: { name: 'nope', level: 0.6 } }).result, sdk.ScheduleError, 'UNKNOWN_SCHEDULE'],
      ['level not in the file', () => engine.generate('x', { schedule: { name: 'stories260K', level: 0.65 } }).result, sdk.ScheduleError, 'SCHEDULE_LEVEL_MISSING'],
      ['schedule for another model (sha256)', () => engine.generate('x', { schedule: { schedule: sameShapeOtherBytes, level: 0.6 } }).result, sdk.ScheduleError, 'SCHEDULE_MODEL_MISMATCH'],
      ['schedule for another model (shape)', () => engine.generate('x', { schedule: { schedule: other, level: 0.6 } }).result, sdk.ScheduleError, 'SCHEDULE_MODEL_MISMATCH'],
      ['prebuilt file of another model', () => engine.generate('x', { schedule: { name: 'llama16m-debtext-F32', level: 0.6 } }).result, sdk.ScheduleError, 'SCHEDULE_MODEL_MISMATCH'],
      ['malformed schedule', () => engine.generate('x', { schedule: { schedule: { ...schedule, version: 9 } as unknown as Schedule, level: 0.6 } }).result, sdk.ScheduleError, 'BAD_SCHEDULE'],
      ['out-of-range topP', () => engine.generate('x', { topP: 2 }).result, sdk.OptionError, 'OPTION_OUT_OF_RANGE'],
      ['negative maxTokens', () => engine.generate('x', { maxTokens: -1 }).result, sdk.OptionError, 'OPTION_OUT_OF_RANGE'],
      ['schedule level out of range', () => engine.generate('x', { schedule: { name: 'stories260K', level: 7 } }).result, sdk.OptionError, 'OPTION_OUT_OF_RANGE'],
      ['unknown option', () => engine.generate('x', { max_tokens: 3 } as Sdk.EngineGenerateOptions).result, sdk.OptionError, 'OPTION_OUT_OF_RANGE'],
      ['prompt longer than the context', () => engine.generate('Once upon a time '.repeat(700)).result, sdk.ContextOverflowError, 'PROMPT_TOO_LONG'],
      ['integrity mismatch', () => engine.load(MODEL, { integrity: '0'.repeat(64) }), sdk.ModelLoadError, 'INTEGRITY_MISMATCH'],
      ['not a GGUF', () => engine.load(new Uint8Array(64)), sdk.ModelFormatError, 'BAD_MAGIC'],
      ['missing file', () => engine.load('/nonexistent/x.gguf'), sdk.ModelLoadError, 'FILE_NOT_READABLE'],
      ['bad backend', () => engine.load(MODEL, { backend: 'cuda' as 'webgpu' }), sdk.OptionError, 'OPTION_OUT_OF_RANGE'],
      ['load aborted half-way', async () => {
        const c = new AbortController();
        return engine.load(`${server.origin}/slow/stories260K.gguf`, { signal: c.signal, onProgress: (p) => { if (p.loaded > 0) c.abort(); } });
      }, sdk.AbortError, 'ABORTED'],
    ];
    for (const [what, call, cls, code] of cases) {
      const e = await rejection(call());
      expect(e, what).toBeInstanceOf(cls);
      expect(e.name, what).toBe(cls.name);
      expect(e.code, what).toBe(code);
      expect(e.message.length, what).toBeGreaterThan(10);
      const again = await engine.generate(golden.prompt, { maxTokens: 4 }).result;
      expect(again.tokenIds, `generates after: ${what}`).toEqual(golden.generated_ids.slice(0, 4));
    }
    expect((await rejection(engine.generate('x', { topK: 1.5 }).result)).option).toBe('topK');
  });

  test('a failed load delivers its progress reports before it rejects, none after', async () => {
    // A page shows progress in the place it then shows the error: a late report would overwrite it.
    for (let round = 0; round < 5; round++) {
      const events: string[] = [];
      const failed = engine.load(new Uint8Array(64), { onProgress: (p) => events.push(p.phase) });
      const e = await rejection(failed);
      const seen = events.length;
      expect(e.name).toBe('ModelFormatError');
      expect(events).toEqual(['prepare']);
      await new Promise((r) => setTimeout(r, 50));
      expect(events.length).toBe(seen);
    }
  });

  test('dispose() rejects pending and later calls with ENGINE_DISPOSED', async () => {
    const local = sdk.createEngine({ backend: 'reference' });
    await local.load(MODEL);
    const running = local.generate(golden.prompt, { maxTokens: 1500 });
    const queued = local.generate(golden.prompt, { maxTokens: 5 });
    for await (const _ of running) break;
    const second = local.generate(golden.prompt, { maxTokens: 1500 });
    await local.dispose();
    for (const s of [second, queued]) {
      const e = await rejection(s.result);
      expect(e).toBeInstanceOf(sdk.EngineError);
      expect(e.code).toBe('ENGINE_DISPOSED');
    }
    expect((await rejection(local.schedules())).code).toBe('ENGINE_DISPOSED');
  });
});

describe('createEngine over worker_threads (CPU backend: Wasm SIMD, worker threads of its own)', () => {
  test('dense greedy equals the golden; a schedule runs sparse, counts its skipped fraction, and dense again', async () => {
    const engine = sdk.createEngine({ backend: 'cpu', threads: 2 });
    try {
      const info = await engine.load(MODEL, { contextSize: 64 });
      expect(info.backend).toBe('cpu');
      const dense = await engine.generate(golden.prompt, GREEDY).result;
      expect(dense).toMatchObject({ backend: 'cpu', skippedWeightFraction: 0 });
      expect(dense.tokenIds).toEqual(golden.generated_ids);
      const sparse = await engine.generate(golden.prompt, { ...GREEDY, schedule: { name: 'stories260K', level: 0.6 } }).result;
      expect(sparse.tokenIds).toHaveLength(GREEDY.maxTokens);
      expect(sparse.skippedWeightFraction).toBeGreaterThan(0.5);
      expect((await engine.generate(golden.prompt, GREEDY).result).tokenIds).toEqual(golden.generated_ids);
      const tooBig = await rejection(engine.load(MODEL, { backend: 'cpu', contextSize: 2048, threads: 0 }));
      expect(tooBig).toMatchObject({ name: 'OptionError', option: 'threads' });
    } finally {
      await engine.dispose();
    }
  });
});

describe('createEngine over worker_threads (WebGPU through dawn.node)', () => {
  test('dense greedy equals the golden; a schedule runs sparse and measures its skipped fraction', async (ctx) => {
    const engine = sdk.createEngine({ backend: 'webgpu' });
    try {
      try {
        await engine.load(MODEL, { contextSize: 64 });
      } catch (e) {
        if (e instanceof sdk.WebGPUUnavailableError && process.env.WAS_EDGE_REQUIRE_GPU !== '1') {
          ctx.skip(`no WebGPU adapter (${e.message.split(':')[0]}); run eval "$(bash scripts/setup-webgpu.sh)" first`);
        }
        throw e;
      }
      const dense = await engine.generate(golden.prompt, GREEDY).result;
      expect(dense.backend).toBe('webgpu');
      expect(dense.tokenIds).toEqual(golden.generated_ids);
      const sparse = await engine.generate(golden.prompt, { ...GREEDY, schedule: { name: 'stories260K', level: 0.6 } }).result;
      expect(sparse.tokenIds).toHaveLength(GREEDY.maxTokens);
      expect(sparse.skippedWeightFraction).toBeGreaterThan(0.5);
      expect((await engine.generate(golden.prompt, GREEDY).result).tokenIds).toEqual(golden.generated_ids);
    } finally {
      await engine.dispose();
    }
  });
});

describe('createEngine over worker_threads (WebGPU, a Q4_0 model: one engine for dense and sparse)', () => {
  test('dense, a schedule, dense again: the thresholds are swapped on the one input-major engine and restored', async (ctx) => {
    const engine = sdk.createEngine({ backend: 'webgpu' });
    try {
      try {
        await engine.load(sharedPath('models/llama16m-debtext/llama16m-debtext-Q4_0.gguf'), { contextSize: 64 });
      } catch (e) {
        if (e instanceof sdk.WebGPUUnavailableError && process.env.WAS_EDGE_REQUIRE_GPU !== '1') {
          ctx.skip(`no WebGPU adapter (${e.message.split(':')[0]}); run eval "$(bash scripts/setup-webgpu.sh)" first`);
        }
        throw e;
      }
      const opts = { maxTokens: 16 };
      const dense = await engine.generate('The meaning of life is', opts).result;
      expect(dense.backend).toBe('webgpu');
      expect(dense.skippedWeightFraction).toBe(0);
      const sparse = await engine.generate('The meaning of life is', { ...opts, schedule: { name: 'llama16m-debtext-Q4_0', level: 0.6 } }).result;
      expect(sparse.skippedWeightFraction).toBeGreaterThan(0.5);
      expect(sparse.tokenIds).not.toEqual(dense.tokenIds); // 60 % skipped changes this model's greedy text
      const again = await engine.generate('The meaning of life is', opts).result;
      expect(again.tokenIds).toEqual(dense.tokenIds);
      expect(again.skippedWeightFraction).toBe(0);
    } finally {
      await engine.dispose();
    }
  });
});
