// The validation gate (src/sparsity/validate.ts) and the default method of a schedule file
// (defaultMethod/scheduleLevel in src/sparsity/schedule.ts), on small generated fixtures.
import { describe, expect, test } from 'vitest';
import { defaultMethod, parseSchedule, scheduleLevel, type Schedule, type ScheduleLevel } from '../../src/sparsity/schedule.js';
import { gate, splitCalibrationText } from '../../src/sparsity/validate.js';
import { OptionError, ScheduleError } from '../../src/errors.js';

describe('gate', () => {
  test('was-bo wins with a lower loss at the same skipped fraction; the gain is relative', () => {
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.9, skipped: 0.6 })).toEqual({ default: 'was-bo', gain: 0.1 });
  });

  test('a higher or equal loss keeps was-greedy, and says by how much was-bo lost', () => {
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 1.05, skipped: 0.6 })).toEqual({ default: 'was-greedy', gain: -0.05 });
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 1, skipped: 0.6 })).toEqual({ default: 'was-greedy', gain: 0 });
  });

  test('skipping less than uniform beyond the tolerance is no fair win; skipping more is fine', () => {
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.8, skipped: 0.59 }).default).toBe('was-greedy');
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.8, skipped: 0.599 }).default).toBe('was-bo'); // within 0.002
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.8, skipped: 0.59 }, { skipTolerance: 0.02 }).default).toBe('was-bo');
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.8, skipped: 0.7 }).default).toBe('was-bo');
  });

  test('minGain asks for a margin', () => {
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.98, skipped: 0.6 }, { minGain: 0.05 }).default).toBe('was-greedy');
    expect(gate({ loss: 1, skipped: 0.6 }, { loss: 0.9, skipped: 0.6 }, { minGain: 0.05 }).default).toBe('was-bo');
  });

  test('uniform at zero loss cannot be beaten', () => {
    expect(gate({ loss: 0, skipped: 0.1 }, { loss: 0, skipped: 0.1 })).toEqual({ default: 'was-greedy', gain: 0 });
  });
});

describe('splitCalibrationText', () => {
  const tokens = Array.from({ length: 1000 }, (_, i) => i + 10);

  test('search chunks from the start, validation chunks ending at the last whole chunk, BOS first in each', () => {
    const s = splitCalibrationText(tokens, 1, 100, 250, 150);
    expect(s.search.map((c) => [c[0], c[1], c.length])).toEqual([[1, 11, 100], [1, 111, 100], [1, 211, 100]]);
    expect(s.validation.map((c) => [c[0], c[1], c.length])).toEqual([[1, 811, 100], [1, 911, 100]]);
    expect(s.validationFirstToken).toBe(800);
  });

  test('overlap with the search or a calibration\'s reserved tokens is an OptionError', () => {
    expect(() => splitCalibrationText(tokens, 1, 100, 600, 500)).toThrow(OptionError);
    expect(() => splitCalibrationText(tokens, 1, 100, 100, 300, 800)).toThrow(/calibration's first 800 tokens/);
    expect(splitCalibrationText(tokens, 1, 100, 100, 300, 700).validationFirstToken).toBe(700);
  });
});

/** A one-layer schedule with both methods at 0.5 and 0.7. */
function fixture(): Schedule {
  const level = (target: number, method: ScheduleLevel['method']): ScheduleLevel => ({
    target, method, blocks: [target], projections: [new Array<number>(7).fill(target)], thresholds: [new Array<number>(7).fill(0.1)],
    skippedWeightFraction: target, calibrationLoss: target, lossKind: 'mean-kl', measured: true,
  });
  return {
    version: 1, kind: 'was-edge-schedule',
    model: { name: 'tiny', id: 'tiny', sha256: 'a'.repeat(64), nLayers: 1, dim: 8, hiddenDim: 16, kvDim: 8 },
    params: [64, 64, 64, 64, 128, 128, 128],
    calibration: { text: 'calib.txt', tokens: 510 },
    levels: [level(0.5, 'was-greedy'), level(0.5, 'was-bo'), level(0.7, 'was-greedy'), level(0.7, 'was-bo')],
  };
}
const validated = (): Schedule => ({
  ...fixture(),
  validation: {
    text: 'calib.txt', firstToken: 1024, tokens: 255, lossKind: 'mean-kl', skipTolerance: 0.002, minGain: 0,
    targets: [
      { target: 0.5, default: 'was-greedy', gain: -0.01, wasGreedy: { loss: 1, skipped: 0.5 }, wasBo: { loss: 1.01, skipped: 0.5 } },
      { target: 0.7, default: 'was-bo', gain: 0.1, wasGreedy: { loss: 2, skipped: 0.7 }, wasBo: { loss: 1.8, skipped: 0.7 } },
    ],
  },
});

describe('the default method of a schedule file', () => {
  test('is the winner its validation recorded, per target; --method still picks either', () => {
    const s = parseSchedule(JSON.parse(JSON.stringify(validated())));
    expect(defaultMethod(s, 0.5)).toBe('was-greedy');
    expect(defaultMethod(s, 0.7)).toBe('was-bo');
    expect(scheduleLevel(s, 0.5).method).toBe('was-greedy');
    expect(scheduleLevel(s, 0.7).method).toBe('was-bo');
    expect(scheduleLevel(s, 0.5, 'was-bo').method).toBe('was-bo');
    expect(defaultMethod(s, 0.6)).toBeUndefined();
  });

  test('a file made before the gate (no validation) still parses, and runs was-bo where it has it', () => {
    const old = parseSchedule(JSON.parse(JSON.stringify(fixture())));
    expect(old.validation).toBeUndefined();
    expect(defaultMethod(old, 0.5)).toBe('was-bo');
    const greedyOnly = { ...fixture(), levels: fixture().levels.filter((l) => l.method === 'was-greedy') };
    expect(scheduleLevel(parseSchedule(greedyOnly), 0.7).method).toBe('was-greedy');
  });

  test('a target the validation left out falls back to the same rule', () => {
    const s = validated();
    s.validation!.targets = s.validation!.targets.filter((t) => t.target === 0.5);
    expect(defaultMethod(parseSchedule(s), 0.7)).toBe('was-bo');
  });

  test('a malformed validation is BAD_SCHEDULE: unknown default, a missing level, a target twice, bad numbers', () => {
    const bad = (edit: (s: Schedule) => void) => {
      const s = validated();
      edit(s);
      try {
        parseSchedule(JSON.parse(JSON.stringify(s)));
      } catch (e) {
        expect(e).toBeInstanceOf(ScheduleError);
        return (e as ScheduleError).message;
      }
      throw new Error('parsed');
    };
    expect(bad((s) => { (s.validation!.targets[0] as { default: string }).default = 'teal'; })).toMatch(/validation\.targets\[0\]/);
    expect(bad((s) => { s.levels = s.levels.filter((l) => !(l.target === 0.7 && l.method === 'was-bo')); })).toMatch(/no was-bo level at target 0.7/);
    expect(bad((s) => { s.validation!.targets[1]!.target = 0.5; })).toMatch(/target 0.5 appears twice/);
    expect(bad((s) => { s.validation!.targets[0]!.wasBo.skipped = 2; })).toMatch(/validation\.targets\[0\]/);
    expect(bad((s) => { (s.validation as { tokens: unknown }).tokens = 0; })).toMatch(/validation must be/);
  });
});
