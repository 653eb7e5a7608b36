// Dense and activation-sparse GEMV over input-channel-major weights (the CPU layout documented in
// src/cpu/layout.ts): stored row k holds column k of W, every output, so a skipped input channel is a
// skipped contiguous row. y[o] = Σ_{k active} x_k · W[o][k] for the outputs o of one range.
//
// The loop streams active rows (4 at a time) and accumulates a tile of outputs that stays in L1, so
// every weight byte is read once, front to back, per tile; quantized formats accumulate the rows of
// one channel group (32, or 16 for Q6_K) unscaled in `tmp` and fold in that group's per-output scale
// once (f16 for Q8_0/Q4_0, f32 for K-quants, whose mins add −m·Σx over the group's active channels).
// Outputs come in units of 32 (rows are padded to that), so no loop has a tail.

import { FMT_F16, FMT_F32, FMT_Q4_0, FMT_Q4_K, FMT_Q5_K, FMT_Q6_K, FMT_Q8_0, rowBytes } from "./layout";

// How a quantized format's per-group table is laid out (see assembly/cpu/layout.ts).
const TABLE_F16: i32 = 0; // (groups, np) f16 scales
const TABLE_F32: i32 = 1; // (groups, np) f32 scales
const TABLE_F32_MIN: i32 = 2; // per group: np f32 scales, then np f32 mins

/** Outputs per tile: y and tmp (4 KiB each) stay in L1 while the rows stream past. */
// @ts-ignore: decorator
@inline const TILE: i32 = 1024;

/**
 * y[o] = Σ_{a < nActive} x[k_a] · W[o][k_a] for o in [o0, o1), k_a = idx[a] (idx = 0: k_a = a, dense).
 *
 * fmt:    FMT_F32 | FMT_F16 | FMT_Q8_0 | FMT_Q4_0 | FMT_Q4_K | FMT_Q5_K | FMT_Q6_K
 * w:      (in, rowBytes(fmt, np)) the rows, 16-byte aligned
 * scales: the per-group table of a quantized format (assembly/cpu/layout.ts), 16-byte aligned, else unused
 * np:     outputs per row, a multiple of 32 (padding outputs have zero weights)
 * x:      (in) f32; idx: (nActive) i32 ascending channel indices, or 0
 * out:    (np) f32, o0 ≤ o < o1 written; o0, o1 multiples of 32
 * tmp:    (TILE) f32 scratch of this thread (quantized formats)
 */
export function gemvRange(
  fmt: i32, w: usize, scales: usize, np: i32, x: usize, idx: usize, nActive: i32, out: usize, o0: i32, o1: i32, tmp: usize,
): void {
  assert((o0 & 31) == 0 && (o1 & 31) == 0 && (np & 31) == 0 && o1 <= np && o0 <= o1, "gemvRange: ranges must be multiples of 32");
  assert((w & 15) == 0 && (out & 15) == 0 && (tmp & 15) == 0, "gemvRange: w, out and tmp must be 16-byte aligned");
  const rb = <usize>rowBytes(fmt, np);
  for (let t = o0; t < o1; t += TILE) {
    const len = min(TILE, o1 - t);
    const y = out + (<usize>t << 2);
    memory.fill(y, 0, <usize>len << 2);
    if (fmt == FMT_F32) plainRows<f32>(w + (<usize>t << 2), rb, x, idx, nActive, y, len);
    else if (fmt == FMT_F16) plainRows<u16>(w + (<usize>t << 1), rb, x, idx, nActive, y, len);
    else if (fmt == FMT_Q8_0) quantRuns<i8>(w + <usize>t, rb, scales + (<usize>t << 1), np, x, idx, nActive, y, len, tmp, 5, TABLE_F16);
    else if (fmt == FMT_Q4_0) quantRuns<u8>(w + (<usize>t >> 1), rb, scales + (<usize>t << 1), np, x, idx, nActive, y, len, tmp, 5, TABLE_F16);
    else if (fmt == FMT_Q4_K) quantRuns<u8>(w + (<usize>t >> 1), rb, scales + (<usize>t << 2), np, x, idx, nActive, y, len, tmp, 5, TABLE_F32_MIN);
    else if (fmt == FMT_Q5_K) quantRuns<i8>(w + <usize>t, rb, scales + (<usize>t << 2), np, x, idx, nActive, y, len, tmp, 5, TABLE_F32_MIN);
    else if (fmt == FMT_Q6_K) quantRuns<i8>(w + <usize>t, rb, scales + (<usize>t << 2), np, x, idx, nActive, y, len, tmp, 4, TABLE_F32);
    else assert(false, "gemvRange: unknown format");
  }
}

/**
 * Quantized rows (T = i8: byte codes, u8: 4-bit codes) run by run of active channels in one group of
 * 2^shift channels; `s` points at this tile's entries of group 0 of the table.
 */
function quantRuns<T>(
  w: usize, rb: usize, s: usize, np: i32, x: usize, idx: usize, nActive: i32, y: usize, len: i32, tmp: usize, shift: i32, table: i32,
): void {
  let a = 0;
  while (a < nActive) {
    const g = channel(idx, a) >> shift;
    let b = a + 1;
    while (b < nActive && channel(idx, b) >> shift == g) b++;
    memory.fill(tmp, 0, <usize>len << 2);
    quantRows<T>(w, rb, x, idx, a, b, tmp, len);
    if (table == TABLE_F16) scaleAdd(y, tmp, s + ((<usize>g * <usize>np) << 1), len);
    else if (table == TABLE_F32) affineAdd(y, tmp, s + ((<usize>g * <usize>np) << 2), 0, 0, false, len);
    else {
      let sum: f32 = 0; // Σx over the run: the min's share, −m·Σx
      for (let c = a; c < b; c++) sum += load<f32>(x + (<usize>channel(idx, c) << 2));
      const at = s + ((<usize>g * <usize>np) << 3);
      affineAdd(y, tmp, at, at + (<usize>np << 2), sum, !isSigned<T>(), len);
    }
    a = b;
  }
}

// @ts-ignore: decorator
@inline function channel(idx: usize, a: i32): i32 {
  return idx == 0 ? a : load<i32>(idx + (<usize>a << 2));
}

/** y[0..len) += Σ_{a < a1} x_k · row_k, rows f32 (T = f32) or f16 bits (T = u16). */
function plainRows<T>(w: usize, rb: usize, x: usize, idx: usize, a1: i32, y: usize, len: i32): void {
  const f32 = isFloat<T>();
  let a = 0;
  for (; a + 4 <= a1; a += 4) {
    const k0 = channel(idx, a), k1 = channel(idx, a + 1), k2 = channel(idx, a + 2), k3 = channel(idx, a + 3);
    const x0 = f32x4.splat(load<f32>(x + (<usize>k0 << 2))), x1 = f32x4.splat(load<f32>(x + (<usize>k1 << 2)));
    const x2 = f32x4.splat(load<f32>(x + (<usize>k2 << 2))), x3 = f32x4.splat(load<f32>(x + (<usize>k3 << 2)));
    const p0 = w + <usize>k0 * rb, p1 = w + <usize>k1 * rb, p2 = w + <usize>k2 * rb, p3 = w + <usize>k3 * rb;
    if (f32) {
      for (let o = 0; o < len; o += 8) {
        const q = <usize>o << 2;
        let s0 = v128.load(y + q), s1 = v128.load(y + q, 16);
        s0 = f32x4.add(s0, f32x4.add(f32x4.mul(x0, v128.load(p0 + q)), f32x4.mul(x1, v128.load(p1 + q))));
        s1 = f32x4.add(s1, f32x4.add(f32x4.mul(x0, v128.load(p0 + q, 16)), f32x4.mul(x1, v128.load(p1 + q, 16))));
        s0 = f32x4.add(s0, f32x4.add(f32x4.mul(x2, v128.load(p2 + q)), f32x4.mul(x3, v128.load(p3 + q))));
        s1 = f32x4.add(s1, f32x4.add(f32x4.mul(x2, v128.load(p2 + q, 16)), f32x4.mul(x3, v128.load(p3 + q, 16))));
        v128.store(y + q, s0);
        v128.store(y + q, s1, 16);
      }
    } else {
      for (let o = 0; o < len; o += 8) {
        const q = <usize>o << 2;
        const h = <usize>o << 1;
        const h0 = v128.load(p0 + h), h1 = v128.load(p1 + h), h2 = v128.load(p2 + h), h3 = v128.load(p3 + h);
        let s0 = v128.load(y + q), s1 = v128.load(y + q, 16);
        s0 = f32x4.add(s0, f32x4.add(f32x4.mul(x0, halfLo(h0)), f32x4.mul(x1, halfLo(h1))));
        s1 = f32x4.add(s1, f32x4.add(f32x4.mul(x0, halfHi(h0)), f32x4.mul(x1, halfHi(h1))));
        s0 = f32x4.add(s0, f32x4.add(f32x4.mul(x2, halfLo(h2)), f32x4.mul(x3, halfLo(h3))));
        s1 = f32x4.add(s1, f32x4.add(f32x4.mul(x2, halfHi(h2)), f32x4.mul(x3, halfHi(h3))));
        v128.store(y + q, s0);
        v128.store(y + q, s1, 16);
      }
    }
  }
  for (; a < a1; a++) {
    const k = channel(idx, a);
    const xs = f32x4.splat(load<f32>(x + (<usize>k << 2)));
    const p = w + <usize>k * rb;
    for (let o = 0; o < len; o += 8) {
      const q = <usize>o << 2;
      const lo = f32 ? v128.load(p + q) : halfLo(v128.load(p + (<usize>o << 1)));
      const hi = f32 ? v128.load(p + q, 16) : halfHi(v128.load(p + (<usize>o << 1)));
      v128.store(y + q, f32x4.add(v128.load(y + q), f32x4.mul(xs, lo)));
      v128.store(y + q, f32x4.add(v128.load(y + q, 16), f32x4.mul(xs, hi)), 16);
    }
  }
}

/**
 * Exact f16 → f32 of four halves sign-extended to i32 lanes: the magnitude bits shifted into f32
 * position (the sign lands in bit 31, its copies in 28..30 are masked off) carry the half's exponent
 * biased by 15, and × 2^112 re-biases it to 127, subnormal halves included (no FTZ in Wasm). Halves
 * with exponent 31 (inf, NaN) come out finite: weights never hold them.
 */
// @ts-ignore: decorator
@inline function half4(e: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(e, 13), i32x4.splat(0x8fffe000)), f32x4.splat(5.192296858534828e33));
}

/** Halves 0..3 and 4..7 of eight f16 bit patterns as f32x4. */
// @ts-ignore: decorator
@inline function halfLo(h: v128): v128 {
  return half4(i32x4.extend_low_i16x8_s(h));
}
// @ts-ignore: decorator
@inline function halfHi(h: v128): v128 {
  return half4(i32x4.extend_high_i16x8_s(h));
}

/** Sixteen signed codes (outputs o..o+15) of a Q8_0 row at p (T = i8), or of a Q4_0 row (T = u8, two outputs a byte). */
// @ts-ignore: decorator
@inline function codes16<T>(p: usize, o: i32): v128 {
  if (isSigned<T>()) return v128.load(p + <usize>o);
  // byte i: low nibble = output 2i, high nibble = output 2i+1; value nibble − 8
  const v = v128.load64_zero(p + (<usize>o >> 1));
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = i8x16.shr_u(v, 4);
  return i8x16.sub(i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), i8x16.splat(8));
}

// The four f32x4 of sixteen signed i8 codes.
// @ts-ignore: decorator
@inline function c0(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(c)));
}
// @ts-ignore: decorator
@inline function c1(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_low_i8x16_s(c)));
}
// @ts-ignore: decorator
@inline function c2(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_high_i8x16_s(c)));
}
// @ts-ignore: decorator
@inline function c3(c: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_high_i8x16_s(c)));
}

/** t[0..len) += Σ_{a in [a0, a1)} x_k · codes_k (T = i8: Q8_0, u8: Q4_0), unscaled. */
// @ts-ignore: decorator
@inline function quantRows<T>(w: usize, rb: usize, x: usize, idx: usize, a0: i32, a1: i32, t: usize, len: i32): void {
  let a = a0;
  for (; a + 4 <= a1; a += 4) {
    const k0 = channel(idx, a), k1 = channel(idx, a + 1), k2 = channel(idx, a + 2), k3 = channel(idx, a + 3);
    const x0 = f32x4.splat(load<f32>(x + (<usize>k0 << 2))), x1 = f32x4.splat(load<f32>(x + (<usize>k1 << 2)));
    const x2 = f32x4.splat(load<f32>(x + (<usize>k2 << 2))), x3 = f32x4.splat(load<f32>(x + (<usize>k3 << 2)));
    const p0 = w + <usize>k0 * rb, p1 = w + <usize>k1 * rb, p2 = w + <usize>k2 * rb, p3 = w + <usize>k3 * rb;
    for (let o = 0; o < len; o += 16) {
      const q = t + (<usize>o << 2);
      const d0 = codes16<T>(p0, o), d1 = codes16<T>(p1, o), d2 = codes16<T>(p2, o), d3 = codes16<T>(p3, o);
      let s0 = v128.load(q), s1 = v128.load(q, 16), s2 = v128.load(q, 32), s3 = v128.load(q, 48);
      s0 = f32x4.add(s0, f32x4.add(f32x4.mul(x0, c0(d0)), f32x4.mul(x1, c0(d1))));
      s1 = f32x4.add(s1, f32x4.add(f32x4.mul(x0, c1(d0)), f32x4.mul(x1, c1(d1))));
      s2 = f32x4.add(s2, f32x4.add(f32x4.mul(x0, c2(d0)), f32x4.mul(x1, c2(d1))));
      s3 = f32x4.add(s3, f32x4.add(f32x4.mul(x0, c3(d0)), f32x4.mul(x1, c3(d1))));
      s0 = f32x4.add(s0, f32x4.add(f32x4.mul(x2, c0(d2)), f32x4.mul(x3, c0(d3))));
      s1 = f32x4.add(s1, f32x4.add(f32x4.mul(x2, c1(d2)), f32x4.mul(x3, c1(d3))));
      s2 = f32x4.add(s2, f32x4.add(f32x4.mul(x2, c2(d2)), f32x4.mul(x3, c2(d3))));
      s3 = f32x4.add(s3, f32x4.add(f32x4.mul(x2, c3(d2)), f32x4.mul(x3, c3(d3))));
      v128.store(q, s0);
      v128.store(q, s1, 16);
      v128.store(q, s2, 32);
      v128.store(q, s3, 48);
    }
  }
  for (; a < a1; a++) {
    const k = channel(idx, a);
    const xs = f32x4.splat(load<f32>(x + (<usize>k << 2)));
    const p = w + <usize>k * rb;
    for (let o = 0; o < len; o += 16) {
      const q = t + (<usize>o << 2);
      const d = codes16<T>(p, o);
      v128.store(q, f32x4.add(v128.load(q), f32x4.mul(xs, c0(d))));
      v128.store(q, f32x4.add(v128.load(q, 16), f32x4.mul(xs, c1(d))), 16);
      v128.store(q, f32x4.add(v128.load(q, 32), f32x4.mul(xs, c2(d))), 32);
      v128.store(q, f32x4.add(v128.load(q, 48), f32x4.mul(xs, c3(d))), 48);
    }
  }
}

/** y[0..len) += s[0..len) · t[0..len), s as f16 bits. */
function scaleAdd(y: usize, t: usize, s: usize, len: i32): void {
  for (let o = 0; o < len; o += 8) {
    const q = <usize>o << 2;
    const h = v128.load(s + (<usize>o << 1));
    v128.store(y + q, f32x4.add(v128.load(y + q), f32x4.mul(halfLo(h), v128.load(t + q))));
    v128.store(y + q, f32x4.add(v128.load(y + q, 16), f32x4.mul(halfHi(h), v128.load(t + q, 16))), 16);
  }
}

/**
 * y[0..len) += s·t − m·Σx, f32 scales s and mins m (m = 0: none). 4-bit codes reach t as q − 8
 * (codes16), so for them (offset8) s·q − m = s·(q − 8) + (8s − m) and y += s·t + (8s − m)·Σx.
 */
function affineAdd(y: usize, t: usize, s: usize, m: usize, sumX: f32, offset8: bool, len: i32): void {
  const sum = f32x4.splat(sumX);
  const eight = f32x4.splat(offset8 ? 8 : 0);
  for (let o = 0; o < len; o += 4) {
    const q = <usize>o << 2;
    const sv = v128.load(s + q);
    let acc = f32x4.mul(sv, v128.load(t + q));
    if (m != 0) acc = f32x4.add(acc, f32x4.mul(f32x4.sub(f32x4.mul(eight, sv), v128.load(m + q)), sum));
    v128.store(y + q, f32x4.add(v128.load(y + q), acc));
  }
}
