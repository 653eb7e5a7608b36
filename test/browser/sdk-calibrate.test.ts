// engine.calibrate() and engine.searchSchedule() in Chromium: the bundled worker (dist/worker.js)
// fetches the score/BO Wasm next to the bundle, and calibrating and searching stories260K there gives
// the same calibration and schedule as the Node SDK (dist/node.js) with the same inputs.
import { existsSync, readFileSync } from 'node:fs';
import type { Page } from 'puppeteer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type * as Sdk from '../../src/node.js';
import { sharedPath } from '../helpers/shared.js';
import { DEFAULT_ROOTS, describeBrowser, startSession, waitForResult, type BrowserSession } from './harness.js';

const MODEL_URL = '/models/stories260K/stories260K.gguf';
const TEXT = readFileSync(sharedPath('data/tinystories_calib.txt'), 'utf8').slice(0, 6000);
const CAL = { tokens: 512, ctx: 64, greedyTokens: 32 };
const SEARCH = { targets: [0.5], budget: 3, seed: 2, tokens: 512, validationTokens: 256, ctx: 64 };

type Win = Window & { wasEdge: typeof Sdk };

interface Made {
  cal: Sdk.Calibration;
  schedule: Sdk.Schedule;
  /** generate() with the schedule by name. */
  skipped: number | null;
  phases: string[];
  ms: { calibrate: number; search: number };
}

describeBrowser('browser: engine.calibrate() and engine.searchSchedule() from dist/index.js', () => {
  let session: BrowserSession | undefined;
  let page: Page;
  let node: Made;

  beforeAll(async () => {
    if (!existsSync(`${DEFAULT_ROOTS['/dist']}/index.js`)) throw new Error('dist/index.js is missing: run `npm run build` first');
    const sdk = (await import(new URL('../../dist/node.js', import.meta.url).href)) as typeof Sdk;
    const engine = sdk.createEngine({ backend: 'cpu', threads: 1 });
    try {
      await engine.load(sharedPath('models/stories260K/stories260K.gguf'));
      const t0 = performance.now();
      const cal = await engine.calibrate(TEXT, CAL);
      const t1 = performance.now();
      const schedule = await engine.searchSchedule(SEARCH);
      const skipped = (await engine.generate('Once upon a time', { maxTokens: 16, schedule: { name: 'stories260K', level: 0.5 } }).result).skippedWeightFraction;
      node = { cal, schedule, skipped, phases: [], ms: { calibrate: Math.round(t1 - t0), search: Math.round(performance.now() - t1) } };
    } finally {
      await engine.dispose();
    }
    session = await startSession({ webgpu: false });
    page = await session.openPage('/pages/sdk.html');
    await waitForResult(page, 30_000);
  });
  afterAll(async () => {
    await session?.close();
  });

  test('the same calibration and schedule as the Node SDK; the schedule runs by name at once', async () => {
    const made = await page.evaluate(async (url, text, calOptions, searchOptions) => {
      const w = window as unknown as Win;
      const engine = w.wasEdge.createEngine({ backend: 'cpu', threads: 1 });
      try {
        await engine.load(url, { cache: false });
        const phases: string[] = [];
        const t0 = performance.now();
        const cal = await engine.calibrate(text, { ...calOptions, onProgress: (p) => phases.push(p.phase) });
        const t1 = performance.now();
        const schedule = await engine.searchSchedule({ ...searchOptions, onProgress: (p) => phases.push(p.phase) });
        const ms = { calibrate: Math.round(t1 - t0), search: Math.round(performance.now() - t1) };
        const skipped = (await engine.generate('Once upon a time', { maxTokens: 16, schedule: { name: 'stories260K', level: 0.5 } }).result).skippedWeightFraction;
        return { cal, schedule, skipped, phases: [...new Set(phases)], ms };
      } finally {
        await engine.dispose();
      }
    }, MODEL_URL, TEXT, CAL, SEARCH) as Made;
    console.log(`[sdk-calibrate browser] calibrate ${made.ms.calibrate} ms, search ${made.ms.search} ms (Node SDK: ${node.ms.calibrate} ms, ${node.ms.search} ms)`);
    expect(made.phases).toEqual(['record', 'greedy', 'dense', 'search', 'validation']);
    expect(made.cal).toEqual(node.cal);
    expect(made.schedule).toEqual(node.schedule);
    expect(made.schedule.calibration.text).toMatch(/^text-[0-9a-f]{12}$/); // named by its content: the same in both
    expect(made.skipped).toBe(node.skipped);
    expect(Math.abs(made.skipped! - 0.5)).toBeLessThan(0.08);
  });

  test('abort mid-search in the page rejects with AbortError; the engine generates afterwards', async () => {
    const r = await page.evaluate(async (url, text, calOptions, searchOptions) => {
      const w = window as unknown as Win;
      const engine = w.wasEdge.createEngine({ backend: 'cpu', threads: 1 });
      try {
        await engine.load(url, { cache: false });
        await engine.calibrate(text, calOptions);
        const controller = new AbortController();
        let error: { name: string; code?: string; isClass: boolean } | null = null;
        try {
          await engine.searchSchedule({
            ...searchOptions, budget: 24, signal: controller.signal,
            onProgress: (p) => { if (p.phase === 'search' && p.done === 2) controller.abort(); },
          });
        } catch (e) {
          error = { name: (e as Error).name, code: (e as { code?: string }).code, isClass: e instanceof w.wasEdge.AbortError };
        }
        const after = await engine.generate('Once upon a time', { maxTokens: 8 }).result;
        return { error, generated: after.tokenIds.length };
      } finally {
        await engine.dispose();
      }
    }, MODEL_URL, TEXT, CAL, SEARCH);
    expect(r.error).toEqual({ name: 'AbortError', code: 'ABORTED', isClass: true });
    expect(r.generated).toBe(8);
  });
});
