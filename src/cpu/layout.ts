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
//
// No re-quantisation: every stored weight is the GGUF's own, so the CPU forward pass computes with
// exactly the weights the reference dequantises. (Scales stay f16, not f32: 0.5625 bytes a Q4_0
// weight instead of 0.625, which is what lets a 7B Q4_0 model fit Wasm32's 4 GiB.) The embedding table stays in the file's layout and
// one row is dequantised per token; the output projection uses this layout like any other.

import { tensorBytes, type GGUFFile, type GGUFTensorInfo } from '../model/gguf.js';
import { ModelFormatError } from '../errors.js';
import { GGMLType, typeName } from '../model/tensor.js';

/** Weight format ids of assembly/cpu/layout.ts. */
export const enum Format {
  F32 = 0,
  F16 = 1,
  Q8_0 = 2,
  Q4_0 = 3,
}

export const FORMAT_NAMES = ['f32', 'f16', 'q8_0', 'q4_0'] as const;

export function formatOf(type: GGMLType): Format {
  switch (type) {
    case GGMLType.F32: return Format.F32;
    case GGMLType.F16: return Format.F16;
    case GGMLType.Q8_0: return Format.Q8_0;
    case GGMLType.Q4_0: return Format.Q4_0;
    default: throw new ModelFormatError('UNSUPPORTED_TENSOR_TYPE', `the CPU backend does not pack ${typeName(type)} weights yet`);
  }
}

/** Outputs padded to a multiple of 32. */
export function paddedOutputs(n: number): number {
  return Math.ceil(n / 32) * 32;
}

/** Bytes of one stored row of np outputs. */
export function rowBytes(fmt: Format, np: number): number {
  return fmt === Format.F32 ? 4 * np : fmt === Format.F16 ? 2 * np : fmt === Format.Q8_0 ? np : np / 2;
}

/** Bytes of the rows and of the scale table of a matrix with `inputs` channels and `outputs` outputs. */
export function matrixBytes(fmt: Format, inputs: number, outputs: number): { rows: number; scales: number } {
  const np = paddedOutputs(outputs);
  const quantized = fmt === Format.Q8_0 || fmt === Format.Q4_0;
  return { rows: inputs * rowBytes(fmt, np), scales: quantized ? (inputs / 32) * np * 2 : 0 };
}

/** d[k·np + o] = s[o·K + k] for o < N, k < K, in blocks of B outputs (reads B source rows side by side). */
function transpose<T extends Float32Array | Uint16Array>(s: T, d: T, K: number, N: number, np: number, B: number): void {
  for (let o0 = 0; o0 < N; o0 += B) {
    const o1 = Math.min(N, o0 + B);
    for (let k = 0; k < K; k++) for (let o = o0; o < o1; o++) d[k * np + o] = s[o * K + k]!;
  }
}

/**
 * Writes the GGUF matrix `t` (dims [in, out]) into `heap` in the CPU layout: rows at byte `w`, scales
 * (Q8_0, Q4_0) at byte `scales`. The destination must be zero (fresh Wasm memory is).
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
  }
}

/** A typed view of `src`, copied first when its offset is not a multiple of the element size. */
function aligned<T extends Float32Array | Uint16Array>(src: Uint8Array, size: number, Ctor: { new(b: ArrayBufferLike, o: number, n: number): T }): T {
  if (src.byteOffset % size === 0) return new Ctor(src.buffer, src.byteOffset, src.byteLength / size);
  const copy = src.slice();
  return new Ctor(copy.buffer, 0, copy.byteLength / size);
}
