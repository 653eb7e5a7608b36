// The constrained optimiser end to end (ConstrainedBO over assembly/bo/optimizer.ts, debug build):
// on problems with a known optimum (src/bo/problems.ts) it beats random search on the same set at
// the same budget, on the median over 10 seeds; every point it proposes is on the set; a seed fixes
// the run; the log-EI it maximises has the gradient it claims.

import { beforeAll, describe, expect, test } from 'vitest';
import { ConstrainedBO, weightedMean } from '../../src/bo/constrained.js';
import { llamaShaped, separableQuadratic, type ConstrainedProblem } from '../../src/bo/problems.js';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';

const SEEDS = 10;
const BUDGET = 50;

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

/** Largest violation of the problem's set by s: |weighted mean − target| and the box. */
function violation(p: ConstrainedProblem, s: ArrayLike<number>): { mean: number; box: number } {
  let box = 0;
  for (let l = 0; l < s.length; l++) box = Math.max(box, p.lo[l]! - s[l]!, s[l]! - p.hi[l]!);
  return { mean: Math.abs(weightedMean(p.weights, s) - p.target), box };
}

describe('ConstrainedBO (Wasm) on problems with a known optimum', () => {
  let wasm: WasModule;
  beforeAll(async () => {
    wasm = await loadWasmNode('debug');
  });

  const problems: Array<[string, (seed: number) => ConstrainedProblem]> = [
    ['separable quadratic, 6 coordinates', (seed) => separableQuadratic(6, seed)],
    ['32 Llama-3.2-1B blocks, convex loss per block', (seed) => llamaShaped(seed)],
  ];

  test.each(problems)('%s: BO beats random search (median regret over 10 seeds, budget 50); every proposal on the set', async (_, make) => {
    const boRegret: number[] = [];
    const randomRegret: number[] = [];
    let worstMean = 0;
    let worstBox = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const p = make(seed);
      const d = p.weights.length;
      // Both start from the uniform schedule s_l = target (warm start), then spend the rest of the budget.
      const uniform = new Float64Array(d).fill(p.target);
      const options = { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target };
      const bo = new ConstrainedBO(wasm, { ...options, seed });
      const best = await bo.minimize(
        (s) => {
          const v = violation(p, s);
          worstMean = Math.max(worstMean, v.mean);
          worstBox = Math.max(worstBox, v.box);
          return p.f(s);
        },
        { budget: BUDGET, initial: [uniform] },
      );
      expect(bo.count).toBe(BUDGET);
      let random = p.f(uniform);
      for (const s of new ConstrainedBO(wasm, { ...options, seed: seed + 1000 }).sample(BUDGET - 1)) {
        const v = violation(p, s);
        worstMean = Math.max(worstMean, v.mean);
        worstBox = Math.max(worstBox, v.box);
        random = Math.min(random, p.f(s));
      }
      boRegret.push(best.y - p.optimum.y);
      randomRegret.push(random - p.optimum.y);
    }
    const summary =
      `median regret BO ${median(boRegret).toExponential(3)}, random ${median(randomRegret).toExponential(3)}\n` +
      `BO:     ${boRegret.map((v) => v.toExponential(2)).join(' ')}\nrandom: ${randomRegret.map((v) => v.toExponential(2)).join(' ')}`;
    expect(worstMean, `a proposal's weighted mean is off the target by ${worstMean.toExponential(2)}`).toBeLessThanOrEqual(1e-9);
    expect(worstBox, `a proposal leaves the box by ${worstBox}`).toBeLessThanOrEqual(0);
    expect(Math.min(...boRegret), `negative regret: the known optimum is wrong\n${summary}`).toBeGreaterThanOrEqual(-1e-9);
    expect(median(boRegret), summary).toBeLessThan(median(randomRegret));
  });

  test('a seed fixes the run; another seed changes it; initial points are observed first', async () => {
    const p = llamaShaped(3);
    const uniform = new Float64Array(32).fill(p.target);
    const run = async (seed: number) => {
      const bo = new ConstrainedBO(wasm, { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target, seed });
      const sources: string[] = [];
      await bo.minimize((s) => p.f(s), { budget: 14, initial: [uniform], onProgress: ({ source }) => sources.push(source) });
      return { points: bo.observations(), sources };
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(a.points[0]!.s).toEqual(uniform);
    expect(a.sources).toEqual(['initial', ...Array(7).fill('design'), ...Array(6).fill('model')]);
    expect(b.points).toEqual(a.points);
    expect(c.points[1]!.s).not.toEqual(a.points[1]!.s);
  });

  test('log EI: value = log h(z) + log σ from the posterior, gradient = central differences', async () => {
    const p = separableQuadratic(5, 11);
    const bo = new ConstrainedBO(wasm, { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target, seed: 2 });
    await bo.minimize((s) => p.f(s), { budget: 12 });
    const s = bo.suggest();
    expect(bo.lastSuggestion().source).toBe('model');
    const incumbent = bo.best().y;
    const yStd = Math.sqrt(bo.observations().reduce((acc, o, _, all) => {
      const mean = all.reduce((m, q) => m + q.y, 0) / all.length;
      return acc + (o.y - mean) ** 2 / (all.length - 1);
    }, 0));
    for (const x of [s, bo.sample(1)[0]!, bo.best().s]) {
      const { value, gradient } = bo.logEI(x);
      const { mean, variance } = bo.predict(x);
      // EI in the GP's standardised units: z is unit-free, σ is divided by the loss's std.
      const sigma = Math.sqrt(variance);
      const want = wasm.logh((incumbent - mean) / sigma) + Math.log(sigma / yStd);
      expect(Math.abs(value - want), `log EI ${value} vs log h(z) + log σ = ${want}`).toBeLessThan(1e-9 * Math.max(1, Math.abs(want)));
      for (let l = 0; l < x.length; l++) {
        const h = 1e-6;
        const up = Float64Array.from(x);
        const down = Float64Array.from(x);
        up[l]! += h;
        down[l]! -= h;
        const fd = (bo.logEI(up).value - bo.logEI(down).value) / (2 * h);
        const scale = Math.max(...gradient.map(Math.abs));
        expect(Math.abs(gradient[l]! - fd), `∂ log EI/∂s_${l} = ${gradient[l]} vs central difference ${fd}`).toBeLessThan(1e-5 * scale + 1e-9);
      }
    }
    // After an observe the fit is stale: no posterior until the next suggestion.
    bo.observe(s, p.f(s));
    expect(bo.logEI(s).value).toBeNaN();
    expect(bo.predict(s).mean).toBeNaN();
  });

  test('minimize honours its AbortSignal and refuses a non-finite loss', async () => {
    const p = separableQuadratic(3, 1);
    const options = { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target };
    const controller = new AbortController();
    const bo = new ConstrainedBO(wasm, options);
    await expect(
      bo.minimize(
        (s) => {
          if (bo.count === 3) controller.abort(new Error('enough'));
          return p.f(s);
        },
        { budget: 10, signal: controller.signal },
      ),
    ).rejects.toThrow('enough');
    expect(bo.count).toBe(4);
    await expect(new ConstrainedBO(wasm, options).minimize(() => NaN, { budget: 3 })).rejects.toThrow(/returned NaN at evaluation 0/);
  });
});
