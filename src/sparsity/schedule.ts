// Sparsity schedules: the shipped data (schedules/<model-id>.json) that says, per target level, how
// sparse each block and each of its projections runs and at which WAS score threshold. One typed
// parser (STYLE lesson 10); the SDK turns a level into τ vectors with scheduleTau().
//
// Schedule file, version 1 (JSON; written by `was-edge schedule`, src/sparsity/search.ts: for each
// target a `was-greedy` level, every block at the target, and a `was-bo` level, per-block levels
// from the constrained Bayesian-optimisation search, both measured the same way):
// {
//   "version": 1, "kind": "was-edge-schedule",
//   "model": { "name": general.name or the file id, "id": "<GGUF basename without .gguf>",
//              "sha256": "<hex sha256 of the GGUF bytes>", "nLayers", "dim", "hiddenDim", "kvDim" },
//   "params": [parameters of one block's projections, in the order q k v o gate up down],
//   "calibration": { "text": "<calibration text file>", "tokens": N },
//   "levels": [ {                          // one per (target, method)
//     "target": 0.6,                       // the level's name: the overall block sparsity aimed at
//     "method": "was-greedy" | "was-bo",
//     "blocks": [nLayers block sparsities],
//     "projections": [[7 projection levels] per layer],
//     "thresholds": [[7 WAS score thresholds t] per layer],  // null = ∞ (skip all), −1 = skip none
//     "skippedWeightFraction": measured fraction of block weights skipped,
//     "calibrationLoss": the loss of lossKind with the level applied, or null,
//     "lossKind": "mean-kl" (KL(dense ‖ sparse) per token) | "mean-nll" (next-token NLL per token),
//     "measured": optional, false when skippedWeightFraction is params × levels rather than measured,
//     "search": optional (was-bo): { "budget", "seed", "bounds": [lo, hi] of the block levels,
//                "trace": [the loss of every evaluation, in order; the first is the uniform start] }
//   }, ... ],
//   "validation": optional (src/sparsity/validate.ts): { "text", "firstToken", "tokens", "lossKind",
//     "skipTolerance", "minGain", "targets": [ { "target", "default": the method `{ name, level }` runs,
//       "wasGreedy": { "loss", "skipped" }, "wasBo": { "loss", "skipped" }, "gain": 1 − bo/greedy loss } ] } }
// At run time channel j of a projection is skipped when |x_j| ≤ τ_j with τ_j = t / ‖W[:,j]‖₁ (the
// column L1 norm of that projection's weight over its output rows): the WAS score |x_j|·‖W[:,j]‖₁
// against t (Wang et al. 2025, §3).

import { ScheduleError } from '../errors.js';
import type { LlamaConfig } from '../model/config.js';
import { greedySplit, projectionLevels, thresholdAt, type Calibration } from './plan.js';
import type { ProjectionNorms, Thresholds } from '../model/projections.js';

export const SCHEDULE_METHODS = ['was-greedy', 'was-bo'] as const;
export type ScheduleMethod = (typeof SCHEDULE_METHODS)[number];
export const LOSS_KINDS = ['mean-kl', 'mean-nll'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

export interface ScheduleModel {
  name: string;
  /** The GGUF file's basename without `.gguf`; prebuilt schedules are looked up by it. */
  id: string;
  /** Lower-case hex sha256 of the GGUF bytes: a schedule only runs on the file it was made for. */
  sha256: string;
  nLayers: number;
  dim: number;
  hiddenDim: number;
  kvDim: number;
}

export interface ScheduleLevel {
  target: number;
  method: ScheduleMethod;
  /** (layer) block sparsity. */
  blocks: number[];
  /** (layer, projection) sparsity of q k v o gate up down. */
  projections: number[][];
  /** (layer, projection) WAS score threshold t; null stands for ∞ (JSON has no Infinity). */
  thresholds: (number | null)[][];
  skippedWeightFraction: number;
  calibrationLoss: number | null;
  lossKind: LossKind;
  /** false: skippedWeightFraction is predicted from params × levels, not measured. */
  measured?: boolean;
  /** was-bo: how the search ran and the loss of each of its evaluations. */
  search?: ScheduleSearch;
}

export interface ScheduleSearch {
  /** Evaluations, the uniform warm start included. */
  budget: number;
  seed: number;
  /** Bounds [lo, hi] of every block's level. */
  bounds: [number, number];
  /** The loss (lossKind) of every evaluation in order; trace[0] is the uniform schedule's. */
  trace: number[];
}

export interface Schedule {
  version: 1;
  kind: 'was-edge-schedule';
  model: ScheduleModel;
  params: number[];
  calibration: { text: string; tokens: number };
  levels: ScheduleLevel[];
  /** Optional (files before the validation gate lack it): was-bo against was-greedy on held-out tokens. */
  validation?: ScheduleValidation;
}

/** One level measured on the validation tokens. */
export interface ValidationPoint {
  /** The loss of the schedule's lossKind over the validation tokens. */
  loss: number;
  /** Block weights skipped over the validation tokens, as the backend counted them. */
  skipped: number;
}

export interface TargetValidation {
  target: number;
  /** The method `scheduleLevel()` without a method (SDK `{ name, level }`, CLI `--level`) runs. */
  default: ScheduleMethod;
  wasGreedy: ValidationPoint;
  wasBo: ValidationPoint;
  /** 1 − wasBo.loss / wasGreedy.loss: was-bo's relative gain over uniform (negative: worse). */
  gain: number;
}

export interface ScheduleValidation {
  /** The text the validation tokens come from (the calibration text: tokens disjoint from the search's). */
  text: string;
  /** Index of the first validation token in the tokenized text (BOS at 0 included). */
  firstToken: number;
  /** Predictions scored. */
  tokens: number;
  lossKind: LossKind;
  /** was-bo may skip at most this much less than was-greedy and still count as equally sparse. */
  skipTolerance: number;
  /** was-bo is the default only when its gain exceeds this. */
  minGain: number;
  targets: TargetValidation[];
}


export interface ScheduleExpectation {
  /** sha256 (hex) of the loaded GGUF: a schedule made for other bytes is SCHEDULE_MODEL_MISMATCH. */
  sha256?: string;
  /** The loaded model's shape: a schedule for another shape is SCHEDULE_MODEL_MISMATCH. */
  config?: LlamaConfig;
}

/** Two targets name the same level when they agree to this (levels are written with few digits). */
const LEVEL_EPS = 1e-9;

const MAX_LEVELS = 256;
const MAX_LAYERS = 1024;

const bad = (what: string): never => {
  throw new ScheduleError('BAD_SCHEDULE', `schedule file: ${what}. Regenerate it (npm run schedules) or fix the file.`);
};
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isLevel = (v: unknown) => isNum(v) && v >= 0 && v <= 1;
const posInt = (v: unknown) => isNum(v) && Number.isInteger(v) && v > 0;
// Index loops, not every(): every() skips the holes of a sparse array (an object passed to the SDK may have them).
const all = (a: unknown[], ok: (v: unknown) => boolean) => {
  for (let i = 0; i < a.length; i++) if (!ok(a[i])) return false;
  return true;
};
type Seen = { target: number; method: unknown }[];

/**
 * Validates a parsed schedule file and returns it typed. Throws ScheduleError: BAD_SCHEDULE for a
 * malformed file, SCHEDULE_MODEL_MISMATCH when `expect` names another model.
 */
export function parseSchedule(json: unknown, expect: ScheduleExpectation = {}): Schedule {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('not a JSON object');
  const f = json as Record<string, unknown>;
  const model = checkHeader(f);
  if (!Array.isArray(f.levels) || f.levels.length === 0) bad('levels must be a non-empty array');
  // Bounds the work of the checks below (a hostile file of 20,000 levels took seconds in the worker).
  if ((f.levels as unknown[]).length > MAX_LEVELS || model.nLayers > MAX_LAYERS) bad(`at most ${MAX_LEVELS} levels of at most ${MAX_LAYERS} layers`);
  const seen: Seen = [];
  for (let i = 0; i < (f.levels as unknown[]).length; i++) checkLevel((f.levels as unknown[])[i], `levels[${i}]`, model.nLayers, seen);
  if (f.validation !== undefined) checkValidation(f.validation, seen);
  checkExpectation(model, expect);
  return f as unknown as Schedule;
}

function checkHeader(f: Record<string, unknown>): ScheduleModel {
  if (f.kind !== 'was-edge-schedule') bad(`kind must be "was-edge-schedule", got ${JSON.stringify(f.kind)}`);
  if (f.version !== 1) bad(`version ${JSON.stringify(f.version)} is not supported (1 is)`);
  const m = f.model as Record<string, unknown> | undefined;
  if (typeof m !== 'object' || m === null) bad('model is missing');
  if (typeof m!.name !== 'string' || typeof m!.id !== 'string' || m!.id === '') bad('model.name and model.id must be strings');
  if (typeof m!.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m!.sha256)) bad('model.sha256 must be 64 lower-case hex digits');
  for (const k of ['nLayers', 'dim', 'hiddenDim', 'kvDim']) if (!posInt(m![k])) bad(`model.${k} must be a positive integer`);
  if (!Array.isArray(f.params) || f.params.length !== 7 || !all(f.params, posInt)) bad('params must be 7 positive integers (q k v o gate up down)');
  const cal = f.calibration as Record<string, unknown> | undefined;
  if (typeof cal !== 'object' || cal === null || typeof cal.text !== 'string' || !(isNum(cal.tokens) && cal.tokens >= 0)) {
    bad('calibration must be { text: string, tokens: number }');
  }
  return m as unknown as ScheduleModel;
}

function checkLevel(raw: unknown, at: string, L: number, seen: Seen): void {
  const table = (t: unknown, name: string, ok: (v: unknown) => boolean) => {
    if (!Array.isArray(t) || t.length !== L || !all(t, (row) => Array.isArray(row) && row.length === 7 && all(row, ok))) {
      bad(`${name} must be ${L} rows (one per layer) of 7 values`);
    }
  };
  if (typeof raw !== 'object' || raw === null) bad(`${at} must be an object`);
  const v = raw as Record<string, unknown>;
  if (!isLevel(v.target)) bad(`${at}.target must be a number in [0, 1]`);
  if (!(SCHEDULE_METHODS as readonly unknown[]).includes(v.method)) bad(`${at}.method must be one of ${SCHEDULE_METHODS.join(', ')}`);
  if (seen.some((o) => o.method === v.method && Math.abs(o.target - (v.target as number)) < LEVEL_EPS)) {
    bad(`${at}: target ${String(v.target)} with method ${String(v.method)} appears twice`);
  }
  seen.push({ target: v.target as number, method: v.method });
  if (!Array.isArray(v.blocks) || v.blocks.length !== L || !all(v.blocks, isLevel)) bad(`${at}.blocks must be ${L} numbers in [0, 1]`);
  table(v.projections, `${at}.projections`, isLevel);
  table(v.thresholds, `${at}.thresholds`, (t) => t === null || isNum(t));
  if (!isLevel(v.skippedWeightFraction)) bad(`${at}.skippedWeightFraction must be a number in [0, 1]`);
  if (v.calibrationLoss !== null && !isNum(v.calibrationLoss)) bad(`${at}.calibrationLoss must be a number or null`);
  if (!(LOSS_KINDS as readonly unknown[]).includes(v.lossKind)) bad(`${at}.lossKind must be one of ${LOSS_KINDS.join(', ')}`);
  if (v.measured !== undefined && typeof v.measured !== 'boolean') bad(`${at}.measured must be a boolean when present`);
  if (v.search !== undefined) {
    const q = v.search as Record<string, unknown> | null;
    const bounds = q?.bounds as unknown[] | undefined;
    if (typeof q !== 'object' || q === null || !posInt(q.budget) || !(isNum(q.seed) && Number.isInteger(q.seed)) ||
      !Array.isArray(bounds) || bounds.length !== 2 || !all(bounds, isLevel) || (bounds[0] as number) > (bounds[1] as number) ||
      !Array.isArray(q.trace) || q.trace.length === 0 || q.trace.length > (q.budget as number) || !all(q.trace, isNum)) {
      bad(`${at}.search must be { budget: positive integer, seed: integer, bounds: [lo, hi] in [0, 1], trace: 1 to budget numbers }`);
    }
  }
}

function checkValidation(raw: unknown, seen: Seen): void {
  const q = raw as Record<string, unknown> | null;
  const shape = 'validation must be { text, firstToken, tokens, lossKind, skipTolerance, minGain, targets: [{ target, default, wasGreedy: { loss, skipped }, wasBo: { loss, skipped }, gain }] }';
  if (typeof q !== 'object' || q === null || typeof q.text !== 'string' || !(isNum(q.firstToken) && q.firstToken >= 0) || !posInt(q.tokens) ||
    !(LOSS_KINDS as readonly unknown[]).includes(q.lossKind) || !(isNum(q.skipTolerance) && q.skipTolerance >= 0) || !isNum(q.minGain) ||
    !Array.isArray(q.targets) || q.targets.length > MAX_LEVELS) bad(shape);
  const point = (p: unknown) => typeof p === 'object' && p !== null && isNum((p as ValidationPoint).loss) && isLevel((p as ValidationPoint).skipped);
  const targets: number[] = [];
  for (let i = 0; i < (q!.targets as unknown[]).length; i++) {
    const t = (q!.targets as unknown[])[i] as Record<string, unknown> | null;
    if (typeof t !== 'object' || t === null || !isLevel(t.target) || !(SCHEDULE_METHODS as readonly unknown[]).includes(t.default) ||
      !point(t.wasGreedy) || !point(t.wasBo) || !isNum(t.gain)) bad(`validation.targets[${i}]: ${shape}`);
    const target = t!.target as number;
    if (targets.some((o) => Math.abs(o - target) < LEVEL_EPS)) bad(`validation.targets[${i}]: target ${target} appears twice`);
    targets.push(target);
    // The default must be a level the file has, and the gate compares two: both must be there.
    for (const method of SCHEDULE_METHODS) {
      if (!seen.some((o) => o.method === method && Math.abs(o.target - target) < LEVEL_EPS)) bad(`validation.targets[${i}]: no ${method} level at target ${target}`);
    }
  }
}

/** SCHEDULE_MODEL_MISMATCH when the schedule names another model than `expect`. */
function checkExpectation(model: ScheduleModel, expect: ScheduleExpectation): void {
  const c = expect.config;
  if (c) {
    const kvDim = c.nKVHeads * c.headDim;
    if (model.nLayers !== c.nLayers || model.dim !== c.dim || model.hiddenDim !== c.hiddenDim || model.kvDim !== kvDim) {
      throw new ScheduleError('SCHEDULE_MODEL_MISMATCH',
        `the schedule "${model.id}" is for a model with ${model.nLayers} layers, dim ${model.dim}, hidden ${model.hiddenDim}, kv ${model.kvDim}; ` +
        `the loaded model has ${c.nLayers}, ${c.dim}, ${c.hiddenDim}, ${kvDim}. Use the schedule made for this model.`);
    }
  }
  if (expect.sha256 !== undefined && expect.sha256.toLowerCase() !== model.sha256) {
    throw new ScheduleError('SCHEDULE_MODEL_MISMATCH',
      `the schedule "${model.id}" was made for the GGUF with sha256 ${model.sha256.slice(0, 12)}…, not the loaded one ` +
      `(${expect.sha256.slice(0, 12)}…): thresholds are only valid for the exact weights they were calibrated on. ` +
      'Use the schedule shipped for this file or make one for it.');
  }
}

/** The distinct targets of a schedule, in file order. */
export function scheduleTargets(schedule: Schedule): number[] {
  const out: number[] = [];
  for (const l of schedule.levels) if (!out.some((t) => Math.abs(t - l.target) < LEVEL_EPS)) out.push(l.target);
  return out;
}

/**
 * The method a target runs when none is asked for (SDK `{ name, level }`, CLI `--level` alone): the
 * winner the file's validation recorded; for a target it did not validate (files made before the
 * gate), `was-bo` when the file has that level, else the method of its first level at the target.
 * Undefined when the file has no level at `target`.
 */
export function defaultMethod(schedule: Schedule, target: number): ScheduleMethod | undefined {
  const recorded = schedule.validation?.targets.find((v) => Math.abs(v.target - target) < LEVEL_EPS);
  if (recorded) return recorded.default;
  const at = schedule.levels.filter((l) => Math.abs(l.target - target) < LEVEL_EPS);
  return at.find((l) => l.method === 'was-bo')?.method ?? at[0]?.method;
}

/**
 * The level of `schedule` at `target`, made by `method`; without a method, the one defaultMethod()
 * picks. SCHEDULE_LEVEL_MISSING lists what there is.
 */
export function scheduleLevel(schedule: Schedule, target: number, method?: ScheduleMethod): ScheduleLevel {
  const at = schedule.levels.filter((l) => Math.abs(l.target - target) < LEVEL_EPS);
  const want = method ?? defaultMethod(schedule, target);
  const level = at.find((l) => l.method === want);
  if (!level) {
    const has = at.length ? `level ${String(target)} only with method ${at.map((l) => l.method).join(', ')}` : `levels ${scheduleTargets(schedule).join(', ')}`;
    throw new ScheduleError('SCHEDULE_LEVEL_MISSING',
      `the schedule "${schedule.model.id}" has no level ${String(target)}${method ? ` made by ${method}` : ''}; it has ${has}.`);
  }
  return level;
}

/**
 * τ vectors of one level: (layer, projection) → (in_dim), τ_j = t / ‖W[:,j]‖₁, or null for a
 * projection that skips nothing (t < 0). A zero column is skipped at any t ≥ 0 (its products are 0).
 */
export function scheduleTau(schedule: Schedule, target: number, norms: ProjectionNorms, method?: ScheduleMethod): Thresholds {
  const level = scheduleLevel(schedule, target, method);
  if (norms.length !== schedule.model.nLayers) {
    throw new ScheduleError('SCHEDULE_MODEL_MISMATCH', `norms cover ${norms.length} layers, the schedule ${schedule.model.nLayers}.`);
  }
  return levelTau(level.thresholds, norms);
}

/** τ of a (layer, projection) table of WAS thresholds t (null: ∞; negative: skip nothing → null). */
export function levelTau(thresholds: (number | null)[][], norms: ProjectionNorms): Thresholds {
  return norms.map((layer, l) => layer.map((n, p) => {
    const raw = thresholds[l]![p]!;
    const t = raw === null ? Infinity : raw;
    if (t < 0) return null;
    const tau = new Float32Array(n.length);
    for (let j = 0; j < n.length; j++) tau[j] = n[j]! > 0 ? t / n[j]! : Infinity;
    return tau;
  }));
}

/**
 * Block levels → the level's tables: each block split over its projections by the calibration's
 * greedy table at exactly its level (greedySplit), thresholds read off the WAS tables.
 */
export function splitBlocks(cal: Calibration, blocks: ArrayLike<number>): Pick<ScheduleLevel, 'blocks' | 'projections' | 'thresholds'> {
  const projections = Array.from(blocks, (s, l) => greedySplit(cal, s, l));
  const thresholds = projections.map((ps, l) => ps.map((s, p) => {
    const t = thresholdAt(cal.was[l]![p]!, cal.grid, s);
    return Number.isFinite(t) ? t : null;
  }));
  return { blocks: Array.from(blocks), projections, thresholds };
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/**
 * The uniform-block was-greedy schedule of a calibration file: every block at each target, split
 * over its projections by the calibration's greedy table, thresholds read off its WAS tables at each
 * projection's level. skippedWeightFraction is params × levels (`measured: false`) and
 * calibrationLoss null until a run measures them (`was-edge schedule` does, src/sparsity/search.ts).
 */
export function scheduleFromCalibration(cal: Calibration, levels: number[], method: ScheduleMethod = 'was-greedy', id: string = cal.model.name): Schedule {
  const { nLayers } = cal.model;
  const total = cal.params.reduce((a, b) => a + b, 0);
  return {
    version: 1,
    kind: 'was-edge-schedule',
    model: {
      name: cal.model.name, id, sha256: cal.model.sha256,
      nLayers: cal.model.nLayers, dim: cal.model.dim, hiddenDim: cal.model.hiddenDim, kvDim: cal.model.kvDim,
    },
    params: cal.params.slice(),
    calibration: { text: cal.data.text, tokens: cal.data.tokens },
    levels: levels.map((target) => {
      const projections = Array.from({ length: nLayers }, (_, l) => projectionLevels(cal, 'was-greedy', target, l));
      const blocks = projections.map((ps) => round6(ps.reduce((a, s, p) => a + s * cal.params[p]!, 0) / total));
      const thresholds = projections.map((ps, l) => ps.map((s, p) => {
        const t = thresholdAt(cal.was[l]![p]!, cal.grid, s);
        return Number.isFinite(t) ? t : null;
      }));
      return {
        target, method, blocks, projections, thresholds,
        skippedWeightFraction: round6(blocks.reduce((a, b) => a + b, 0) / nLayers),
        calibrationLoss: null, lossKind: 'mean-nll' as const, measured: false,
      };
    }),
  };
}

/** A schedule as its file: two-space indents, arrays of numbers on one line (tables stay readable). */
export function formatSchedule(schedule: Schedule): string {
  return formatJson(schedule, '') + '\n';
}

function formatJson(v: unknown, indent: string): string {
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object' || x === null)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
    const inner = indent + '  ';
    return `[\n${v.map((x) => inner + formatJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  if (typeof v === 'object' && v !== null) {
    const inner = indent + '  ';
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatJson(x, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}
