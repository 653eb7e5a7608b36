// Weight matrices on the GPU: row-major as GGUF stores them (row = output channel), each row padded
// to a 16-byte multiple so kernels read whole vec4s, split by rows into shards of at most one
// storage binding each (maxStorageBufferBindingSize is 128 MiB on many phones and on lavapipe).
import { f16ToF32, f32ToF16 } from '../model/tensor.js';
import { createBufferChecked, type GpuContext } from './device.js';
import { roundUp } from './pipeline.js';
import { KernelArgumentError } from '../errors.js';

/** f32: one float per element. f16: IEEE halves, two per u32 (element 2k in the low 16 bits). */
export type WeightFormat = 'f32' | 'f16';
/** rows: W(rows, cols). gate-up: two matrices interleaved by rows (stored row 2r = gate r, 2r+1 = up r). */
export type WeightLayout = 'rows' | 'gate-up';

export interface WeightShard {
  buffer: GPUBuffer;
  /** First (output) row held, counted in rows of the logical matrix (in gate/up pairs for gate-up). */
  firstRow: number;
  rows: number;
}

export interface WeightTensor {
  readonly format: WeightFormat;
  readonly layout: WeightLayout;
  /** Output rows: for gate-up, the rows of gate (= of up). */
  readonly rows: number;
  readonly cols: number;
  /** Elements per stored row: cols rounded up to 4 (f32) or 8 (f16), i.e. 16 bytes; padding is zero. */
  readonly rowStride: number;
  readonly shards: readonly WeightShard[];
}

export const ELEMENTS_PER_16_BYTES: Record<WeightFormat, number> = { f32: 4, f16: 8 };

export function rowStride(format: WeightFormat, cols: number): number {
  return roundUp(cols, ELEMENTS_PER_16_BYTES[format]);
}

export interface UploadOptions {
  label?: string;
  /** Largest shard in bytes (default ctx.maxBindingSize). */
  maxShardBytes?: number;
}

/** Source elements: f32 values, or f16 bit patterns (as GGUF F16 tensors hold them). */
export type WeightData = Float32Array | Uint16Array;

/** Uploads W(rows, cols), row-major, converting to `format` as needed. */
export function uploadMatrix(ctx: GpuContext, data: WeightData, rows: number, cols: number, format: WeightFormat, opts: UploadOptions = {}): Promise<WeightTensor> {
  checkData('uploadMatrix', data, rows, cols);
  return upload(ctx, [data], rows, cols, format, 'rows', opts);
}

/**
 * Uploads gate(rows, cols) and up(rows, cols) interleaved by rows, for gemv/gemm's fused SwiGLU:
 * one workgroup reads gate row r and up row r together and writes silu(gate·x)·(up·x).
 */
export function uploadGateUp(ctx: GpuContext, gate: WeightData, up: WeightData, rows: number, cols: number, format: WeightFormat, opts: UploadOptions = {}): Promise<WeightTensor> {
  checkData('uploadGateUp', gate, rows, cols);
  checkData('uploadGateUp', up, rows, cols);
  return upload(ctx, [gate, up], rows, cols, format, 'gate-up', opts);
}

export function destroyWeights(w: WeightTensor): void {
  for (const s of w.shards) s.buffer.destroy();
}

function checkData(fn: string, data: WeightData, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new KernelArgumentError(fn, `rows and cols must be positive integers, got ${rows}×${cols}`);
  }
  if (data.length !== rows * cols) throw new KernelArgumentError(fn, `expected ${rows}×${cols} = ${rows * cols} elements, got ${data.length}`);
}

async function upload(ctx: GpuContext, sources: WeightData[], rows: number, cols: number, format: WeightFormat, layout: WeightLayout, opts: UploadOptions): Promise<WeightTensor> {
  const stride = rowStride(format, cols);
  const bytesPerElement = format === 'f32' ? 4 : 2;
  const groupBytes = stride * bytesPerElement * sources.length; // one output row: 1 stored row, or 2 for gate-up
  const maxShardBytes = Math.min(opts.maxShardBytes ?? ctx.maxBindingSize, ctx.maxBindingSize);
  const rowsPerShard = Math.floor(maxShardBytes / groupBytes);
  const label = opts.label ?? 'weights';
  if (rowsPerShard < 1) {
    throw new KernelArgumentError('upload', `${label}: one row (${groupBytes} bytes) exceeds the ${maxShardBytes}-byte binding limit`);
  }
  const shards: WeightShard[] = [];
  try {
    for (let first = 0; first < rows; first += rowsPerShard) {
      const n = Math.min(rowsPerShard, rows - first);
      const buffer = await createBufferChecked(ctx.device, {
        label: `${label}[${shards.length}]`, size: n * groupBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true,
      });
      shards.push({ buffer, firstRow: first, rows: n });
      const mapped = buffer.getMappedRange();
      const dst = format === 'f32' ? new Float32Array(mapped) : new Uint16Array(mapped);
      for (let r = 0; r < n; r++) {
        for (let s = 0; s < sources.length; s++) {
          copyRow(dst, (r * sources.length + s) * stride, sources[s]!, (first + r) * cols, cols);
        }
      }
      buffer.unmap();
    }
  } catch (e) {
    for (const s of shards) s.buffer.destroy();
    throw e;
  }
  return { format, layout, rows, cols, rowStride: stride, shards };
}

function copyRow(dst: Float32Array | Uint16Array, at: number, src: WeightData, from: number, n: number): void {
  if ((dst instanceof Float32Array) === (src instanceof Float32Array)) {
    dst.set(src.subarray(from, from + n), at);
  } else if (dst instanceof Float32Array) {
    for (let i = 0; i < n; i++) dst[at + i] = f16ToF32(src[from + i]!);
  } else {
    for (let i = 0; i < n; i++) dst[at + i] = f32ToF16(src[from + i]!);
  }
}

// Transposed weights, for sparse_gemv: stored row j holds column j of W (the weights of input
// channel j for every output), so a skipped input channel is one contiguous run that is never read.

/** One stacked matrix of a transposed tensor (q, k or v; gate or up), with its own τ vector. */
export interface TransposedSegment {
  /** First output row of this matrix in the stack (its outputs are y[firstRow .. firstRow + rows)). */
  readonly firstRow: number;
  readonly rows: number;
  /** Where its outputs start in a stored row, in elements: a multiple of 4 (f32) or 8 (f16), i.e. 16 bytes. */
  readonly offset: number;
}

export interface TransposedShard {
  buffer: GPUBuffer;
  /** First input channel (stored row) held. */
  firstCol: number;
  cols: number;
}

export interface TransposedWeightTensor {
  readonly format: WeightFormat;
  /** Output rows, all segments together. */
  readonly rows: number;
  /** Input channels: the number of stored rows. */
  readonly cols: number;
  /** Elements per stored row: the segments, each padded to 16 bytes; padding is zero. */
  readonly rowStride: number;
  readonly shards: readonly TransposedShard[];
  readonly segments: readonly TransposedSegment[];
}

/** Uploads Wᵀ for W(rows, cols) given row-major (rows = outputs, as GGUF stores it). */
export function uploadTransposed(ctx: GpuContext, data: WeightData, rows: number, cols: number, format: WeightFormat, opts: UploadOptions = {}): Promise<TransposedWeightTensor> {
  return uploadTransposedStack(ctx, [{ data, rows }], cols, format, opts);
}

/**
 * Uploads several matrices with the same cols, stacked along the output dimension (q|k|v, gate|up),
 * transposed: stored row j = [W₀[:, j], pad, W₁[:, j], pad, …], each segment starting on a 16-byte chunk
 * so that a kernel's vec4 (f32) or 8 halves (f16) of outputs never straddle two matrices.
 */
export async function uploadTransposedStack(ctx: GpuContext, mats: readonly { data: WeightData; rows: number }[], cols: number, format: WeightFormat, opts: UploadOptions = {}): Promise<TransposedWeightTensor> {
  const fn = 'uploadTransposedStack';
  if (mats.length < 1) throw new KernelArgumentError(fn, 'needs at least one matrix');
  const chunk = ELEMENTS_PER_16_BYTES[format];
  const segments: TransposedSegment[] = [];
  let offset = 0;
  let firstRow = 0;
  for (const m of mats) {
    checkData(fn, m.data, m.rows, cols);
    segments.push({ firstRow, rows: m.rows, offset });
    firstRow += m.rows;
    offset += roundUp(m.rows, chunk);
  }
  const stride = offset;
  const rowBytes = stride * (format === 'f32' ? 4 : 2);
  const maxShardBytes = Math.min(opts.maxShardBytes ?? ctx.maxBindingSize, ctx.maxBindingSize);
  const colsPerShard = Math.floor(maxShardBytes / rowBytes);
  const label = opts.label ?? 'weightsT';
  if (colsPerShard < 1) {
    throw new KernelArgumentError(fn, `${label}: one stored row (${rowBytes} bytes) exceeds the ${maxShardBytes}-byte binding limit`);
  }
  const shards: TransposedShard[] = [];
  try {
    for (let first = 0; first < cols; first += colsPerShard) {
      const n = Math.min(colsPerShard, cols - first);
      const buffer = await createBufferChecked(ctx.device, {
        label: `${label}[${shards.length}]`, size: n * rowBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true,
      });
      shards.push({ buffer, firstCol: first, cols: n });
      // Transposed in ordinary memory, then copied in one go: the mapped range may be write-combined
      // device memory (NVIDIA), where the transposition's scattered stores are very slow.
      const dst = format === 'f32' ? new Float32Array(n * rowBytes / 4) : new Uint16Array(n * rowBytes / 2);
      mats.forEach((m, s) => transposeInto(dst, segments[s]!.offset, stride, m.data, m.rows, cols, first, n));
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(dst.buffer));
      buffer.unmap();
    }
  } catch (e) {
    for (const s of shards) s.buffer.destroy();
    throw e;
  }
  return { format, rows: firstRow, cols, rowStride: stride, shards, segments };
}

export function destroyTransposed(w: TransposedWeightTensor): void {
  for (const s of w.shards) s.buffer.destroy();
}

/** dst[(j − first)·stride + at + r] = src[r·cols + j] for j in [first, first + n), r < rows; in 32×32 blocks for the caches. */
function transposeInto(dst: Float32Array | Uint16Array, at: number, stride: number, src: WeightData, rows: number, cols: number, first: number, n: number): void {
  const B = 32;
  const same = (dst instanceof Float32Array) === (src instanceof Float32Array);
  const toF32 = dst instanceof Float32Array;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(r0 + B, rows);
    for (let j0 = first; j0 < first + n; j0 += B) {
      const j1 = Math.min(j0 + B, first + n);
      for (let r = r0; r < r1; r++) {
        const s = r * cols;
        for (let j = j0; j < j1; j++) {
          const v = src[s + j]!;
          dst[(j - first) * stride + at + r] = same ? v : toF32 ? f16ToF32(v) : f32ToF16(v);
        }
      }
    }
  }
}
