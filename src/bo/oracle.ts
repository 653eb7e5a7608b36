// The plain-TypeScript f64 oracle of the Wasm optimiser's maths (assembly/bo/): GP posterior and log
// marginal likelihood by a direct Cholesky solve, with the same jitter policy, and the projection
// onto the constrained set by a different exact algorithm (sorting the breakpoints instead of
// bisecting). Written for reading, not speed: plain loops, plain sums, fresh arrays.

/** Matérn-5/2 covariance at squared scaled distance r² (R&W eq. 4.17). */
export function matern52(r2: number, sf2: number): number {
  const r = Math.sqrt(r2);
  return sf2 * (1 + Math.sqrt(5) * r + (5 / 3) * r2) * Math.exp(-Math.sqrt(5) * r);
}

/** r² = Σ_l (a_l − b_l)² / ℓ_l² between rows a and b of (·, d) arrays. */
function scaledDistance2(a: Float64Array, ai: number, b: Float64Array, bi: number, lengthscales: Float64Array): number {
  const d = lengthscales.length;
  let r2 = 0;
  for (let l = 0; l < d; l++) {
    const diff = (a[ai * d + l]! - b[bi * d + l]!) / lengthscales[l]!;
    r2 += diff * diff;
  }
  return r2;
}

// The Wasm's policy (assembly/bo/linalg.ts): a pivot ≤ 1e-9 × its diagonal fails; then jitter
// 1e-8 × mean diagonal, ×10 per try, 6 tries.
const MIN_PIVOT = 1e-9;
const JITTER_FIRST = 1e-8;
const JITTER_TRIES = 6;

/** Lower Cholesky factor of A + shift·I (A (n, n) row-major, symmetric), or null when not PD. */
export function cholesky(a: Float64Array, n: number, shift: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = s / l[j * n + j]!;
    }
    const aii = a[i * n + i]! + shift;
    let p = aii;
    for (let k = 0; k < i; k++) p -= l[i * n + k]! * l[i * n + k]!;
    if (!(p > MIN_PIVOT * aii)) return null;
    l[i * n + i] = Math.sqrt(p);
  }
  return l;
}

/** Cholesky with escalating jitter: the factor and the jitter it needed, or null past the last try. */
export function choleskyJitter(a: Float64Array, n: number, shift: number): { l: Float64Array; jitter: number } | null {
  const plain = cholesky(a, n, shift);
  if (plain) return { l: plain, jitter: 0 };
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i * n + i]! + shift;
  mean /= n;
  let jitter = JITTER_FIRST * mean;
  for (let t = 0; t < JITTER_TRIES; t++) {
    const l = cholesky(a, n, shift + jitter);
    if (l) return { l, jitter };
    jitter *= 10;
  }
  return null;
}

function forward(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

function backward(l: Float64Array, n: number, b: Float64Array): Float64Array {
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/** θ = [log ℓ_1 … log ℓ_d, log σ_f², log σ_n²] unpacked. */
export function unpackTheta(theta: ArrayLike<number>, d: number): { lengthscales: Float64Array; sf2: number; sn2: number } {
  if (theta.length !== d + 2) throw new RangeError(`theta must have d + 2 = ${d + 2} entries, got ${theta.length}`);
  const lengthscales = new Float64Array(d);
  for (let l = 0; l < d; l++) lengthscales[l] = Math.exp(theta[l]!);
  return { lengthscales, sf2: Math.exp(theta[d]!), sn2: Math.exp(theta[d + 1]!) };
}

export interface GpOracle {
  /** log p(y | X, θ); −Infinity when K is not PD even with jitter. */
  lml: number;
  /**
   * |½yᵀα| + |Σ log L_ii| + (n/2) log 2π: the size of the terms the LML sums, the scale its
   * rounding error is relative to (the LML itself can cancel to near 0).
   */
  lmlScale: number;
  /** Diagonal jitter the factorisation needed (0: none, −1: failed). */
  jitter: number;
  /** Latent posterior at the rows of xs (m, d). */
  predict(xs: Float64Array): { mean: Float64Array; variance: Float64Array };
}

/**
 * GP regression by R&W alg. 2.1: x (n, d) row-major, y (n), zero mean, Matérn-5/2 ARD kernel,
 * K = K_f + (σ_n² + jitter) I, L = chol(K), α = Lᵀ\(L\y),
 * log p = −½ yᵀα − Σ log L_ii − (n/2) log 2π; mean k*ᵀα, variance k** − ‖L\k*‖² (floored at 0).
 */
export function gpOracle(x: Float64Array, y: Float64Array, d: number, theta: ArrayLike<number>): GpOracle {
  const n = y.length;
  if (x.length !== n * d) throw new RangeError(`x must be (n, d) = (${n}, ${d}), got ${x.length} values`);
  const { lengthscales, sf2, sn2 } = unpackTheta(theta, d);
  const kf = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const k = i === j ? sf2 : matern52(scaledDistance2(x, i, x, j, lengthscales), sf2);
      kf[i * n + j] = k;
      kf[j * n + i] = k;
    }
  }
  const factor = choleskyJitter(kf, n, sn2);
  if (!factor) {
    return {
      lml: -Infinity,
      lmlScale: Infinity,
      jitter: -1,
      predict: () => {
        throw new Error('gpOracle: the covariance is not positive definite even with jitter');
      },
    };
  }
  const { l, jitter } = factor;
  const v = forward(l, n, y);
  const alpha = backward(l, n, v);
  let quad = 0;
  for (let i = 0; i < n; i++) quad += y[i]! * alpha[i]!;
  let logDet = 0;
  for (let i = 0; i < n; i++) logDet += Math.log(l[i * n + i]!);
  const lml = -0.5 * quad - logDet - 0.5 * n * Math.log(2 * Math.PI);
  const lmlScale = Math.abs(0.5 * quad) + Math.abs(logDet) + 0.5 * n * Math.log(2 * Math.PI);

  const predict = (xs: Float64Array) => {
    const m = xs.length / d;
    const mean = new Float64Array(m);
    const variance = new Float64Array(m);
    for (let t = 0; t < m; t++) {
      const ks = new Float64Array(n);
      for (let i = 0; i < n; i++) ks[i] = matern52(scaledDistance2(xs, t, x, i, lengthscales), sf2);
      let mu = 0;
      for (let i = 0; i < n; i++) mu += ks[i]! * alpha[i]!;
      const w = forward(l, n, ks);
      let ww = 0;
      for (let i = 0; i < n; i++) ww += w[i]! * w[i]!;
      mean[t] = mu;
      variance[t] = Math.max(0, sf2 - ww);
    }
    return { mean, variance };
  };
  return { lml, lmlScale, jitter, predict };
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

/**
 * Euclidean projection of y onto { lo ≤ s ≤ hi, Σ w s / Σ w = target } by breakpoint search
 * (Kiwiel 2008, §2): s(λ) = clip(y − λw̄) is piecewise linear in λ with breakpoints
 * (y_l − hi_l)/w̄_l and (y_l − lo_l)/w̄_l; sort them, find the piece where w̄ᵀs(λ) crosses the
 * target, and solve that linear piece.
 */
export function projectOracle(
  y: ArrayLike<number>,
  weights: ArrayLike<number>,
  lo: ArrayLike<number>,
  hi: ArrayLike<number>,
  target: number,
): Float64Array {
  const d = y.length;
  let total = 0;
  for (let l = 0; l < d; l++) total += weights[l]!;
  const w = Array.from({ length: d }, (_, l) => weights[l]! / total);
  const clip = (v: number, l: number) => Math.min(hi[l]!, Math.max(lo[l]!, v));
  const at = (lam: number) => Float64Array.from({ length: d }, (_, l) => clip(y[l]! - lam * w[l]!, l));
  const g = (lam: number) => at(lam).reduce((acc, v, l) => acc + w[l]! * v, 0) - target;
  const breaks: number[] = [];
  for (let l = 0; l < d; l++) {
    if (w[l]! > 0) breaks.push((y[l]! - hi[l]!) / w[l]!, (y[l]! - lo[l]!) / w[l]!);
  }
  if (breaks.length === 0) return at(0);
  breaks.sort((a, b) => a - b);
  // g is non-increasing: g(first) ≥ 0 ≥ g(last) on a feasible problem.
  let k = 0;
  while (k + 1 < breaks.length && g(breaks[k + 1]!) > 0) k++;
  const a = breaks[k]!;
  const b = k + 1 < breaks.length ? breaks[k + 1]! : a;
  const ga = g(a);
  const gb = g(b);
  const lam = ga === gb ? a : a + (ga / (ga - gb)) * (b - a); // g is linear on [a, b]
  return at(lam);
}
