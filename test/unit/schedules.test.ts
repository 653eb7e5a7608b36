// Every file shipped in schedules/ parses against the model it is named after: the calibrations
// (<id>.calib.json) and the sparsity schedules (<id>.json, format in src/sparsity/schedule.ts).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { projectionNorms } from '../../src/sparsity/calibrate.js';
import { buildTau, parseCalibration } from '../../src/sparsity/plan.js';
import {
  columnL1Norms, modelProjectionNorms, parseSchedule, scheduleFromCalibration, ScheduleError, scheduleLevel, scheduleTau, type Schedule,
} from '../../src/sparsity/schedule.js';
import { loadWasmNode } from '../../src/wasm/node.js';
import { readShared } from '../helpers/shared.js';

const dir = new URL('../../schedules/', import.meta.url);
const all = readdirSync(dir);
const calibrations = all.filter((f) => f.endsWith('.calib.json'));
const schedules = all.filter((f) => f.endsWith('.json') && !f.endsWith('.calib.json'));
const MODEL_DIRS: Record<string, string> = { stories260K: 'stories260K', 'llama16m-debtext-F32': 'llama16m-debtext' };
const readJson = (f: string): unknown => JSON.parse(readFileSync(new URL(f, dir), 'utf8'));

const models = new Map<string, { model: ReturnType<typeof openModel>; sha256: string }>();
function modelOf(id: string) {
  if (!models.has(id)) {
    const bytes = readShared('models', MODEL_DIRS[id]!, `${id}.gguf`);
    models.set(id, { model: openModel(bytes), sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  return models.get(id)!;
}

test('schedules/ ships a calibration and a schedule for every model family', () => {
  expect(calibrations.sort()).toEqual(['llama16m-debtext-F32.calib.json', 'stories260K.calib.json']);
  expect(schedules.sort()).toEqual(['llama16m-debtext-F32.json', 'stories260K.json']);
});

test.each(calibrations)('%s is a valid calibration of its model', (f) => {
  const { model, sha256 } = modelOf(f.replace('.calib.json', ''));
  const cal = parseCalibration(readJson(f), model.config);
  expect(cal.version).toBe(1);
  expect(cal.model.sha256).toBe(sha256);
  for (const rows of cal.greedy) expect(rows.at(-1)![1].every((s) => s === 1)).toBe(true);
});

test.each(schedules)('%s is a valid schedule of its model: levels 0.4–0.8, measured, thresholds from its calibration', (f) => {
  const id = f.replace('.json', '');
  const { model, sha256 } = modelOf(id);
  const s = parseSchedule(readJson(f), { sha256, config: model.config });
  expect(s.model.id).toBe(id);
  expect(s.levels.map((l) => l.target)).toEqual([0.4, 0.5, 0.6, 0.7, 0.8]);
  const cal = parseCalibration(readJson(`${id}.calib.json`), model.config);
  const rebuilt = scheduleFromCalibration(cal, [0.4, 0.5, 0.6, 0.7, 0.8], 'was-greedy', id);
  expect(s.model).toEqual(rebuilt.model);
  expect(s.params).toEqual(rebuilt.params);
  s.levels.forEach((level, i) => {
    expect(level.method).toBe('was-greedy');
    expect(level.measured).toBe(true);
    expect(level.thresholds).toEqual(rebuilt.levels[i]!.thresholds);
    expect(level.projections).toEqual(rebuilt.levels[i]!.projections);
    // Measured on calibration text: within a few points of the target the greedy split aims at.
    expect(Math.abs(level.skippedWeightFraction - level.target)).toBeLessThan(0.03);
    expect(level.calibrationLoss).toBeGreaterThan(0);
  });
  // Loss grows with sparsity.
  const losses = s.levels.map((l) => l.calibrationLoss!);
  expect(losses).toEqual([...losses].sort((a, b) => a - b));
});

describe('schedule runtime (stories260K)', () => {
  const { model, sha256 } = modelOf('stories260K');
  const file = readJson('stories260K.json') as Schedule;

  test('scheduleTau gives the τ of the calibration\'s was-greedy mode at the same level', async () => {
    const weights = loadWeightsF32(model.file, model.config);
    const wasmNorms = projectionNorms(model, weights, await loadWasmNode('release'));
    const norms = modelProjectionNorms(model);
    // The plain-TS norms used by the SDK agree with the Wasm scorer's.
    norms.forEach((layer, l) => layer.forEach((n, p) => {
      const w = wasmNorms[l]![p]!;
      for (let j = 0; j < n.length; j++) expect(Math.abs(n[j]! - w[j]!)).toBeLessThanOrEqual(1e-5 * w[j]!);
    }));
    const cal = parseCalibration(readJson('stories260K.calib.json'), model.config);
    const schedule = parseSchedule(file, { sha256 });
    for (const level of [0.4, 0.6, 0.8]) {
      const got = scheduleTau(schedule, level, norms);
      const want = buildTau(cal, 'was-greedy', level, norms)!;
      got.forEach((layer, l) => layer.forEach((tau, p) => {
        if (tau === null) expect(want[l]![p]!.every((t) => t === -1)).toBe(true);
        else expect(tau).toEqual(want[l]![p]);
      }));
    }
  });

  test('columnL1Norms sums |W| over output rows', () => {
    expect([...columnL1Norms(Float32Array.from([1, -2, 3, -4, 5, -6]), 2, 3)]).toEqual([5, 7, 9]);
  });

  test('bad files, other models and missing levels are ScheduleErrors with their codes', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ScheduleError);
        return (e as ScheduleError).code;
      }
      throw new Error('did not throw');
    };
    const clone = () => JSON.parse(JSON.stringify(file)) as Schedule;
    expect(code(() => parseSchedule(null))).toBe('BAD_SCHEDULE');
    expect(code(() => parseSchedule({ ...clone(), version: 2 }))).toBe('BAD_SCHEDULE');
    expect(code(() => parseSchedule({ ...clone(), kind: 'was-edge-calibration' }))).toBe('BAD_SCHEDULE');
    const short = clone();
    short.levels[1]!.thresholds.pop();
    expect(() => parseSchedule(short)).toThrow(/levels\[1\]\.thresholds must be 5 rows/);
    const outOfRange = clone();
    outOfRange.levels[0]!.blocks[0] = 1.5;
    expect(code(() => parseSchedule(outOfRange))).toBe('BAD_SCHEDULE');
    expect(code(() => parseSchedule(file, { sha256: '0'.repeat(64) }))).toBe('SCHEDULE_MODEL_MISMATCH');
    const other = modelOf('llama16m-debtext-F32');
    expect(code(() => parseSchedule(file, { config: other.model.config }))).toBe('SCHEDULE_MODEL_MISMATCH');
    expect(code(() => scheduleLevel(parseSchedule(file), 0.65))).toBe('SCHEDULE_LEVEL_MISSING');
    expect(() => scheduleLevel(parseSchedule(file), 0.65)).toThrow(/has 0.4, 0.5, 0.6, 0.7, 0.8/);
  });
});
