// Synthetic constrained problems with a known optimum, for the optimiser's tests and bench/bo.ts
// (as BoTorch ships test_functions): separable convex losses on S = { lo ≤ s ≤ hi, Σ w̄ s = t }.
// Their optimum solves the KKT conditions f_l'(s_l) = λ w̄_l on the free coordinates, s_l clipped to
// the box otherwise; Σ w̄_l s_l(λ) is non-decreasing in λ, so bisection on λ finds it (the same
// multiplier argument as the projection, Kiwiel 2008).

/** mulberry32: a small seeded PRNG, so a problem is a function of its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

export interface ConstrainedProblem {
  readonly name: string;
  readonly weights: Float64Array;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly target: number;
  /** The loss to minimise. */
  f(s: ArrayLike<number>): number;
  /** Its minimiser on S and the minimum. */
  readonly optimum: { s: Float64Array; y: number };
}

/**
 * argmin Σ f_l(s_l) on S for convex f_l, given the inverse derivatives s_l = (f_l')⁻¹(μ) (may return
 * ±Infinity): s_l(λ) = clip((f_l')⁻¹(λ w̄_l), lo_l, hi_l), λ by bisection to adjacent doubles.
 */
export function separableOptimum(
  inverseDerivative: (l: number, mu: number) => number,
  weights: Float64Array,
  lo: Float64Array,
  hi: Float64Array,
  target: number,
): Float64Array {
  const d = weights.length;
  const total = weights.reduce((a, b) => a + b, 0);
  const w = weights.map((v) => v / total);
  const at = (lam: number) => Float64Array.from({ length: d }, (_, l) => Math.min(hi[l]!, Math.max(lo[l]!, inverseDerivative(l, lam * w[l]!))));
  const mean = (s: Float64Array) => s.reduce((acc, v, l) => acc + w[l]! * v, 0);
  let a = -1;
  let b = 1;
  while (mean(at(a)) > target) a *= 2;
  while (mean(at(b)) < target) b *= 2;
  for (let it = 0; it < 2000; it++) {
    const mid = 0.5 * (a + b);
    if (mid <= a || mid >= b) break;
    if (mean(at(mid)) < target) a = mid;
    else b = mid;
  }
  return at(0.5 * (a + b));
}

/**
 * Σ a_l (s_l − m_l)² on d coordinates with weights, curvatures a_l and centres m_l drawn from `seed`,
 * box [0, 0.9], target 0.5. Centres are spread so that the optimum is interior in some coordinates
 * and at a bound in others.
 */
export function separableQuadratic(d: number, seed: number): ConstrainedProblem {
  const next = mulberry32(seed);
  const weights = Float64Array.from({ length: d }, () => 0.5 + next());
  const a = Float64Array.from({ length: d }, () => 0.2 + 2 * next());
  const m = Float64Array.from({ length: d }, () => -0.2 + 1.4 * next());
  const lo = new Float64Array(d);
  const hi = new Float64Array(d).fill(0.9);
  const target = 0.5;
  const f = (s: ArrayLike<number>) => {
    let v = 0;
    for (let l = 0; l < d; l++) v += a[l]! * (s[l]! - m[l]!) ** 2;
    return v;
  };
  const s = separableOptimum((l, mu) => m[l]! + mu / (2 * a[l]!), weights, lo, hi, target);
  return { name: `quadratic-${d}`, weights, lo, hi, target, f, optimum: { s, y: f(s) } };
}

/**
 * Parameters of the attention (q, k, v, o) and MLP (gate, up, down) blocks of Llama 3.2 1B's 16
 * layers (dim 2048, 8 KV heads of 64, hidden 8192): 32 blocks, alternating 10.5 M and 50.3 M.
 */
export function llama32Blocks(): Float64Array {
  const dim = 2048;
  const kvDim = 512;
  const hidden = 8192;
  const attention = 2 * dim * dim + 2 * dim * kvDim;
  const mlp = 3 * dim * hidden;
  return Float64Array.from({ length: 32 }, (_, b) => (b % 2 === 0 ? attention : mlp));
}

/**
 * A loss shaped like a model's response to per-block sparsity: Σ w̄_l c_l (e^{κ_l s_l} − 1), each
 * block's share growing convexly with its sparsity, the curvature κ_l in [2, 6] and scale c_l drawn
 * from `seed`, the first and last layers more sensitive (as measured for TEAL/WAS), MLP blocks less.
 * Weights are Llama 3.2 1B's block parameter counts; box [0, 0.9]; target 0.5.
 */
export function llamaShaped(seed: number): ConstrainedProblem {
  const next = mulberry32(seed);
  const weights = llama32Blocks();
  const d = weights.length;
  const total = weights.reduce((x, y) => x + y, 0);
  const w = weights.map((v) => v / total);
  const kappa = Float64Array.from({ length: d }, () => 2 + 4 * next());
  const c = Float64Array.from({ length: d }, (_, l) => {
    const layer = l >> 1;
    const edge = 1 + 2 * Math.exp(-layer / 2) + 1.5 * Math.exp(-(15 - layer) / 2);
    return edge * (l % 2 === 0 ? 1.5 : 1) * (0.5 + next());
  });
  const lo = new Float64Array(d);
  const hi = new Float64Array(d).fill(0.9);
  const target = 0.5;
  const f = (s: ArrayLike<number>) => {
    let v = 0;
    for (let l = 0; l < d; l++) v += w[l]! * c[l]! * (Math.exp(kappa[l]! * s[l]!) - 1);
    return v;
  };
  // f_l'(s) = w̄_l c_l κ_l e^{κ_l s} = λ w̄_l  ⇒  s = log(λ / (c_l κ_l)) / κ_l.
  const s = separableOptimum((l, mu) => (mu > 0 ? Math.log(mu / (w[l]! * c[l]! * kappa[l]!)) / kappa[l]! : -Infinity), weights, lo, hi, target);
  return { name: 'llama-32-blocks', weights, lo, hi, target, f, optimum: { s, y: f(s) } };
}
