// Gaussian-process regression with a Matérn-5/2 ARD kernel, zero mean and Gaussian noise, in f64
// (Rasmussen & Williams 2006, "Gaussian Processes for Machine Learning", ch. 2 and 5):
//   k(x, x') = σ_f² (1 + √5 r + 5r²/3) exp(−√5 r),  r² = Σ_l (x_l − x'_l)² / ℓ_l²      (R&W eq. 4.17)
// Hyper-parameters θ = [log ℓ_1 … log ℓ_d, log σ_f², log σ_n²] (d + 2 values).
//
// A workspace (`Gp`) holds the data, the factor and every scratch buffer, allocated once for up to
// nMax points: nothing is allocated per call (the stub runtime never frees). Squared differences
// (x_il − x_jl)² are kept per pair, so refitting θ re-reads them instead of the inputs.
// src/bo/oracle.ts computes the same posterior and log marginal likelihood in plain TypeScript.

import { choleskyJitter, dot, inverseFromCholesky, solveLower, solveLowerT } from "./linalg";

const SQRT5: f64 = 2.23606797749979;
const LOG_2PI: f64 = 1.8378770664093453;

@unmanaged
export class Gp {
  d: i32;
  nMax: i32;
  n: i32;
  ok: i32; // 1 after a successful gpFit at `theta`, 0 before or when the factorisation failed
  x: usize; // (nMax, d) inputs
  y: usize; // (nMax) targets
  d2: usize; // (nMax(nMax−1)/2, d) (x_il − x_jl)², pair p = i(i−1)/2 + j for i > j
  theta: usize; // (d + 2) hyper-parameters of the last fit
  invl2: usize; // (d) 1/ℓ_l²
  sf2: f64; // σ_f²
  sn2: f64; // σ_n²
  jitter: f64; // diagonal jitter the last Cholesky needed (0 when none)
  lml: f64; // log marginal likelihood of the last fit
  kf: usize; // (nMax, nMax) lower: k(x_i, x_j), the signal covariance
  dk: usize; // (nMax, nMax) lower: −2 ∂k/∂(r²) = (5/3) σ_f² (1 + √5 r) e^{−√5 r}
  l: usize; // (nMax, nMax) Cholesky factor of Kf + (σ_n² + jitter) I
  alpha: usize; // (nMax) K⁻¹ y
  mt: usize; // (nMax, nMax) scratch: (L⁻¹)ᵀ
  kinv: usize; // (nMax, nMax) lower: K⁻¹
  ks: usize; // (nMax) scratch: k(x*, x_i)
  v: usize; // (nMax) scratch: L⁻¹ k*, then K⁻¹ k*
  gk: usize; // (nMax) scratch: ∂k/∂(r²) at (x*, x_i)
}

@inline
function alloc64(count: usize): usize {
  const bytes = count << 3;
  const p = heap.alloc(bytes);
  memory.fill(p, 0, bytes);
  return p;
}

/** A workspace for up to nMax points of dimension d; lives until the module's `reset()`. */
export function gpCreate(d: i32, nMax: i32): usize {
  assert(d >= 1 && d <= 4096, "gpCreate: d must be in [1, 4096]");
  assert(nMax >= 1 && nMax <= 4096, "gpCreate: nMax must be in [1, 4096]");
  const g = changetype<Gp>(heap.alloc(offsetof<Gp>()));
  const n = <usize>nMax;
  const dd = <usize>d;
  g.d = d;
  g.nMax = nMax;
  g.n = 0;
  g.ok = 0;
  g.x = alloc64(n * dd);
  g.y = alloc64(n);
  g.d2 = alloc64(max<usize>(1, (n * (n - 1)) >> 1) * dd);
  g.theta = alloc64(dd + 2);
  g.invl2 = alloc64(dd);
  g.sf2 = 1;
  g.sn2 = 0;
  g.jitter = 0;
  g.lml = NaN;
  g.kf = alloc64(n * n);
  g.dk = alloc64(n * n);
  g.l = alloc64(n * n);
  g.alpha = alloc64(n);
  g.mt = alloc64(n * n);
  g.kinv = alloc64(n * n);
  g.ks = alloc64(n);
  g.v = alloc64(n);
  g.gk = alloc64(n);
  return changetype<usize>(g);
}

/** Appends input row `xrow` (d f64) as point n; its target is set apart (gp.y). */
export function gpAppendInput(gp: usize, xrow: usize): void {
  const g = changetype<Gp>(gp);
  const d = g.d;
  const i = g.n;
  assert(i < g.nMax, "gpAppendInput: the workspace is full");
  const row = <usize>d << 3;
  const xi = g.x + <usize>i * row;
  memory.copy(xi, xrow, row);
  for (let j = 0; j < i; j++) {
    const xj = g.x + <usize>j * row;
    const p = g.d2 + ((<usize>i * <usize>(i - 1)) >> 1) * row + <usize>j * row;
    for (let k = 0; k < d; k++) {
      const o = <usize>k << 3;
      const diff = load<f64>(xi + o) - load<f64>(xj + o);
      store<f64>(p + o, diff * diff);
    }
  }
  g.n = i + 1;
  g.ok = 0;
}

/** Replaces the data by n points: x (n, d) row-major and y (n). */
export function gpSetData(gp: usize, x: usize, y: usize, n: i32): void {
  const g = changetype<Gp>(gp);
  assert(n >= 0 && n <= g.nMax, "gpSetData: n must be in [0, nMax]");
  g.n = 0;
  const row = <usize>g.d << 3;
  for (let i = 0; i < n; i++) gpAppendInput(gp, x + <usize>i * row);
  memory.copy(g.y, y, <usize>n << 3);
}

/** Sets θ: 1/ℓ², σ_f², σ_n² (no refit). */
function setTheta(g: Gp, theta: usize): void {
  const d = g.d;
  if (theta != g.theta) memory.copy(g.theta, theta, <usize>(d + 2) << 3);
  for (let k = 0; k < d; k++) {
    store<f64>(g.invl2 + (<usize>k << 3), Math.exp(-2 * load<f64>(g.theta + (<usize>k << 3))));
  }
  g.sf2 = Math.exp(load<f64>(g.theta + (<usize>d << 3)));
  g.sn2 = Math.exp(load<f64>(g.theta + (<usize>(d + 1) << 3)));
}

/**
 * Fits the GP at hyper-parameters θ (d + 2 f64 at `theta`) and returns the log marginal likelihood
 *   log p(y | X, θ) = −½ yᵀα − Σ log L_ii − (n/2) log 2π     (R&W alg. 2.1, eq. 2.30)
 * with L = chol(K + σ_n² I), α = Lᵀ\(L\y); −Infinity when K is not PSD even with jitter.
 */
export function gpFit(gp: usize, theta: usize): f64 {
  const g = changetype<Gp>(gp);
  setTheta(g, theta);
  const n = g.n;
  const d = g.d;
  const row = <usize>n << 3;
  const drow = <usize>d << 3;
  const sf2 = g.sf2;
  for (let i = 0; i < n; i++) {
    const kfi = g.kf + <usize>i * row;
    const dki = g.dk + <usize>i * row;
    const pairs = g.d2 + ((<usize>i * <usize>(i - 1)) >> 1) * drow;
    for (let j = 0; j < i; j++) {
      const r2 = dot(pairs + <usize>j * drow, g.invl2, d);
      const r = Math.sqrt(r2);
      const e = sf2 * Math.exp(-SQRT5 * r);
      store<f64>(kfi + (<usize>j << 3), (1 + SQRT5 * r + (5.0 / 3.0) * r2) * e);
      store<f64>(dki + (<usize>j << 3), (5.0 / 3.0) * (1 + SQRT5 * r) * e);
    }
    store<f64>(kfi + (<usize>i << 3), sf2);
  }
  const jitter = choleskyJitter(g.kf, g.l, n, g.sn2);
  g.jitter = jitter;
  if (jitter < 0) {
    g.ok = 0;
    g.lml = -Infinity;
    return -Infinity;
  }
  solveLower(g.l, n, g.y, g.alpha);
  let logDet: f64 = 0;
  for (let i = 0; i < n; i++) logDet += Math.log(load<f64>(g.l + <usize>i * row + (<usize>i << 3)));
  // yᵀα = ‖L⁻¹y‖², read before α is finished by the back substitution.
  const quad = dot(g.alpha, g.alpha, n);
  solveLowerT(g.l, n, g.alpha);
  g.ok = 1;
  g.lml = -0.5 * quad - logDet - 0.5 * <f64>n * LOG_2PI;
  return g.lml;
}

/**
 * ∂ log p(y | X, θ) / ∂θ into `grad` (d + 2 f64) at the last fit, by R&W eq. 5.9:
 *   ∂/∂θ_j = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ_j),
 *   ∂K_ij/∂log ℓ_l = (5/3) σ_f² (1 + √5 r) e^{−√5 r} (x_il − x_jl)² / ℓ_l²,
 *   ∂K/∂log σ_f² = K_f,   ∂K/∂log σ_n² = σ_n² I   (the jitter is held constant).
 */
export function gpGrad(gp: usize, grad: usize): void {
  const g = changetype<Gp>(gp);
  assert(g.ok == 1, "gpGrad: call gpFit first (and check that it succeeded)");
  const n = g.n;
  const d = g.d;
  const row = <usize>n << 3;
  const drow = <usize>d << 3;
  inverseFromCholesky(g.l, n, g.mt, g.kinv);
  memory.fill(grad, 0, drow);
  let gsf: f64 = 0;
  let trace: f64 = 0;
  for (let i = 0; i < n; i++) {
    const ai = load<f64>(g.alpha + (<usize>i << 3));
    const ki = g.kinv + <usize>i * row;
    const kfi = g.kf + <usize>i * row;
    const dki = g.dk + <usize>i * row;
    const pairs = g.d2 + ((<usize>i * <usize>(i - 1)) >> 1) * drow;
    for (let j = 0; j < i; j++) {
      const o = <usize>j << 3;
      const w = ai * load<f64>(g.alpha + o) - load<f64>(ki + o); // W_ij, counted twice by symmetry
      gsf += w * load<f64>(kfi + o);
      // grad_l += W_ij (5/3)σ_f²(1+√5r)e^{−√5r} (Δ_l)²; the 1/ℓ_l² factor is applied once below.
      const c = w * load<f64>(dki + o);
      const p = pairs + <usize>j * drow;
      let k = 0;
      const vc = f64x2.splat(c);
      for (; k + 2 <= d; k += 2) {
        const q = <usize>k << 3;
        v128.store(grad + q, f64x2.add(v128.load(grad + q), f64x2.mul(vc, v128.load(p + q))));
      }
      for (; k < d; k++) {
        const q = <usize>k << 3;
        store<f64>(grad + q, load<f64>(grad + q) + c * load<f64>(p + q));
      }
    }
    trace += ai * ai - load<f64>(ki + (<usize>i << 3));
  }
  for (let k = 0; k < d; k++) {
    const q = <usize>k << 3;
    store<f64>(grad + q, load<f64>(grad + q) * load<f64>(g.invl2 + q));
  }
  store<f64>(grad + drow, gsf + 0.5 * trace * g.sf2);
  store<f64>(grad + drow + 8, 0.5 * trace * g.sn2);
}

/**
 * k* = k(x*, x_i) into g.ks and ∂k/∂(r²) into g.gk, for the point `u` (d f64). Shared by prediction
 * and the acquisition gradient.
 */
export function crossKernel(g: Gp, u: usize): void {
  const n = g.n;
  const d = g.d;
  const drow = <usize>d << 3;
  const sf2 = g.sf2;
  for (let i = 0; i < n; i++) {
    const xi = g.x + <usize>i * drow;
    let acc = f64x2.splat(0);
    let k = 0;
    for (; k + 2 <= d; k += 2) {
      const q = <usize>k << 3;
      const diff = f64x2.sub(v128.load(u + q), v128.load(xi + q));
      acc = f64x2.add(acc, f64x2.mul(f64x2.mul(diff, diff), v128.load(g.invl2 + q)));
    }
    let r2 = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
    for (; k < d; k++) {
      const q = <usize>k << 3;
      const diff = load<f64>(u + q) - load<f64>(xi + q);
      r2 += diff * diff * load<f64>(g.invl2 + q);
    }
    const r = Math.sqrt(r2);
    const e = sf2 * Math.exp(-SQRT5 * r);
    store<f64>(g.ks + (<usize>i << 3), (1 + SQRT5 * r + (5.0 / 3.0) * r2) * e);
    store<f64>(g.gk + (<usize>i << 3), (-5.0 / 6.0) * (1 + SQRT5 * r) * e);
  }
}

/**
 * Posterior of the latent f at the point `u` (R&W alg. 2.1): returns the mean k*ᵀα and leaves
 * v = L⁻¹k* in g.v; the variance is σ_f² − vᵀv (see gpVarianceFromV).
 */
export function posteriorAt(g: Gp, u: usize): f64 {
  crossKernel(g, u);
  solveLower(g.l, g.n, g.ks, g.v);
  return dot(g.ks, g.alpha, g.n);
}

/** σ_f² − vᵀv, floored at 0 (rounding can take it below when x* sits on a noise-free point). */
@inline
export function varianceFromV(g: Gp): f64 {
  return max<f64>(0, g.sf2 - dot(g.v, g.v, g.n));
}

/** Posterior mean and variance of the latent f at m points xs (m, d) into mean (m) and variance (m). */
export function gpPredict(gp: usize, xs: usize, m: i32, mean: usize, variance: usize): void {
  const g = changetype<Gp>(gp);
  assert(g.ok == 1, "gpPredict: call gpFit first (and check that it succeeded)");
  const drow = <usize>g.d << 3;
  for (let t = 0; t < m; t++) {
    store<f64>(mean + (<usize>t << 3), posteriorAt(g, xs + <usize>t * drow));
    store<f64>(variance + (<usize>t << 3), varianceFromV(g));
  }
}

/** The jitter the last gpFit needed (0: none, −1: failed). */
export function gpJitter(gp: usize): f64 {
  return changetype<Gp>(gp).jitter;
}

/** β = K⁻¹k* = L⁻ᵀ(L⁻¹k*) into g.v, after posteriorAt. */
export function solveBeta(g: Gp): void {
  solveLowerT(g.l, g.n, g.v);
}
