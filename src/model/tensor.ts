// ggml tensor types that was-edge reads, their block layouts (ggml-common.h) and dequantisation.

import { ModelFormatError } from '../errors.js';
import { dequantizeK, kquantCodec, Q4_1_BYTES, Q4_K_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q5_K_BYTES, Q6_K_BYTES, Q8_K_BYTES, QK_K } from './kquant.js';

export const enum GGMLType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
}

/** Elements per block and bytes per block. */
const LAYOUT: Record<number, { block: number; bytes: number; name: string }> = {
  [GGMLType.F32]: { block: 1, bytes: 4, name: 'F32' },
  [GGMLType.F16]: { block: 1, bytes: 2, name: 'F16' },
  [GGMLType.Q4_0]: { block: 32, bytes: 18, name: 'Q4_0' }, // f16 scale + 16 bytes of 4-bit codes
  [GGMLType.Q8_0]: { block: 32, bytes: 34, name: 'Q8_0' }, // f16 scale + 32 int8 codes
  // llama-quantize's fallbacks for rows that are not a multiple of 256 (src/model/kquant.ts)
  [GGMLType.Q4_1]: { block: 32, bytes: Q4_1_BYTES, name: 'Q4_1' },
  [GGMLType.Q5_0]: { block: 32, bytes: Q5_0_BYTES, name: 'Q5_0' },
  [GGMLType.Q5_1]: { block: 32, bytes: Q5_1_BYTES, name: 'Q5_1' },
  // K-quants: super-blocks of 256 weights (src/model/kquant.ts)
  [GGMLType.Q4_K]: { block: QK_K, bytes: Q4_K_BYTES, name: 'Q4_K' },
  [GGMLType.Q5_K]: { block: QK_K, bytes: Q5_K_BYTES, name: 'Q5_K' },
  [GGMLType.Q6_K]: { block: QK_K, bytes: Q6_K_BYTES, name: 'Q6_K' },
  [GGMLType.Q8_K]: { block: QK_K, bytes: Q8_K_BYTES, name: 'Q8_K' },
};

/** Names of the types we read, for error messages ("F32, F16, …, Q6_K and Q8_K"). */
export function supportedTypeNames(): string {
  const names = Object.values(LAYOUT).map((l) => l.name);
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** ggml's names of the types we do not read, for error messages. */
const OTHER_NAMES: Record<number, string> = {
  9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 16: 'IQ2_XXS', 17: 'IQ2_XS',
  18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64',
  29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

export function isSupportedType(t: number): t is GGMLType {
  return LAYOUT[t] !== undefined;
}

export function typeName(t: number): string {
  return LAYOUT[t]?.name ?? OTHER_NAMES[t] ?? `unknown type ${t}`;
}

/** Bytes taken by a tensor; rows must hold whole blocks (ggml's own rule). */
export function tensorByteSize(type: GGMLType, dims: number[], name = 'tensor'): number {
  const { block, bytes } = LAYOUT[type]!;
  if (dims[0]! % block !== 0) {
    throw new ModelFormatError('BAD_SHAPE',
      `GGUF tensor "${name}": row length ${dims[0]} is not a multiple of the ${typeName(type)} block size ${block}.`);
  }
  let rows = 1;
  for (let i = 1; i < dims.length; i++) rows *= dims[i]!;
  return (dims[0]! / block) * bytes * rows;
}

// IEEE half → float, exact for every input (subnormals, infinities, NaN).
const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return t;
})();

export function f16ToF32(h: number): number {
  return F16_TABLE[h & 0xffff]!;
}

/** Float → nearest half (round to nearest even), for tests and for packing f16 weights. */
export function f32ToF16(f: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, f);
  const x = buf.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/**
 * Dequantises `n` elements of `type` from `src` into `out` (f32). Q8_0: x = d·q;
 * Q4_0: x = d·(q − 8) with the low nibbles holding elements 0..15 of a block and the high
 * nibbles 16..31 (ggml-quants.c dequantize_row_q4_0). K-quants: src/model/kquant.ts.
 */
export function dequantize(type: GGMLType, src: Uint8Array, n: number, dst?: Float32Array): Float32Array {
  const layout = LAYOUT[type];
  if (!layout) throw new ModelFormatError('UNSUPPORTED_TENSOR_TYPE', `cannot dequantise ${typeName(type)}`);
  // Checked up front so a short buffer is a named error, not a RangeError halfway through.
  const need = (n / layout.block) * layout.bytes;
  if (!Number.isInteger(n / layout.block) || n < 0 || src.byteLength < need || (dst && dst.length < n)) {
    throw new ModelFormatError('BAD_SHAPE',
      `cannot dequantise ${n} ${layout.name} elements (whole blocks of ${layout.block}) from ${src.byteLength} ` +
      `bytes (${need} needed)${dst ? ` into ${dst.length} floats` : ''}.`);
  }
  const out = dst ?? new Float32Array(n);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  switch (type) {
    case GGMLType.F32:
      // Tensor data are 32-byte aligned in the file, so the aligned fast path is the usual one.
      if (src.byteOffset % 4 === 0) out.set(new Float32Array(src.buffer, src.byteOffset, n));
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case GGMLType.F16:
      for (let i = 0; i < n; i++) out[i] = F16_TABLE[view.getUint16(2 * i, true)]!;
      break;
    case GGMLType.Q8_0:
      for (let b = 0; b < n / 32; b++) {
        const base = b * 34;
        const d = F16_TABLE[view.getUint16(base, true)]!;
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * view.getInt8(base + 2 + j);
      }
      break;
    case GGMLType.Q4_0:
      for (let b = 0; b < n / 32; b++) {
        const base = b * 18;
        const d = F16_TABLE[view.getUint16(base, true)]!;
        for (let j = 0; j < 16; j++) {
          const q = src[base + 2 + j]!;
          out[b * 32 + j] = d * ((q & 0x0f) - 8);
          out[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      break;
    case GGMLType.Q4_K: case GGMLType.Q5_K: case GGMLType.Q6_K: case GGMLType.Q8_K:
    case GGMLType.Q4_1: case GGMLType.Q5_0: case GGMLType.Q5_1: {
      const { unpack, bytes, elements } = kquantCodec(type)!;
      dequantizeK(unpack, bytes, src, n, out, elements);
      break;
    }
    default:
      throw new ModelFormatError('UNSUPPORTED_TENSOR_TYPE', `cannot dequantise ${typeName(type)}`);
  }
  return out;
}
