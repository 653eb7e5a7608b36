// Constrained Bayesian optimisation of a per-block sparsity schedule: minimise a loss f(s) over
// S = { lo ≤ s ≤ hi, Σ w_l s_l / Σ w_l = target } (w: each block's parameter count), so that every
// schedule tried has the target effective sparsity. The optimiser state lives in Wasm memory
// (assembly/bo/optimizer.ts) until the module's reset(); this class checks options once, moves
// points in and out, and runs the ask–tell loop.
//
//   const bo = new ConstrainedBO(wasm, { weights, lo: 0, hi: 0.9, target: 0.5, seed: 1 });
//   const { s, y } = await bo.minimize(evalLoss, { budget: 60, initial: [uniform] });

import { BayesOptError, OptionError, WasEdgeError } from '../errors.js';
import type { BoSetup } from '../wasm/exports.js';
import type { WasModule } from '../wasm/module.js';


export interface ConstrainedBOOptions {
  /** Per-coordinate weights w_l ≥ 0 (e.g. parameter counts), not all zero. */
  weights: ArrayLike<number>;
  /** Lower bounds, one per coordinate or one for all. */
  lo: ArrayLike<number> | number;
  /** Upper bounds, one per coordinate or one for all; lo ≤ hi. */
  hi: ArrayLike<number> | number;
  /** The weighted mean Σ w s / Σ w every point keeps; within [Σ w lo, Σ w hi] / Σ w. */
  target: number;
  /** Seed of the Wasm generator: same seed, same observations → same suggestions. Default 0. */
  seed?: number;
  /** Capacity of the state (observations, initial ones included). Default 128. */
  maxObservations?: number;
  /** Observations before the GP is used; until then suggestions are random points of S. Default 8. */
  initialDesign?: number;
  /** Raw log-EI candidates per suggestion (half random on S, half around the incumbent). Default 256. */
  rawSamples?: number;
  /** Best raw candidates refined by projected gradient ascent. Default 8. */
  restarts?: number;
  /** Starts of the hyper-parameter fit (last fit, prior centre, prior draws). Default 3. */
  fitStarts?: number;
  /** L-BFGS iterations per fit start. Default 40. */
  fitIterations?: number;
  /** Projected-gradient steps per refined candidate. Default 30. */
  ascentSteps?: number;
  /**
   * Model-based evaluations in a row without improvement before the trust region around the
   * incumbent halves (TuRBO, Eriksson et al. 2019). Default max(4, ⌈d/8⌉).
   */
  failureTolerance?: number;
  /** Lower bound of the GP noise variance, in units of the standardised loss. Default 1e-6. */
  noiseFloor?: number;
  /** Priors on the hyper-parameters (dimension-scaled length scales, Hvarfner et al. 2024). Default true. */
  prior?: boolean;
}

export interface Observation {
  s: Float64Array;
  y: number;
}

/** Where the last suggestion came from: the initial design, the GP's log-EI maximiser, or a fallback. */
export type SuggestionSource = 'design' | 'model' | 'fallback';

export interface MinimizeOptions {
  /** Total evaluations, the initial points included. */
  budget: number;
  /** Points to evaluate first (e.g. the uniform schedule s_l = target); each must lie on S. */
  initial?: ReadonlyArray<ArrayLike<number>>;
  /** Called after each evaluation. */
  onProgress?: (p: { evaluation: number; s: Float64Array; y: number; best: Observation; source: SuggestionSource | 'initial' }) => void;
  /** Stops between evaluations with the signal's reason. */
  signal?: AbortSignal;
}

const SOURCES: readonly SuggestionSource[] = ['design', 'model', 'fallback'];

/** Slots of boInfo (assembly/bo/optimizer.ts). */
const INFO = { source: 0, logEI: 1, fit: 2, jitter: 3 } as const;

export class ConstrainedBO {
  readonly d: number;
  readonly weights: Float64Array;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly target: number;
  readonly maxObservations: number;
  readonly #wasm: WasModule;
  readonly #bo: number;
  readonly #point: number; // (d) f64 region for points passed in
  readonly #grad: number; // (d) f64 region for the log-EI gradient

  constructor(wasm: WasModule, options: ConstrainedBOOptions) {
    const o = checkOptions(options);
    this.d = o.weights.length;
    this.weights = o.weights;
    this.lo = o.lo;
    this.hi = o.hi;
    this.target = o.target;
    this.maxObservations = o.maxObservations;
    this.#wasm = wasm;
    this.#bo = wasm.boCreate(o.weights, o.lo, o.hi, o.maxObservations, o);
    this.#point = wasm.alloc(this.d * 8);
    this.#grad = wasm.alloc(this.d * 8);
  }

  /** Number of observations so far. */
  get count(): number {
    return this.#wasm.boCount(this.#bo);
  }

  /**
   * The next point to evaluate, on S: a random point of S while fewer than `initialDesign` points
   * are observed, then the log-EI maximiser within a trust region around the best point.
   */
  suggest(): Float64Array {
    if (this.count >= this.maxObservations) {
      throw new BayesOptError('BO_FULL', `suggest: the optimiser holds maxObservations = ${this.maxObservations} points; make it with a larger maxObservations`);
    }
    const ptr = this.#wasm.boSuggest(this.#bo);
    return this.#wasm.f64View(ptr, this.d).slice();
  }

  /** Details of the last suggestion: its source, log EI (model only), and the fit's LML + log prior. */
  lastSuggestion(): { source: SuggestionSource; logEI: number; fit: number; jitter: number } {
    const info = this.#wasm.f64View(this.#wasm.boInfo(this.#bo), 8);
    return { source: SOURCES[info[INFO.source]!] ?? 'design', logEI: info[INFO.logEI]!, fit: info[INFO.fit]!, jitter: info[INFO.jitter]! };
  }

  /** Records the loss y at s (on S to 1e-9, e.g. a suggestion or a warm-start schedule). */
  observe(s: ArrayLike<number>, y: number): void {
    if (s.length !== this.d) throw new WasEdgeError('SHAPE_MISMATCH', `observe: s must have ${this.d} entries, got ${s.length}`);
    this.#wasm.f64View(this.#point, this.d).set(Array.from(s));
    const status = this.#wasm.boObserve(this.#bo, this.#point, y);
    if (status >= 0) return;
    if (status === -4) throw new BayesOptError('BO_FULL', `observe: the optimiser holds maxObservations = ${this.maxObservations} points; make it with a larger maxObservations`);
    if (status === -5) throw new BayesOptError('BO_BAD_VALUE', `observe: y must be a finite number, got ${y}; return a large finite loss for a failed evaluation`);
    const mean = weightedMean(this.weights, s);
    throw new BayesOptError(
      'BO_OFF_SET',
      `observe: s is not on the constrained set (weighted mean ${mean}, target ${this.target}, bounds [lo, hi]); project it with project(s) first`,
    );
  }

  /** The best observation so far. */
  best(): Observation {
    const i = this.#wasm.boBest(this.#bo);
    if (i < 0) throw new BayesOptError('BO_EMPTY', 'best: nothing observed yet; call observe() or minimize() first');
    return {
      s: this.#wasm.f64View(this.#wasm.boObservations(this.#bo) + i * this.d * 8, this.d).slice(),
      y: this.#wasm.f64View(this.#wasm.boValues(this.#bo), i + 1)[i]!,
    };
  }

  /** Every observation, in order. */
  observations(): Observation[] {
    const n = this.count;
    const xs = this.#wasm.f64View(this.#wasm.boObservations(this.#bo), n * this.d);
    const ys = this.#wasm.f64View(this.#wasm.boValues(this.#bo), n);
    return Array.from({ length: n }, (_, i) => ({ s: xs.slice(i * this.d, (i + 1) * this.d), y: ys[i]! }));
  }

  /** `count` random points of S (hit-and-run, the chain the initial design uses): a random-search baseline. */
  sample(count: number): Float64Array[] {
    if (!Number.isInteger(count) || count < 0 || count > 1 << 20) throw new OptionError('count', `must be an integer in [0, 2^20], got ${count}.`);
    const ptr = this.#wasm.alloc(count * this.d * 8);
    try {
      this.#wasm.boSample(this.#bo, ptr, count);
      const all = this.#wasm.f64View(ptr, count * this.d);
      return Array.from({ length: count }, (_, i) => all.slice(i * this.d, (i + 1) * this.d));
    } finally {
      this.#wasm.free(ptr);
    }
  }

  /** The Euclidean projection of s onto S (nearest schedule with the target mean inside the bounds). */
  project(s: ArrayLike<number>): Float64Array {
    if (s.length !== this.d) throw new WasEdgeError('SHAPE_MISMATCH', `project: s must have ${this.d} entries, got ${s.length}`);
    const view = this.#wasm.f64View(this.#point, this.d);
    view.set(Array.from(s));
    this.#wasm.boProject(this.#bo, this.#point, this.#point);
    return this.#wasm.f64View(this.#point, this.d).slice();
  }

  /**
   * GP posterior of the loss at s (in its units) from the fit of the last model-based suggestion;
   * NaN when there is no current fit (before the first model-based suggestion, or after an observe).
   */
  predict(s: ArrayLike<number>): { mean: number; variance: number } {
    if (s.length !== this.d) throw new WasEdgeError('SHAPE_MISMATCH', `predict: s must have ${this.d} entries, got ${s.length}`);
    const out = this.#wasm.alloc(16);
    try {
      this.#wasm.f64View(this.#point, this.d).set(Array.from(s));
      this.#wasm.boPredict(this.#bo, this.#point, out);
      const [mean, variance] = this.#wasm.f64View(out, 2);
      return { mean: mean!, variance: variance! };
    } finally {
      this.#wasm.free(out);
    }
  }

  /**
   * log EI at s and its gradient in s under the current fit: the function suggest() maximised. NaN
   * when there is no current fit (before the first model-based suggestion, or after an observe).
   */
  logEI(s: ArrayLike<number>): { value: number; gradient: Float64Array } {
    if (s.length !== this.d) throw new WasEdgeError('SHAPE_MISMATCH', `logEI: s must have ${this.d} entries, got ${s.length}`);
    this.#wasm.f64View(this.#point, this.d).set(Array.from(s));
    const value = this.#wasm.boLogEI(this.#bo, this.#point, this.#grad);
    return { value, gradient: this.#wasm.f64View(this.#grad, this.d).slice() };
  }

  /** Length scales (in units of hi − lo), signal and noise variance (standardised loss) of the last fit. */
  hyperparameters(): { lengthscales: Float64Array; signalVariance: number; noiseVariance: number } {
    const theta = this.#wasm.f64View(this.#wasm.boTheta(this.#bo), this.d + 2);
    return {
      lengthscales: theta.slice(0, this.d).map(Math.exp),
      signalVariance: Math.exp(theta[this.d]!),
      noiseVariance: Math.exp(theta[this.d + 1]!),
    };
  }

  /**
   * Evaluates the initial points, then suggest → evaluate → observe until `budget` evaluations in
   * all; returns the best. Evaluations run one at a time, in order.
   */
  async minimize(
    objective: (s: Float64Array) => Promise<number> | number,
    { budget, initial = [], onProgress, signal }: MinimizeOptions,
  ): Promise<Observation> {
    if (!Number.isInteger(budget) || budget < 1) throw new OptionError('budget', `must be an integer ≥ 1, got ${String(budget)}.`);
    if (this.count + budget > this.maxObservations) {
      throw new OptionError('budget', `${budget} evaluations after ${this.count} observations exceed maxObservations = ${this.maxObservations}; make the optimiser with a larger maxObservations.`);
    }
    if (initial.length > budget) throw new OptionError('initial', `${initial.length} initial points exceed the budget of ${budget}.`);
    for (let e = 0; e < budget; e++) {
      signal?.throwIfAborted();
      const fromInitial = e < initial.length;
      const s = fromInitial ? Float64Array.from(initial[e]!) : this.suggest();
      const source = fromInitial ? 'initial' : this.lastSuggestion().source;
      const y = await objective(s.slice());
      if (typeof y !== 'number' || !Number.isFinite(y)) {
        throw new BayesOptError('BO_BAD_VALUE', `minimize: the objective returned ${String(y)} at evaluation ${e}; return a large finite loss for a failed evaluation`);
      }
      this.observe(s, y);
      onProgress?.({ evaluation: e, s, y, best: this.best(), source });
    }
    return this.best();
  }
}

/** Σ w_l s_l / Σ w_l. */
export function weightedMean(weights: ArrayLike<number>, s: ArrayLike<number>): number {
  let ws = 0;
  let w = 0;
  for (let l = 0; l < weights.length; l++) {
    ws += weights[l]! * s[l]!;
    w += weights[l]!;
  }
  return ws / w;
}

/** The options with defaults filled in; a BoSetup for the Wasm (src/wasm/module.ts) plus the arrays. */
interface CheckedOptions extends BoSetup {
  weights: Float64Array;
  lo: Float64Array;
  hi: Float64Array;
  maxObservations: number;
}

/** Checks every option once and returns a normalised copy (STYLE lesson 6). */
function checkOptions(o: ConstrainedBOOptions): CheckedOptions {
  if (typeof o !== 'object' || o === null) throw new OptionError('options', 'must be an object with weights, lo, hi and target.');
  const d = o.weights?.length;
  if (!Number.isInteger(d) || d < 1 || d > 4096) throw new OptionError('weights', `must be an array of 1 to 4096 numbers, got ${String(d)} entries.`);
  const weights = Float64Array.from(o.weights);
  if (!weights.every((w) => Number.isFinite(w) && w >= 0) || !weights.some((w) => w > 0)) {
    throw new OptionError('weights', 'must be finite and ≥ 0, with at least one > 0 (parameter counts of each block).');
  }
  const bound = (name: 'lo' | 'hi', v: ArrayLike<number> | number): Float64Array => {
    const out = typeof v === 'number' ? new Float64Array(d).fill(v) : Float64Array.from(v ?? []);
    if (out.length !== d) throw new OptionError(name, `must be a number or ${d} numbers (one per weight), got ${out.length}.`);
    if (!out.every(Number.isFinite)) throw new OptionError(name, 'must be finite.');
    return out;
  };
  const lo = bound('lo', o.lo);
  const hi = bound('hi', o.hi);
  const bad = lo.findIndex((v, l) => v > hi[l]!);
  if (bad >= 0) throw new OptionError('hi', `must be ≥ lo at every coordinate; coordinate ${bad} has lo ${lo[bad]} > hi ${hi[bad]}.`);
  const target = o.target;
  const min = weightedMean(weights, lo);
  const max = weightedMean(weights, hi);
  if (typeof target !== 'number' || !(target >= min - 1e-12 && target <= max + 1e-12)) {
    throw new OptionError('target', `must be a weighted mean reachable inside the bounds, in [${min}, ${max}], got ${String(target)}.`);
  }
  const int = (name: string, v: number | undefined, dflt: number, lo: number, hi: number): number => {
    const x = v ?? dflt;
    if (!Number.isInteger(x) || x < lo || x > hi) throw new OptionError(name, `must be an integer in [${lo}, ${hi}], got ${String(x)}.`);
    return x;
  };
  const noiseFloor = o.noiseFloor ?? 1e-6;
  if (!(noiseFloor > 0 && noiseFloor < 1)) throw new OptionError('noiseFloor', `must be in (0, 1), got ${String(noiseFloor)}.`);
  const maxObservations = int('maxObservations', o.maxObservations, 128, 2, 4096);
  const rawSamples = int('rawSamples', o.rawSamples, 256, 2, 1 << 16);
  // The state's f64 arrays (assembly/bo/): per-pair squared differences dominate, then five n × n.
  const bytes = 8 * ((maxObservations * (maxObservations - 1) * d) / 2 + 5 * maxObservations ** 2 + (2 * maxObservations + rawSamples) * d);
  if (bytes > 2 ** 30) {
    throw new OptionError('maxObservations', `${maxObservations} observations of ${d} coordinates need ${(bytes / 2 ** 20).toFixed(0)} MiB of Wasm memory (over 1 GiB); lower maxObservations.`);
  }
  return {
    weights,
    lo,
    hi,
    target,
    seed: int('seed', o.seed, 0, 0, Number.MAX_SAFE_INTEGER),
    maxObservations,
    initialDesign: int('initialDesign', o.initialDesign, 8, 1, 4096),
    rawSamples,
    restarts: int('restarts', o.restarts, 8, 1, 1 << 16),
    fitStarts: int('fitStarts', o.fitStarts, 3, 1, 64),
    fitIterations: int('fitIterations', o.fitIterations, 40, 1, 10_000),
    ascentSteps: int('ascentSteps', o.ascentSteps, 30, 0, 10_000),
    failureTolerance: int('failureTolerance', o.failureTolerance, Math.max(4, Math.ceil(d / 8)), 1, 10_000),
    noiseFloor,
    prior: o.prior ?? true,
  };
}
