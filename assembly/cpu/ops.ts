// The small per-token operations of a llama block on the CPU, each the Wasm twin of a function in
// src/reference/ops.ts with the same arithmetic (f64 where the reference sums or calls exp, f32
// storage; rope's cos/sin come from JS), so that only summation order separates the two.

import { dequantizeRowK } from "./kquant";

/** out = x / rms(x) · w (RMSNorm, eps inside the root as llama.cpp); out may alias x. */
export function rmsnorm(out: usize, x: usize, w: usize, n: i32, eps: f64): void {
  let ss: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    ss += v * v;
  }
  const scale = 1 / Math.sqrt(ss / <f64>n + eps);
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    store<f32>(out + p, <f32>(<f64>load<f32>(x + p) * scale * <f64>load<f32>(w + p)));
  }
}

/**
 * RMSNorm of each of nHeads heads of vec in place, with one (headDim) weight w (Qwen3's q/k norm;
 * src/reference/ops.ts headRmsnorm).
 */
export function headRmsnorm(vec: usize, nHeads: i32, headDim: i32, w: usize, eps: f64): void {
  for (let h = 0; h < nHeads; h++) {
    const head = vec + (<usize>(h * headDim) << 2);
    rmsnorm(head, head, w, headDim, eps);
  }
}

/**
 * Rotary embedding (Su et al. 2021, eq. 34) of nHeads heads of vec in place: pair i turns by the angle
 * whose f64 (cos, sin) are at table + 16i (src/cpu/rope.ts fills it per position from ropeTheta, the
 * one definition of θ). The pair is (2i, 2i+1) in llama.cpp's normal mode, (i, i + ropeDim/2) in NEOX
 * mode; dimensions ≥ ropeDim stay.
 */
export function rope(vec: usize, nHeads: i32, headDim: i32, ropeDim: i32, neox: bool, table: usize): void {
  const half = ropeDim >> 1;
  // byte distance from a pair's first element to its second, and between consecutive pairs
  const other: usize = neox ? <usize>half << 2 : 4;
  const step: usize = neox ? 4 : 8;
  for (let h = 0; h < nHeads; h++) {
    const head = vec + (<usize>(h * headDim) << 2);
    for (let i = 0; i < half; i++) {
      const t = table + (<usize>i << 4);
      turn(head + <usize>i * step, other, load<f64>(t), load<f64>(t, 8));
    }
  }
}

/** (a, b) ← (a·c − b·s, a·s + b·c) for a at p and b at p + other, in f64 as the reference. */
// @ts-ignore: decorator
@inline function turn(p: usize, other: usize, c: f64, s: f64): void {
  const a = <f64>load<f32>(p);
  const b = <f64>load<f32>(p + other);
  store<f32>(p, <f32>(a * c - b * s));
  store<f32>(p + other, <f32>(a * s + b * c));
}

/** out = silu(gate) · up, silu(g) = g·σ(g) (Shazeer 2020); out may alias gate. */
export function swiglu(out: usize, gate: usize, up: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    const g = <f64>load<f32>(gate + p);
    store<f32>(out + p, <f32>(g / (1 + Math.exp(-g)) * <f64>load<f32>(up + p)));
  }
}

/** x += y over n floats (n a multiple of 4, 16-byte aligned: activation buffers are padded). */
export function addInPlace(x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const p = <usize>i << 2;
    v128.store(x + p, f32x4.add(v128.load(x + p), v128.load(y + p)));
  }
}

/** Index of the largest of n floats; the lowest index wins ties (llama.cpp's greedy sampler). */
export function argmax(x: usize, n: i32): i32 {
  let best = 0;
  let max = load<f32>(x);
  for (let i = 1; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * Active input channels of a sparse projection: idx ← the ascending k with |x_k| > τ_k (a NaN
 * activation is skipped, as in the reference); returns their count.
 */
export function selectActive(x: usize, tau: usize, n: i32, idx: usize): i32 {
  let count = 0;
  for (let k = 0; k < n; k++) {
    const p = <usize>k << 2;
    store<i32>(idx + (<usize>count << 2), k); // written always, kept only when active: no branch
    count += i32(Mathf.abs(load<f32>(x + p)) > load<f32>(tau + p));
  }
  return count;
}

/** IEEE half → float, exact (subnormals, infinities, NaN). */
// @ts-ignore: decorator
@inline export function halfToFloat(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e == 0) {
    const v = <f32>m * <f32>5.960464477539063e-8; // m · 2^-24, exact
    return sign ? -v : v;
  }
  if (e == 31) return reinterpret<f32>(sign | 0x7f800000 | (m << 13));
  return reinterpret<f32>(sign | ((e + 112) << 23) | (m << 13));
}

// ggml type ids of the embedding table (it stays in the file's own layout).
const GGML_F32: i32 = 0;
const GGML_F16: i32 = 1;
const GGML_Q4_0: i32 = 2;
const GGML_Q8_0: i32 = 8;

/**
 * out(dim) ← row `row` of a ggml matrix of `dim` columns at src, dequantised (exact): F32, F16, Q8_0
 * (blocks of 34 bytes: f16 d, 32 int8) or Q4_0 (18 bytes: f16 d, 16 bytes whose low nibbles are
 * elements 0..15 and high nibbles 16..31, value nibble − 8; ggml-quants.c dequantize_row_q4_0).
 * src needs only 1-byte alignment. K-quants: assembly/cpu/kquant.ts. Returns 0, or −1 for another type.
 */
export function dequantizeRow(out: usize, src: usize, type: i32, row: i32, dim: i32): i32 {
  if (type == GGML_F32) {
    memory.copy(out, src + (<usize>row * <usize>dim << 2), <usize>dim << 2);
  } else if (type == GGML_F16) {
    const p = src + (<usize>row * <usize>dim << 1);
    for (let i = 0; i < dim; i++) store<f32>(out + (<usize>i << 2), halfToFloat(load<u16>(p + (<usize>i << 1))));
  } else if (type == GGML_Q8_0) {
    const p = src + <usize>row * <usize>(dim >> 5) * 34;
    for (let b = 0; b < dim >> 5; b++) {
      const blk = p + <usize>b * 34;
      const d = halfToFloat(load<u16>(blk));
      for (let j = 0; j < 32; j++) store<f32>(out + (<usize>(b * 32 + j) << 2), d * <f32>load<i8>(blk + 2 + <usize>j));
    }
  } else if (type == GGML_Q4_0) {
    const p = src + <usize>row * <usize>(dim >> 5) * 18;
    for (let b = 0; b < dim >> 5; b++) {
      const blk = p + <usize>b * 18;
      const d = halfToFloat(load<u16>(blk));
      for (let j = 0; j < 16; j++) {
        const q = <i32>load<u8>(blk + 2 + <usize>j);
        store<f32>(out + (<usize>(b * 32 + j) << 2), d * <f32>((q & 15) - 8));
        store<f32>(out + (<usize>(b * 32 + j + 16) << 2), d * <f32>((q >> 4) - 8));
      }
    }
  } else return dequantizeRowK(out, src, type, row, dim);
  return 0;
}
