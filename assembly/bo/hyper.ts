// Hyper-parameter fit: maximise log p(y | X, θ) + log p(θ) over θ = [log ℓ, log σ_f², log σ_n²]
// by L-BFGS from several starts (Nocedal & Wright 2006, "Numerical Optimization", alg. 7.4 two-loop
// recursion and alg. 7.5, memory M; Armijo backtracking, alg. 3.1), inside a box on θ handled by
// gradient projection (zero the components that push out of an active bound: the simplest form of
// L-BFGS-B, Byrd, Lu, Nocedal & Zhu 1995).
//
// The prior keeps 32 length scales identifiable from ~50 points: log ℓ_l ~ N(√2 + ½ log d, 3), the
// dimension-scaled prior of Hvarfner, Hellsten & Nardi 2024 ("Vanilla Bayesian optimization performs
// great in high dimensions", ICML, §4) for inputs in the unit cube; weak normals on log σ_f² (the
// targets are standardised) and log σ_n² (our objectives are near-deterministic). It can be turned off.

import { Gp, gpFit, gpGrad } from "./gp";
import { rngNormal } from "./rng";

const M: i32 = 6; // L-BFGS memory
const ARMIJO: f64 = 1e-4;
const MAX_BACKTRACK: i32 = 24;
const MAX_STEP: f64 = 2; // largest change of one log-parameter per iteration (a factor e² ≈ 7.4)

const LOG_SF2_MEAN: f64 = 0, LOG_SF2_SD: f64 = 2;
const LOG_SN2_MEAN: f64 = -6, LOG_SN2_SD: f64 = 2;
const LOG_L_SD: f64 = 1.7320508075688772; // √3
const LOG_L_MIN: f64 = -5, LOG_L_MAX: f64 = 8; // ℓ in [0.007, 3000] on the unit cube
const LOG_SF2_MIN: f64 = -9, LOG_SF2_MAX: f64 = 9;
const LOG_SN2_MAX: f64 = 2;

@unmanaged
export class HyperFit {
  p: i32; // d + 2
  usePrior: i32;
  logNoiseMin: f64; // lower bound of log σ_n²
  lo: usize; // (p) box on θ
  hi: usize; // (p)
  mean: usize; // (p) prior means, also the deterministic start
  sd: usize; // (p) prior standard deviations
  s: usize; // (M, p) L-BFGS steps s_k = θ_{k+1} − θ_k
  yv: usize; // (M, p) gradient changes y_k
  rho: usize; // (M) 1/(y_kᵀ s_k)
  a: usize; // (M) two-loop coefficients
  th: usize; // (p) current θ
  g: usize; // (p) current gradient of the objective (minimised: −LML − log prior)
  dir: usize; // (p) search direction
  thNew: usize; // (p)
  gNew: usize; // (p)
  best: usize; // (p) best θ over starts
}

@inline
function alloc64(count: usize): usize {
  const bytes = count << 3;
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

/** Scratch and settings for fitting a d-dimensional GP; noiseMin floors σ_n² (in target units²). */
export function hyperCreate(d: i32, usePrior: bool, noiseMin: f64): usize {
  const h = changetype<HyperFit>(heap.alloc(offsetof<HyperFit>()));
  const p = d + 2;
  const pp = <usize>p;
  h.p = p;
  h.usePrior = usePrior ? 1 : 0;
  h.logNoiseMin = Math.log(max<f64>(noiseMin, 1e-300));
  h.lo = alloc64(pp);
  h.hi = alloc64(pp);
  h.mean = alloc64(pp);
  h.sd = alloc64(pp);
  h.s = alloc64(<usize>M * pp);
  h.yv = alloc64(<usize>M * pp);
  h.rho = alloc64(<usize>M);
  h.a = alloc64(<usize>M);
  h.th = alloc64(pp);
  h.g = alloc64(pp);
  h.dir = alloc64(pp);
  h.thNew = alloc64(pp);
  h.gNew = alloc64(pp);
  h.best = alloc64(pp);
  const lMean = Math.SQRT2 + 0.5 * Math.log(<f64>d);
  for (let k = 0; k < d; k++) {
    put(h.lo, k, LOG_L_MIN);
    put(h.hi, k, LOG_L_MAX);
    put(h.mean, k, lMean);
    put(h.sd, k, LOG_L_SD);
  }
  put(h.lo, d, LOG_SF2_MIN);
  put(h.hi, d, LOG_SF2_MAX);
  put(h.mean, d, LOG_SF2_MEAN);
  put(h.sd, d, LOG_SF2_SD);
  put(h.lo, d + 1, h.logNoiseMin);
  put(h.hi, d + 1, max<f64>(LOG_SN2_MAX, h.logNoiseMin));
  put(h.mean, d + 1, max<f64>(LOG_SN2_MEAN, h.logNoiseMin));
  put(h.sd, d + 1, LOG_SN2_SD);
  return changetype<usize>(h);
}

/** Writes the prior's centre (clamped to the box) into θ: the deterministic start. */
export function hyperDefault(hp: usize, theta: usize): void {
  const h = changetype<HyperFit>(hp);
  for (let k = 0; k < h.p; k++) put(theta, k, clamp(at(h.mean, k), at(h.lo, k), at(h.hi, k)));
}

@inline
function clamp(v: f64, lo: f64, hi: f64): f64 {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Objective to minimise at θ: −(log p(y | X, θ) + log p(θ)); the gradient into `grad` when nonzero.
 * Leaves the GP fitted at θ. +Infinity when the factorisation fails.
 */
function objective(g: Gp, h: HyperFit, theta: usize, grad: usize): f64 {
  const lml = gpFit(changetype<usize>(g), theta);
  if (!isFinite(lml)) return Infinity;
  let f = -lml;
  if (grad != 0) {
    gpGrad(changetype<usize>(g), grad);
    for (let k = 0; k < h.p; k++) put(grad, k, -at(grad, k));
  }
  if (h.usePrior != 0) {
    for (let k = 0; k < h.p; k++) {
      const sd = at(h.sd, k);
      const z = (at(theta, k) - at(h.mean, k)) / sd;
      f += 0.5 * z * z;
      if (grad != 0) put(grad, k, at(grad, k) + z / sd);
    }
  }
  return f;
}

/** Zeroes gradient components that point out of an active bound (minimising: the step is −g). */
function projectGradient(h: HyperFit, theta: usize, grad: usize): f64 {
  let norm: f64 = 0;
  for (let k = 0; k < h.p; k++) {
    const t = at(theta, k);
    const gk = at(grad, k);
    if ((t <= at(h.lo, k) && gk > 0) || (t >= at(h.hi, k) && gk < 0)) put(grad, k, 0);
    else norm = max<f64>(norm, Math.abs(gk));
  }
  return norm;
}

/** One L-BFGS run from θ (in h.th); returns the final objective and leaves θ in h.th. */
function lbfgs(g: Gp, h: HyperFit, maxIter: i32): f64 {
  const p = h.p;
  const row = <usize>p << 3;
  let f = objective(g, h, h.th, h.g);
  if (!isFinite(f)) return Infinity;
  let gnorm = projectGradient(h, h.th, h.g);
  let count = 0; // pairs in memory
  let head = 0; // slot of the next pair
  for (let it = 0; it < maxIter && gnorm > 1e-6; it++) {
    // Two-loop recursion (N&W alg. 7.4): dir = −H·g, H₀ = γI with γ = sᵀy/yᵀy of the newest pair.
    memory.copy(h.dir, h.g, row);
    for (let c = 0; c < count; c++) {
      const slot = (head - 1 - c + M) % M;
      const sk = h.s + <usize>slot * row;
      const yk = h.yv + <usize>slot * row;
      let sq: f64 = 0;
      for (let k = 0; k < p; k++) sq += at(sk, k) * at(h.dir, k);
      const a = at(h.rho, slot) * sq;
      put(h.a, slot, a);
      for (let k = 0; k < p; k++) put(h.dir, k, at(h.dir, k) - a * at(yk, k));
    }
    let gamma: f64 = 1 / max<f64>(1, gnorm); // first step: at most one unit in log space
    if (count > 0) {
      const slot = (head - 1 + M) % M;
      let yy: f64 = 0;
      for (let k = 0; k < p; k++) yy += at(h.yv + <usize>slot * row, k) * at(h.yv + <usize>slot * row, k);
      gamma = 1 / (at(h.rho, slot) * yy);
    }
    for (let k = 0; k < p; k++) put(h.dir, k, at(h.dir, k) * gamma);
    for (let c = count - 1; c >= 0; c--) {
      const slot = (head - 1 - c + M) % M;
      const sk = h.s + <usize>slot * row;
      const yk = h.yv + <usize>slot * row;
      let yr: f64 = 0;
      for (let k = 0; k < p; k++) yr += at(yk, k) * at(h.dir, k);
      const b = at(h.rho, slot) * yr;
      const diff = at(h.a, slot) - b;
      for (let k = 0; k < p; k++) put(h.dir, k, at(h.dir, k) + diff * at(sk, k));
    }
    // dir now approximates H·g; step along −dir, dropping components that leave an active bound.
    let slope: f64 = 0;
    let biggest: f64 = 0;
    for (let k = 0; k < p; k++) {
      let dk = -at(h.dir, k);
      const t = at(h.th, k);
      if ((t <= at(h.lo, k) && dk < 0) || (t >= at(h.hi, k) && dk > 0)) dk = 0;
      put(h.dir, k, dk);
      slope += dk * at(h.g, k);
      biggest = max<f64>(biggest, Math.abs(dk));
    }
    if (!(slope < 0)) {
      // Not a descent direction (stale curvature pairs): restart from steepest descent.
      if (count == 0) break;
      count = 0;
      continue;
    }
    let step: f64 = biggest > MAX_STEP ? MAX_STEP / biggest : 1;
    let fNew: f64 = Infinity;
    let accepted = false;
    for (let b = 0; b < MAX_BACKTRACK; b++) {
      let dec: f64 = 0; // gᵀ(θ_new − θ) along the clamped step
      for (let k = 0; k < p; k++) {
        const t = clamp(at(h.th, k) + step * at(h.dir, k), at(h.lo, k), at(h.hi, k));
        put(h.thNew, k, t);
        dec += at(h.g, k) * (t - at(h.th, k));
      }
      fNew = objective(g, h, h.thNew, 0);
      if (fNew <= f + ARMIJO * dec) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) {
      if (count == 0) break;
      count = 0;
      continue;
    }
    // The GP is fitted at θ_new: its gradient costs one more O(n³) pass, not a refit.
    gpGrad(changetype<usize>(g), h.gNew);
    for (let k = 0; k < p; k++) put(h.gNew, k, -at(h.gNew, k));
    if (h.usePrior != 0) {
      for (let k = 0; k < p; k++) {
        const sd = at(h.sd, k);
        put(h.gNew, k, at(h.gNew, k) + (at(h.thNew, k) - at(h.mean, k)) / (sd * sd));
      }
    }
    gnorm = projectGradient(h, h.thNew, h.gNew);
    // Curvature pair, kept only when sᵀy > 0 so that H stays positive definite (N&W §7.2).
    const sk = h.s + <usize>head * row;
    const yk = h.yv + <usize>head * row;
    let sy: f64 = 0;
    let yy: f64 = 0;
    for (let k = 0; k < p; k++) {
      const s = at(h.thNew, k) - at(h.th, k);
      const y = at(h.gNew, k) - at(h.g, k);
      put(sk, k, s);
      put(yk, k, y);
      sy += s * y;
      yy += y * y;
    }
    if (sy > 1e-12 * yy) {
      put(h.rho, head, 1 / sy);
      head = (head + 1) % M;
      if (count < M) count++;
    }
    const decrease = f - fNew;
    memory.copy(h.th, h.thNew, row);
    memory.copy(h.g, h.gNew, row);
    f = fNew;
    if (decrease <= 1e-10 * (1 + Math.abs(f))) break;
  }
  return f;
}

/**
 * Maximises LML + log prior over θ from `starts` starts: θ as given (a warm start), the prior's
 * centre, then draws from the prior (rng at `rng`). Writes the best θ back, leaves the GP fitted
 * there and returns its log marginal likelihood plus log prior (−Infinity when every start failed).
 */
export function hyperOptimize(gp: usize, hp: usize, theta: usize, starts: i32, maxIter: i32, rng: usize): f64 {
  const g = changetype<Gp>(gp);
  const h = changetype<HyperFit>(hp);
  assert(h.p == g.d + 2, "hyperOptimize: the fit scratch was made for another dimension");
  const p = h.p;
  const row = <usize>p << 3;
  let bestF: f64 = Infinity;
  for (let s = 0; s < max<i32>(1, starts); s++) {
    if (s == 0) {
      for (let k = 0; k < p; k++) put(h.th, k, clamp(at(theta, k), at(h.lo, k), at(h.hi, k)));
    } else if (s == 1) {
      hyperDefault(hp, h.th);
    } else {
      for (let k = 0; k < p; k++) {
        const draw = at(h.mean, k) + at(h.sd, k) * rngNormal(rng);
        put(h.th, k, clamp(draw, at(h.lo, k), at(h.hi, k)));
      }
    }
    const f = lbfgs(g, h, maxIter);
    if (f < bestF) {
      bestF = f;
      memory.copy(h.best, h.th, row);
    }
  }
  if (bestF == Infinity) return -Infinity;
  memory.copy(theta, h.best, row);
  gpFit(gp, theta); // the last fit may have been a rejected trial point
  return -bestF;
}
