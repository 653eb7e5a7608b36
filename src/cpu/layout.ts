// The CPU weight layout (shared with the GPU's quantized sparse kernels), and the packing of GGUF
// tensors into it. Every projection W (out × in; ggml dims [in, out], row o = output channel o) is
// stored transposed, input-channel-major: stored row k = column k of W, all outputs, so a skipped
// input channel is a skipped contiguous row. Outputs are padded to np = a multiple of 32 (padding
// weights and scales are zero), so every row is a multiple of 16 bytes:
//
//   f32   row k = np f32                        W[o][k] = row_k[o]
//   f16   row k = np f16 bit patterns           W[o][k] = f16→f32(row_k[o])            (exact)
//   Q8_0  row k = np int8 codes q[o][k];  scales (in/32, np) f16 bits, scale[g][o] = GGUF's f16 scale d
//         of output o's block covering channels 32g..32g+31, as the file has it; W[o][k] = scale[k/32][o]·q
//   Q4_0  row k = np 4-bit codes, two a byte: byte i has output 2i in the low nibble and 2i+1 in the
//         high nibble, value nibble − 8; scales as Q8_0                                  (exact)
//   K-quants (src/model/kquant.ts) keep their integer codes and, per sub-block and output, ggml's f32
//   scale s = d·sc and min m = dmin·m (rounded to f32 as dequantize_row_q*_K rounds them): W = s·q − m
//   Q4_K  rows as Q4_0 holding q (0..15); table per 32 inputs g: np f32 s[g][o], then np f32 m[g][o]
//   Q5_K  rows as Q8_0 holding q (0..31); table as Q4_K
//   Q6_K  rows as Q8_0 holding q (−32..31); table per 16 inputs: np f32 s[g][o] (no mins). Q8_K packs
//         into this format too (its one f32 d repeated for each 16 inputs)           (all exact)
//
// No re-quantisation: every stored weight is the GGUF's own, so the CPU forward pass computes with
// exactly the weights the reference dequantises. (Scales stay f16, not f32: 0.5625 bytes a Q4_0
// weight instead of 0.625, which is what lets a 7B Q4_0 model fit Wasm32's 4 GiB.) K-quant tables are
// f32 since d·sc needs up to 17 significant bits: Q4_K takes 0.75 bytes a weight (file: 0.5625), Q5_K
// and Q6_K 1.25 (file: 0.69, 0.82). The embedding table stays in the file's layout and
// one row is dequantised per token; the output projection uses this layout like any other.

import { tensorBytes, type GGUFFile, type GGUFTensorInfo } from '../model/gguf.js';
import { ModelFormatError } from '../errors.js';
import { kquantCodec, newKBlock } from '../model/kquant.js';
import { GGMLType, typeName } from '../model/tensor.js';

/** Weight format ids of assembly/cpu/layout.ts. */
export const enum Format {
  F32 = 0,
  F16 = 1,
  Q8_0 = 2,
  Q4_0 = 3,
  Q4_K = 4,
  Q5_K = 5,
  Q6_K = 6,
}

export const FORMAT_NAMES = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'] as const;

export function formatOf(type: GGMLType): Format {
  switch (type) {
    case GGMLType.F32: return Format.F32;
    case GGMLType.F16: return Format.F16;
    case GGMLType.Q8_0: return Format.Q8_0;
    case GGMLType.Q4_0: return Format.Q4_0;
    // Q4_1 and Q5_0/Q5_1 are one 32-weight sub-block of Q4_K's and Q5_K's form (kquant.ts)
    case GGMLType.Q4_K: case GGMLType.Q4_1: return Format.Q4_K;
    case GGMLType.Q5_K: case GGMLType.Q5_0: case GGMLType.Q5_1: return Format.Q5_K;
    case GGMLType.Q6_K: case GGMLType.Q8_K: return Format.Q6_K;
    default: throw new ModelFormatError('UNSUPPORTED_TENSOR_TYPE', `the CPU backend does not pack ${typeName(type)} weights`);
  }
}

/** Inputs per scale-table group of a quantized format, and whether the group also has mins. */
function tableGroup(fmt: Format): { inputs: number; mins: boolean; bytes: number } | null {
  switch (fmt) {
    case Format.Q8_0: case Format.Q4_0: return { inputs: 32, mins: false, bytes: 2 };
    case Format.Q4_K: case Format.Q5_K: return { inputs: 32, mins: true, bytes: 4 };
    case Format.Q6_K: return { inputs: 16, mins: false, bytes: 4 };
    default: return null;
  }
}

/** Outputs padded to a multiple of 32. */
export function paddedOutputs(n: number): number {
  return Math.ceil(n / 32) * 32;
}

/** Bytes of one stored row of np outputs. */
export function rowBytes(fmt: Format, np: number): number {
  return fmt === Format.F32 ? 4 * np : fmt === Format.F16 ? 2 * np : fmt === Format.Q4_0 || fmt === Format.Q4_K ? np / 2 : np;
}

/** Bytes of the rows and of the scale table of a matrix with `inputs` channels and `outputs` outputs. */
export function matrixBytes(fmt: Format, inputs: number, outputs: number): { rows: number; scales: number } {
  const np = paddedOutputs(outputs);
  const g = tableGroup(fmt);
  return { rows: inputs * rowBytes(fmt, np), scales: g ? (inputs / g.inputs) * np * g.bytes * (g.mins ? 2 : 1) : 0 };
}

/** d[k·np + o] = s[o·K + k] for o < N, k < K, in blocks of B outputs (reads B source rows side by side). */
function transpose<T extends Float32Array | Uint16Array>(s: T, d: T, K: number, N: number, np: number, B: number): void {
  for (let o0 = 0; o0 < N; o0 += B) {
    const o1 = Math.min(N, o0 + B);
    for (let k = 0; k < K; k++) for (let o = o0; o < o1; o++) d[k * np + o] = s[o * K + k]!;
  }
}

/**
 * Writes the GGUF matrix `t` (dims [in, out]) into `heap` in the CPU layout: rows at byte `w`, scale
 * table (quantized formats) at byte `scales`. The destination must be zero (fresh Wasm memory is).
 */
export function packMatrix(file: GGUFFile, t: GGUFTensorInfo, heap: ArrayBuffer | SharedArrayBuffer, w: number, scales: number): void {
  const [K, N] = t.dims as [number, number];
  const np = paddedOutputs(N);
  const src = tensorBytes(file, t);
  const fmt = formatOf(t.type);
  // Blocks of B outputs: the reads walk B source rows side by side, the writes fill B consecutive
  // entries of each destination row (one cache line of f32).
  const B = 16;
  switch (fmt) {
    case Format.F32:
      transpose(aligned(src, 4, Float32Array), new Float32Array(heap, w, K * np), K, N, np, B);
      break;
    case Format.F16:
      transpose(aligned(src, 2, Uint16Array), new Uint16Array(heap, w, K * np), K, N, np, B);
      break;
    case Format.Q8_0: {
      const d = new Uint8Array(heap, w, K * np);
      const sc = new Uint16Array(heap, scales, (K / 32) * np);
      for (let o = 0; o < N; o++) {
        for (let g = 0; g < K / 32; g++) {
          const b = (o * (K / 32) + g) * 34;
          sc[g * np + o] = src[b]! | (src[b + 1]! << 8);
          for (let j = 0; j < 32; j++) d[(32 * g + j) * np + o] = src[b + 2 + j]!; // int8 bits as is
        }
      }
      break;
    }
    case Format.Q4_0: {
      const d = new Uint8Array(heap, w, (K * np) / 2);
      const sc = new Uint16Array(heap, scales, (K / 32) * np);
      const half = np / 2;
      for (let o = 0; o < N; o++) {
        const shift = 4 * (o & 1);
        const col = o >> 1;
        for (let g = 0; g < K / 32; g++) {
          const b = (o * (K / 32) + g) * 18;
          sc[g * np + o] = src[b]! | (src[b + 1]! << 8);
          // GGUF byte j of a block: element j in the low nibble, element j + 16 in the high one.
          for (let j = 0; j < 16; j++) {
            const q = src[b + 2 + j]!;
            const lo = (32 * g + j) * half + col;
            const hi = lo + 16 * half;
            d[lo] = d[lo]! | ((q & 15) << shift);
            d[hi] = d[hi]! | ((q >> 4) << shift);
          }
        }
      }
      break;
    }
    default:
      packK(src, t, heap, w, scales, fmt);
  }
}

/** K-quant blocks (one output's row of K/elements blocks after another) into Q4_K/Q5_K/Q6_K rows and tables. */
function packK(src: Uint8Array, t: GGUFTensorInfo, heap: ArrayBuffer | SharedArrayBuffer, w: number, scales: number, fmt: Format): void {
  const [K, N] = t.dims as [number, number];
  const np = paddedOutputs(N);
  const { unpack, bytes, elements } = kquantCodec(t.type)!;
  const g = tableGroup(fmt)!;
  const stride = g.mins ? 2 * np : np; // table floats per group
  const table = new Float32Array(heap, scales, (K / g.inputs) * stride);
  const nibbles = fmt === Format.Q4_K;
  const d = nibbles ? new Uint8Array(heap, w, (K * np) / 2) : new Int8Array(heap, w, K * np);
  const half = np / 2;
  const blk = newKBlock();
  const perBlock = elements / g.inputs;
  for (let o = 0; o < N; o++) {
    const shift = 4 * (o & 1);
    for (let b = 0; b < K / elements; b++) {
      unpack(src, (o * (K / elements) + b) * bytes, blk);
      for (let j = 0; j < perBlock; j++) {
        table[(b * perBlock + j) * stride + o] = blk.scale[j]!;
        if (g.mins) table[(b * perBlock + j) * stride + np + o] = blk.min[j]!;
      }
      for (let e = 0; e < elements; e++) {
        const k = b * elements + e;
        if (nibbles) d[k * half + (o >> 1)] |= blk.codes[e]! << shift;
        else d[k * np + o] = blk.codes[e]!;
      }
    }
  }
}

/** A typed view of `src`, copied first when its offset is not a multiple of the element size. */
function aligned<T extends Float32Array | Uint16Array>(src: Uint8Array, size: number, Ctor: { new(b: ArrayBufferLike, o: number, n: number): T }): T {
  if (src.byteOffset % size === 0) return new Ctor(src.buffer, src.byteOffset, src.byteLength / size);
  const copy = src.slice();
  return new Ctor(copy.buffer, 0, copy.byteLength / size);
}
