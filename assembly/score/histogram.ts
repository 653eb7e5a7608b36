// Activation half of WAS: calibration records the scores s_j = |x_j|·‖W[:,j]‖₁ of every token in a
// log-spaced histogram per projection; the s-quantile t of those scores is the threshold for
// sparsity s, and the engine keeps τ_j = t / ‖W[:,j]‖₁ so that it drops x_j when |x_j| ≤ τ_j
// (Wang et al. 2025, WAS; thresholds as in TEAL, Liu et al. 2024, §3.2: quantiles of a histogram).
//
// Layout of a histogram of `nbins` bins: histogramSlots(nbins) = nbins + 4 f64 counts,
//   [0]          exact zeros (s == 0: dropped at every threshold, counted apart so q → 0 gives 0)
//   [1]          underflow, 0 < s with log2(s) < lo (subnormal scores always land here)
//   [2 + k]      bin k: lo + k·w ≤ log2(s) < lo + (k+1)·w, w = (hi − lo) / nbins
//   [nbins + 2]  overflow, log2(s) ≥ hi (+inf included)
//   [nbins + 3]  NaN scores, left out of every quantile
// Counts are f64, not u64: exact up to 2^53 scores (10^6 scores a token × 10^9 tokens), and
// TypeScript reads them through a Float64Array where u64 would need BigInt.
//
// The bin of a score must be bit-for-bit reproducible by the TypeScript reference
// (src/sparsity/score.ts), so log2 is computed here from IEEE +, −, ×, ÷ only (correctly rounded in
// Wasm and JS alike; Wasm never fuses), not from a libm whose last bit differs between engines:
// log2(s) = e + log2(m) with s = m·2^e, m in [√½, √2), and log2(m) = 2/ln2 · atanh(z),
// z = (m−1)/(m+1), |z| ≤ 0.172, from its series up to z^17 (truncation < 1e-14, in f64).

/** Number of f64 counts in a histogram of `nbins` bins (zero, underflow, bins, overflow, NaN). */
export function histogramSlots(nbins: i32): i32 {
  return nbins + 4;
}

// 1/(2k+1) for k = 0..8, and 2/ln 2: the same literals as src/sparsity/score.ts.
const C1: f64 = 0.3333333333333333;
const C2: f64 = 0.2;
const C3: f64 = 0.14285714285714285;
const C4: f64 = 0.1111111111111111;
const C5: f64 = 0.09090909090909091;
const C6: f64 = 0.07692307692307693;
const C7: f64 = 0.06666666666666667;
const C8: f64 = 0.058823529411764705;
const TWO_OVER_LN2: f64 = 2.8853900817779268;
/** f32 bits of √2 rounded down: mantissas above it are halved so that m lies in [√½, √2). */
const SQRT2_BITS: i32 = 0x3fb504f3;

/**
 * Adds the scores s = |x[r·n + j]·norms[j]| of `tokens` rows of activations to the histogram.
 *
 * hist:  (histogramSlots(nbins)) f64 counts, 8-byte aligned; counts are added, never cleared
 * x:     (tokens, n) f32 row-major activations, 4-byte aligned
 * norms: (n) f32 column norms ‖W[:,j]‖₁, 4-byte aligned; 0 means all ones (TEAL: s = |x|)
 * lo, hi: log2 of the binned range, −126 ≤ lo < hi ≤ 128 (scores below 2^−126 are subnormal)
 *
 * Measured (release, Node 20, 2-core Xeon VM, 4096 × 256, 10^4 bins): 6.4 ns a score, 3.2× the TS
 * reference; the f64 log series runs in f64x2 lanes, the count increments stay scalar.
 */
export function histogramAccumulate(
  hist: usize,
  nbins: i32,
  lo: f32,
  hi: f32,
  x: usize,
  norms: usize,
  n: i32,
  tokens: i32,
): void {
  assert(nbins >= 1 && nbins <= 1 << 24, "histogramAccumulate: nbins must be in [1, 2^24]");
  assert(lo >= -126 && hi <= 128 && lo < hi, "histogramAccumulate: need -126 <= lo < hi <= 128");
  assert(n >= 0 && tokens >= 0, "histogramAccumulate: n and tokens must be >= 0");
  assert((hist & 7) == 0, "histogramAccumulate: hist must be 8-byte aligned");
  assert((x & 3) == 0 && (norms & 3) == 0, "histogramAccumulate: x and norms must be 4-byte aligned");
  // u64 so that a hostile shape cannot wrap the bounds check on wasm32.
  const memEnd = <u64>memory.size() << 16;
  assert(<u64>hist + (<u64>histogramSlots(nbins) << 3) <= memEnd, "histogramAccumulate: hist runs past memory");
  assert(<u64>x + (<u64>tokens * <u64>n << 2) <= memEnd, "histogramAccumulate: x runs past memory");
  assert(<u64>norms + (<u64>n << 2) <= memEnd, "histogramAccumulate: norms runs past memory");

  const lo64 = <f64>lo;
  const scale = <f64>nbins / (<f64>hi - lo64); // bins per unit of log2
  const top = <f64>nbins;
  const nanSlot = nbins + 3;
  const row = <usize>n << 2;

  const vLo = f64x2.splat(lo64), vScale = f64x2.splat(scale);
  const vMin = f64x2.splat(-1), vMax = f64x2.splat(top);
  const vNan = i32x4.splat(nanSlot);

  for (let r: i32 = 0; r < tokens; r++) {
    const xr = x + <usize>r * row;
    let j: i32 = 0;
    for (; j + 4 <= n; j += 4) {
      const off = <usize>j << 2;
      let v = v128.load(xr + off); // unaligned when n % 4 != 0: fine
      if (norms != 0) v = f32x4.mul(v, v128.load(norms + off));
      const s = f32x4.abs(v);

      // s = m·2^e from the bits: e unbiased, m in [1, 2), then m > √2 halved (e + 1).
      let e = i32x4.sub(i32x4.shr_u(s, 23), i32x4.splat(127));
      let mb = v128.or(v128.and(s, i32x4.splat(0x007fffff)), i32x4.splat(0x3f800000));
      const big = i32x4.gt_s(mb, i32x4.splat(SQRT2_BITS)); // lanes of −1 where m > √2
      mb = i32x4.add(mb, i32x4.shl(big, 23));
      e = i32x4.sub(e, big);

      // Two f64x2 halves: bin coordinate t, clamped to [−1, nbins] so it floors to a slot − 2.
      const m2 = v128.shuffle<f32>(mb, mb, 2, 3, 2, 3);
      const e2 = v128.shuffle<i32>(e, e, 2, 3, 2, 3);
      const t0 = binCoord2(f64x2.promote_low_f32x4(mb), f64x2.convert_low_i32x4_s(e), vLo, vScale);
      const t1 = binCoord2(f64x2.promote_low_f32x4(m2), f64x2.convert_low_i32x4_s(e2), vLo, vScale);
      const k0 = i32x4.trunc_sat_f64x2_s_zero(f64x2.floor(f64x2.min(f64x2.max(t0, vMin), vMax)));
      const k1 = i32x4.trunc_sat_f64x2_s_zero(f64x2.floor(f64x2.min(f64x2.max(t1, vMin), vMax)));
      let slot = i32x4.add(v128.shuffle<i32>(k0, k1, 0, 1, 4, 5), i32x4.splat(2));
      slot = v128.andnot(slot, f32x4.eq(s, f32x4.splat(0))); // exact zeros → slot 0
      slot = v128.bitselect(vNan, slot, f32x4.ne(s, s));

      bump(hist, i32x4.extract_lane(slot, 0));
      bump(hist, i32x4.extract_lane(slot, 1));
      bump(hist, i32x4.extract_lane(slot, 2));
      bump(hist, i32x4.extract_lane(slot, 3));
    }
    // Scalar tail: n % 4 channels, the same f64 operations as one SIMD lane.
    for (; j < n; j++) {
      const off = <usize>j << 2;
      let v = load<f32>(xr + off);
      if (norms != 0) v *= load<f32>(norms + off);
      const s = Mathf.abs(v);
      let slot: i32;
      if (s == 0) {
        slot = 0;
      } else if (s != s) {
        slot = nanSlot;
      } else {
        const bits = reinterpret<i32>(s);
        let e = (bits >>> 23) - 127;
        let mb = (bits & 0x007fffff) | 0x3f800000;
        if (mb > SQRT2_BITS) {
          mb -= 1 << 23;
          e += 1;
        }
        const t = binCoord(<f64>reinterpret<f32>(mb), <f64>e, lo64, scale);
        slot = <i32>Math.floor(Math.min(Math.max(t, -1), top)) + 2;
      }
      bump(hist, slot);
    }
  }
}

/** t = (e − lo + log2 m)·scale: the fractional bin coordinate of m·2^e, two lanes. */
// @ts-ignore: decorator
@inline function binCoord2(m: v128, e: v128, lo: v128, scale: v128): v128 {
  const one = f64x2.splat(1);
  const z = f64x2.div(f64x2.sub(m, one), f64x2.add(m, one));
  const z2 = f64x2.mul(z, z);
  let p = f64x2.splat(C8);
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C7));
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C6));
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C5));
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C4));
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C3));
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C2));
  p = f64x2.add(f64x2.mul(p, z2), f64x2.splat(C1));
  p = f64x2.add(f64x2.mul(p, z2), one);
  const log2m = f64x2.mul(f64x2.mul(z, p), f64x2.splat(TWO_OVER_LN2));
  return f64x2.mul(f64x2.add(f64x2.sub(e, lo), log2m), scale);
}

/** One lane of binCoord2, operation for operation. */
// @ts-ignore: decorator
@inline function binCoord(m: f64, e: f64, lo: f64, scale: f64): f64 {
  const z = (m - 1) / (m + 1);
  const z2 = z * z;
  let p = C8;
  p = p * z2 + C7;
  p = p * z2 + C6;
  p = p * z2 + C5;
  p = p * z2 + C4;
  p = p * z2 + C3;
  p = p * z2 + C2;
  p = p * z2 + C1;
  p = p * z2 + 1;
  const log2m = z * p * TWO_OVER_LN2;
  return (e - lo + log2m) * scale;
}

// @ts-ignore: decorator
@inline function bump(hist: usize, slot: i32): void {
  const p = hist + (<usize>slot << 3);
  store<f64>(p, load<f64>(p) + 1);
}

/**
 * The score t such that a fraction q of the recorded (non-NaN) scores are ≤ t: the rank q·N falls
 * in some bin k, and t = 2^(lo + (k + f)·w) with f the rank's position among the bin's counts
 * (linear in log space, TEAL-style). Edge cases:
 *   empty histogram (no non-NaN score), or q NaN → NaN (τ = NaN drops nothing)
 *   q ≤ 0, or the rank falls among exact zeros → 0 (drops exact zeros only)
 *   the rank falls in the underflow slot → 2^lo (every underflowed score is ≤ it)
 *   the rank falls in the overflow slot, q < 1 → 2^hi (all that is known: a lower bound)
 *   q ≥ 1 → +inf (drops everything)
 */
export function histogramQuantile(hist: usize, nbins: i32, lo: f32, hi: f32, q: f64): f32 {
  assert(nbins >= 1 && nbins <= 1 << 24, "histogramQuantile: nbins must be in [1, 2^24]");
  assert(lo >= -126 && hi <= 128 && lo < hi, "histogramQuantile: need -126 <= lo < hi <= 128");
  assert((hist & 7) == 0, "histogramQuantile: hist must be 8-byte aligned");
  const memEnd = <u64>memory.size() << 16;
  assert(<u64>hist + (<u64>histogramSlots(nbins) << 3) <= memEnd, "histogramQuantile: hist runs past memory");

  let total: f64 = 0;
  for (let k: i32 = 0; k < nbins + 3; k++) total += load<f64>(hist + (<usize>k << 3));
  if (total == 0 || q != q) return NaN;
  if (q <= 0) return 0;
  if (q >= 1) return Infinity;

  const rank = q * total;
  let c = load<f64>(hist);
  if (rank <= c) return 0;
  c += load<f64>(hist, 8);
  if (rank <= c) return <f32>Math.pow(2, <f64>lo);
  const w = (<f64>hi - <f64>lo) / <f64>nbins;
  for (let k: i32 = 0; k < nbins; k++) {
    const count = load<f64>(hist + (<usize>(k + 2) << 3));
    if (c + count >= rank) {
      // count > 0 here: c < rank ≤ c + count.
      const f = (rank - c) / count;
      return <f32>Math.pow(2, <f64>lo + (<f64>k + f) * w);
    }
    c += count;
  }
  return <f32>Math.pow(2, <f64>hi); // rank in the overflow slot
}

/**
 * τ_j = t / norms[j]: the engine drops x_j when |x_j| ≤ τ_j, the same test as score ≤ t.
 * norms[j] = 0 gives +inf (the channel's score is always 0 ≤ t: always dropped, even when t = 0).
 *
 * norms: (n) f32, 4-byte aligned; 0 means all ones (τ_j = t, TEAL)
 * out:   (n) f32, 4-byte aligned, fully overwritten
 */
export function thresholdsToTau(t: f32, norms: usize, n: i32, out: usize): void {
  assert(n >= 0, "thresholdsToTau: n must be >= 0");
  assert((norms & 3) == 0 && (out & 3) == 0, "thresholdsToTau: pointers must be 4-byte aligned");
  const memEnd = <u64>memory.size() << 16;
  assert(<u64>norms + (<u64>n << 2) <= memEnd, "thresholdsToTau: norms runs past memory");
  assert(<u64>out + (<u64>n << 2) <= memEnd, "thresholdsToTau: out runs past memory");

  let j: i32 = 0;
  if (norms == 0) {
    for (; j + 4 <= n; j += 4) v128.store(out + (<usize>j << 2), f32x4.splat(t));
    for (; j < n; j++) store<f32>(out + (<usize>j << 2), t);
    return;
  }
  const vt = f32x4.splat(t), inf = f32x4.splat(Infinity), zero = f32x4.splat(0);
  for (; j + 4 <= n; j += 4) {
    const off = <usize>j << 2;
    const nv = v128.load(norms + off);
    v128.store(out + off, v128.bitselect(inf, f32x4.div(vt, nv), f32x4.eq(nv, zero)));
  }
  for (; j < n; j++) {
    const off = <usize>j << 2;
    const nj = load<f32>(norms + off);
    store<f32>(out + off, nj == 0 ? Infinity : t / nj);
  }
}
