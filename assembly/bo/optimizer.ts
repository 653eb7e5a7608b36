// The constrained Bayesian optimiser's state and its steps, all in Wasm memory (src/bo/constrained.ts
// drives it): minimise y = f(s) over S = { lo ≤ s ≤ hi, Σ w_l s_l / Σ w_l = t } (constraint.ts).
//
// suggest(): while fewer than nInit points are observed, a hit-and-run sample of S (the initial
// design); then standardise y, fit the GP's hyper-parameters (hyper.ts, warm-started from the last
// fit) and maximise log EI over S ∩ T, T a trust region around the incumbent: raw candidates
// (hit-and-run samples of S ∩ T, and points around the incumbent projected onto it, as BoTorch's
// sample_around_best, Balandat et al. 2020), the best few refined by projected gradient ascent
// (Bertsekas 1976, "On the Goldstein–Levitin–Polyak gradient projection method", IEEE TAC
// 21:174–184: x ← P(x + η∇), Armijo along the projection arc).
//
// The trust region is TuRBO's (Eriksson et al. 2019, "Scalable global optimization via local
// Bayesian optimization", NeurIPS, §2): a box of side L·(hi − lo) around the incumbent, stretched
// per coordinate by ℓ_l / geomean(ℓ), doubled after SUCC_TOL successes in a row and halved after
// failTol failures, reset to L_INIT when it falls below L_MIN. In 32 dimensions with ~50
// evaluations a global log-EI maximiser keeps proposing far-off points where σ is large; the
// region keeps the search where the model is informed. S ∩ T is again a box-constrained
// hyperplane (it holds the incumbent), so the same sampler and projection serve it.
// The GP sees u = (s − lo)/(hi − lo), the unit cube, as the length-scale prior expects.

import { Box, centre, hitAndRunStep, project, settle, weighted } from "./constraint";
import { logEI } from "./acquisition";
import { Gp, gpAppendInput, gpCreate, posteriorAt, varianceFromV } from "./gp";
import { hyperCreate, hyperDefault, hyperOptimize } from "./hyper";
import { RNG_BYTES, rngNormal, rngSeed } from "./rng";

/** Status codes of boSetup and boObserve (src/bo/constrained.ts turns them into errors). */
export const BO_OK: i32 = 0;
export const BO_BAD_WEIGHTS: i32 = -1;
export const BO_BAD_BOUNDS: i32 = -2;
export const BO_INFEASIBLE: i32 = -3;
export const BO_FULL: i32 = -4;
export const BO_BAD_VALUE: i32 = -5;
export const BO_OFF_SET: i32 = -6;

/** Where a suggestion came from (info[0]). */
const FROM_DESIGN: f64 = 0, FROM_MODEL: f64 = 1, FROM_FALLBACK: f64 = 2;
export const INFO_SLOTS: i32 = 8;

/** Step scales (× the trust region's side) of the raw candidates around the incumbent. */
const LOCAL_SCALE_0: f64 = 0.05, LOCAL_SCALE_1: f64 = 0.15, LOCAL_SCALE_2: f64 = 0.4;
/** Hit-and-run steps between raw acquisition candidates; design samples take d steps. */
const RAW_THIN: i32 = 2;
/** TuRBO's trust-region constants (Eriksson et al. 2019): side, bounds, success count to grow. */
const L_INIT: f64 = 0.8, L_MIN: f64 = 0.0078125, L_MAX: f64 = 1.6;
const SUCC_TOL: i32 = 3;
/** An improvement counts as a success when it beats the incumbent by this fraction of |f*|. */
const SUCC_MARGIN: f64 = 1e-3;
/** Tolerance of boObserve's membership check: |Σ w̄ s − t| and the box, in units of the target. */
const ON_SET_TOL: f64 = 1e-9;

@unmanaged
export class Bo {
  d: i32;
  nMax: i32;
  n: i32;
  ready: i32;
  nInit: i32;
  rawSamples: i32;
  restarts: i32;
  fitStarts: i32;
  fitIters: i32;
  ascentSteps: i32;
  fits: i32;
  failTol: i32;
  succ: i32; // successes in a row
  fail: i32; // failures in a row
  trLength: f64; // L, the trust region's side as a fraction of hi − lo
  box: Box;
  tr: Box; // S ∩ trust region: own lo, hi, range; w and c shared with box
  gp: Gp;
  hyper: usize;
  rng: usize;
  inputs: usize; // (3, d) w, lo, hi as the caller wrote them
  invRange: usize; // (d) 1/(hi − lo), 0 for fixed coordinates
  xs: usize; // (nMax, d) observed s
  ys: usize; // (nMax) observed y
  theta: usize; // (d + 2) last fitted hyper-parameters
  chain: usize; // (d) hit-and-run state
  dir: usize; // (d) scratch
  cand: usize; // (rawSamples, d) raw acquisition candidates
  candVal: usize; // (rawSamples) their log EI
  x: usize; // (d) ascent iterate
  xNew: usize; // (d)
  grad: usize; // (d)
  gradNew: usize; // (d)
  u: usize; // (d) GP coordinates scratch
  best: usize; // (d) best refined point so far
  sugg: usize; // (d) the suggestion handed out
  info: usize; // (INFO_SLOTS) kind, log EI, LML + log prior, jitter, y mean, y std, f* (standardised), fits
  yMean: f64;
  yStd: f64;
  fBest: f64;
}

@inline
function alloc64(count: usize): usize {
  const bytes = max<usize>(count, 1) << 3;
  const p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  return p;
}

@inline
function at(p: usize, k: i32): f64 {
  return load<f64>(p + (<usize>k << 3));
}

@inline
function put(p: usize, k: i32, v: f64): void {
  store<f64>(p + (<usize>k << 3), v);
}

/**
 * An optimiser for d coordinates and up to nMax observations. Write w, lo, hi into boInputs(bo)
 * (3·d f64), then call boSetup. Lives until the module's reset().
 */
export function boCreate(d: i32, nMax: i32): usize {
  assert(d >= 1 && d <= 4096, "boCreate: d must be in [1, 4096]");
  assert(nMax >= 2 && nMax <= 4096, "boCreate: nMax must be in [2, 4096]");
  const b = changetype<Bo>(heap.alloc(offsetof<Bo>()));
  memory.fill(changetype<usize>(b), 0, offsetof<Bo>());
  b.d = d;
  b.nMax = nMax;
  b.inputs = alloc64(3 * <usize>d);
  return changetype<usize>(b);
}

/** Pointer to the (3, d) f64 inputs: weights, lower bounds, upper bounds. */
export function boInputs(bo: usize): usize {
  return changetype<Bo>(bo).inputs;
}

/**
 * Checks the inputs and makes the search space S for target t (the weighted mean), allocates the
 * GP and scratch, seeds the generator and burns in the hit-and-run chain. Returns BO_OK or a
 * negative status: bad weights (negative, non-finite, all zero), bad bounds (lo > hi, non-finite),
 * or a target outside [Σ w̄ lo, Σ w̄ hi].
 */
export function boSetup(
  bo: usize,
  target: f64,
  seedLo: u32,
  seedHi: u32,
  nInit: i32,
  rawSamples: i32,
  restarts: i32,
  fitStarts: i32,
  fitIters: i32,
  ascentSteps: i32,
  failTol: i32,
  noiseMin: f64,
  usePrior: bool,
): i32 {
  const b = changetype<Bo>(bo);
  assert(b.ready == 0, "boSetup: already set up");
  const d = b.d;
  const w = b.inputs;
  const lo = b.inputs + (<usize>d << 3);
  const hi = b.inputs + (<usize>(2 * d) << 3);
  let wSum: f64 = 0;
  for (let k = 0; k < d; k++) {
    const v = at(w, k);
    if (!(v >= 0 && v < Infinity)) return BO_BAD_WEIGHTS;
    wSum += v;
  }
  if (!(wSum > 0 && wSum < Infinity)) return BO_BAD_WEIGHTS;
  for (let k = 0; k < d; k++) {
    if (!(isFinite(at(lo, k)) && isFinite(at(hi, k)) && at(lo, k) <= at(hi, k))) return BO_BAD_BOUNDS;
  }
  if (!isFinite(target)) return BO_INFEASIBLE;

  const box = changetype<Box>(heap.alloc(offsetof<Box>()));
  box.d = d;
  box.c = target;
  box.w = alloc64(<usize>d);
  box.lo = alloc64(<usize>d);
  box.hi = alloc64(<usize>d);
  box.range = alloc64(<usize>d);
  b.invRange = alloc64(<usize>d);
  let wlo: f64 = 0;
  let whi: f64 = 0;
  for (let k = 0; k < d; k++) {
    const wk = at(w, k) / wSum;
    put(box.w, k, wk);
    put(box.lo, k, at(lo, k));
    put(box.hi, k, at(hi, k));
    const r = at(hi, k) - at(lo, k);
    put(box.range, k, r);
    put(b.invRange, k, r > 0 ? 1 / r : 0);
    wlo += wk * at(lo, k);
    whi += wk * at(hi, k);
  }
  const tol = 1e-12 * max<f64>(1, Math.abs(target));
  if (target < wlo - tol || target > whi + tol) return BO_INFEASIBLE;
  b.box = box;
  const tr = changetype<Box>(heap.alloc(offsetof<Box>()));
  tr.d = d;
  tr.c = target;
  tr.w = box.w;
  tr.lo = alloc64(<usize>d);
  tr.hi = alloc64(<usize>d);
  tr.range = alloc64(<usize>d);
  b.tr = tr;
  b.trLength = L_INIT;
  b.failTol = max<i32>(1, failTol);

  b.nInit = max<i32>(1, nInit);
  b.rawSamples = max<i32>(2, rawSamples);
  b.restarts = max<i32>(1, min<i32>(restarts, b.rawSamples));
  b.fitStarts = max<i32>(1, fitStarts);
  b.fitIters = max<i32>(1, fitIters);
  b.ascentSteps = max<i32>(0, ascentSteps);
  const nMax = <usize>b.nMax;
  const dd = <usize>d;
  b.gp = changetype<Gp>(gpCreate(d, b.nMax));
  b.hyper = hyperCreate(d, usePrior, noiseMin);
  b.rng = heap.alloc(RNG_BYTES);
  rngSeed(b.rng, (<u64>seedHi << 32) | <u64>seedLo);
  b.xs = alloc64(nMax * dd);
  b.ys = alloc64(nMax);
  b.theta = alloc64(dd + 2);
  hyperDefault(b.hyper, b.theta);
  b.chain = alloc64(dd);
  b.dir = alloc64(dd);
  b.cand = alloc64(<usize>b.rawSamples * dd);
  b.candVal = alloc64(<usize>b.rawSamples);
  b.x = alloc64(dd);
  b.xNew = alloc64(dd);
  b.grad = alloc64(dd);
  b.gradNew = alloc64(dd);
  b.u = alloc64(dd);
  b.best = alloc64(dd);
  b.sugg = alloc64(dd);
  b.info = alloc64(<usize>INFO_SLOTS);
  centre(box, b.chain);
  for (let s = 0; s < 10 * d; s++) hitAndRunStep(box, b.chain, b.dir, b.rng);
  b.ready = 1;
  return BO_OK;
}

/** s → u = (s − lo)/(hi − lo), the GP's coordinates. */
function toUnit(b: Bo, s: usize, u: usize): void {
  for (let k = 0; k < b.d; k++) put(u, k, (at(s, k) - at(b.box.lo, k)) * at(b.invRange, k));
}

/**
 * Records an evaluation y = f(s); s (d f64) must lie on S to 1e-9. Returns the number of
 * observations, or BO_FULL, BO_BAD_VALUE (y not finite), BO_OFF_SET.
 */
export function boObserve(bo: usize, s: usize, y: f64): i32 {
  const b = changetype<Bo>(bo);
  assert(b.ready == 1, "boObserve: call boSetup first");
  if (b.n >= b.nMax) return BO_FULL;
  if (!isFinite(y)) return BO_BAD_VALUE;
  const d = b.d;
  const tol = ON_SET_TOL * max<f64>(1, Math.abs(b.box.c));
  for (let k = 0; k < d; k++) {
    const v = at(s, k);
    if (!(v >= at(b.box.lo, k) - tol && v <= at(b.box.hi, k) + tol)) return BO_OFF_SET;
  }
  if (!(Math.abs(weighted(b.box, s) - b.box.c) <= tol)) return BO_OFF_SET;
  // Trust-region bookkeeping for points observed once the model is in use (TuRBO §2).
  if (b.n >= b.nInit && b.n >= 2) {
    const f = at(b.ys, boBest(bo));
    if (y < f - SUCC_MARGIN * Math.abs(f)) {
      b.succ++;
      b.fail = 0;
    } else {
      b.fail++;
      b.succ = 0;
    }
    if (b.succ >= SUCC_TOL) {
      b.trLength = min<f64>(2 * b.trLength, L_MAX);
      b.succ = 0;
    } else if (b.fail >= b.failTol) {
      b.trLength *= 0.5;
      b.fail = 0;
      if (b.trLength < L_MIN) b.trLength = L_INIT;
    }
  }
  const row = <usize>d << 3;
  const xi = b.xs + <usize>b.n * row;
  memory.copy(xi, s, row);
  put(b.ys, b.n, y);
  toUnit(b, xi, b.u);
  gpAppendInput(changetype<usize>(b.gp), b.u);
  b.n++;
  return b.n;
}

/** Index of the smallest observed y (the first on ties), −1 when none. */
export function boBest(bo: usize): i32 {
  const b = changetype<Bo>(bo);
  let best = -1;
  let v: f64 = Infinity;
  for (let i = 0; i < b.n; i++) {
    if (at(b.ys, i) < v) {
      v = at(b.ys, i);
      best = i;
    }
  }
  return best;
}

/** `count` points of S into out (count, d): hit-and-run with d steps between points. */
export function boSample(bo: usize, out: usize, count: i32): void {
  const b = changetype<Bo>(bo);
  assert(b.ready == 1, "boSample: call boSetup first");
  const row = <usize>b.d << 3;
  for (let i = 0; i < count; i++) {
    for (let s = 0; s < b.d; s++) hitAndRunStep(b.box, b.chain, b.dir, b.rng);
    memory.copy(out + <usize>i * row, b.chain, row);
  }
}

/** Euclidean projection of y (d f64) onto S into out (may alias). */
export function boProject(bo: usize, y: usize, out: usize): void {
  const b = changetype<Bo>(bo);
  assert(b.ready == 1, "boProject: call boSetup first");
  project(b.box, y, out);
}

/** Standardises y into the GP's targets: (y − mean)/std, std 1 when all are equal. */
function standardise(b: Bo): void {
  const n = b.n;
  let mean: f64 = 0;
  for (let i = 0; i < n; i++) mean += at(b.ys, i);
  mean /= <f64>n;
  let ss: f64 = 0;
  for (let i = 0; i < n; i++) {
    const e = at(b.ys, i) - mean;
    ss += e * e;
  }
  let std = n > 1 ? Math.sqrt(ss / <f64>(n - 1)) : 0;
  if (!(std > 1e-300)) std = 1;
  b.yMean = mean;
  b.yStd = std;
  let fBest: f64 = Infinity;
  for (let i = 0; i < n; i++) {
    const v = (at(b.ys, i) - mean) / std;
    put(b.gp.y, i, v);
    fBest = min<f64>(fBest, v);
  }
  b.fBest = fBest;
}

/** log EI at s, its gradient in s into `grad` when nonzero (chain rule through u = (s − lo)/range). */
function acquisition(b: Bo, s: usize, grad: usize): f64 {
  toUnit(b, s, b.u);
  const v = logEI(b.gp, b.u, b.fBest, grad);
  if (grad != 0) {
    for (let k = 0; k < b.d; k++) put(grad, k, at(grad, k) * at(b.invRange, k));
  }
  return v;
}

/** Projected gradient ascent of log EI from `x` (modified in place); returns the final value. */
function ascend(b: Bo, f0: f64): f64 {
  const d = b.d;
  const row = <usize>d << 3;
  let x = b.x;
  let xNew = b.xNew;
  let grad = b.grad;
  let gradNew = b.gradNew;
  let f = acquisition(b, x, grad);
  if (!isFinite(f)) return f0;
  // First step: the coordinate that goes fastest relative to its range moves 5% of it.
  let steep: f64 = 0;
  for (let k = 0; k < d; k++) steep = max<f64>(steep, Math.abs(at(grad, k)) * at(b.invRange, k));
  if (!(steep > 0)) return f;
  let eta: f64 = 0.05 / steep;
  for (let step = 0; step < b.ascentSteps; step++) {
    for (let k = 0; k < d; k++) put(xNew, k, at(x, k) + eta * at(grad, k));
    project(b.tr, xNew, xNew);
    let dec: f64 = 0;
    let moved: f64 = 0;
    for (let k = 0; k < d; k++) {
      const m = at(xNew, k) - at(x, k);
      dec += at(grad, k) * m;
      moved = max<f64>(moved, Math.abs(m) * at(b.invRange, k));
    }
    if (moved < 1e-9) break; // a stationary point of the projected step
    const fNew = acquisition(b, xNew, gradNew);
    if (fNew >= f + 1e-4 * dec) {
      f = fNew;
      const tx = x; x = xNew; xNew = tx;
      const tg = grad; grad = gradNew; gradNew = tg;
      eta *= 2;
    } else {
      eta *= 0.25;
    }
  }
  if (x != b.x) memory.copy(b.x, x, row);
  return f;
}

/** A design point: the chain after d hit-and-run steps. */
function designPoint(b: Bo): void {
  for (let s = 0; s < b.d; s++) hitAndRunStep(b.box, b.chain, b.dir, b.rng);
  memory.copy(b.sugg, b.chain, <usize>b.d << 3);
}

/**
 * The next point to evaluate (d f64 at the returned pointer, valid until the next call): a design
 * point while n < nInit, else the log-EI maximiser over S ∩ T (T: the trust region around the
 * incumbent); a design point too when the fit fails. Always on S and inside the box.
 */
export function boSuggest(bo: usize): usize {
  const b = changetype<Bo>(bo);
  assert(b.ready == 1, "boSuggest: call boSetup first");
  const d = b.d;
  const row = <usize>d << 3;
  put(b.info, 1, NaN);
  if (b.n < b.nInit || b.n < 2) {
    designPoint(b);
    put(b.info, 0, FROM_DESIGN);
    return b.sugg;
  }
  standardise(b);
  const fit = hyperOptimize(changetype<usize>(b.gp), b.hyper, b.theta, b.fitStarts, b.fitIters, b.rng);
  b.fits++;
  put(b.info, 2, fit);
  put(b.info, 3, b.gp.jitter);
  put(b.info, 4, b.yMean);
  put(b.info, 5, b.yStd);
  put(b.info, 6, b.fBest);
  put(b.info, 7, <f64>b.fits);
  if (!isFinite(fit)) {
    hyperDefault(b.hyper, b.theta); // start afresh next time
    designPoint(b);
    put(b.info, 0, FROM_FALLBACK);
    return b.sugg;
  }

  // The trust region around the incumbent, stretched by the length scales (TuRBO's weights
  // ℓ_l / geomean(ℓ) over the coordinates that can move).
  const inc = b.xs + <usize>boBest(bo) * row;
  let logMean: f64 = 0;
  let free = 0;
  for (let k = 0; k < d; k++) {
    if (at(b.box.range, k) > 0) {
      logMean += at(b.theta, k);
      free++;
    }
  }
  logMean /= <f64>max<i32>(1, free);
  const tr = b.tr;
  for (let k = 0; k < d; k++) {
    const lo = at(b.box.lo, k);
    const hi = at(b.box.hi, k);
    const half = 0.5 * b.trLength * Math.exp(at(b.theta, k) - logMean) * at(b.box.range, k);
    const c = at(inc, k);
    const tlo = max<f64>(lo, c - half);
    const thi = min<f64>(hi, c + half);
    put(tr.lo, k, tlo);
    put(tr.hi, k, thi);
    put(tr.range, k, thi - tlo);
  }

  // Raw candidates in S ∩ T: half a hit-and-run chain from the incumbent, half perturbations of it.
  const raw = b.rawSamples;
  const walk = raw >> 1;
  memory.copy(b.x, inc, row);
  for (let i = 0; i < walk; i++) {
    for (let s = 0; s < RAW_THIN; s++) hitAndRunStep(tr, b.x, b.dir, b.rng);
    memory.copy(b.cand + <usize>i * row, b.x, row);
  }
  for (let i = walk; i < raw; i++) {
    const c = b.cand + <usize>i * row;
    const m = i % 3;
    const scale = m == 0 ? LOCAL_SCALE_0 : m == 1 ? LOCAL_SCALE_1 : LOCAL_SCALE_2;
    for (let k = 0; k < d; k++) put(c, k, at(inc, k) + scale * at(tr.range, k) * rngNormal(b.rng));
    project(tr, c, c);
  }
  for (let i = 0; i < raw; i++) put(b.candVal, i, acquisition(b, b.cand + <usize>i * row, 0));

  // Refine the `restarts` best candidates; keep the best refined point.
  let bestVal: f64 = -Infinity;
  for (let r = 0; r < b.restarts; r++) {
    let pick = -1;
    let pv: f64 = -Infinity;
    for (let i = 0; i < raw; i++) {
      const v = at(b.candVal, i);
      if (v > pv) {
        pv = v;
        pick = i;
      }
    }
    if (pick < 0) break;
    put(b.candVal, pick, -Infinity);
    memory.copy(b.x, b.cand + <usize>pick * row, row);
    const v = ascend(b, pv);
    if (v > bestVal || r == 0) {
      bestVal = v;
      memory.copy(b.best, b.x, row);
    }
  }
  memory.copy(b.sugg, b.best, row);
  settle(b.tr, b.sugg);
  put(b.info, 0, FROM_MODEL);
  put(b.info, 1, bestVal);
  return b.sugg;
}

/**
 * Posterior of f at s (d f64) from the last fit, in the units of y: out[0] the mean, out[1] the
 * variance. NaN when there is no fit yet.
 */
export function boPredict(bo: usize, s: usize, out: usize): void {
  const b = changetype<Bo>(bo);
  assert(b.ready == 1, "boPredict: call boSetup first");
  if (b.gp.ok != 1) {
    put(out, 0, NaN);
    put(out, 1, NaN);
    return;
  }
  toUnit(b, s, b.u);
  const mean = posteriorAt(b.gp, b.u);
  put(out, 0, b.yMean + b.yStd * mean);
  put(out, 1, b.yStd * b.yStd * varianceFromV(b.gp));
}

/**
 * log EI at s (d f64) under the last fit, ∂/∂s into grad (d f64) when grad is nonzero: the function
 * boSuggest maximises, for tests. NaN when there is no current fit (before the first model-based
 * suggestion, or after an observe).
 */
export function boLogEI(bo: usize, s: usize, grad: usize): f64 {
  const b = changetype<Bo>(bo);
  assert(b.ready == 1, "boLogEI: call boSetup first");
  if (b.gp.ok != 1) return NaN;
  return acquisition(b, s, grad);
}

/** Observation count. */
export function boCount(bo: usize): i32 {
  return changetype<Bo>(bo).n;
}

/** Pointer to the (nMax, d) observed points; rows [0, boCount) are filled. */
export function boObservations(bo: usize): usize {
  return changetype<Bo>(bo).xs;
}

/** Pointer to the (nMax) observed values. */
export function boValues(bo: usize): usize {
  return changetype<Bo>(bo).ys;
}

/** Pointer to the (d + 2) last fitted θ (GP on the unit cube, standardised y). */
export function boTheta(bo: usize): usize {
  return changetype<Bo>(bo).theta;
}

/** Pointer to the (INFO_SLOTS) diagnostics of the last suggestion. */
export function boInfo(bo: usize): usize {
  return changetype<Bo>(bo).info;
}
