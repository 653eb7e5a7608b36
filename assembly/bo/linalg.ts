// Dense f64 linear algebra for the Gaussian process: matrices are row-major (n, n) with row stride n,
// n ≤ a few hundred observations, so these are the textbook loops (Golub & Van Loan 2013, "Matrix
// Computations", 4th ed.) with f64x2 inner products, not blocked kernels. src/bo/oracle.ts has the
// same algorithms in TypeScript with plain sums.

/** Σ_k a[k]·b[k] over `len` contiguous f64, in two f64x2 accumulators. */
export function dot(a: usize, b: usize, len: i32): f64 {
  let acc0 = f64x2.splat(0);
  let acc1 = f64x2.splat(0);
  let k = 0;
  for (; k + 4 <= len; k += 4) {
    const o = <usize>k << 3;
    acc0 = f64x2.add(acc0, f64x2.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f64x2.add(acc1, f64x2.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  acc0 = f64x2.add(acc0, acc1);
  let s = f64x2.extract_lane(acc0, 0) + f64x2.extract_lane(acc0, 1);
  for (; k < len; k++) {
    const o = <usize>k << 3;
    s += load<f64>(a + o) * load<f64>(b + o);
  }
  return s;
}

/** y[k] += alpha·x[k] over `len` contiguous f64. */
export function axpy(alpha: f64, x: usize, y: usize, len: i32): void {
  const va = f64x2.splat(alpha);
  let k = 0;
  for (; k + 2 <= len; k += 2) {
    const o = <usize>k << 3;
    v128.store(y + o, f64x2.add(v128.load(y + o), f64x2.mul(va, v128.load(x + o))));
  }
  for (; k < len; k++) {
    const o = <usize>k << 3;
    store<f64>(y + o, load<f64>(y + o) + alpha * load<f64>(x + o));
  }
}

/**
 * A pivot below this fraction of its diagonal entry counts as a failure: cancellation has left it
 * with fewer than ~7 correct digits (exact duplicates with no noise leave pivots of ±1e-16 that a
 * sign test alone would accept, and a log-determinant that is noise).
 */
export const MIN_PIVOT: f64 = 1e-9;

/**
 * Cholesky–Banachiewicz, row by row (Golub & Van Loan alg. 4.2.1 in its row form): L with
 * L·Lᵀ = A + shift·I. Reads A's lower triangle; writes L's lower triangle and zeros above (L may
 * alias A). False when a pivot is ≤ MIN_PIVOT × (A_ii + shift): not numerically positive definite.
 */
export function choleskyShifted(a: usize, l: usize, n: i32, shift: f64): bool {
  const row = <usize>n << 3;
  for (let i = 0; i < n; i++) {
    const ai = a + <usize>i * row;
    const li = l + <usize>i * row;
    for (let j = 0; j < i; j++) {
      const lj = l + <usize>j * row;
      const s = load<f64>(ai + (<usize>j << 3)) - dot(li, lj, j);
      store<f64>(li + (<usize>j << 3), s / load<f64>(lj + (<usize>j << 3)));
    }
    const aii = load<f64>(ai + (<usize>i << 3)) + shift;
    const p = aii - dot(li, li, i);
    if (!(p > MIN_PIVOT * aii)) return false; // also catches NaN
    store<f64>(li + (<usize>i << 3), Math.sqrt(p));
    for (let j = i + 1; j < n; j++) store<f64>(li + (<usize>j << 3), 0);
  }
  return true;
}

/** Jitter tries after a failed plain factorisation: JITTER_FIRST·mean(diag), ×10 each, JITTER_TRIES times. */
export const JITTER_FIRST: f64 = 1e-8;
export const JITTER_TRIES: i32 = 6;

/**
 * Cholesky of A + shift·I, adding escalating jitter to the diagonal when it fails, as GPyTorch's
 * psd_safe_cholesky does for f64 (Gardner et al. 2018): 0, then 1e-8 … 1e-3 × the mean diagonal. Returns
 * the jitter used (≥ 0), or −1 when even the largest fails (A has NaNs or is far from PSD).
 */
export function choleskyJitter(a: usize, l: usize, n: i32, shift: f64): f64 {
  if (choleskyShifted(a, l, n, shift)) return 0;
  let mean: f64 = 0;
  const stride = (<usize>n + 1) << 3;
  for (let i = 0; i < n; i++) mean += load<f64>(a + <usize>i * stride) + shift;
  mean /= <f64>n;
  let jitter = JITTER_FIRST * mean;
  for (let t = 0; t < JITTER_TRIES; t++) {
    if (choleskyShifted(a, l, n, shift + jitter)) return jitter;
    jitter *= 10;
  }
  return -1;
}

/** x ← L⁻¹·b, forward substitution (b and x may alias). */
export function solveLower(l: usize, n: i32, b: usize, x: usize): void {
  const row = <usize>n << 3;
  for (let i = 0; i < n; i++) {
    const li = l + <usize>i * row;
    const o = <usize>i << 3;
    store<f64>(x + o, (load<f64>(b + o) - dot(li, x, i)) / load<f64>(li + o));
  }
}

/** x ← L⁻ᵀ·x in place, back substitution by columns of Lᵀ, i.e. rows of L (contiguous). */
export function solveLowerT(l: usize, n: i32, x: usize): void {
  const row = <usize>n << 3;
  for (let i = n - 1; i >= 0; i--) {
    const li = l + <usize>i * row;
    const o = <usize>i << 3;
    const xi = load<f64>(x + o) / load<f64>(li + o);
    store<f64>(x + o, xi);
    axpy(-xi, li, x, i);
  }
}

/**
 * K⁻¹ = L⁻ᵀL⁻¹ from the factor, lower triangle into `kinv` (upper left unset). `mt` (n, n) scratch
 * receives (L⁻¹)ᵀ row by row, so both passes run over contiguous rows:
 *   (L⁻¹)ᵀ_ji = −(Σ_{k=j}^{i−1} L_ik (L⁻¹)ᵀ_jk) / L_ii,   K⁻¹_ij = Σ_{k≥i} (L⁻¹)ᵀ_ik (L⁻¹)ᵀ_jk  (i ≥ j).
 */
export function inverseFromCholesky(l: usize, n: i32, mt: usize, kinv: usize): void {
  const row = <usize>n << 3;
  for (let i = 0; i < n; i++) {
    const li = l + <usize>i * row;
    const inv = 1 / load<f64>(li + (<usize>i << 3));
    store<f64>(mt + <usize>i * row + (<usize>i << 3), inv);
    for (let j = 0; j < i; j++) {
      const mj = mt + <usize>j * row;
      const o = <usize>j << 3;
      store<f64>(mj + (<usize>i << 3), -dot(li + o, mj + o, i - j) * inv);
    }
  }
  for (let i = 0; i < n; i++) {
    const mi = mt + <usize>i * row + (<usize>i << 3);
    const ki = kinv + <usize>i * row;
    for (let j = 0; j <= i; j++) {
      store<f64>(ki + (<usize>j << 3), dot(mi, mt + <usize>j * row + (<usize>i << 3), n - i));
    }
  }
}
