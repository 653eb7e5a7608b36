// The constrained search space S = { lo ≤ s ≤ hi, Σ w s / Σ w = t } in Wasm (assembly/bo/constraint.ts):
// the projection by multiplier bisection against the oracle's breakpoint search (src/bo/oracle.ts),
// hit-and-run samples staying on S, and the driver refusing what is not on S.

import { beforeAll, describe, expect, test } from 'vitest';
import { ConstrainedBO } from '../../src/bo/constrained.js';
import { projectOracle, weightedMean } from '../../src/bo/oracle.js';
import { llama32Blocks } from '../../src/bo/problems.js';
import { BayesOptError, OptionError } from '../../src/errors.js';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';
import { mulberry32 } from '../helpers/random.js';

const EXACT = 1e-9;

/** Random weights (some zero), bounds (some coordinates fixed), a reachable target. */
function space(d: number, seed: number) {
  const next = mulberry32(seed);
  const weights = Float64Array.from({ length: d }, () => (next() < 0.1 ? 0 : 10 ** (3 * next())));
  if (weights.every((w) => w === 0)) weights[0] = 1;
  const lo = Float64Array.from({ length: d }, () => 0.3 * next());
  const hi = Float64Array.from(lo, (v) => (next() < 0.1 ? v : v + 0.2 + 0.7 * next()));
  const min = weightedMean(weights, lo);
  const max = weightedMean(weights, hi);
  const target = min + (max - min) * (0.05 + 0.9 * next());
  return { weights, lo, hi, target, next };
}

/** Largest violation of S by s: of the weighted mean, and of the box. */
function violation(s: ArrayLike<number>, o: { weights: ArrayLike<number>; lo: ArrayLike<number>; hi: ArrayLike<number>; target: number }) {
  let box = 0;
  for (let l = 0; l < s.length; l++) box = Math.max(box, o.lo[l]! - s[l]!, s[l]! - o.hi[l]!);
  return { mean: Math.abs(weightedMean(o.weights, s) - o.target), box };
}

describe('constrained set (Wasm)', () => {
  let wasm: WasModule;
  const seed = Date.now() >>> 0;
  beforeAll(async () => {
    wasm = await loadWasmNode('debug');
  });

  test.each([1, 2, 5, 32, 100])('d = %i: projection equals the breakpoint oracle, lands on S exactly', (d) => {
    const caseSeed = (seed ^ Math.imul(d, 0x9e3779b1)) >>> 0;
    const o = space(d, caseSeed);
    const bo = new ConstrainedBO(wasm, { weights: o.weights, lo: o.lo, hi: o.hi, target: o.target, seed: 1 });
    for (let trial = 0; trial < 20; trial++) {
      const y = Float64Array.from({ length: d }, () => -1 + 3 * o.next());
      const got = bo.project(y);
      const want = projectOracle(y, o.weights, o.lo, o.hi, o.target);
      let diff = 0;
      for (let l = 0; l < d; l++) diff = Math.max(diff, Math.abs(got[l]! - want[l]!));
      expect(diff, `d ${d} seed ${caseSeed} trial ${trial}: max |Wasm − oracle| = ${diff.toExponential(2)}`).toBeLessThanOrEqual(EXACT);
      const v = violation(got, o);
      expect(v.mean, `d ${d} seed ${caseSeed}: |weighted mean − target| = ${v.mean.toExponential(2)}`).toBeLessThanOrEqual(1e-12);
      expect(v.box, `d ${d} seed ${caseSeed}: box violated by ${v.box}`).toBeLessThanOrEqual(0);
      // A point of S is its own projection.
      const again = bo.project(got);
      let moved = 0;
      for (let l = 0; l < d; l++) moved = Math.max(moved, Math.abs(again[l]! - got[l]!));
      expect(moved, `d ${d} seed ${caseSeed}: projecting a point of S moved it by ${moved}`).toBeLessThanOrEqual(1e-12);
    }
  });

  test('hit-and-run samples lie on S and spread over it', () => {
    // On S the samples keep the weighted mean and the box, whatever the weights.
    const o = space(32, seed ^ 0x1234);
    const bo = new ConstrainedBO(wasm, { weights: o.weights, lo: o.lo, hi: o.hi, target: o.target, seed: 3 });
    for (const [i, s] of bo.sample(400).entries()) {
      const v = violation(s, o);
      expect(v.mean, `seed ${seed ^ 0x1234} sample ${i}: |weighted mean − target| = ${v.mean.toExponential(2)}`).toBeLessThanOrEqual(1e-12);
      expect(v.box, `seed ${seed ^ 0x1234} sample ${i}: box violated by ${v.box}`).toBeLessThanOrEqual(0);
    }
    // With comparable weights (Llama 3.2 1B blocks, 1:4.8) every coordinate ranges widely. (With
    // weights over decades a heavy coordinate is pinned by the constraint, so no such bound holds.)
    const weights = llama32Blocks();
    const flat = new ConstrainedBO(wasm, { weights, lo: 0, hi: 0.9, target: 0.5, seed: 3 });
    const samples = flat.sample(400);
    for (let l = 0; l < 32; l++) {
      const values = samples.map((s) => s[l]!);
      const spread = Math.max(...values) - Math.min(...values);
      expect(spread, `coordinate ${l}: samples span ${spread} of [0, 0.9]`).toBeGreaterThanOrEqual(0.3 * 0.9);
    }
  });

  test('the driver checks its options once and refuses points off S', () => {
    const weights = [1, 3];
    expect(() => new ConstrainedBO(wasm, { weights, lo: 0, hi: 0.9, target: 0.95 })).toThrow(OptionError);
    expect(() => new ConstrainedBO(wasm, { weights, lo: 0, hi: 0.9, target: 0.95 })).toThrow(/target: must be a weighted mean reachable/);
    expect(() => new ConstrainedBO(wasm, { weights: [1, -1], lo: 0, hi: 1, target: 0.5 })).toThrow(/weights: must be finite and ≥ 0/);
    expect(() => new ConstrainedBO(wasm, { weights, lo: [0, 0.5], hi: [1, 0.4], target: 0.5 })).toThrow(/coordinate 1 has lo 0.5 > hi 0.4/);
    expect(() => new ConstrainedBO(wasm, { weights, lo: [0], hi: 1, target: 0.5 })).toThrow(/lo: must be a number or 2 numbers/);
    expect(() => new ConstrainedBO(wasm, { weights, lo: 0, hi: 1, target: 0.5, seed: -1 })).toThrow(/seed: must be an integer/);

    const bo = new ConstrainedBO(wasm, { weights, lo: 0, hi: 0.9, target: 0.5, maxObservations: 2 });
    expect(() => bo.best()).toThrow(BayesOptError);
    const off = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        return (e as BayesOptError).code;
      }
      return 'no error';
    };
    expect(off(() => bo.observe([0.5, 0.6], 1))).toBe('BO_OFF_SET'); // mean 0.575
    expect(off(() => bo.observe([-0.1, 0.7], 1))).toBe('BO_OFF_SET'); // mean 0.5, below lo
    expect(off(() => bo.observe([0.5, 0.5], NaN))).toBe('BO_BAD_VALUE');
    bo.observe([0.5, 0.5], 2);
    bo.observe([0.2, 0.6], 1); // mean (0.2 + 1.8) / 4 = 0.5
    expect(off(() => bo.observe([0.5, 0.5], 3))).toBe('BO_FULL');
    expect(bo.best()).toEqual({ s: Float64Array.of(0.2, 0.6), y: 1 });
  });
});
