// The contract with the AssemblyScript module (assembly/index.ts): its raw exports, the layouts of
// the data it keeps in its memory (score histograms, optimiser setup), and the argument checks made
// before a call crosses (the Wasm traps or misreads on what these refuse).

import { WasEdgeError } from '../errors.js';

/** Bins over log2(score) in [lo, hi): `nbins` bins of width (hi − lo)/nbins, −126 ≤ lo < hi ≤ 128. */
export interface HistogramSpec {
  readonly nbins: number;
  readonly lo: number;
  readonly hi: number;
}

/** 10^4 bins over 2^−40 .. 2^24, as the WAS authors use: a bin is 0.44% wide in score. */
export const DEFAULT_HISTOGRAM: HistogramSpec = { nbins: 10_000, lo: -40, hi: 24 };

/** f64 counts: [zeros, underflow, bin 0 … bin nbins−1, overflow, NaN] (see histogram.ts). */
export function histogramSlots(nbins: number): number {
  return nbins + 4;
}

/** The raw exports of build/was*.wasm; pointers are wasm32 addresses (i32 on the wire). */
export interface WasExports {
  readonly memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  reset(): void;
  columnL1Norms(w: number, rows: number, cols: number, out: number): void;
  histogramSlots(nbins: number): number;
  histogramAccumulate(
    hist: number,
    nbins: number,
    lo: number,
    hi: number,
    x: number,
    norms: number,
    n: number,
    tokens: number,
  ): void;
  histogramQuantile(hist: number, nbins: number, lo: number, hi: number, q: number): number;
  thresholdsToTau(t: number, norms: number, n: number, out: number): void;
  // Bayesian optimisation (assembly/bo/): f64 regions, wasm32 pointers.
  gpCreate(d: number, nMax: number): number;
  gpSetData(gp: number, x: number, y: number, n: number): void;
  gpFit(gp: number, theta: number): number;
  gpGrad(gp: number, grad: number): void;
  gpPredict(gp: number, xs: number, m: number, mean: number, variance: number): void;
  gpJitter(gp: number): number;
  hyperCreate(d: number, usePrior: number, noiseMin: number): number;
  hyperOptimize(gp: number, hyper: number, theta: number, starts: number, maxIter: number, rng: number): number;
  rngCreate(seedLo: number, seedHi: number): number;
  erfc(x: number): number;
  erfcx(x: number): number;
  logh(z: number): number;
  dlogh(z: number): number;
  boCreate(d: number, nMax: number): number;
  boInputs(bo: number): number;
  boSetup(
    bo: number,
    target: number,
    seedLo: number,
    seedHi: number,
    nInit: number,
    rawSamples: number,
    restarts: number,
    fitStarts: number,
    fitIters: number,
    ascentSteps: number,
    failTol: number,
    noiseMin: number,
    usePrior: number,
  ): number;
  boObserve(bo: number, s: number, y: number): number;
  boSuggest(bo: number): number;
  boBest(bo: number): number;
  boSample(bo: number, out: number, count: number): void;
  boProject(bo: number, y: number, out: number): void;
  boPredict(bo: number, s: number, out: number): void;
  boLogEI(bo: number, s: number, grad: number): number;
  boCount(bo: number): number;
  boObservations(bo: number): number;
  boValues(bo: number): number;
  boTheta(bo: number): number;
  boInfo(bo: number): number;
}

/** The settings of boSetup (src/bo/constrained.ts checks them and documents each). */
export interface BoSetup {
  target: number;
  seed: number;
  initialDesign: number;
  rawSamples: number;
  restarts: number;
  fitStarts: number;
  fitIterations: number;
  ascentSteps: number;
  failureTolerance: number;
  noiseFloor: number;
  prior: boolean;
}

export const EXPORTS = [
  'memory',
  'alloc',
  'free',
  'reset',
  'columnL1Norms',
  'histogramSlots',
  'histogramAccumulate',
  'histogramQuantile',
  'thresholdsToTau',
  'gpCreate',
  'gpSetData',
  'gpFit',
  'gpGrad',
  'gpPredict',
  'gpJitter',
  'hyperCreate',
  'hyperOptimize',
  'rngCreate',
  'erfc',
  'erfcx',
  'logh',
  'dlogh',
  'boCreate',
  'boInputs',
  'boSetup',
  'boObserve',
  'boSuggest',
  'boBest',
  'boSample',
  'boProject',
  'boPredict',
  'boLogEI',
  'boCount',
  'boObservations',
  'boValues',
  'boTheta',
  'boInfo',
] as const;

/**
 * A score histogram whose f64 counts live in Wasm memory at `ptr` (layout: histogramSlots above): one per projection, made once by `createHistogram`, fed every
 * calibration batch. `lo` and `hi` are as the Wasm sees them (rounded to f32).
 */
export interface WasHistogram extends HistogramSpec {
  readonly ptr: number;
}

export function checkCount(fn: string, name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `${fn}: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** A seed in [0, 2^53) as the two u32 halves the Wasm takes. */
export function splitSeed(fn: string, seed: number): [number, number] {
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `${fn}: seed must be an integer in [0, 2^53), got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

export function checkSpec(spec: HistogramSpec): HistogramSpec {
  const { nbins } = spec;
  if (!Number.isInteger(nbins) || nbins < 1 || nbins > 2 ** 24) {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `createHistogram: nbins must be an integer in [1, 2^24], got ${nbins}`);
  }
  const lo = Math.fround(spec.lo);
  const hi = Math.fround(spec.hi);
  if (!(lo >= -126 && hi <= 128 && lo < hi)) {
    throw new WasEdgeError(
      'WASM_BAD_ARGUMENT',
      `createHistogram: need -126 <= lo < hi <= 128 (log2 of the score range), got lo ${spec.lo}, hi ${spec.hi}`,
    );
  }
  return { nbins, lo, hi };
}

export function checkShape(fn: string, rows: number, cols: number, names: readonly [string, string] = ['rows', 'cols']): void {
  for (const [name, value] of [[names[0], rows], [names[1], cols]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fff_ffff) {
      throw new WasEdgeError('SHAPE_MISMATCH', `${fn}: ${name} must be an integer in [0, 2^31), got ${value}`);
    }
  }
}
