// `was-edge schedule` end to end on stories260K (a tiny search), and --schedule/--level on generate
// and eval: by name and by file, the method chosen, and the typed errors (exit 2).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { weightedMean } from '../../src/bo/constrained.js';
import { openModel } from '../../src/model/model.js';
import { parseCalibration } from '../../src/sparsity/plan.js';
import { defaultMethod, parseSchedule, scheduleLevel, splitBlocks, type Schedule } from '../../src/sparsity/schedule.js';
import { gate } from '../../src/sparsity/validate.js';
import { runCli as run } from '../helpers/cli.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const CALIB_TEXT = sharedPath('data/tinystories_calib.txt');
const DEV = sharedPath('data/tinystories_dev.txt');

const dir = mkdtempSync(join(tmpdir(), 'was-edge-schedule-'));
const file = join(dir, 'tiny.json');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('was-edge schedule', () => {
  let schedule: Schedule;
  let stderr = '';
  beforeAll(async () => {
    const r = await run('schedule', '--model', STORIES, '--text', CALIB_TEXT, '--tokens', '256', '--targets', '0.5',
      '--budget', '6', '--seed', '3', '--backend', 'reference', '--out', file);
    expect(r.code, r.err).toBe(0);
    stderr = r.err;
    const bytes = readShared('models/stories260K/stories260K.gguf');
    schedule = parseSchedule(JSON.parse(readFileSync(file, 'utf8')), {
      sha256: createHash('sha256').update(bytes).digest('hex'), config: openModel(bytes).config,
    });
  });

  test('writes a schedule parseSchedule accepts: a uniform was-greedy and a was-bo level, both measured', () => {
    expect(schedule.model.id).toBe('stories260K');
    expect(schedule.calibration).toEqual({ text: 'tinystories_calib.txt', tokens: 255 });
    expect(schedule.levels.map((l) => [l.target, l.method])).toEqual([[0.5, 'was-greedy'], [0.5, 'was-bo']]);
    const uniform = scheduleLevel(schedule, 0.5, 'was-greedy');
    const bo = scheduleLevel(schedule, 0.5, 'was-bo');
    expect(bo.method).toBe('was-bo');
    expect(uniform.blocks).toEqual([0.5, 0.5, 0.5, 0.5, 0.5]);
    for (const l of [uniform, bo]) {
      expect(l).toMatchObject({ lossKind: 'mean-kl', measured: true });
      expect(l.calibrationLoss).toBeGreaterThan(0);
      expect(Math.abs(l.skippedWeightFraction - 0.5)).toBeLessThan(0.05);
    }
    // The trace: every evaluation, the uniform start first; the level is the best of them.
    expect(bo.search).toMatchObject({ budget: 6, seed: 3, bounds: [0.3, 0.7] });
    expect(bo.search!.trace).toHaveLength(6);
    expect(bo.search!.trace[0]).toBe(uniform.calibrationLoss);
    expect(bo.calibrationLoss).toBe(Math.min(...bo.search!.trace));
    expect(stderr).toMatch(/\[schedule\] \[#+\] 6\/6/);
  });

  test('the validation gate: both levels measured on the last chunk of the text (after the calibration\'s tokens), the winner is the default', () => {
    const v = schedule.validation!;
    // --validation-tokens defaults to --tokens: one chunk, the text's last whole one.
    expect(v).toMatchObject({ text: 'tinystories_calib.txt', tokens: 255, lossKind: 'mean-kl', skipTolerance: 0.002, minGain: 0 });
    expect(v.firstToken).toBeGreaterThanOrEqual(16384); // stories260K.calib.json recorded the first 16384 tokens
    expect(v.firstToken % 256).toBe(0);
    expect(v.targets.map((t) => t.target)).toEqual([0.5]);
    const [t] = v.targets;
    expect(t!.default).toBe(gate(t!.wasGreedy, t!.wasBo).default);
    expect(defaultMethod(schedule, 0.5)).toBe(t!.default);
    expect(scheduleLevel(schedule, 0.5).method).toBe(t!.default);
    expect(stderr).toMatch(/\[schedule\] validation: 255 predictions/);
  });

  test('the constraint holds in the file: the parameter-weighted mean of the was-bo blocks is the target', () => {
    const bo = scheduleLevel(schedule, 0.5, 'was-bo');
    const weights = bo.blocks.map(() => schedule.params.reduce((a, b) => a + b, 0));
    expect(Math.abs(weightedMean(weights, bo.blocks) - 0.5)).toBeLessThan(1e-6);
    for (const s of bo.blocks) expect(s >= 0.3 - 1e-9 && s <= 0.7 + 1e-9).toBe(true);
    // Each block's projections are the greedy split at exactly its level, thresholds from the WAS tables.
    const cal = parseCalibration(JSON.parse(readFileSync(new URL('../../schedules/stories260K.calib.json', import.meta.url), 'utf8')),
      openModel(readShared('models/stories260K/stories260K.gguf')).config);
    const split = splitBlocks(cal, bo.blocks);
    expect(bo.projections).toEqual(split.projections);
    expect(bo.thresholds).toEqual(split.thresholds);
    bo.projections.forEach((ps, l) => {
      const block = ps.reduce((a, s, p) => a + s * schedule.params[p]!, 0) / schedule.params.reduce((a, b) => a + b, 0);
      expect(Math.abs(block - bo.blocks[l]!)).toBeLessThan(1e-5);
    });
  });

  test('and an SVG of the per-block sparsity and the trace next to it', () => {
    const svg = readFileSync(join(dir, 'tiny.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('per-block sparsity');
    expect(svg).toContain('search trace');
    expect(svg.match(/<circle/g)!.length).toBe(5 + 6); // 5 blocks, 6 evaluations
  });

  test('bad options are typed errors, exit 2', async () => {
    expect((await run('schedule', '--model', STORIES)).err).toMatch(/needs --out FILE/);
    const budget = await run('schedule', '--model', STORIES, '--budget', '1', '--tokens', '256', '--backend', 'reference', '--out', join(dir, 'x.json'));
    expect(budget.code).toBe(2);
    expect(budget.err).toMatch(/OptionError.*budget/);
    const target = await run('schedule', '--model', STORIES, '--targets', '0.5,1.2', '--tokens', '256', '--backend', 'reference', '--out', join(dir, 'x.json'));
    expect(target.code).toBe(2);
    expect(target.err).toMatch(/targets/);
    const other = await run('schedule', '--model', STORIES, '--calib', new URL('../../schedules/llama16m-debtext-F32.calib.json', import.meta.url).pathname,
      '--out', join(dir, 'x.json'));
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/CalibrationError/);
    // Search and validation chunks must fit the text without overlap (and after the calibration's tokens).
    const overlap = await run('schedule', '--model', STORIES, '--text', DEV, '--tokens', '256', '--validation-tokens', '1000000', '--backend', 'reference', '--out', join(dir, 'x.json'));
    expect(overlap.code).toBe(2);
    expect(overlap.err).toMatch(/OptionError.*validation-tokens.*without overlap/);
  });
});

describe('--schedule FILE|NAME --level T on generate and eval', () => {
  const evalArgs = ['eval', '--model', STORIES, '--text', DEV, '--ctx', '128', '--max-chunks', '2', '--backend', 'reference', '--json'];

  test('by name: the level the file\'s validation chose by default, --method was-greedy the uniform one (= --mode was-greedy)', async () => {
    const prebuilt = parseSchedule(JSON.parse(readFileSync(new URL('../../schedules/stories260K.json', import.meta.url), 'utf8')));
    const bo = await run(...evalArgs, '--schedule', 'stories260K', '--level', '0.6');
    expect(bo.code, bo.err).toBe(0);
    const j = JSON.parse(bo.out);
    expect(j.schedule).toEqual({ name: 'stories260K', level: 0.6, method: defaultMethod(prebuilt, 0.6) });
    expect(j.skipped_weight_fraction).toBeGreaterThan(0.5);
    expect(j.mean_kl).toBeGreaterThan(0);
    const greedy = JSON.parse((await run(...evalArgs, '--schedule', 'stories260K', '--level', '0.6', '--method', 'was-greedy')).out);
    expect(greedy.schedule.method).toBe('was-greedy');
    const mode = JSON.parse((await run(...evalArgs, '--mode', 'was-greedy', '--sparsity', '0.6')).out);
    expect(greedy.ppl).toBe(mode.ppl);
    expect(greedy.skipped_weight_fraction).toBe(mode.skipped_weight_fraction);
  });

  test('by file (the one written above), on generate and eval', async () => {
    const e = await run(...evalArgs, '--schedule', file, '--level', '0.5');
    expect(e.code, e.err).toBe(0);
    const written = parseSchedule(JSON.parse(readFileSync(file, 'utf8')));
    expect(JSON.parse(e.out).schedule).toEqual({ name: file, level: 0.5, method: defaultMethod(written, 0.5) });
    // One target in the file: --level may be left out.
    const g = await run('generate', '--model', STORIES, '--backend', 'reference', '--prompt', 'Once upon a time', '--max-tokens', '8', '--schedule', file);
    expect(g.code, g.err).toBe(0);
    expect(g.err).toMatch(/% of block weights skipped/);
  });

  test('a missing level, an unknown name, another model\'s schedule and mixed flags: typed errors, exit 2', async () => {
    const missing = await run(...evalArgs, '--schedule', 'stories260K', '--level', '0.65');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/ScheduleError \[SCHEDULE_LEVEL_MISSING\].*0\.4, 0\.5, 0\.6, 0\.7, 0\.8/);
    const gen = await run('generate', '--model', STORIES, '--schedule', file, '--level', '0.7', '--max-tokens', '2');
    expect(gen.code).toBe(2);
    expect(gen.err).toMatch(/SCHEDULE_LEVEL_MISSING/);
    const unknown = await run(...evalArgs, '--schedule', 'nope', '--level', '0.5');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/UNKNOWN_SCHEDULE/);
    const other = await run(...evalArgs, '--schedule', 'llama16m-debtext-F32', '--level', '0.5');
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/SCHEDULE_MODEL_MISMATCH/);
    const mixed = await run(...evalArgs, '--schedule', 'stories260K', '--level', '0.5', '--mode', 'was');
    expect(mixed.code).toBe(2);
    expect(mixed.err).toMatch(/USAGE/);
    const method = await run(...evalArgs, '--schedule', 'stories260K', '--level', '0.5', '--method', 'bo');
    expect(method.code).toBe(2);
    expect(method.err).toMatch(/--method/);
    const needsLevel = await run(...evalArgs, '--schedule', 'stories260K');
    expect(needsLevel.code).toBe(2);
    expect(needsLevel.err).toMatch(/needs --level/);
  });
});
