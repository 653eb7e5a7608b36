// K-quant blocks for tests, written from ggml's block layouts (ggml-common.h) without importing
// src/: a simple quantizer (round to nearest, no error search: ggml's quantize_row_q*_K_ref choose
// scales more cleverly, but any choice yields valid blocks) and a per-element dequantiser that
// decodes each weight straight from its bytes, to check src/model/kquant.ts against; and a small
// llama whose matrices are K-quants.

import { f32Bytes, kv, tinyLlamaSpec, TYPE, withMeta, type GGUFSpec } from './gguf-writer.js';
import { mulberry32 } from './random.js';

export const QK = 256;
export const K_BYTES = { 12: 144, 13: 176, 14: 210 } as Record<number, number>;

const f32 = Math.fround;

/** Half bits → float, computed (not tabled) so it shares nothing with src/model/tensor.ts. */
export function halfBits(h: number): number {
  const e = (h >> 10) & 31, m = h & 1023, s = h >> 15 ? -1 : 1;
  if (e === 0) return s * m * Math.pow(2, -24);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

/** Float → half bits, round to nearest by search over the 2^15 magnitudes (slow, test-only, finite in range). */
export function toHalf(x: number): number {
  const a = Math.abs(x);
  let lo = 0, hi = 0x7bff;
  while (lo < hi) { // largest h with halfBits(h) ≤ a
    const mid = (lo + hi + 1) >> 1;
    if (halfBits(mid) <= a) lo = mid; else hi = mid - 1;
  }
  const h = lo < 0x7bff && halfBits(lo + 1) - a < a - halfBits(lo) ? lo + 1 : lo;
  return (x < 0 ? 0x8000 : 0) | h;
}

/** The 12 bytes of 6-bit scales ls[8] and mins lm[8] as ggml's quantize_row_q4_K_ref packs them. */
export function packScales(ls: number[], lm: number[]): Uint8Array {
  const b = new Uint8Array(12);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      b[j] = ls[j]!;
      b[j + 4] = lm[j]!;
    } else {
      b[j + 4] = (ls[j]! & 0xf) | ((lm[j]! & 0xf) << 4);
      b[j - 4]! |= (ls[j]! >> 4) << 6;
      b[j]! |= (lm[j]! >> 4) << 6;
    }
  }
  return b;
}

/** Q4_K (bits 4) or Q5_K (bits 5) blocks of `x` (length a multiple of 256). */
export function quantizeQ45K(x: Float32Array, bits: 4 | 5): Uint8Array {
  const top = (1 << bits) - 1, size = bits === 4 ? 144 : 176;
  const out = new Uint8Array((x.length / QK) * size);
  for (let b = 0; b < x.length / QK; b++) {
    const v = x.subarray(b * QK, (b + 1) * QK);
    const sc: number[] = [], mn: number[] = [];
    for (let j = 0; j < 8; j++) {
      const s = v.subarray(32 * j, 32 * j + 32);
      const lo = Math.min(0, ...s), hi = Math.max(...s);
      sc.push((hi - lo) / top);
      mn.push(-lo);
    }
    const dh = toHalf(Math.max(...sc) / 63), mh = toHalf(Math.max(...mn) / 63);
    const d = halfBits(dh), dmin = halfBits(mh);
    const ls = sc.map((s) => (d ? Math.min(63, Math.round(s / d)) : 0));
    const lm = mn.map((m) => (dmin ? Math.min(63, Math.round(m / dmin)) : 0));
    const blk = out.subarray(b * size, (b + 1) * size);
    blk[0] = dh & 255; blk[1] = dh >> 8; blk[2] = mh & 255; blk[3] = mh >> 8;
    blk.set(packScales(ls, lm), 4);
    const qs = bits === 4 ? 16 : 48;
    for (let e = 0; e < QK; e++) {
      const j = e >> 5, dd = f32(d * ls[j]!), dm = f32(dmin * lm[j]!);
      const q = dd ? Math.max(0, Math.min(top, Math.round((v[e]! + dm) / dd))) : 0;
      const c = e >> 6, l = e & 31, high = (e >> 5) & 1;
      blk[qs + 32 * c + l]! |= (q & 15) << (4 * high);
      if (bits === 5 && q > 15) blk[16 + l]! |= 1 << (2 * c + high);
    }
  }
  return out;
}

/** Q6_K blocks of `x`: a signed 8-bit scale per 16 weights relative to an f16 d, codes −32..31. */
export function quantizeQ6K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK) * 210);
  for (let b = 0; b < x.length / QK; b++) {
    const v = x.subarray(b * QK, (b + 1) * QK);
    const sc: number[] = [];
    for (let g = 0; g < 16; g++) sc.push(Math.max(...v.subarray(16 * g, 16 * g + 16).map(Math.abs)) / 31);
    const dh = toHalf(Math.max(...sc) / 127), d = halfBits(dh);
    const ls = sc.map((s) => (d ? Math.min(127, Math.round(s / d)) : 0));
    const blk = out.subarray(b * 210, (b + 1) * 210);
    for (let g = 0; g < 16; g++) blk[192 + g] = ls[g]! & 255;
    blk[208] = dh & 255; blk[209] = dh >> 8;
    for (let e = 0; e < QK; e++) {
      const dd = f32(d * ls[e >> 4]!);
      const q = (dd ? Math.max(-32, Math.min(31, Math.round(v[e]! / dd))) : 0) + 32;
      const n = e >> 7, i = (e >> 5) & 3, l = e & 31;
      blk[64 * n + l + 32 * (i & 1)]! |= (q & 15) << (i < 2 ? 0 : 4);
      blk[128 + 32 * n + l]! |= (q >> 4) << (2 * i);
    }
  }
  return out;
}

/**
 * Weight e of the K-quant block at `blk`, decoded on its own from the layout and rounded as ggml's
 * f32 arithmetic does: Q4_K/Q5_K (d·sc)·q − dmin·m, Q6_K (d·sc)·(q − 32).
 */
export function kWeight(type: number, blk: Uint8Array, e: number): number {
  const u16 = (at: number) => blk[at]! | (blk[at + 1]! << 8);
  if (type === 14) {
    const n = Math.floor(e / 128), i = Math.floor((e % 128) / 32), l = e % 32;
    const lowByte = blk[64 * n + l + (i % 2 === 1 ? 32 : 0)]!;
    const low = i >= 2 ? Math.floor(lowByte / 16) : lowByte % 16;
    const high = Math.floor(blk[128 + 32 * n + l]! / 4 ** i) % 4;
    const scale = blk[192 + Math.floor(e / 16)]! >= 128 ? blk[192 + Math.floor(e / 16)]! - 256 : blk[192 + Math.floor(e / 16)]!;
    return f32(f32(halfBits(u16(208)) * scale) * (low + 16 * high - 32));
  }
  const j = Math.floor(e / 32), s = blk.subarray(4, 16);
  const sc = j < 4 ? s[j]! % 64 : (s[j + 4]! % 16) + 16 * Math.floor(s[j - 4]! / 64);
  const m = j < 4 ? s[j + 4]! % 64 : Math.floor(s[j + 4]! / 16) + 16 * Math.floor(s[j]! / 64);
  const qsAt = type === 12 ? 16 : 48;
  const byte = blk[qsAt + 32 * Math.floor(e / 64) + (e % 32)]!;
  let q = j % 2 === 1 ? Math.floor(byte / 16) : byte % 16;
  if (type === 13 && Math.floor(blk[16 + (e % 32)]! / 2 ** j) % 2 === 1) q += 16;
  return f32(f32(f32(halfBits(u16(0)) * sc) * q) - f32(halfBits(u16(2)) * m));
}

/** Every weight of a K-quant tensor, per element (slow; the oracle for src/model/kquant.ts). */
export function kWeights(type: number, bytes: Uint8Array, n: number): Float32Array {
  const size = K_BYTES[type]!;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    const b = Math.floor(e / QK);
    out[e] = kWeight(type, bytes.subarray(b * size, (b + 1) * size), e % QK);
  }
  return out;
}

/** K-quant bytes of `x` in `type` (12 Q4_K, 13 Q5_K, 14 Q6_K). */
export function quantizeK(type: number, x: Float32Array): Uint8Array {
  return type === 14 ? quantizeQ6K(x) : quantizeQ45K(x, type === 12 ? 4 : 5);
}

/** Which K type each tensor gets, in the spirit of llama.cpp's Q4_K_M (Q6_K for v, down and output). */
function kTypeOf(name: string): number {
  if (/attn_v|ffn_down|^output\./.test(name)) return TYPE.Q6_K;
  if (/ffn_up/.test(name)) return TYPE.Q5_K;
  return TYPE.Q4_K;
}

/** A 2-layer llama (dim 256, hidden 512, 4 heads, 2 KV heads) with K-quant matrices and a SentencePiece vocabulary. */
export function kquantLlama(seed: number): GGUFSpec {
  const vocab = 40;
  // The merges of "▁Once" keep the fuzz test's prompt ("Once") at two tokens.
  const words = ['▁Once', '▁Onc', '▁On', '▁O', '▁', 'O', 'n', 'c', 'e'];
  const pieces = Array.from({ length: vocab }, (_, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : words[i - 3] ?? `▁w${i}`));
  const spec = withMeta(tinyLlamaSpec({ dim: 256, hidden: 512, heads: 4, kvHeads: 2, layers: 2, vocab }), {
    'tokenizer.ggml.model': kv.str('llama'),
    'tokenizer.ggml.tokens': kv.arr('string', pieces),
    'tokenizer.ggml.scores': kv.arr('f32', pieces.map(() => 0)),
    'tokenizer.ggml.token_type': kv.arr('i32', pieces.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : 1))),
  });
  const rnd = mulberry32(seed);
  const tensors = spec.tensors!.map((t) => {
    const n = t.dims.reduce<number>((a, d) => a * Number(d), 1);
    if (t.dims.length === 1) return { ...t, data: f32Bytes(Array.from({ length: n }, () => 0.8 + 0.4 * rnd())) };
    const type = kTypeOf(t.name);
    // Weights of a trained model's spread (≈ 1/√dim), with a stronger embedding so logits spread out.
    const scale = t.name === 'token_embd.weight' ? 1 : 0.12;
    const x = Float32Array.from({ length: n }, () => (rnd() + rnd() + rnd() - 1.5) * scale);
    return { ...t, type, data: quantizeK(type, x) };
  });
  return { ...spec, tensors };
}

/** Bytes of the 32-weight offset types (ggml-common.h block_q4_1, block_q5_0, block_q5_1). */
export const LEGACY_BYTES = { 3: 20, 6: 22, 7: 24 } as Record<number, number>;

/**
 * Q4_1 (3), Q5_0 (6) or Q5_1 (7) blocks of `x` (length a multiple of 32), round to nearest like
 * ggml's quantize_row_*_ref: Q5_0 symmetric (d = max/−16), Q4_1/Q5_1 over [min, max].
 */
export function quantizeLegacy(type: 3 | 6 | 7, x: Float32Array): Uint8Array {
  const size = LEGACY_BYTES[type]!, bits = type === 3 ? 4 : 5, top = (1 << bits) - 1;
  const out = new Uint8Array((x.length / 32) * size);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    const v = x.subarray(32 * b, 32 * b + 32), at = b * size;
    let q: number[];
    if (type === 6) {
      let amax = 0, max = 0;
      for (const e of v) if (Math.abs(e) > amax) { amax = Math.abs(e); max = e; }
      const d = max / -16, id = d ? 1 / d : 0;
      dv.setUint16(at, toHalf(d), true);
      q = [...v].map((e) => Math.min(31, Math.max(0, Math.round(e * id + 16))));
    } else {
      const lo = Math.min(...v), hi = Math.max(...v), d = (hi - lo) / top, id = d ? 1 / d : 0;
      dv.setUint16(at, toHalf(d), true);
      dv.setUint16(at + 2, toHalf(lo), true);
      q = [...v].map((e) => Math.min(top, Math.max(0, Math.round((e - lo) * id))));
    }
    const qs = at + (type === 3 ? 4 : type === 6 ? 6 : 8);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      out[qs + j] = (q[j]! & 15) | ((q[j + 16]! & 15) << 4);
      qh |= ((q[j]! >> 4) << j) | ((q[j + 16]! >> 4) << (j + 16));
    }
    if (type !== 3) dv.setUint32(at + (type === 6 ? 2 : 4), qh >>> 0, true);
  }
  return out;
}

/** Weight e (0..31) of one Q4_1/Q5_0/Q5_1 block, decoded from its bytes as ggml's f32 arithmetic does. */
export function legacyWeight(type: number, blk: Uint8Array, e: number): number {
  const u16 = (at: number) => blk[at]! | (blk[at + 1]! << 8);
  const qs = type === 3 ? 4 : type === 6 ? 6 : 8;
  const byte = blk[qs + (e % 16)]!;
  let q = e < 16 ? byte % 16 : Math.floor(byte / 16);
  if (type !== 3) {
    const qhAt = type === 6 ? 2 : 4;
    const bit = blk[qhAt + Math.floor(e / 8)]! >> (e % 8);
    q += 16 * (bit & 1);
  }
  const d = halfBits(u16(0));
  return type === 6 ? f32(d * (q - 16)) : f32(f32(d * q) + halfBits(u16(2)));
}
