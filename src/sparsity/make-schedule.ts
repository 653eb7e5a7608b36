// From a calibration and its text to a schedule file: the options and their defaults, the split of
// the text into search and validation chunks, the search (src/sparsity/search.ts), the validation
// gate (src/sparsity/validate.ts) and the Schedule object. The one path `was-edge schedule` and the
// SDK's engine.searchSchedule() share, so that the same inputs and seed give the same file.

import type { Backend } from '../backend.js';
import { CalibrationError, OptionError } from '../errors.js';
import type { Model } from '../model/model.js';
import type { ProjectionNorms } from '../model/projections.js';
import type { WasModule } from '../wasm/module.js';
import { checkpoint } from './checkpoint.js';
import type { Calibration } from './plan.js';
import { parseSchedule, type Schedule } from './schedule.js';
import { CalibrationObjective, checkSearchOptions, searchSchedules, type SearchProgress } from './search.js';
import { splitCalibrationText, validateLevels, type CalibrationSplit } from './validate.js';

export interface ScheduleSearchOptions {
  /** Overall block sparsities to search, each in (0, 0.95). Default 0.4, 0.5, 0.6, 0.7, 0.8. */
  targets?: readonly number[];
  /** Evaluations per target, the uniform start included (≥ 2). Default 24. */
  budget?: number;
  /** Seed of the search. Default 1. */
  seed?: number;
  /** Search tokens, in chunks of `ctx` from the start of the text. Default 2048. */
  tokens?: number;
  /** Held-out tokens of the validation gate, the text's last whole chunks. Default: `tokens`. */
  validationTokens?: number;
  /** Tokens per chunk (BOS first). Default min(256, the context the backend runs). */
  ctx?: number;
}

/** The options with their defaults, checked. */
export type ScheduleSearchPlan = Required<ScheduleSearchOptions>;

export const SCHEDULE_SEARCH_DEFAULTS = { targets: [0.4, 0.5, 0.6, 0.7, 0.8], budget: 24, seed: 1, tokens: 2048, ctx: 256 } as const;

/**
 * Defaults and checks, before any work. `maxCtx`: the longest chunk the backend can run, `ctxLimit`
 * what it is in words; `flag` spells an option as the caller's user knows it (`--ctx` in the CLI).
 */
export function planScheduleSearch(o: ScheduleSearchOptions, maxCtx: number, ctxLimit: string,
  flag: (option: string) => string = (x) => x): ScheduleSearchPlan {
  const targets = o.targets ?? SCHEDULE_SEARCH_DEFAULTS.targets;
  if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'number')) throw new OptionError(flag('targets'), `must be an array of numbers, got ${JSON.stringify(targets)}.`);
  if (new Set(targets).size !== targets.length) throw new OptionError(flag('targets'), `lists a target twice: ${targets.join(',')}.`);
  const plan: ScheduleSearchPlan = {
    targets: [...targets],
    budget: o.budget ?? SCHEDULE_SEARCH_DEFAULTS.budget,
    seed: o.seed ?? SCHEDULE_SEARCH_DEFAULTS.seed,
    tokens: o.tokens ?? SCHEDULE_SEARCH_DEFAULTS.tokens,
    validationTokens: o.validationTokens ?? o.tokens ?? SCHEDULE_SEARCH_DEFAULTS.tokens,
    ctx: o.ctx ?? Math.min(SCHEDULE_SEARCH_DEFAULTS.ctx, maxCtx),
  };
  checkSearchOptions(plan);
  for (const k of ['tokens', 'validationTokens'] as const) {
    if (!Number.isInteger(plan[k]) || plan[k] < 1) throw new OptionError(flag(k), `must be an integer of at least 1, got ${plan[k]}.`);
  }
  if (!Number.isInteger(plan.ctx) || plan.ctx < 4 || plan.ctx > maxCtx) throw new OptionError(flag('ctx'), `must be in 4..${maxCtx} (${ctxLimit}), got ${plan.ctx}.`);
  return plan;
}

/** The calibration must be of these bytes: thresholds are only valid for the weights they were recorded on. */
export function checkCalibrationModel(cal: Calibration, sha256: string, what: string, remedy: string): void {
  if (cal.model.sha256 !== sha256) {
    throw new CalibrationError('CALIBRATION_MODEL_MISMATCH',
      `the calibration was made for the GGUF with sha256 ${cal.model.sha256.slice(0, 12)}…, not ${what} (${sha256.slice(0, 12)}…); ${remedy}`);
  }
}

/**
 * Search chunks from the start of the text, validation chunks from its end, disjoint, and disjoint
 * from the calibration's own tokens when it was recorded from this text (the same `textName`).
 */
export function splitScheduleText(model: Model, cal: Calibration, text: string, textName: string, plan: ScheduleSearchPlan,
  flag: (option: string) => string = (x) => x): CalibrationSplit {
  const all = model.tokenizer.encode(text, { bos: true });
  return splitCalibrationText(all, model.tokenizer.bos, plan.ctx, plan.tokens, plan.validationTokens, cal.data.text === textName ? cal.data.tokens : 0,
    flag('validationTokens'));
}

/** Where the search is: the dense pass (done 0, then 1 with its figures), each evaluation, each validated target. */
export type ScheduleProgress =
  | { phase: 'dense'; done: number; total: 1; chunks: number; ctx: number; tokens?: number; denseNll?: number }
  | ({ phase: 'search'; done: number; total: number } & SearchProgress)
  | { phase: 'validation'; done: number; total: number; chunks: number };

export interface MakeScheduleInputs {
  model: Model;
  /** Hex sha256 of the GGUF bytes (the calibration's). */
  sha256: string;
  /** The schedule's `model.id`: the name it is found by. */
  id: string;
  backend: Backend;
  calibration: Calibration;
  split: CalibrationSplit;
  /** Name of the text (recorded in the file). */
  textName: string;
  wasm: WasModule;
  norms: ProjectionNorms;
}

/**
 * Searches and validates every target on `backend` and returns the checked Schedule. Leaves the
 * backend's KV cache and thresholds changed: the caller restores what it relies on.
 */
export async function makeSchedule(x: MakeScheduleInputs, plan: ScheduleSearchPlan,
  o: { onProgress?: (p: ScheduleProgress) => void; signal?: AbortSignal } = {}): Promise<Schedule> {
  const { split, calibration: cal, backend } = x;
  const c = x.model.config;
  const tick = checkpoint(o.signal, 'The schedule search');
  const dense = { phase: 'dense', total: 1, chunks: split.search.length, ctx: plan.ctx } as const;
  o.onProgress?.({ ...dense, done: 0 });
  const objective = await CalibrationObjective.create(backend, split.search, tick);
  o.onProgress?.({ ...dense, done: 1, tokens: objective.tokens, denseNll: objective.denseNll });
  const total = plan.targets.length * plan.budget;
  const levels = await searchSchedules(cal, x.norms, objective, x.wasm, {
    targets: plan.targets, budget: plan.budget, seed: plan.seed,
    onProgress: (p) => o.onProgress?.({ phase: 'search', done: p.index * plan.budget + p.evaluation, total, ...p }),
  });
  o.onProgress?.({ phase: 'validation', done: 0, total: plan.targets.length, chunks: split.validation.length });
  const validation = await validateLevels(levels, x.norms, backend, split.validation, {
    text: x.textName, firstToken: split.validationFirstToken, tick,
    onProgress: (done, n) => o.onProgress?.({ phase: 'validation', done, total: n, chunks: split.validation.length }),
  });
  const schedule: Schedule = {
    version: 1,
    kind: 'was-edge-schedule',
    model: { name: cal.model.name, id: x.id, sha256: x.sha256, nLayers: c.nLayers, dim: c.dim, hiddenDim: c.hiddenDim, kvDim: c.nKVHeads * c.headDim },
    params: cal.params.slice(),
    calibration: { text: x.textName, tokens: objective.tokens },
    levels,
    validation,
  };
  return parseSchedule(schedule, { sha256: x.sha256, config: c });
}
