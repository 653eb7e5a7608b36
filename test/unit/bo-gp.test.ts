// The Wasm GP (assembly/bo/gp.ts) against the plain-TS f64 oracle (src/bo/oracle.ts): log marginal
// likelihood, posterior mean and variance on fresh random data each run (seed printed on failure),
// d up to 32; its analytic LML gradient against central differences of the oracle; jitter on
// singular covariances; and the multi-start hyper-parameter fit. Debug build (asserts on), then
// release, which must give the same bits (the optimiser may not reassociate floats).

import { beforeAll, describe, expect, test } from 'vitest';
import { WasmGp } from '../../src/bo/gp.js';
import { gpOracle } from '../../src/bo/oracle.js';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';
import { mulberry32 } from '../helpers/random.js';

const TOLERANCE = 1e-9;

/** |got − want| / max(|want|, floor): relative, with a floor so a value crossing zero is not judged alone. */
function relError(got: ArrayLike<number>, want: ArrayLike<number>, floor = 0): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), floor);
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  return worst;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Inputs in the unit cube, a smooth target plus noise, θ scaled to the dimension (ℓ ~ √d). */
function problem(n: number, d: number, m: number, seed: number) {
  const next = mulberry32(seed);
  const x = Float64Array.from({ length: n * d }, () => next());
  const xs = Float64Array.from({ length: m * d }, () => next());
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (let l = 0; l < d; l++) v += Math.sin(3 * x[i * d + l]! + l) / Math.sqrt(d);
    y[i] = v + 0.05 * (next() - 0.5);
  }
  const theta = new Float64Array(d + 2);
  for (let l = 0; l < d; l++) theta[l] = Math.log(Math.sqrt(d) * (0.3 + 1.7 * next()));
  theta[d] = Math.log(0.5 + 1.5 * next());
  theta[d + 1] = Math.log(10 ** (-6 + 5 * next()));
  return { x, y, xs, theta };
}

const CASES: ReadonlyArray<readonly [number, number]> = [
  [1, 1],
  [5, 1],
  [12, 3],
  [30, 8],
  [64, 32],
  [100, 32],
];

describe('Wasm GP against the TS oracle', () => {
  let debug: WasModule;
  let release: WasModule;
  const seed = Date.now() >>> 0;

  beforeAll(async () => {
    debug = await loadWasmNode('debug');
    release = await loadWasmNode('release');
  });

  test.each(CASES)('n = %i, d = %i: LML, posterior mean and variance to 1e-9; release = debug', (n, d) => {
    const caseSeed = (seed ^ Math.imul(n, 0x9e3779b1) ^ d) >>> 0;
    const { x, y, xs, theta } = problem(n, d, 16, caseSeed);
    const want = gpOracle(x, y, d, theta);
    const wantPost = want.predict(xs);

    const gp = new WasmGp(debug, d, n + 3);
    gp.setData(x, y);
    const lml = gp.fit(theta);
    const post = gp.predict(xs);
    const where = `n ${n} d ${d} seed ${caseSeed}`;
    expect(gp.jitter, `${where}: jitter`).toBe(want.jitter);
    // Relative to the size of the LML's terms: with few points it can cancel to near 0.
    const eLml = relError([lml], [want.lml], want.lmlScale);
    expect(eLml, `${where}: LML ${lml} vs ${want.lml}, relative error ${eLml.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
    // Floors at 1e-3 of the largest value: a mean that happens to cross zero is judged on the scale of the others.
    const eMean = relError(post.mean, wantPost.mean, 1e-3 * maxAbs(wantPost.mean));
    expect(eMean, `${where}: posterior mean relative error ${eMean.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
    const eVar = relError(post.variance, wantPost.variance, 1e-3 * maxAbs(wantPost.variance));
    expect(eVar, `${where}: posterior variance relative error ${eVar.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
    // At the data the posterior mean nearly interpolates (noise ≤ 0.1): a check the oracle shares no bug with.
    const atData = gp.predict(x);
    const wantAtData = want.predict(x);
    const eData = relError(atData.mean, wantAtData.mean, 1e-3 * maxAbs(wantAtData.mean));
    expect(eData, `${where}: posterior mean at the data, relative error ${eData.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);

    const gpRelease = new WasmGp(release, d, n + 3);
    gpRelease.setData(x, y);
    expect(Object.is(gpRelease.fit(theta), lml), `${where}: release LML differs from debug`).toBe(true);
    const releasePost = gpRelease.predict(xs);
    expect([...releasePost.mean], `${where}: release mean differs from debug`).toEqual([...post.mean]);
    expect([...releasePost.variance], `${where}: release variance differs from debug`).toEqual([...post.variance]);
  });

  test.each([
    [20, 3],
    [40, 32],
  ])('n = %i, d = %i: analytic LML gradient matches central differences of the oracle', (n, d) => {
    const caseSeed = (seed ^ 0x5bd1e995 ^ n ^ (d << 8)) >>> 0;
    const { x, y, theta } = problem(n, d, 1, caseSeed);
    theta[d + 1] = Math.log(1e-2); // noise large enough that the LML is smooth at the step size
    const gp = new WasmGp(debug, d, n);
    gp.setData(x, y);
    gp.fit(theta);
    const grad = gp.gradient();
    const h = 1e-5;
    const fd = new Float64Array(d + 2);
    for (let k = 0; k < d + 2; k++) {
      const up = Float64Array.from(theta);
      const down = Float64Array.from(theta);
      up[k]! += h;
      down[k]! -= h;
      fd[k] = (gpOracle(x, y, d, up).lml - gpOracle(x, y, d, down).lml) / (2 * h);
    }
    // Central differences are good to ~h² × third derivative + ε·|LML|/h: 1e-6 of the gradient's scale.
    const err = relError(grad, fd, 1e-2 * maxAbs(fd));
    expect(err, `n ${n} d ${d} seed ${caseSeed}: gradient relative error ${err.toExponential(2)}\n${grad}\n${fd}`).toBeLessThanOrEqual(1e-6);
  });

  test('singular covariance (duplicated points, noise 0) is factorised with jitter, as the oracle does', () => {
    const d = 4;
    const next = mulberry32(seed ^ 0xdead);
    const base = Float64Array.from({ length: 6 * d }, () => next());
    // Every point three times, with the same target (a deterministic objective evaluated again).
    const x = new Float64Array(18 * d);
    const y = new Float64Array(18);
    for (let i = 0; i < 18; i++) {
      x.set(base.subarray((i % 6) * d, (i % 6 + 1) * d), i * d);
      y[i] = Math.cos(5 * base[(i % 6) * d]!);
    }
    const theta = [0, 0, 0, 0, 0, -Infinity]; // ℓ = 1, σ_f² = 1, σ_n² = 0
    const want = gpOracle(x, y, d, theta);
    const gp = new WasmGp(debug, d, 18);
    gp.setData(x, y);
    const lml = gp.fit(theta);
    expect(want.jitter, 'oracle jitter').toBeGreaterThan(0);
    expect(gp.jitter, `jitter ${gp.jitter} vs oracle ${want.jitter}`).toBe(want.jitter);
    expect(Number.isFinite(lml), `LML ${lml}`).toBe(true);
    const eLml = relError([lml], [want.lml], want.lmlScale);
    expect(eLml, `LML ${lml} vs ${want.lml}: relative error ${eLml.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
    const xs = Float64Array.from({ length: 8 * d }, () => next());
    xs.set(base.subarray(0, d), 0); // one test point on a duplicated input
    const got = gp.predict(xs);
    const ref = want.predict(xs);
    const eMean = relError(got.mean, ref.mean, 1e-3 * maxAbs(ref.mean));
    expect(eMean, `mean relative error ${eMean.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
    // Variance at the duplicated input is ~jitter: judged against the largest variance there.
    const eVar = relError(got.variance, ref.variance, 1e-3 * maxAbs(ref.variance));
    expect(eVar, `variance relative error ${eVar.toExponential(2)}`).toBeLessThanOrEqual(TOLERANCE);
    expect(got.variance[0]!, 'variance at an observed, noise-free input').toBeLessThan(1e-6);
  });

  test('a matrix no jitter can fix (NaN input) reports failure instead of NaNs', () => {
    const gp = new WasmGp(debug, 2, 3);
    gp.setData(Float64Array.of(0, 0, NaN, 1, 1, 1), Float64Array.of(1, 2, 3));
    expect(gp.fit([0, 0, 0, -4])).toBe(-Infinity);
    expect(gp.jitter).toBe(-1);
    expect(() => gp.gradient()).toThrow(/call gpFit first/);
  });

  test('hyper-parameter fit: multi-start L-BFGS ends at a stationary point above every start', () => {
    const n = 40;
    const d = 6;
    const { x, y } = problem(n, d, 1, seed ^ 0xabc);
    const gp = new WasmGp(debug, d, n);
    gp.setData(x, y);
    const start = new Float64Array(d + 2); // ℓ = 1, σ_f² = 1, σ_n² = 1
    const { theta, objective } = gp.optimize(start, { starts: 3, maxIter: 200, prior: false, noiseFloor: 1e-8, seed: 7 });
    const lmlStart = gpOracle(x, y, d, start).lml;
    const lmlEnd = gpOracle(x, y, d, theta).lml;
    expect(lmlEnd, `LML went from ${lmlStart} to ${lmlEnd}`).toBeGreaterThan(lmlStart + 1);
    expect(Math.abs(objective - lmlEnd) / Math.abs(lmlEnd), 'objective is the LML without a prior').toBeLessThan(1e-9);
    // Projected gradient ≈ 0 where no bound is active.
    gp.fit(theta);
    const grad = gp.gradient();
    for (let k = 0; k < d + 2; k++) {
      const atBound = theta[k]! <= (k === d + 1 ? Math.log(1e-8) : -5) + 1e-9 || theta[k]! >= 8 - 1e-9;
      if (!atBound) expect(Math.abs(grad[k]!), `∂LML/∂θ_${k} = ${grad[k]} at the optimum ${theta}`).toBeLessThan(1e-3 * n);
    }
  });
});
