// One row of a K-quant embedding table dequantised per token (the table stays in the file's blocks,
// as src/cpu/plan.ts keeps every embedding). Same f32 arithmetic as ggml-quants.c
// dequantize_row_q4_K / _q5_K / _q6_K / _q8_K and src/model/kquant.ts: (d·sc)·q − dmin·m, each
// product rounded to f32 (Wasm never fuses), so the rows equal the reference's bit for bit.

import { halfToFloat } from "./ops";

const GGML_Q4_K: i32 = 12;
const GGML_Q5_K: i32 = 13;
const GGML_Q6_K: i32 = 14;
const GGML_Q8_K: i32 = 15;

/** Bytes of one 256-weight super-block of a K type, or 0 for another type. */
export function kBlockBytes(type: i32): i32 {
  if (type == GGML_Q4_K) return 144;
  if (type == GGML_Q5_K) return 176;
  if (type == GGML_Q6_K) return 210;
  if (type == GGML_Q8_K) return 292;
  return 0;
}

/** Scale (m = false) or min (m = true) j of the 12 packed 6-bit bytes at q: ggml's get_scale_min_k4. */
// @ts-ignore: decorator
@inline function scaleMin(q: usize, j: i32, m: bool): f32 {
  if (j < 4) return <f32>(load<u8>(q + <usize>(j + (m ? 4 : 0))) & 63);
  const b = <i32>load<u8>(q + <usize>(j + 4));
  const low = m ? b >> 4 : b & 15;
  return <f32>(low | ((<i32>load<u8>(q + <usize>(m ? j : j - 4)) >> 6) << 4));
}

/** Q4_K (hasHigh false) or Q5_K (true) block at blk into out(256). */
function rowQ45K(out: usize, blk: usize, hasHigh: bool): void {
  const d = halfToFloat(load<u16>(blk));
  const dmin = halfToFloat(load<u16>(blk + 2));
  const qh = blk + 16;
  const qs = blk + (hasHigh ? 48 : 16);
  for (let c = 0; c < 4; c++) {
    const d1: f32 = d * scaleMin(blk + 4, 2 * c, false), m1: f32 = dmin * scaleMin(blk + 4, 2 * c, true);
    const d2: f32 = d * scaleMin(blk + 4, 2 * c + 1, false), m2: f32 = dmin * scaleMin(blk + 4, 2 * c + 1, true);
    for (let l = 0; l < 32; l++) {
      const b = <i32>load<u8>(qs + <usize>(32 * c + l));
      let lo = b & 15, hi = b >> 4;
      if (hasHigh) {
        const h = <i32>load<u8>(qh + <usize>l);
        lo |= ((h >> (2 * c)) & 1) << 4;
        hi |= ((h >> (2 * c + 1)) & 1) << 4;
      }
      store<f32>(out + (<usize>(64 * c + l) << 2), d1 * <f32>lo - m1);
      store<f32>(out + (<usize>(64 * c + 32 + l) << 2), d2 * <f32>hi - m2);
    }
  }
}

/** Q6_K block at blk into out(256): weight 128n + 32i + l from ql (nibble), qh (2 bits), int8 scale per 16. */
function rowQ6K(out: usize, blk: usize): void {
  const d = halfToFloat(load<u16>(blk + 208));
  for (let n = 0; n < 2; n++) {
    for (let i = 0; i < 4; i++) {
      for (let l = 0; l < 32; l++) {
        const b = <i32>load<u8>(blk + <usize>(64 * n + l + 32 * (i & 1)));
        const low = i < 2 ? b & 15 : b >> 4;
        const high = (<i32>load<u8>(blk + 128 + <usize>(32 * n + l)) >> (2 * i)) & 3;
        const e = 128 * n + 32 * i + l;
        const sc: f32 = d * <f32>load<i8>(blk + 192 + <usize>(e >> 4));
        store<f32>(out + (<usize>e << 2), sc * <f32>((low | (high << 4)) - 32));
      }
    }
  }
}

/** out(dim) ← row `row` of a K-quant matrix of `dim` columns (a multiple of 256) at src; −1 for another type. */
export function dequantizeRowK(out: usize, src: usize, type: i32, row: i32, dim: i32): i32 {
  const bytes = kBlockBytes(type);
  if (bytes == 0) return -1;
  const nb = dim >> 8;
  const p = src + <usize>row * <usize>nb * <usize>bytes;
  for (let b = 0; b < nb; b++) {
    const blk = p + <usize>b * <usize>bytes;
    const y = out + (<usize>b << 10);
    if (type == GGML_Q6_K) rowQ6K(y, blk);
    else if (type == GGML_Q8_K) {
      const d = load<f32>(blk);
      for (let e = 0; e < 256; e++) store<f32>(y + (<usize>e << 2), d * <f32>load<i8>(blk + 4 + <usize>e));
    } else rowQ45K(y, blk, type == GGML_Q5_K);
  }
  return 0;
}
