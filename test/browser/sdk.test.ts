// The SDK end to end in Chromium: createEngine() from dist/index.js starts dist/worker.js, loads
// stories260K from a local URL with progress, generates dense (= the golden) and with a prebuilt
// schedule on WebGPU, aborts mid-stream and generates again. SwiftShader decodes at a few tokens per
// second on a CI machine, so the backend-independent parts (typed errors, the model cache, the demo
// page, whose screenshot is saved as a test artifact) run a second engine on the reference backend.
// Without WebGPU, 'auto' (the default) runs the CPU backend (Wasm SIMD, worker threads: the test
// server makes pages cross-origin isolated) and a forced 'webgpu' says what to do with
// WebGPUUnavailableError; the demo page generates there too.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type * as Sdk from '../../src/index.js';
import { sharedPath } from '../helpers/shared.js';
import { describeBrowser, SLOW_PREFIX, startSession, waitForResult, type BrowserSession } from './harness.js';

const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8')) as {
  prompt: string; prompt_ids: number[]; generated_ids: number[]; text_llama2c: string;
};
const MODEL = '/models/stories260K/stories260K.gguf';
const MODEL_BYTES = readFileSync(sharedPath('models/stories260K/stories260K.gguf')).byteLength;
/** Where screenshots go: $WAS_EDGE_ARTIFACTS, else .cache/artifacts (git-ignored). */
const ARTIFACTS = process.env.WAS_EDGE_ARTIFACTS ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../.cache/artifacts');

/** The page's view of the SDK (pages/sdk.js puts it on window): `engine` and, on the CPU, `cpu`. */
type Win = Window & { wasEdge: typeof Sdk; engine: Sdk.Engine; cpu: Sdk.Engine };

/** A rejection as the page sees it after the boundary: class checks done in the page. */
interface PageErr { name: string; code?: string; message: string; isWasEdge: boolean; isClass: boolean }

async function sdkPage(session: BrowserSession, backend: 'webgpu' | 'reference'): Promise<Page> {
  const page = await session.openPage('/pages/sdk.html');
  await waitForResult(page, 30_000);
  await page.evaluate((b) => {
    const w = window as unknown as Win;
    w.engine = w.wasEdge.createEngine({ backend: b });
    w.cpu = w.wasEdge.createEngine({ backend: 'reference' });
  }, backend);
  return page;
}

describeBrowser('browser: createEngine() in a Web Worker', () => {
  let session: BrowserSession | undefined;
  let page: Page;

  beforeAll(async () => {
    session = await startSession({ webgpu: true });
    page = await sdkPage(session, 'webgpu');
  });
  afterAll(async () => {
    await page?.evaluate(async () => {
      const w = window as unknown as Win;
      await Promise.all([w.engine.dispose(), w.cpu.dispose()]);
    });
    await session?.close();
  });

  test('load stories260K from a local URL with progress; the prebuilt schedule is listed', async () => {
    const r = await page.evaluate(async (url) => {
      const w = window as unknown as Win;
      const events: Sdk.LoadProgress[] = [];
      const info = await w.engine.load(url, { onProgress: (p) => events.push(p), cache: false, contextSize: 64 });
      await w.cpu.load(url, { cache: false });
      return { info, events };
    }, MODEL);
    expect(r.info).toMatchObject({ id: 'stories260K', backend: 'webgpu', bytes: MODEL_BYTES, fromCache: false });
    expect(r.info.schedules.map((s) => s.name)).toEqual(['stories260K']);
    const downloads = r.events.filter((e) => e.phase === 'download');
    expect(downloads.length).toBeGreaterThan(1);
    expect(downloads.at(-1)).toEqual({ phase: 'download', loaded: MODEL_BYTES, total: MODEL_BYTES });
    expect(r.events.at(-1)!.phase).toBe('prepare');
  });

  test("'auto' (the default) on SwiftShader, the only adapter here, picks the CPU backend and says why", async () => {
    const r = await page.evaluate(async (url) => {
      const w = window as unknown as Win;
      const adapter = await navigator.gpu?.requestAdapter();
      const auto = w.wasEdge.createEngine();
      const info = await auto.load(url, { cache: false });
      const g = await auto.generate('Once upon a time', { maxTokens: 4 }).result;
      await auto.dispose();
      const a = adapter?.info;
      return { adapter: a ? `${a.vendor} ${a.architecture} ${a.description} fallback=${a.isFallbackAdapter}` : null, backend: info.backend, note: info.backendNote, generated: g.backend };
    }, MODEL);
    console.log(`adapter: ${r.adapter}; auto → ${r.backend}: ${r.note}`);
    expect(r.adapter, 'WebGPU must be exposed for this test to mean anything').not.toBeNull();
    expect(r.backend).toBe('cpu');
    expect(r.generated).toBe('cpu');
    expect(r.note).toMatch(/software/);
    expect(r.note).toMatch(/swiftshader/i);
  });

  test('dense greedy equals the golden tokens; a prebuilt schedule runs sparse', async () => {
    const r = await page.evaluate(async (prompt, n) => {
      const w = window as unknown as Win;
      const stream = w.engine.generate(prompt, { maxTokens: n });
      const pieces: string[] = [];
      for await (const p of stream) pieces.push(p);
      const dense = await stream.result;
      const sparse = await w.engine.generate(prompt, { maxTokens: 8, schedule: { name: 'stories260K', level: 0.6 } }).result;
      const cpu = await w.cpu.generate(prompt, { maxTokens: 8, schedule: { name: 'stories260K', level: 0.6 } }).result;
      return { pieces, dense, sparse, cpu };
    }, golden.prompt, golden.generated_ids.length);
    expect(r.dense.promptIds).toEqual(golden.prompt_ids);
    expect(r.dense.tokenIds).toEqual(golden.generated_ids);
    expect(r.pieces.join('')).toBe(golden.text_llama2c.slice(golden.prompt.length));
    expect(r.dense).toMatchObject({ backend: 'webgpu', schedule: 'dense', skippedWeightFraction: 0 });
    expect(r.sparse).toMatchObject({ backend: 'webgpu', schedule: { name: 'stories260K', level: 0.6 } });
    // The GPU's sparse tokens are the reference's (up to channels within rounding of τ; see
    // test/gpu/engine-sparse.test.ts), and both measure the weights they skipped.
    expect(r.sparse.tokenIds).toEqual(r.cpu.tokenIds);
    expect(r.sparse.skippedWeightFraction).toBeGreaterThan(0.5);
    expect(r.sparse.skippedWeightFraction).toBeLessThan(0.7);
    console.log(`dense ${r.dense.tokensPerSecond.toFixed(1)} tok/s; sparse 0.6 ${r.sparse.tokensPerSecond.toFixed(1)} tok/s, ` +
      `skipped ${(100 * r.sparse.skippedWeightFraction!).toFixed(1)}% (reference ${(100 * r.cpu.skippedWeightFraction!).toFixed(1)}%)`);
  });

  test('abort mid-stream, then generate again', async () => {
    const r = await page.evaluate(async (prompt) => {
      const w = window as unknown as Win;
      const c = new AbortController();
      const stream = w.engine.generate(prompt, { maxTokens: 60, signal: c.signal });
      let pieces = 0;
      let error: PageErr | null = null;
      try {
        for await (const _ of stream) if (++pieces === 2) c.abort();
      } catch (e) {
        const err = e as Sdk.WasEdgeError;
        error = { name: err.name, code: err.code, message: err.message, isWasEdge: err instanceof w.wasEdge.WasEdgeError, isClass: err instanceof w.wasEdge.AbortError };
      }
      const again = await w.engine.generate(prompt, { maxTokens: 4 }).result;
      return { pieces, error, again: again.tokenIds };
    }, golden.prompt);
    expect(r.error).toMatchObject({ name: 'AbortError', code: 'ABORTED', isWasEdge: true, isClass: true });
    expect(r.pieces).toBeLessThan(10);
    expect(r.again).toEqual(golden.generated_ids.slice(0, 4));
  });

  test('bad calls reject with typed errors on the main thread; the engine still generates', async () => {
    const r = await page.evaluate(async (prompt, slowUrl) => {
      const w = window as unknown as Win;
      const { ScheduleError, OptionError, ContextOverflowError, ModelLoadError, AbortError } = w.wasEdge;
      const cases: [string, () => Promise<unknown>, new (...a: never[]) => Error][] = [
        ['unknown schedule', () => w.cpu.generate(prompt, { schedule: { name: 'nope', level: 0.6 } }).result, ScheduleError],
        ['missing level', () => w.cpu.generate(prompt, { schedule: { name: 'stories260K', level: 0.65 } }).result, ScheduleError],
        ['other model', () => w.cpu.generate(prompt, { schedule: { name: 'llama16m-debtext-F32', level: 0.6 } }).result, ScheduleError],
        ['out of range', () => w.cpu.generate(prompt, { temperature: -1 }).result, OptionError],
        ['prompt too long', () => w.cpu.generate('Once upon a time '.repeat(700)).result, ContextOverflowError],
        ['integrity', () => w.cpu.load('/models/stories260K/stories260K.gguf', { integrity: '0'.repeat(64), cache: false }), ModelLoadError],
        ['404', () => w.cpu.load('/models/none.gguf'), ModelLoadError],
        ['load aborted half-way', () => {
          const c = new AbortController();
          return w.cpu.load(slowUrl, { signal: c.signal, cache: false, onProgress: (p) => { if (p.loaded > 0) c.abort(); } });
        }, AbortError],
      ];
      const out: (PageErr & { what: string; after: number })[] = [];
      for (const [what, call, cls] of cases) {
        try {
          await call();
          out.push({ what, name: 'none', message: 'resolved', isWasEdge: false, isClass: false, after: 0 });
        } catch (e) {
          const err = e as Sdk.WasEdgeError;
          const after = (await w.cpu.generate(prompt, { maxTokens: 4 }).result).tokenIds.length;
          out.push({ what, name: err.name, code: err.code, message: err.message, isWasEdge: err instanceof w.wasEdge.WasEdgeError, isClass: err instanceof cls, after });
        }
      }
      return out;
    }, golden.prompt, `${SLOW_PREFIX}${MODEL}`);
    const codes = Object.fromEntries(r.map((e) => [e.what, e.code]));
    expect(codes).toEqual({
      'unknown schedule': 'UNKNOWN_SCHEDULE', 'missing level': 'SCHEDULE_LEVEL_MISSING', 'other model': 'SCHEDULE_MODEL_MISMATCH',
      'out of range': 'OPTION_OUT_OF_RANGE', 'prompt too long': 'PROMPT_TOO_LONG', integrity: 'INTEGRITY_MISMATCH', '404': 'HTTP_STATUS',
      'load aborted half-way': 'ABORTED',
    });
    for (const e of r) {
      expect(e.isClass && e.isWasEdge, `${e.what}: ${e.name}`).toBe(true);
      expect(e.after, `generates after ${e.what}`).toBe(4);
    }
  });

  test.each(['cache-api', 'opfs'] as const)('the %s model cache: second load from the cache, listed, deleted', async (store) => {
    const r = await page.evaluate(async (url, kind) => {
      const w = window as unknown as Win;
      const first = await w.cpu.load(url, { cache: kind });
      const phases: string[] = [];
      const second = await w.cpu.load(url, { cache: kind, onProgress: (p) => phases.push(p.phase) });
      const listed = await w.cpu.cachedModels();
      const deleted = await w.cpu.deleteCachedModel(url);
      const after = await w.cpu.cachedModels();
      const text = (await w.cpu.generate('Once upon a time', { maxTokens: 4 }).result).tokenIds.length;
      return { first: first.fromCache, second: second.fromCache, phases: [...new Set(phases)], listed, deleted, after, text };
    }, MODEL, store);
    expect(r.first).toBe(false);
    expect(r.second).toBe(true);
    expect(r.phases).toEqual(['cache', 'prepare']);
    expect(r.listed).toEqual([expect.objectContaining({ url: expect.stringContaining(MODEL), bytes: MODEL_BYTES, store })]);
    expect(r.deleted).toBe(true);
    expect(r.after).toEqual([]);
    expect(r.text).toBe(4);
  });

  test('the demo page streams a scheduled generation; screenshot saved', async () => {
    const demo = await session!.openPage(`/demo/index.html?model=${encodeURIComponent(MODEL)}&backend=reference&schedule=stories260K@0.5&maxTokens=48&autorun=1`);
    const r = await waitForResult<{ model: string; tokens: number; skippedWeightFraction: number; text: string }>(demo, 60_000);
    expect(r.model).toBe('stories260K');
    expect(r.tokens).toBeGreaterThan(0);
    expect(await demo.$eval('#stats', (e) => e.textContent)).toMatch(/tokens\/s · skipped weights \d+\.\d%/);
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'demo.png');
    await demo.setViewport({ width: 960, height: 760 });
    await demo.screenshot({ path: file as `${string}.png`, fullPage: true });
    console.log(`demo screenshot: ${file}`);
    await demo.close();
  });
});

describeBrowser('browser: createEngine() without WebGPU', () => {
  let session: BrowserSession | undefined;
  beforeAll(async () => {
    session = await startSession({ webgpu: false });
  });
  afterAll(async () => {
    await session?.close();
  });

  test('the default backend runs on the CPU (golden tokens, threads, a schedule); forcing webgpu is a typed error', async () => {
    const page = await sdkPage(session!, 'webgpu');
    const r = await page.evaluate(async (url, n) => {
      const w = window as unknown as Win;
      let error: PageErr | null = null;
      try {
        await w.engine.load(url, { cache: false });
      } catch (e) {
        const err = e as Sdk.WasEdgeError;
        error = { name: err.name, code: err.code, message: err.message, isWasEdge: err instanceof w.wasEdge.WasEdgeError, isClass: err instanceof w.wasEdge.WebGPUUnavailableError };
      }
      await w.engine.dispose();
      const auto = w.wasEdge.createEngine();
      const info = await auto.load(url, { cache: false });
      const dense = await auto.generate('Once upon a time', { maxTokens: n }).result;
      const sparse = await auto.generate('Once upon a time', { maxTokens: 8, schedule: { name: 'stories260K', level: 0.6 } }).result;
      await auto.dispose();
      return { error, info: info.backend, isolated: crossOriginIsolated, tokens: dense.tokenIds, backend: dense.backend, skipped: sparse.skippedWeightFraction };
    }, MODEL, golden.generated_ids.length);
    expect(r.error).toMatchObject({ name: 'WebGPUUnavailableError', code: 'WEBGPU_UNAVAILABLE', isWasEdge: true, isClass: true });
    expect(r.error!.message).toContain("backend: 'cpu'");
    expect(r).toMatchObject({ info: 'cpu', backend: 'cpu', isolated: true });
    expect(r.tokens).toEqual(golden.generated_ids);
    expect(r.skipped).toBeGreaterThan(0.5);
  });

  test('the demo page generates on the CPU backend', async () => {
    const demo = await session!.openPage(`/demo/index.html?model=${encodeURIComponent(MODEL)}&backend=auto&maxTokens=24&autorun=1`);
    const r = await waitForResult<{ tokens: number; text: string }>(demo, 60_000);
    expect(r.tokens).toBe(24);
    expect(await demo.$eval('#stats', (e) => e.textContent)).toMatch(/· cpu,/);
    await demo.close();
  });
});
