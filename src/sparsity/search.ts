// Per-block sparsity by constrained Bayesian optimisation (`was-bo`): for each target t, find block
// levels s (one per layer) with Σ w_l s_l / Σ w_l = t (w_l: the block's parameters) that minimise
// the calibration loss, each block split over its projections by the calibration's greedy table.
// Warm-started with the uniform schedule s_l = t (the `was-greedy` level), which is also measured
// here, the same way, so that the two levels of a target compare.
//
// The loss is the mean KL(dense ‖ sparse) per predicted token over fixed calibration chunks, not the
// mean NLL: on the same tokens it measures the same damage (E_y~dense[log p_dense(y) − log p_sparse(y)],
// the expected NLL increase when the dense model is right) but averages over the whole next-token
// distribution instead of one sampled y, so a short slice ranks schedules with far less noise, and a
// schedule cannot score by fitting the slice's own tokens better than the dense model does.
//
// Chunks run as eval runs them (src/eval.ts): ctx tokens, BOS first, fed as a prompt with the
// backend's prefill ('sparse': the first 1 % of positions dense); every prediction is scored.

import type { Backend } from '../backend.js';
import { ConstrainedBO } from '../bo/constrained.js';
import { OptionError } from '../errors.js';
import { kl, logSoftmax } from '../eval.js';
import type { WasModule } from '../wasm/module.js';
import type { Checkpoint } from './checkpoint.js';
import type { Calibration } from './plan.js';
import type { ProjectionNorms, Thresholds } from '../model/projections.js';
import { levelTau, splitBlocks, type ScheduleLevel } from './schedule.js';

export interface Measurement {
  /** Mean KL(dense ‖ sparse) per predicted token (nats). */
  kl: number;
  /** Mean next-token NLL per predicted token (nats). */
  nll: number;
  /** Block weights skipped over the tokens run, as the backend counted them. */
  skipped: number;
}

/** The search's loss: the calibration chunks' dense distributions, kept to compare sparse runs with. */
export class CalibrationObjective {
  private constructor(
    private readonly backend: Backend,
    private readonly chunks: readonly number[][],
    /** (position, vocab) log-probabilities of the dense model, positions of every chunk in order. */
    private readonly dense: Float32Array,
    readonly denseNll: number,
    private readonly tick: Checkpoint,
  ) {}

  /** Predictions scored per evaluation. */
  get tokens(): number {
    return this.chunks.reduce((a, c) => a + c.length - 1, 0);
  }

  /**
   * Runs the chunks dense once. Each chunk is ≥ 2 tokens, BOS first, within the backend's context.
   * `tick` runs before each chunk, here and in every measure() (abort, and the event loop let turn).
   */
  static async create(backend: Backend, chunks: readonly number[][], tick: Checkpoint = async () => undefined): Promise<CalibrationObjective> {
    const V = backend.config.vocabSize;
    const positions = chunks.reduce((a, c) => a + c.length - 1, 0);
    if (positions * V > 1 << 28) {
      throw new OptionError('tokens', `${positions} calibration tokens × ${V} vocabulary entries of dense log-probabilities exceed 1 GiB; use fewer tokens.`);
    }
    const dense = new Float32Array(positions * V);
    const log = new Float64Array(V);
    let nll = 0;
    let at = 0;
    backend.setThresholds(null);
    for (const chunk of chunks) {
      await tick();
      await backend.feed(chunk.slice(0, -1), 0, (i, logits) => {
        logSoftmax(logits, log);
        nll -= log[chunk[i + 1]!]!;
        dense.set(log, (at + i) * V);
      });
      at += chunk.length - 1;
    }
    await backend.skippedWeightFraction(); // resets the counters
    return new CalibrationObjective(backend, chunks, dense, nll / positions, tick);
  }

  /** Runs the chunks with τ and compares each prediction with the dense one. */
  async measure(tau: Thresholds): Promise<Measurement> {
    const V = this.backend.config.vocabSize;
    const log = new Float64Array(V);
    let klSum = 0;
    let nll = 0;
    let at = 0;
    this.backend.setThresholds(tau);
    for (const chunk of this.chunks) {
      await this.tick();
      await this.backend.feed(chunk.slice(0, -1), 0, (i, logits) => {
        logSoftmax(logits, log);
        nll -= log[chunk[i + 1]!]!;
        klSum += kl(this.dense.subarray((at + i) * V, (at + i + 1) * V), log);
      });
      at += chunk.length - 1;
    }
    const skipped = (await this.backend.skippedWeightFraction?.()) ?? 0;
    return { kl: klSum / at, nll: nll / at, skipped };
  }
}

export interface SearchOptions {
  targets: readonly number[];
  /** Evaluations per target, the uniform warm start included (≥ 2). */
  budget: number;
  seed: number;
  /** Every block's level lies in [max(0, t − radius), min(MAX_BLOCK, t + radius)]. Default 0.2. */
  radius?: number;
  onProgress?: (p: SearchProgress) => void;
}

export interface SearchProgress {
  target: number;
  /** Index of the target in `targets`. */
  index: number;
  /** Evaluations done for this target (1..budget). */
  evaluation: number;
  budget: number;
  loss: number;
  best: number;
  uniform: number;
}

/** No block runs sparser than this: a block that skips (almost) everything passes nothing on. */
export const MAX_BLOCK = 0.95;

/**
 * For each target: the uniform `was-greedy` level and the best `was-bo` level found in `budget`
 * evaluations, both with their measured loss (mean-kl) and skipped fraction.
 */
export async function searchSchedules(cal: Calibration, norms: ProjectionNorms, objective: CalibrationObjective, wasm: WasModule,
  o: SearchOptions): Promise<ScheduleLevel[]> {
  checkSearchOptions(o);
  const radius = o.radius ?? 0.2;
  const L = cal.model.nLayers;
  // Every block has the same projections; the weights stay general (a block's parameter count).
  const weights = new Float64Array(L).fill(cal.params.reduce((a, b) => a + b, 0));
  const levels: ScheduleLevel[] = [];
  for (const [index, target] of o.targets.entries()) {
    const lo = Math.max(0, target - radius);
    const hi = Math.min(MAX_BLOCK, target + radius);
    // The initial design: the uniform start and random points of the set drawn a third of the way
    // towards it (still on the set: it is convex). Points spread over the whole set are mostly far
    // worse than uniform and teach the GP little about the region that matters, at a small budget.
    const design = Math.min(o.budget, Math.max(3, Math.min(8, Math.floor(o.budget / 4))));
    const bo = new ConstrainedBO(wasm, { weights, lo, hi, target, seed: o.seed, maxObservations: o.budget, initialDesign: design });
    const uniform = new Float64Array(L).fill(target);
    const initial = [uniform, ...bo.sample(design - 1).map((s) => s.map((v) => target + (v - target) / 3))];
    const measured: Measurement[] = [];
    const best = await bo.minimize(async (s) => {
      const m = await objective.measure(levelTau(splitBlocks(cal, s).thresholds, norms));
      measured.push(m);
      return m.kl;
    }, {
      budget: o.budget,
      initial,
      onProgress: (p) => o.onProgress?.({
        target, index, evaluation: p.evaluation + 1, budget: o.budget, loss: p.y, best: p.best.y, uniform: measured[0]!.kl,
      }),
    });
    const all = bo.observations();
    const bestIndex = all.findIndex((x) => x.y === best.y && x.s.every((v, l) => v === best.s[l]));
    const level = (method: 'was-greedy' | 'was-bo', s: ArrayLike<number>, m: Measurement): ScheduleLevel => ({
      target, method, ...splitBlocks(cal, s),
      skippedWeightFraction: round6(m.skipped), calibrationLoss: round6(m.kl), lossKind: 'mean-kl', measured: true,
    });
    levels.push(level('was-greedy', uniform, measured[0]!));
    levels.push({
      ...level('was-bo', best.s, measured[bestIndex]!),
      search: { budget: o.budget, seed: o.seed, bounds: [round6(lo), round6(hi)], trace: measured.map((m) => round6(m.kl)) },
    });
  }
  return levels;
}

/** Throws OptionError for a budget, seed, radius or target the search cannot use (call it before measuring anything). */
export function checkSearchOptions(o: SearchOptions): void {
  if (!Number.isInteger(o.budget) || o.budget < 2 || o.budget > 4096) {
    throw new OptionError('budget', `must be an integer in 2..4096 (the uniform start and at least one search step), got ${o.budget}.`);
  }
  if (!Number.isInteger(o.seed)) throw new OptionError('seed', `must be an integer, got ${o.seed}.`);
  if (o.radius !== undefined && !(o.radius > 0 && o.radius <= 1)) throw new OptionError('radius', `must be in (0, 1], got ${o.radius}.`);
  if (o.targets.length === 0) throw new OptionError('targets', 'must list at least one target.');
  for (const t of o.targets) {
    if (!(t > 0 && t < MAX_BLOCK)) throw new OptionError('targets', `each must be in (0, ${MAX_BLOCK}), got ${t}.`);
  }
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
