// The validation gate of a schedule search: the searched `was-bo` level of a target becomes the
// default (what `{ name, level }` and `--level` without `--method` run) only when it beats the uniform
// `was-greedy` level on calibration tokens the search never saw, at the same measured skipped
// fraction. The search keeps the best of its evaluations on its own tokens, so its result is no worse
// than uniform there by construction; on other text of the same kind it can be (a search on a short
// or off-domain slice fits that slice). The validation tokens are the last whole chunks of the text,
// so they are disjoint from the search's tokens and from a calibration made from the text's start.

import { OptionError } from '../errors.js';
import type { ProjectionNorms } from '../model/projections.js';
import { levelTau, type ScheduleLevel, type ScheduleMethod, type ScheduleValidation, type TargetValidation, type ValidationPoint } from './schedule.js';
import type { Backend } from '../backend.js';
import type { Checkpoint } from './checkpoint.js';
import { CalibrationObjective } from './search.js';

export interface GateOptions {
  /**
   * was-bo may skip at most this much less of the block weights than was-greedy and still count as
   * equally sparse (default 0.002, a fifth of a point); skipping less by more is not a fair win.
   */
  skipTolerance?: number;
  /** was-bo wins only with a relative loss gain above this (default 0: any gain). */
  minGain?: number;
}

export const DEFAULT_SKIP_TOLERANCE = 0.002;

/**
 * The gate, a pure function of the two measurements: was-bo is the default when its loss is lower
 * than uniform's by more than `minGain` (relative) and it skips no less (within `skipTolerance`).
 */
export function gate(greedy: ValidationPoint, bo: ValidationPoint, o: GateOptions = {}): { default: ScheduleMethod; gain: number } {
  const tolerance = o.skipTolerance ?? DEFAULT_SKIP_TOLERANCE;
  const minGain = o.minGain ?? 0;
  const gain = greedy.loss > 0 ? 1 - bo.loss / greedy.loss : 0; // uniform at zero loss cannot be beaten
  const equallySparse = bo.skipped >= greedy.skipped - tolerance;
  return { default: equallySparse && gain > minGain ? 'was-bo' : 'was-greedy', gain: round6(gain) };
}

/** The tokenized text cut into the search's chunks (from the start) and the validation chunks (the last ones). */
export interface CalibrationSplit {
  search: number[][];
  validation: number[][];
  /** Index of the first validation token in the text. */
  validationFirstToken: number;
}

/**
 * Chunks as eval cuts them (ctx tokens, the first replaced by BOS): ⌈searchTokens / ctx⌉ from the
 * start of `tokens`, ⌈validationTokens / ctx⌉ ending at the last whole chunk. `reserved` tokens at the
 * start (a calibration's, when it was made from the same text) must not reach the validation chunks.
 * OptionError when the text is too short for both.
 */
export function splitCalibrationText(tokens: readonly number[], bos: number, ctx: number, searchTokens: number, validationTokens: number,
  reserved = 0, option = '--validation-tokens'): CalibrationSplit {
  const whole = Math.floor(tokens.length / ctx);
  const nSearch = Math.ceil(searchTokens / ctx);
  const nValidation = Math.ceil(validationTokens / ctx);
  if (!(searchTokens >= 1) || !(validationTokens >= 1)) throw new OptionError('tokens', 'search and validation need at least one token each.');
  const firstValidation = whole - nValidation;
  const used = Math.max(nSearch, Math.ceil(reserved / ctx));
  if (firstValidation < used) {
    throw new OptionError(option,
      `the text has ${tokens.length} tokens (${whole} chunks of ${ctx}); ${nSearch} search chunks` +
      (reserved > 0 ? `, the calibration's first ${reserved} tokens` : '') +
      ` and ${nValidation} validation chunks do not fit without overlap; use fewer tokens or a longer text.`);
  }
  const chunk = (k: number) => {
    const c = tokens.slice(k * ctx, (k + 1) * ctx);
    c[0] = bos;
    return c;
  };
  return {
    search: Array.from({ length: nSearch }, (_, k) => chunk(k)),
    validation: Array.from({ length: nValidation }, (_, k) => chunk(firstValidation + k)),
    validationFirstToken: firstValidation * ctx,
  };
}

/**
 * Measures each target's was-greedy and was-bo levels of `levels` on the validation chunks (one dense
 * pass, then two sparse runs a target) and gates them. Targets with only one method are left out.
 */
export async function validateLevels(levels: readonly ScheduleLevel[], norms: ProjectionNorms, backend: Backend,
  chunks: readonly number[][], o: GateOptions & { text: string; firstToken: number; onProgress?: (done: number, total: number) => void; tick?: Checkpoint }): Promise<ScheduleValidation> {
  const pairs: [ScheduleLevel, ScheduleLevel][] = [];
  for (const g of levels) {
    if (g.method !== 'was-greedy') continue;
    const b = levels.find((l) => l.method === 'was-bo' && Math.abs(l.target - g.target) < 1e-9);
    if (b) pairs.push([g, b]);
  }
  const objective = await CalibrationObjective.create(backend, chunks, o.tick);
  const targets: TargetValidation[] = [];
  for (const [i, [g, b]] of pairs.entries()) {
    const measure = async (level: ScheduleLevel): Promise<ValidationPoint> => {
      const m = await objective.measure(levelTau(level.thresholds, norms));
      return { loss: round6(m.kl), skipped: round6(m.skipped) };
    };
    const wasGreedy = await measure(g);
    const wasBo = await measure(b);
    targets.push({ target: g.target, ...gate(wasGreedy, wasBo, o), wasGreedy, wasBo });
    o.onProgress?.(i + 1, pairs.length);
  }
  return {
    text: o.text, firstToken: o.firstToken, tokens: objective.tokens, lossKind: 'mean-kl',
    skipTolerance: o.skipTolerance ?? DEFAULT_SKIP_TOLERANCE, minGain: o.minGain ?? 0, targets,
  };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
