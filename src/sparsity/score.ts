// Plain-TypeScript reference for WAS scoring (the oracle of assembly/score/histogram.ts): the same
// histogram layout and binning, operation for operation, so that the Wasm histogram equals this one
// bin for bin; plus an exact quantile over sorted scores, the oracle of the histogram's quantile.
//
// Score of input channel j: s_j = |x_j|·‖W[:,j]‖₁ (Wang et al. 2025, WAS); threshold for sparsity q:
// the q-quantile t of the calibration scores; runtime rule: drop x_j when |x_j| ≤ τ_j = t/‖W[:,j]‖₁.

import { DEFAULT_HISTOGRAM, histogramSlots, type HistogramSpec } from '../wasm/exports.js';

// 1/(2k+1) for k = 0..8, and 2/ln 2: the same literals as assembly/score/histogram.ts.
const C1 = 0.3333333333333333;
const C2 = 0.2;
const C3 = 0.14285714285714285;
const C4 = 0.1111111111111111;
const C5 = 0.09090909090909091;
const C6 = 0.07692307692307693;
const C7 = 0.06666666666666667;
const C8 = 0.058823529411764705;
const TWO_OVER_LN2 = 2.8853900817779268;
const SQRT2_BITS = 0x3fb504f3;

const f32Cell = new Float32Array(1);
const i32Cell = new Int32Array(f32Cell.buffer);

/** Histogram slot of one f32 score s ≥ 0 (or NaN); log2 from +, −, ×, ÷ only, as in Wasm. */
export function scoreSlot(s: number, spec: HistogramSpec): number {
  const { nbins } = spec;
  if (s === 0) return 0;
  if (s !== s) return nbins + 3;
  f32Cell[0] = s;
  const bits = i32Cell[0]!;
  let e = (bits >>> 23) - 127;
  let mb = (bits & 0x007fffff) | 0x3f800000;
  if (mb > SQRT2_BITS) {
    mb -= 1 << 23;
    e += 1;
  }
  i32Cell[0] = mb;
  const m = f32Cell[0]!;
  const lo = Math.fround(spec.lo);
  const scale = nbins / (Math.fround(spec.hi) - lo);
  const z = (m - 1) / (m + 1);
  const z2 = z * z;
  let p = C8;
  p = p * z2 + C7;
  p = p * z2 + C6;
  p = p * z2 + C5;
  p = p * z2 + C4;
  p = p * z2 + C3;
  p = p * z2 + C2;
  p = p * z2 + C1;
  p = p * z2 + 1;
  const log2m = z * p * TWO_OVER_LN2;
  const t = (e - lo + log2m) * scale;
  return Math.floor(Math.min(Math.max(t, -1), nbins)) + 2;
}

/** A zeroed histogram for `spec`. */
export function createHistogram(spec: HistogramSpec = DEFAULT_HISTOGRAM): Float64Array {
  return new Float64Array(histogramSlots(spec.nbins));
}

/**
 * Adds s = |x[r·n + j]·norms[j]| (rounded to f32, as the engine computes it) for `tokens` rows of
 * x (tokens, n) into `counts`; norms null means all ones (TEAL magnitude scores).
 */
export function histogramAccumulate(
  counts: Float64Array,
  spec: HistogramSpec,
  x: Float32Array,
  norms: Float32Array | null,
  tokens: number,
  n: number,
): void {
  for (let r = 0; r < tokens; r++) {
    for (let j = 0; j < n; j++) {
      const v = x[r * n + j]!;
      const s = Math.fround(Math.abs(norms ? v * norms[j]! : v));
      counts[scoreSlot(s, spec)]! += 1;
    }
  }
}

/**
 * The score t with a fraction q of the recorded non-NaN scores ≤ t, interpolated linearly in log2
 * inside the bin holding rank q·N. Empty or q NaN → NaN; q ≤ 0 or rank among zeros → 0; rank in
 * underflow → 2^lo; rank in overflow → 2^hi; q ≥ 1 → +inf. Rounded to f32, as the Wasm returns it.
 */
export function histogramQuantile(counts: Float64Array, spec: HistogramSpec, q: number): number {
  const { nbins } = spec;
  const lo = Math.fround(spec.lo);
  const hi = Math.fround(spec.hi);
  let total = 0;
  for (let k = 0; k < nbins + 3; k++) total += counts[k]!;
  if (total === 0 || Number.isNaN(q)) return NaN;
  if (q <= 0) return 0;
  if (q >= 1) return Infinity;
  const rank = q * total;
  let c = counts[0]!;
  if (rank <= c) return 0;
  c += counts[1]!;
  if (rank <= c) return Math.fround(2 ** lo);
  const w = (hi - lo) / nbins;
  for (let k = 0; k < nbins; k++) {
    const count = counts[k + 2]!;
    if (c + count >= rank) return Math.fround(2 ** (lo + (k + (rank - c) / count) * w));
    c += count;
  }
  return Math.fround(2 ** hi);
}

/** τ_j = t / norms[j] in f32; norms[j] = 0 → +inf (score always 0: always dropped). */
export function thresholdsToTau(t: number, norms: Float32Array): Float32Array {
  const tau = new Float32Array(norms.length);
  const t32 = Math.fround(t);
  for (let j = 0; j < norms.length; j++) tau[j] = norms[j] === 0 ? Infinity : t32 / norms[j]!;
  return tau;
}

/**
 * The exact q-quantile of ascending `sorted` scores: the smallest recorded s with at least a
 * fraction q of the scores ≤ s, i.e. sorted[⌈q·N⌉ − 1]; q ≤ 0 → 0 as in the histogram, empty → NaN.
 */
export function exactQuantile(sorted: ArrayLike<number>, q: number): number {
  const count = sorted.length;
  if (count === 0 || Number.isNaN(q)) return NaN;
  if (q <= 0) return 0;
  if (q >= 1) return Infinity;
  return sorted[Math.max(Math.ceil(q * count) - 1, 0)]!;
}
