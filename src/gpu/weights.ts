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

/**
 * How an upload splits into buffers, decided before any exists (the uploaders and the memory planner,
 * src/gpu/engine/plan.ts, both read it): per shard its first unit (row, or input channel), how many,
 * and the bytes of each buffer it makes. No shards when one indivisible unit exceeds the binding limit.
 */
export interface ShardedLayout {
  shards: { first: number; count: number; buffers: number[] }[];
  /** The indivisible piece ('one row', 'one stored row', a group of 32 or 256 stored rows) and its bytes. */
  unit: string;
  unitBytes: number;
  maxShardBytes: number;
}

/** `units` in shards of as many whole `step`s of `unitBytes` as fit `maxShardBytes`; `buffers(count)` sizes a shard's buffers. */
export function shardedLayout(units: number, unit: string, unitBytes: number, step: number, maxShardBytes: number, buffers: (count: number) => number[]): ShardedLayout {
  const perShard = step * Math.floor(maxShardBytes / unitBytes);
  const shards: ShardedLayout['shards'] = [];
  if (perShard >= 1) {
    for (let first = 0; first < units; first += perShard) {
      const count = Math.min(perShard, units - first);
      shards.push({ first, count, buffers: buffers(count) });
    }
  }
  return { shards, unit, unitBytes, maxShardBytes };
}

/** The shards of a layout, or a KernelArgumentError naming the piece that fits no binding. */
export function shardsOf(fn: string, label: string, l: ShardedLayout): ShardedLayout['shards'] {
  if (!l.shards.length) throw new KernelArgumentError(fn, `${label}: ${l.unit} (${l.unitBytes} bytes) exceeds the ${l.maxShardBytes}-byte binding limit`);
  return l.shards;
}

/** The largest shard: the limit asked for, within the device's binding limit. */
export function maxShard(ctx: Pick<GpuContext, 'maxBindingSize'>, asked?: number): number {
  return Math.min(asked ?? ctx.maxBindingSize, ctx.maxBindingSize);
}

/** Row-major W(rows, cols) of `matrices` interleaved matrices (1, or 2 for gate-up): one buffer a shard of output rows. */
export function matrixLayout(format: WeightFormat, rows: number, cols: number, matrices: number, maxShardBytes: number): ShardedLayout & { rowStride: number } {
  const stride = rowStride(format, cols);
  const groupBytes = stride * (format === 'f32' ? 4 : 2) * matrices; // one output row: 1 stored row, or 2 for gate-up
  return { ...shardedLayout(rows, 'one row', groupBytes, 1, maxShardBytes, (n) => [n * groupBytes]), rowStride: stride };
}

async function upload(ctx: GpuContext, sources: WeightData[], rows: number, cols: number, format: WeightFormat, layout: WeightLayout, opts: UploadOptions): Promise<WeightTensor> {
  const L = matrixLayout(format, rows, cols, sources.length, maxShard(ctx, opts.maxShardBytes));
  const stride = L.rowStride;
  const label = opts.label ?? 'weights';
  const shards: WeightShard[] = [];
  try {
    for (const { first, count: n, buffers: [size] } of shardsOf('upload', label, L)) {
      const buffer = await createBufferChecked(ctx.device, {
        label: `${label}[${shards.length}]`, size: size!, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true,
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
  for (const m of mats) checkData(fn, m.data, m.rows, cols);
  const L = transposedLayout(format, mats.map((m) => m.rows), cols, maxShard(ctx, opts.maxShardBytes));
  const { segments, rowStride: stride, rows: firstRow } = L;
  const rowBytes = stride * (format === 'f32' ? 4 : 2);
  const label = opts.label ?? 'weightsT';
  const shards: TransposedShard[] = [];
  try {
    for (const { first, count: n, buffers: [size] } of shardsOf(fn, label, L)) {
      const buffer = await createBufferChecked(ctx.device, {
        label: `${label}[${shards.length}]`, size: size!, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true,
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

/** Matrices of `rows` outputs each, stacked: each segment starts on a multiple of `align` outputs. */
export function stackSegments(rows: readonly number[], align: number): { segments: TransposedSegment[]; offset: number; firstRow: number } {
  const segments: TransposedSegment[] = [];
  let offset = 0;
  let firstRow = 0;
  for (const r of rows) {
    segments.push({ firstRow, rows: r, offset });
    firstRow += r;
    offset += roundUp(r, align);
  }
  return { segments, offset, firstRow };
}

/** Wᵀ of matrices of `rows` outputs each, stacked: segments on 16-byte chunks, one buffer a shard of input channels. */
export function transposedLayout(format: WeightFormat, rows: readonly number[], cols: number, maxShardBytes: number):
  ShardedLayout & { segments: TransposedSegment[]; rowStride: number; rows: number } {
  const { segments, offset, firstRow } = stackSegments(rows, ELEMENTS_PER_16_BYTES[format]);
  const rowBytes = offset * (format === 'f32' ? 4 : 2);
  return { ...shardedLayout(cols, 'one stored row', rowBytes, 1, maxShardBytes, (n) => [n * rowBytes]), segments, rowStride: offset, rows: firstRow };
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
