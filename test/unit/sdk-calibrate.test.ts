// engine.calibrate() and engine.searchSchedule() through the built `was-edge/node` (dist/node.js and
// its worker thread) on stories260K: the same calibration and schedule as `was-edge calibrate` and
// `was-edge schedule` with the same inputs, the schedule usable by name and as an object at once,
// abort mid-search, and the misuse errors, typed, with the engine still generating afterwards.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type * as Sdk from '../../src/node.js';
import { runCli } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';

const dist = new URL('../../dist/node.js', import.meta.url);
if (!existsSync(new URL('node-worker.js', dist))) throw new Error('dist/node-worker.js is missing: run `npm run build` first');
const sdk = (await import(dist.href)) as typeof Sdk;

const MODEL = sharedPath('models/stories260K/stories260K.gguf');
// Long enough for 512 calibration and search tokens and 256 held-out ones after them, in chunks of 64.
const TEXT = readFileSync(sharedPath('data/tinystories_calib.txt'), 'utf8').slice(0, 6000);
const CAL = { tokens: 512, ctx: 64, greedyTokens: 32 };
const SEARCH = { targets: [0.5], budget: 3, seed: 2, tokens: 512, validationTokens: 256, ctx: 64 };
const TEXT_NAME = 'slice.txt';

const dir = mkdtempSync(join(tmpdir(), 'was-edge-sdk-calibrate-'));
const textPath = join(dir, TEXT_NAME);
writeFileSync(textPath, TEXT);

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; option?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const generateText = async (engine: Sdk.Engine, schedule?: Sdk.EngineGenerateOptions['schedule']) =>
  engine.generate('Once upon a time', { maxTokens: 24, temperature: 0, ...(schedule && { schedule }) }).result;

describe('engine.calibrate() and engine.searchSchedule() (CPU backend, worker thread)', () => {
  let engine: Sdk.Engine;
  let cal: Sdk.Calibration;
  let schedule: Sdk.Schedule;
  const calProgress: Sdk.CalibrateProgress[] = [];
  const searchProgress: Sdk.ScheduleProgress[] = [];
  const ms: Record<string, number> = {};
  const timed = async <T>(name: string, p: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await p();
    } finally {
      ms[name] = Math.round(performance.now() - t0);
    }
  };

  beforeAll(async () => {
    engine = sdk.createEngine({ backend: 'cpu', threads: 1 });
    await engine.load(MODEL);
    cal = await timed('sdk calibrate', () => engine.calibrate(TEXT, { ...CAL, textName: TEXT_NAME, onProgress: (p) => calProgress.push(p) }));
    schedule = await timed('sdk searchSchedule', () => engine.searchSchedule({ ...SEARCH, onProgress: (p) => searchProgress.push(p) }));
  });
  afterAll(async () => {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
    console.log(`[sdk-calibrate] ${Object.entries(ms).map(([k, v]) => `${k} ${v} ms`).join(', ')}`);
  });

  test('the same calibration and schedule as `was-edge calibrate` and `was-edge schedule` with the same inputs', async () => {
    const calPath = join(dir, 'slice.calib.json');
    const c = await timed('cli calibrate', () => runCli('calibrate', '--model', MODEL, '--text', textPath, '--tokens', String(CAL.tokens), '--ctx', String(CAL.ctx),
      '--greedy-tokens', String(CAL.greedyTokens), '--out', calPath));
    expect(c.code, c.err).toBe(0);
    expect(cal).toEqual(JSON.parse(readFileSync(calPath, 'utf8')));

    const out = join(dir, 'slice.json');
    const s = await timed('cli schedule', () => runCli('schedule', '--model', MODEL, '--calib', calPath, '--text', textPath, '--targets', SEARCH.targets.join(','),
      '--budget', String(SEARCH.budget), '--seed', String(SEARCH.seed), '--tokens', String(SEARCH.tokens), '--validation-tokens', String(SEARCH.validationTokens),
      '--ctx', String(SEARCH.ctx), '--backend', 'cpu', '--threads', '1', '--out', out));
    expect(s.code, s.err).toBe(0);
    const cli = JSON.parse(readFileSync(out, 'utf8')) as Sdk.Schedule;
    expect(schedule).toEqual(cli);
    // What that equality covers, spelled out: a real search, validated on held-out tokens.
    expect(schedule.model).toMatchObject({ id: 'stories260K', sha256: cal.model.sha256 });
    expect(schedule.levels.map((l) => [l.target, l.method])).toEqual([[0.5, 'was-greedy'], [0.5, 'was-bo']]);
    expect(schedule.levels[1]!.search!.trace).toHaveLength(SEARCH.budget);
    expect(schedule.validation!).toMatchObject({ text: TEXT_NAME, tokens: 4 * 63 });
    expect(schedule.validation!.firstToken).toBeGreaterThanOrEqual(CAL.tokens);
  });

  test('progress: every chunk and layer of the calibration, the dense pass, each evaluation, the validation', () => {
    expect(calProgress.filter((p) => p.phase === 'record').map((p) => p.done)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(calProgress.filter((p) => p.phase === 'greedy').map((p) => p.done)).toEqual([1, 2, 3, 4, 5]);
    expect(searchProgress.map((p) => `${p.phase} ${p.done}/${p.total}`)).toEqual([
      'dense 0/1', 'dense 1/1', 'search 1/3', 'search 2/3', 'search 3/3', 'validation 0/1', 'validation 1/1',
    ]);
    expect(searchProgress[1]).toMatchObject({ chunks: 8, ctx: 64, tokens: 8 * 63 });
  });

  test('the schedule runs at once by name (listed by schedules()) and as the returned object', async () => {
    const listed = (await engine.schedules()).find((s) => s.name === 'stories260K')!;
    // The search's schedule replaced the prebuilt one of the same id: one target, two methods.
    expect(listed.levels.map((l) => [l.target, l.method, l.default])).toEqual(
      schedule.levels.map((l) => [l.target, l.method, l.method === schedule.validation!.targets[0]!.default]));
    const named = await generateText(engine, { name: 'stories260K', level: 0.5 });
    const inline = await generateText(engine, { schedule, level: 0.5 });
    for (const r of [named, inline]) {
      expect(Math.abs(r.skippedWeightFraction! - 0.5)).toBeLessThan(0.08);
    }
    expect(named.schedule).toEqual({ name: 'stories260K', level: 0.5, method: schedule.validation!.targets[0]!.default });
    expect(inline.tokenIds).toEqual(named.tokenIds);
    // Dense after the search: the backend's thresholds were put back.
    expect((await generateText(engine)).skippedWeightFraction).toBe(0);
  });

  test('a passed-in calibration with another text: searched without calling calibrate() on this engine', async () => {
    const other = sdk.createEngine({ backend: 'cpu', threads: 1 });
    try {
      await other.load(MODEL);
      const s = await other.searchSchedule({ ...SEARCH, calibration: cal, text: TEXT, textName: TEXT_NAME });
      expect(s).toEqual(schedule);
    } finally {
      await other.dispose();
    }
  });

  test('abort mid-search rejects with AbortError; the schedules stay, the engine still generates', async () => {
    const before = await engine.schedules();
    const controller = new AbortController();
    const seen: string[] = [];
    const e = await rejection(timed('aborted search', () => engine.searchSchedule({
      ...SEARCH, budget: 24, signal: controller.signal,
      onProgress: (p) => {
        seen.push(p.phase);
        if (p.phase === 'search' && p.done === 2) controller.abort();
      },
    })));
    expect(e).toBeInstanceOf(sdk.AbortError);
    expect(e.code).toBe('ABORTED');
    expect(seen.filter((p) => p === 'search').length).toBeLessThan(24);
    expect(await engine.schedules()).toEqual(before);
    const dense = await generateText(engine);
    expect(dense.tokenIds.length).toBeGreaterThan(0);
    expect(dense.skippedWeightFraction).toBe(0);
    expect((await generateText(engine, { name: 'stories260K', level: 0.5 })).tokenIds).toEqual(
      (await generateText(engine, { schedule, level: 0.5 })).tokenIds);
  });

  test('abort mid-calibration rejects with AbortError and keeps the last calibration', async () => {
    const controller = new AbortController();
    const e = await rejection(engine.calibrate(TEXT, { ...CAL, signal: controller.signal, onProgress: (p) => { if (p.done === 2) controller.abort(); } }));
    expect(e).toBeInstanceOf(sdk.AbortError);
    // searchSchedule() still finds the earlier calibration and its text.
    const again = await engine.searchSchedule({ ...SEARCH, budget: 2 });
    expect(again.levels[0]).toEqual(schedule.levels[0]);
  });

  test('misuse: typed errors, and the engine still works', async () => {
    const fresh = sdk.createEngine({ backend: 'cpu', threads: 1 });
    try {
      expect(await rejection(fresh.calibrate(TEXT))).toMatchObject({ name: 'EngineError', code: 'NO_MODEL' });
      await fresh.load(MODEL);
      const none = await rejection(fresh.searchSchedule(SEARCH));
      expect(none).toBeInstanceOf(sdk.CalibrationError);
      expect(none.code).toBe('NO_CALIBRATION');
      expect(none.message).toMatch(/engine\.calibrate\(text\)/);
      expect(await rejection(fresh.searchSchedule({ ...SEARCH, calibration: cal }))).toMatchObject({ name: 'CalibrationError', code: 'NO_CALIBRATION_TEXT' });
      const wrongBytes = { ...cal, model: { ...cal.model, sha256: '0'.repeat(64) } };
      expect(await rejection(fresh.searchSchedule({ ...SEARCH, calibration: wrongBytes, text: TEXT }))).toMatchObject({ code: 'CALIBRATION_MODEL_MISMATCH' });
      expect(await rejection(fresh.searchSchedule({ ...SEARCH, calibration: { ...cal, was: [] }, text: TEXT }))).toMatchObject({ code: 'BAD_CALIBRATION' });
      const bad: [Promise<unknown>, string][] = [
        [fresh.calibrate(''), 'text'],
        [fresh.calibrate(TEXT, { tokens: 0 }), 'tokens'],
        [fresh.calibrate(TEXT, { max_tokens: 3 } as Sdk.CalibrateOptions), 'max_tokens'],
        [fresh.searchSchedule({ ...SEARCH, calibration: cal, text: TEXT, budget: 1 }), 'budget'],
        [fresh.searchSchedule({ ...SEARCH, calibration: cal, text: TEXT, targets: [0.99] }), 'targets'],
        [fresh.searchSchedule({ ...SEARCH, calibration: cal, text: TEXT, ctx: 100_000 }), 'ctx'],
        // Too short for 512 search tokens and 256 held-out ones.
        [fresh.searchSchedule({ ...SEARCH, calibration: cal, text: TEXT.slice(0, 600) }), 'validationTokens'],
      ];
      for (const [p, option] of bad) {
        const e = await rejection(p.then(() => { throw new Error(`${option}: no error`); }));
        expect(e, option).toBeInstanceOf(sdk.OptionError);
        expect(e.option).toBe(option);
      }
      expect((await generateText(fresh)).tokenIds.length).toBeGreaterThan(0);
    } finally {
      await fresh.dispose();
    }
  });
});
