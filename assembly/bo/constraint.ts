// The search space: S = { s : lo ≤ s ≤ hi, Σ_l w_l s_l = c }, per-block sparsities whose weighted
// mean is the target (w normalised to Σ w = 1, so c is the target itself). Every point the optimiser
// proposes comes from here: hit-and-run samples of S, and projections onto S.

import { rngNormal, rngUniform } from "./rng";

/** The box-constrained hyperplane, all arrays (d) f64; range = hi − lo. */
@unmanaged
export class Box {
  d: i32;
  pad: i32;
  c: f64;
  w: usize;
  lo: usize;
  hi: usize;
  range: usize;
}

@inline
function at(p: usize, k: i32): f64 {
  return load<f64>(p + (<usize>k << 3));
}

@inline
function put(p: usize, k: i32, v: f64): void {
  store<f64>(p + (<usize>k << 3), v);
}

@inline
function clamp(v: f64, lo: f64, hi: f64): f64 {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Σ_l w_l s_l. */
export function weighted(b: Box, s: usize): f64 {
  let acc: f64 = 0;
  for (let k = 0; k < b.d; k++) acc += at(b.w, k) * at(s, k);
  return acc;
}

/**
 * Removes the last rounding residue r = c − wᵀs from a point of the box that is on S up to
 * rounding: spread r over the coordinates that can move (w_l > 0, not at the bound r pushes
 * towards) in proportion to w_l, i.e. the Euclidean projection onto the hyperplane restricted to
 * them; repeated in the rare case a coordinate hits its bound. Leaves |wᵀs − c| at rounding level.
 */
export function settle(b: Box, s: usize): void {
  for (let pass = 0; pass < 4; pass++) {
    const r = b.c - weighted(b, s);
    if (r == 0) return;
    let ww: f64 = 0;
    for (let k = 0; k < b.d; k++) {
      const w = at(b.w, k);
      const v = at(s, k);
      if (w > 0 && (r > 0 ? v < at(b.hi, k) : v > at(b.lo, k))) ww += w * w;
    }
    if (ww == 0) return;
    const step = r / ww;
    for (let k = 0; k < b.d; k++) {
      const w = at(b.w, k);
      const v = at(s, k);
      if (w > 0 && (r > 0 ? v < at(b.hi, k) : v > at(b.lo, k))) put(s, k, clamp(v + step * w, at(b.lo, k), at(b.hi, k)));
    }
  }
}

/**
 * Exact Euclidean projection of y onto S into `out`: the continuous quadratic knapsack problem
 * min ½‖s − y‖² s.t. wᵀs = c, lo ≤ s ≤ hi. KKT: s(λ) = clip(y − λw, lo, hi) with g(λ) = wᵀs(λ) − c
 * non-increasing, so bisect on the multiplier λ (Helgason, Kennington & Lall 1980; Kiwiel 2008,
 * "Breakpoint searching algorithms for the continuous quadratic knapsack problem", Math. Prog.
 * 112:473–491), then solve g(λ) = 0 exactly on the final free set (g is linear between
 * breakpoints) and settle the rounding residue. `out` may alias `y`.
 */
export function project(b: Box, y: usize, out: usize): void {
  const d = b.d;
  // Bracket: below λlo every coordinate with w > 0 sits at hi, above λhi at lo.
  let lamLo: f64 = Infinity;
  let lamHi: f64 = -Infinity;
  for (let k = 0; k < d; k++) {
    const w = at(b.w, k);
    if (w > 0) {
      const v = at(y, k);
      lamLo = min<f64>(lamLo, (v - at(b.hi, k)) / w);
      lamHi = max<f64>(lamHi, (v - at(b.lo, k)) / w);
    }
  }
  if (lamLo == Infinity) {
    // No weights: S is the box.
    for (let k = 0; k < d; k++) put(out, k, clamp(at(y, k), at(b.lo, k), at(b.hi, k)));
    return;
  }
  for (let it = 0; it < 200; it++) {
    const mid = 0.5 * (lamLo + lamHi);
    if (mid <= lamLo || mid >= lamHi) break; // adjacent doubles
    let g: f64 = -b.c;
    for (let k = 0; k < d; k++) {
      const w = at(b.w, k);
      g += w * clamp(at(y, k) - mid * w, at(b.lo, k), at(b.hi, k));
    }
    if (g > 0) lamLo = mid;
    else lamHi = mid;
  }
  // On the free set F of the bracket's midpoint: Σ_F w_l (y_l − λ w_l) + Σ_clipped w_l s_l = c.
  const lam = 0.5 * (lamLo + lamHi);
  let num: f64 = -b.c;
  let den: f64 = 0;
  for (let k = 0; k < d; k++) {
    const w = at(b.w, k);
    const v = at(y, k) - lam * w;
    const lo = at(b.lo, k);
    const hi = at(b.hi, k);
    if (w > 0 && v > lo && v < hi) {
      num += w * at(y, k);
      den += w * w;
    } else {
      num += w * clamp(v, lo, hi);
    }
  }
  const exact = den > 0 ? num / den : lam;
  // The exact λ stays inside the bracket unless rounding put it over a breakpoint.
  const use = exact >= lamLo && exact <= lamHi ? exact : lam;
  for (let k = 0; k < d; k++) {
    const w = at(b.w, k);
    put(out, k, clamp(at(y, k) - use * w, at(b.lo, k), at(b.hi, k)));
  }
  settle(b, out);
}

/**
 * A point of S away from its faces: lo + θ(hi − lo) with θ = (c − wᵀlo)/wᵀ(hi − lo), the point
 * where the box's diagonal crosses the hyperplane.
 */
export function centre(b: Box, out: usize): void {
  let wlo: f64 = 0;
  let wr: f64 = 0;
  for (let k = 0; k < b.d; k++) {
    wlo += at(b.w, k) * at(b.lo, k);
    wr += at(b.w, k) * at(b.range, k);
  }
  const theta = wr > 0 ? clamp((b.c - wlo) / wr, 0, 1) : 0.5;
  for (let k = 0; k < b.d; k++) put(out, k, at(b.lo, k) + theta * at(b.range, k));
  settle(b, out);
}

/**
 * One hit-and-run step on S from s (Smith 1984, "Efficient Monte Carlo procedures for generating
 * points uniformly distributed over bounded regions", Oper. Res. 32:1296–1308): a Gaussian direction
 * projected onto the hyperplane's tangent space {u : wᵀu = 0} (fixed coordinates, hi = lo, left
 * out), then a uniform point of the chord through s inside the box. `dir` (d) is scratch.
 */
export function hitAndRunStep(b: Box, s: usize, dir: usize, rng: usize): void {
  const d = b.d;
  let wz: f64 = 0;
  let ww: f64 = 0;
  for (let k = 0; k < d; k++) {
    const z = at(b.range, k) > 0 ? rngNormal(rng) : 0;
    put(dir, k, z);
    if (z != 0) {
      const w = at(b.w, k);
      wz += w * z;
      ww += w * w;
    }
  }
  const f = ww > 0 ? wz / ww : 0;
  let tMin: f64 = -Infinity;
  let tMax: f64 = Infinity;
  for (let k = 0; k < d; k++) {
    if (at(b.range, k) == 0) continue;
    const u = at(dir, k) - f * at(b.w, k);
    put(dir, k, u);
    if (u == 0) continue;
    const v = at(s, k);
    const a = (at(b.lo, k) - v) / u;
    const c = (at(b.hi, k) - v) / u;
    tMin = max<f64>(tMin, min<f64>(a, c));
    tMax = min<f64>(tMax, max<f64>(a, c));
  }
  if (!(tMax > tMin) || tMin == -Infinity) return; // S is a point along every direction
  const t = tMin + (tMax - tMin) * rngUniform(rng);
  for (let k = 0; k < d; k++) {
    if (at(b.range, k) == 0) continue;
    put(s, k, clamp(at(s, k) + t * at(dir, k), at(b.lo, k), at(b.hi, k)));
  }
  settle(b, s);
}
