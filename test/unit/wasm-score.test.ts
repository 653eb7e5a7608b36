// WAS score histograms, quantiles and τ in Wasm (assembly/score/histogram.ts) against the plain-TS
// reference (src/sparsity/score.ts) and an exact sorted-array quantile, on the debug build (asserts
// on) and then the release build we ship. Builds nothing: `npm test` runs `npm run build` first.

import { beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_HISTOGRAM, type HistogramSpec } from '../../src/wasm/exports.js';
import {
  createHistogram,
  exactQuantile,
  histogramAccumulate,
  histogramQuantile,
  thresholdsToTau,
} from '../../src/sparsity/score.js';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';
import { mulberry32 as rng } from '../helpers/random.js';


/**
 * Calibration-like data: norms log-uniform in [0.1, 10], activations of log-normal magnitude
 * (clamped to 1e-7..1e2) with random signs and 3% exact (±)zeros, so scores span 1e-8..1e3.
 */
function randomData(tokens: number, n: number, seed: number): { x: Float32Array; norms: Float32Array } {
  const next = rng(seed);
  const norms = new Float32Array(n);
  for (let j = 0; j < n; j++) norms[j] = 10 ** (next() * 2 - 1);
  const x = new Float32Array(tokens * n);
  for (let k = 0; k < x.length; k++) {
    const sign = next() < 0.5 ? -1 : 1;
    if (next() < 0.03) {
      x[k] = sign * 0;
      continue;
    }
    const gauss = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()); // Box–Muller
    x[k] = sign * 10 ** Math.min(2, Math.max(-7, -2.5 + 1.6 * gauss));
  }
  return { x, norms };
}

/** Every score |x·norms| as the engine rounds it (f32), ascending: the exact-quantile oracle. */
function sortedScores(x: Float32Array, norms: Float32Array | null, n: number): Float64Array {
  const s = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) s[k] = Math.fround(Math.abs(norms ? x[k]! * norms[k % n]! : x[k]!));
  return s.sort();
}

function relativeError(got: number, want: number): number {
  if (got === want) return 0;
  return want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want);
}

const firstMismatch = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  Array.prototype.findIndex.call(a, (v: number, k: number) => !Object.is(v, b[k]));

const SPEC = DEFAULT_HISTOGRAM;
const BIN_WIDTH = (SPEC.hi - SPEC.lo) / SPEC.nbins;
// One bin width in score, plus the final rounding of t to f32 (2^-24 relative, doubled).
const BIN_TOLERANCE = 2 ** BIN_WIDTH * (1 + 2 ** -23) - 1;
const QS = [0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99];
const WIDTHS = [1, 7, 64, 172, 1024];

describe('WAS score histogram (Wasm)', () => {
  let debug: WasModule;
  let release: WasModule;
  const seed = Date.now() >>> 0; // fresh data per run; printed on failure

  beforeAll(async () => {
    debug = await loadWasmNode('debug');
    release = await loadWasmNode('release');
  });

  test.each(WIDTHS.flatMap((n) => [[n, 'WAS'] as const, [n, 'TEAL'] as const]))(
    'n = %i (%s scores): bins equal the TS reference, quantiles within one bin of exact; release equals debug',
    (n, kind) => {
      const caseSeed = (seed ^ Math.imul(n, 0x9e3779b1) ^ (kind === 'WAS' ? 1 : 2)) >>> 0;
      const tokens = 1 + Math.floor(rng(caseSeed)() * 50);
      const { x, norms: w } = randomData(tokens, n, caseSeed);
      const norms = kind === 'WAS' ? w : null;
      const where = `n ${n}, tokens ${tokens}, seed ${caseSeed}`;

      const want = createHistogram(SPEC);
      histogramAccumulate(want, SPEC, x, norms, tokens, n);
      const hist = debug.createHistogram(SPEC);
      // Two batches: counts add up across calls.
      const split = Math.floor(tokens / 2);
      debug.accumulate(hist, x.subarray(0, split * n), norms, split, n);
      debug.accumulate(hist, x.subarray(split * n), norms, tokens - split, n);
      const got = debug.histogramCounts(hist);
      const bin = firstMismatch(got, want);
      expect(bin, `${where}: slot ${bin} has ${got[bin]} counts, the reference ${want[bin]}`).toBe(-1);

      const relHist = release.createHistogram(SPEC);
      release.accumulate(relHist, x, norms, tokens, n);
      const relBin = firstMismatch(release.histogramCounts(relHist), got);
      expect(relBin, `${where}: release differs from debug at slot ${relBin}`).toBe(-1);

      const sorted = sortedScores(x, norms, n);
      for (const q of QS) {
        const t = debug.quantile(hist, q);
        const ref = histogramQuantile(want, SPEC, q);
        const relRef = relativeError(t, ref);
        expect(relRef, `${where}, q ${q}: t ${t} vs reference ${ref}, relative error ${relRef.toExponential(3)}`).toBeLessThanOrEqual(1e-6);
        const exact = exactQuantile(sorted, q);
        const relExact = relativeError(t, exact);
        expect(
          relExact,
          `${where}, q ${q}: t ${t} vs exact ${exact}, relative error ${relExact.toExponential(3)} (one bin: ${BIN_TOLERANCE.toExponential(3)})`,
        ).toBeLessThanOrEqual(BIN_TOLERANCE);
        expect(Object.is(release.quantile(relHist, q), t), `${where}, q ${q}: release quantile differs from debug`).toBe(true);
      }
      release.reset();
      debug.reset();
    },
  );

  test.each([172, 1024])(
    'n = %i, 50 tokens: |x_j| ≤ τ_j drops a fraction q of the calibration activations; τ equals the reference',
    (n) => {
      const tokens = 50;
      const caseSeed = (seed ^ Math.imul(n, 0x85ebca6b)) >>> 0;
      const { x, norms } = randomData(tokens, n, caseSeed);
      const hist = debug.createHistogram(SPEC);
      debug.accumulate(hist, x, norms, tokens, n);
      for (const q of [0.4, 0.5, 0.6, 0.7, 0.8]) {
        const t = debug.quantile(hist, q);
        const tau = debug.tau(t, norms);
        const want = thresholdsToTau(t, norms);
        const j = firstMismatch(tau, want);
        expect(j, `n ${n}, q ${q}, seed ${caseSeed}: τ[${j}] = ${tau[j]} vs reference ${want[j]}`).toBe(-1);
        expect(firstMismatch(release.tau(t, norms), tau), `n ${n}, q ${q}: release τ differs from debug`).toBe(-1);

        let dropped = 0;
        for (let k = 0; k < x.length; k++) if (Math.abs(x[k]!) <= tau[k % n]!) dropped++;
        const fraction = dropped / x.length;
        expect(
          Math.abs(fraction - q),
          `n ${n}, q ${q}, seed ${caseSeed}: dropped fraction ${fraction.toFixed(5)}, relative error ${(Math.abs(fraction - q) / q).toExponential(3)}`,
        ).toBeLessThanOrEqual(0.01);
      }
      debug.reset();
    },
  );

  test('edge cases: empty, q ≤ 0, q ≥ 1, zeros, underflow, overflow, NaN; SIMD lanes and tail agree', () => {
    const spec: HistogramSpec = { nbins: 8, lo: -4, hi: 4 }; // bins one unit of log2 wide
    const hist = debug.createHistogram(spec);
    expect(debug.quantile(hist, 0.5)).toBeNaN();

    // 9 scores, so lanes 0–3, 4–7 go through SIMD and the last through the scalar tail.
    const x = new Float32Array([0, -0, 2 ** -6, 3, NaN, 2 ** 5, Infinity, 1.5, 0]);
    const want = createHistogram(spec);
    histogramAccumulate(want, spec, x, null, 1, x.length);
    debug.accumulate(hist, x, null, 1, x.length);
    const counts = debug.histogramCounts(hist);
    expect([...counts]).toEqual([...want]);
    // zeros 3; underflow 2^-6; bins: 1.5 → [0,1) is bin 4, 3 → [1,2) bin 5; overflow 2^5, inf; NaN 1
    expect([...counts]).toEqual([3, 1, 0, 0, 0, 0, 1, 1, 0, 0, 2, 1]);

    expect(debug.quantile(hist, 0)).toBe(0);
    expect(debug.quantile(hist, -1)).toBe(0);
    expect(debug.quantile(hist, 1)).toBe(Infinity);
    expect(debug.quantile(hist, 3 / 8)).toBe(0); // 8 non-NaN scores, 3 zeros
    expect(debug.quantile(hist, 4 / 8)).toBe(2 ** -4); // underflow: its upper edge
    expect(debug.quantile(hist, 4.5 / 8)).toBeCloseTo(Math.SQRT2, 6); // mid-bin [0, 1) in log2
    expect(debug.quantile(hist, 7 / 8)).toBe(2 ** 4); // overflow: its lower edge
    const relHist = release.createHistogram(spec);
    release.accumulate(relHist, x, null, 1, x.length);
    expect([...release.histogramCounts(relHist)]).toEqual([...want]);
    for (const q of [0.1, 3 / 8, 0.5, 0.6, 0.9]) {
      expect(debug.quantile(hist, q)).toBe(histogramQuantile(want, spec, q));
      expect(release.quantile(relHist, q)).toBe(histogramQuantile(want, spec, q));
    }
    release.reset();
    expect(() => debug.quantile(hist, NaN)).toThrow(/q must be a number/);

    // Zero norms: τ = +inf, also at t = 0 (0/0 would be NaN); 5 channels: SIMD and tail.
    const norms = new Float32Array([2, 0, 0.5, 4, 0]);
    expect([...debug.tau(1, norms)]).toEqual([0.5, Infinity, 2, 0.25, Infinity]);
    expect([...debug.tau(0, norms)]).toEqual([0, Infinity, 0, 0, Infinity]);
    expect([...release.tau(0, norms)]).toEqual([...thresholdsToTau(0, norms)]);

    debug.clearHistogram(hist);
    expect(debug.histogramCounts(hist).every((c) => c === 0)).toBe(true);
    debug.reset();
  });

  test('bad arguments are refused before reaching Wasm; debug asserts catch bad pointers', () => {
    expect(() => debug.createHistogram({ nbins: 0, lo: -40, hi: 24 })).toThrow(/nbins must be an integer/);
    expect(() => debug.createHistogram({ nbins: 10, lo: -200, hi: 24 })).toThrow(/-126 <= lo < hi <= 128/);
    expect(() => debug.createHistogram({ nbins: 10, lo: 3, hi: 3 })).toThrow(/-126 <= lo < hi <= 128/);
    const hist = debug.createHistogram(SPEC);
    expect(() => debug.accumulate(hist, new Float32Array(5), null, 2, 3)).toThrow(/x has 5 elements but tokens × n/);
    expect(() => debug.accumulate(hist, new Float32Array(6), new Float32Array(2), 2, 3)).toThrow(/norms has 2 elements/);
    expect(() => debug.accumulate(hist, new Float32Array(0), null, -1, 0)).toThrow(/tokens must be an integer/);
    const end = debug.memory.buffer.byteLength;
    expect(() => debug.accumulateInto(hist, end - 8, 0, 4, 4)).toThrow(/x runs past memory/);
    expect(() => debug.accumulateInto({ ...hist, ptr: end - 8 }, 0, 0, 0, 0)).toThrow(/hist runs past memory/);
    debug.reset();
  });
});
