// K-quants (ggml-common.h block_q4_K, block_q5_K, block_q6_K, block_q8_K; ggml-quants.c
// dequantize_row_q*_K): super-blocks of 256 weights split into sub-blocks that each carry a small
// integer scale (and, for Q4_K/Q5_K, a min) relative to the super-block's f16 d (and dmin).
// A block is unpacked into integer codes and one f32 scale and min per sub-block, so that the
// dequantisation below and the CPU packer (src/cpu/layout.ts) read the bytes in one place.

/** Weights per K-quant super-block (ggml QK_K). */
export const QK_K = 256;
export const Q4_K_BYTES = 144; // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of 4-bit codes
export const Q5_K_BYTES = 176; // as Q4_K, plus 32 bytes of fifth bits (qh) before the 128 bytes of low nibbles
export const Q6_K_BYTES = 210; // 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales, f16 d
export const Q8_K_BYTES = 292; // f32 d, 256 int8 codes, 16 i16 block sums (unused here)

/** One unpacked super-block: weight e = fround(scale[g] · codes[e]) − min[g], g = e / group. */
export interface KBlock {
  codes: Int8Array; // (256) Q4_K 0..15, Q5_K 0..31, Q6_K −32..31, Q8_K −128..127
  scale: Float32Array; // (256 / group) d·sc, rounded to f32 as ggml computes it
  min: Float32Array; // (256 / group) dmin·m, f32 (zero for Q6_K)
  group: number; // weights per sub-block: 32 (Q4_K, Q5_K) or 16 (Q6_K, Q8_K)
}

export function newKBlock(): KBlock {
  return { codes: new Int8Array(QK_K), scale: new Float32Array(16), min: new Float32Array(16), group: 32 };
}

// IEEE half → float (the table lives in tensor.ts; a local copy avoids an import cycle).
function half(src: Uint8Array, at: number): number {
  const h = src[at]! | (src[at + 1]! << 8);
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Scale (which 0) or min (which 1) j of the 12 packed bytes at `q`: ggml-quants.c get_scale_min_k4.
 * Sub-blocks 0..3 keep 6 bits in bytes j (scale) and j+4 (min); 4..7 take their low 4 bits from the
 * nibbles of byte j+4 and their top 2 bits from the spare top bits of bytes j−4 (scale) and j (min).
 */
export function scaleMinK4(src: Uint8Array, q: number, j: number, which: 0 | 1): number {
  if (j < 4) return src[q + j + 4 * which]! & 63;
  const low = which === 0 ? src[q + j + 4]! & 0x0f : src[q + j + 4]! >> 4;
  return low | ((src[q + j - 4 * (1 - which)]! >> 6) << 4);
}

/** Scales and mins of a Q4_K/Q5_K block at `at`: d·sc and dmin·m per 32-weight sub-block, in f32. */
function scalesMins(src: Uint8Array, at: number, out: KBlock): void {
  const d = half(src, at);
  const dmin = half(src, at + 2);
  out.group = 32;
  for (let j = 0; j < 8; j++) {
    out.scale[j] = d * scaleMinK4(src, at + 4, j, 0);
    out.min[j] = dmin * scaleMinK4(src, at + 4, j, 1);
  }
}

/** Q4_K (dequantize_row_q4_K): byte l of 32-byte chunk c holds weight 64c + l (low nibble) and 64c + 32 + l (high). */
export function unpackQ4K(src: Uint8Array, at: number, out: KBlock): void {
  scalesMins(src, at, out);
  const qs = at + 16;
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const b = src[qs + 32 * c + l]!;
      out.codes[64 * c + l] = b & 0x0f;
      out.codes[64 * c + 32 + l] = b >> 4;
    }
  }
}

/** Q5_K (dequantize_row_q5_K): as Q4_K, plus bit 2c (low nibble) or 2c + 1 (high) of qh[l] as the code's 16. */
export function unpackQ5K(src: Uint8Array, at: number, out: KBlock): void {
  scalesMins(src, at, out);
  const qh = at + 16;
  const qs = at + 48;
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const b = src[qs + 32 * c + l]!;
      const h = src[qh + l]!;
      out.codes[64 * c + l] = (b & 0x0f) | (((h >> (2 * c)) & 1) << 4);
      out.codes[64 * c + 32 + l] = (b >> 4) | (((h >> (2 * c + 1)) & 1) << 4);
    }
  }
}

/**
 * Q6_K (dequantize_row_q6_K): per 128-weight half n, weight 128n + 32i + l (i = 0..3, l = 0..31) has
 * its low 4 bits in ql[64n + l + 32(i & 1)] (low nibble for i < 2, high otherwise) and its top 2
 * bits at bit 2i of qh[32n + l]; code − 32 is scaled by int8 scale (weight / 16) times d.
 */
export function unpackQ6K(src: Uint8Array, at: number, out: KBlock): void {
  const ql = at;
  const qh = at + 128;
  const sc = at + 192;
  const d = half(src, at + 208);
  out.group = 16;
  for (let s = 0; s < 16; s++) {
    out.scale[s] = d * ((src[sc + s]! << 24) >> 24); // int8
    out.min[s] = 0;
  }
  for (let n = 0; n < 2; n++) {
    for (let i = 0; i < 4; i++) {
      for (let l = 0; l < 32; l++) {
        const lo = src[ql + 64 * n + l + 32 * (i & 1)]!;
        const low = i < 2 ? lo & 0x0f : lo >> 4;
        const high = (src[qh + 32 * n + l]! >> (2 * i)) & 3;
        out.codes[128 * n + 32 * i + l] = (low | (high << 4)) - 32;
      }
    }
  }
}

/** out[0..n) ← the n weights (whole blocks of `elements`) of `src`, exactly as ggml computes them in f32. */
export function dequantizeK(unpack: Unpack, bytes: number, src: Uint8Array, n: number, out: Float32Array, elements = QK_K): void {
  const blk = newKBlock();
  for (let b = 0; b < n / elements; b++) {
    unpack(src, b * bytes, blk);
    const y = out.subarray(b * elements, (b + 1) * elements);
    for (let e = 0; e < elements; e++) {
      const g = (e / blk.group) | 0;
      // ggml: y = d1 * q - m1 in f32; the product is rounded first, the Float32Array store rounds the difference.
      y[e] = Math.fround(blk.scale[g]! * blk.codes[e]!) - blk.min[g]!;
    }
  }
}

/** Q8_K (dequantize_row_q8_K): y = d · q, one f32 d for all 256 int8 codes (given to each of 16 sub-blocks). */
export function unpackQ8K(src: Uint8Array, at: number, out: KBlock): void {
  const d = new DataView(src.buffer, src.byteOffset + at, 4).getFloat32(0, true);
  out.group = 16;
  out.scale.fill(d);
  out.min.fill(0);
  for (let e = 0; e < QK_K; e++) out.codes[e] = (src[at + 4 + e]! << 24) >> 24;
}

type Unpack = (src: Uint8Array, at: number, out: KBlock) => void;

/** The unpacker and block bytes of a K type by its ggml id (GGMLType.Q4_K … Q8_K), or undefined. */
export function kquantCodec(type: number): { unpack: Unpack; bytes: number; elements: number } | undefined {
  switch (type) {
    case 12: return { unpack: unpackQ4K, bytes: Q4_K_BYTES, elements: QK_K };
    case 13: return { unpack: unpackQ5K, bytes: Q5_K_BYTES, elements: QK_K };
    case 14: return { unpack: unpackQ6K, bytes: Q6_K_BYTES, elements: QK_K };
    case 15: return { unpack: unpackQ8K, bytes: Q8_K_BYTES, elements: QK_K };
    // The 32-weight types llama-quantize falls back to where a row is not a multiple of 256 (SmolLM2,
    // Qwen2.5-0.5B): one sub-block each, in the same scale-and-min form.
    case 3: return { unpack: unpackQ4_1, bytes: Q4_1_BYTES, elements: 32 };
    case 6: return { unpack: unpackQ5_0, bytes: Q5_0_BYTES, elements: 32 };
    case 7: return { unpack: unpackQ5_1, bytes: Q5_1_BYTES, elements: 32 };
    default: return undefined;
  }
}

export const Q4_1_BYTES = 20; // f16 d, f16 m, 16 bytes of 4-bit codes
export const Q5_0_BYTES = 22; // f16 d, 4 bytes of fifth bits (qh), 16 bytes of 4-bit codes
export const Q5_1_BYTES = 24; // f16 d, f16 m, qh, codes

/**
 * The codes of a 32-weight block (ggml-quants.c dequantize_row_q4_1/q5_0/q5_1): byte j of qs holds
 * weight j (low nibble) and j + 16 (high); with `qh` (a little-endian u32), bit j is weight j's fifth
 * bit and bit j + 16 weight j + 16's.
 */
function legacyCodes(src: Uint8Array, qs: number, qh: number | null, out: KBlock): void {
  const h = qh === null ? 0 : (src[qh]! | (src[qh + 1]! << 8) | (src[qh + 2]! << 16) | (src[qh + 3]! << 24)) >>> 0;
  for (let j = 0; j < 16; j++) {
    const b = src[qs + j]!;
    out.codes[j] = (b & 0x0f) | (((h >>> j) & 1) << 4);
    out.codes[j + 16] = (b >> 4) | (((h >>> (j + 16)) & 1) << 4);
  }
  out.group = 32;
}

/** Q4_1: y = d·q + m, q = 0..15 (min −m in the K form). */
export function unpackQ4_1(src: Uint8Array, at: number, out: KBlock): void {
  out.scale[0] = half(src, at);
  out.min[0] = -half(src, at + 2);
  legacyCodes(src, at + 4, null, out);
}

/** Q5_0: y = d·(q − 16), q = 0..31, as d·q − 16d (both exact in f32, so the same weight). */
export function unpackQ5_0(src: Uint8Array, at: number, out: KBlock): void {
  const d = half(src, at);
  out.scale[0] = d;
  out.min[0] = 16 * d;
  legacyCodes(src, at + 6, at + 2, out);
}

/** Q5_1: y = d·q + m, q = 0..31. */
export function unpackQ5_1(src: Uint8Array, at: number, out: KBlock): void {
  out.scale[0] = half(src, at);
  out.min[0] = -half(src, at + 2);
  legacyCodes(src, at + 8, at + 4, out);
}
