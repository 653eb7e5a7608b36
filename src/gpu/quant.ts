// Quantized weights on the GPU, bit for bit as GGUF stores them: Q8_0 and Q4_0 group 32 consecutive
// input channels of one output row into a block with one f16 scale d (Q8_0: W = d·q, q an int8;
// Q4_0: W = d·(q − 8), q a 4-bit code). Nothing is re-quantised; the codes and scales are only moved,
// into one of two layouts:
//
// Row-major (qgemv, dense decode): per output row, the codes of its blocks back to back (Q8_0: 32 bytes
// a block, in channel order; Q4_0: 16 bytes a block, GGUF's order — byte j holds channel j in its low
// nibble and j + 16 in its high one), then separately the row's block scales as f16 pairs in u32s.
// Bytes read per weight: 1 + 2/32 (Q8_0), 0.5 + 2/32 (Q4_0).
//
// Input-channel-major (sparse_gemv, WAS decode): stored row k holds input channel k's codes for every
// output — Q8_0: one int8 per output; Q4_0: two outputs per byte (output 2i in the low nibble of byte i,
// 2i + 1 in the high one) — so a skipped channel is one contiguous run never read; the scales sit in a
// table indexed [k / 32][output] (f16), read once per 32-channel group that has an active channel.
// Bytes read per active channel: rows (Q8_0) or rows / 2 (Q4_0), plus 2·rows per active group.
// Stacked matrices (q|k|v, gate|up) start on 8-output boundaries, as packed f16 does; shards split
// the input channels at multiples of 32, so a group never straddles two buffers.
import { createBufferChecked, type GpuContext } from './device.js';
import { maxShard, shardedLayout, shardsOf, stackSegments, type ShardedLayout, type TransposedSegment } from './weights.js';
import { KernelArgumentError } from '../errors.js';

export type QuantFormat = 'q8_0' | 'q4_0';

/** Block bytes in GGUF: the f16 scale, then the codes. */
const BLOCK_BYTES: Record<QuantFormat, number> = { q8_0: 34, q4_0: 18 };
/** Code bytes of one block. */
const CODE_BYTES: Record<QuantFormat, number> = { q8_0: 32, q4_0: 16 };

/** A GGUF Q8_0/Q4_0 matrix: `rows` output rows of cols / 32 blocks each, as in the file. */
export interface QuantSource {
  format: QuantFormat;
  bytes: Uint8Array;
  rows: number;
  cols: number;
}

export interface QuantShard {
  codes: GPUBuffer;
  scales: GPUBuffer;
  firstRow: number;
  rows: number;
}

/** Row-major quantized matrix (qgemv). */
export interface QuantMatrix {
  readonly kind: 'quant';
  readonly format: QuantFormat;
  readonly rows: number;
  readonly cols: number;
  /** u32 words of codes per row (8 per block for Q8_0, 4 for Q4_0: 16-byte aligned rows). */
  readonly codeWords: number;
  /** u32 words of scales per row: ceil(blocks / 2). */
  readonly scaleWords: number;
  readonly shards: readonly QuantShard[];
}

export interface QuantTransposedShard {
  codes: GPUBuffer;
  scales: GPUBuffer;
  /** First input channel held: a multiple of 32. */
  firstCol: number;
  cols: number;
}

/** Input-channel-major quantized tensor (sparse_gemv). */
export interface QuantTransposed {
  readonly format: QuantFormat;
  readonly rows: number;
  readonly cols: number;
  /** Outputs per stored row: the segments, each padded to 8 outputs. */
  readonly rowStride: number;
  readonly shards: readonly QuantTransposedShard[];
  readonly segments: readonly TransposedSegment[];
}

export function isQuantFormat(f: string): f is QuantFormat {
  return f === 'q8_0' || f === 'q4_0';
}

function checkSource(fn: string, m: QuantSource, cols?: number): void {
  if (!isQuantFormat(m.format)) throw new KernelArgumentError(fn, `format must be q8_0 or q4_0, got ${String(m.format)}`);
  if (!Number.isInteger(m.rows) || m.rows < 1 || !Number.isInteger(m.cols) || m.cols < 32 || m.cols % 32 !== 0) {
    throw new KernelArgumentError(fn, `quantized matrices need rows ≥ 1 and cols a positive multiple of 32, got ${m.rows}×${m.cols}`);
  }
  if (cols !== undefined && m.cols !== cols) throw new KernelArgumentError(fn, `stacked matrices need the same cols, got ${m.cols} and ${cols}`);
  const need = m.rows * (m.cols / 32) * BLOCK_BYTES[m.format];
  if (m.bytes.byteLength < need) throw new KernelArgumentError(fn, `${m.rows}×${m.cols} ${m.format} needs ${need} bytes, got ${m.bytes.byteLength}`);
}

/** Uploads a Q8_0/Q4_0 matrix in the row-major layout, sharded by rows to the binding limit. */
export async function uploadQuantMatrix(ctx: GpuContext, m: QuantSource, opts: { label?: string; maxShardBytes?: number } = {}): Promise<QuantMatrix> {
  const fn = 'uploadQuantMatrix';
  checkSource(fn, m);
  const { format, rows, cols, bytes } = m;
  const blocks = cols / 32;
  const L = quantMatrixLayout(format, rows, cols, maxShard(ctx, opts.maxShardBytes));
  const { codeBytes, scaleWords } = L;
  const label = opts.label ?? 'qweights';
  const shards: QuantShard[] = [];
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  try {
    for (const { first, count: n, buffers: [codeSize, scaleSize] } of shardsOf(fn, label, L)) {
      const codes = await createBufferChecked(ctx.device, { label: `${label}.codes[${shards.length}]`, size: codeSize!, usage, mappedAtCreation: true });
      const scales = await createBufferChecked(ctx.device, { label: `${label}.scales[${shards.length}]`, size: scaleSize!, usage, mappedAtCreation: true });
      shards.push({ codes, scales, firstRow: first, rows: n });
      const c = new Uint8Array(codes.getMappedRange());
      const s = new Uint16Array(scales.getMappedRange());
      const B = BLOCK_BYTES[format];
      const C = CODE_BYTES[format];
      for (let r = 0; r < n; r++) {
        for (let b = 0; b < blocks; b++) {
          const at = ((first + r) * blocks + b) * B;
          s[r * 2 * scaleWords + b] = bytes[at]! | (bytes[at + 1]! << 8);
          c.set(bytes.subarray(at + 2, at + 2 + C), r * codeBytes + b * C);
        }
      }
      codes.unmap();
      scales.unmap();
    }
  } catch (e) {
    for (const sh of shards) { sh.codes.destroy(); sh.scales.destroy(); }
    throw e;
  }
  return { kind: 'quant', format, rows, cols, codeWords: codeBytes / 4, scaleWords, shards };
}

/** The row-major layout: per shard of output rows, a codes buffer and a scales buffer. */
export function quantMatrixLayout(format: QuantFormat, rows: number, cols: number, maxShardBytes: number): ShardedLayout & { codeBytes: number; scaleWords: number } {
  const blocks = cols / 32;
  const codeBytes = blocks * CODE_BYTES[format];
  const scaleWords = Math.ceil(blocks / 2);
  return { ...shardedLayout(rows, 'one row', codeBytes, 1, maxShardBytes, (n) => [n * codeBytes, n * scaleWords * 4]), codeBytes, scaleWords };
}

/** The input-channel-major layout of stacked matrices: segments on 8 outputs; per shard of 32-channel groups, codes and scales. */
export function quantTransposedLayout(format: QuantFormat, rows: readonly number[], cols: number, maxShardBytes: number):
  ShardedLayout & { segments: TransposedSegment[]; rowStride: number; rows: number; codeRow: number } {
  const { segments, offset, firstRow } = stackSegments(rows, 8);
  const codeRow = tCodeRowBytes(format, offset);
  const L = shardedLayout(cols, 'a group of 32 stored rows', 32 * codeRow, 32, maxShardBytes, (n) => [n * codeRow, (n / 32) * offset * 2]);
  return { ...L, segments, rowStride: offset, rows: firstRow, codeRow };
}

export function destroyQuant(w: QuantMatrix | QuantTransposed): void {
  for (const s of w.shards) { s.codes.destroy(); s.scales.destroy(); }
}

/** Bytes of one stored row (one input channel) of codes in the input-channel-major layout. */
function tCodeRowBytes(format: QuantFormat, rowStride: number): number {
  return format === 'q8_0' ? rowStride : rowStride / 2;
}

/**
 * Uploads quantized matrices with the same cols stacked along the outputs (q|k|v, gate|up) in the
 * input-channel-major layout; the input channels are sharded at multiples of 32.
 */
export async function uploadQuantTransposedStack(ctx: GpuContext, mats: readonly QuantSource[], opts: { label?: string; maxShardBytes?: number } = {}): Promise<QuantTransposed> {
  const fn = 'uploadQuantTransposedStack';
  if (mats.length < 1) throw new KernelArgumentError(fn, 'needs at least one matrix');
  const format = mats[0]!.format;
  const cols = mats[0]!.cols;
  for (const m of mats) {
    checkSource(fn, m, cols);
    if (m.format !== format) throw new KernelArgumentError(fn, `stacked matrices need one format, got ${format} and ${m.format}`);
  }
  const L = quantTransposedLayout(format, mats.map((m) => m.rows), cols, maxShard(ctx, opts.maxShardBytes));
  const { segments, rowStride, codeRow, rows: firstRow } = L;
  const label = opts.label ?? 'qweightsT';
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const shards: QuantTransposedShard[] = [];
  try {
    for (const { first, count: n, buffers: [codeSize, scaleSize] } of shardsOf(fn, label, L)) {
      const groups = n / 32;
      const codes = await createBufferChecked(ctx.device, { label: `${label}.codes[${shards.length}]`, size: codeSize!, usage, mappedAtCreation: true });
      const scales = await createBufferChecked(ctx.device, { label: `${label}.scales[${shards.length}]`, size: scaleSize!, usage, mappedAtCreation: true });
      shards.push({ codes, scales, firstCol: first, cols: n });
      // Built in ordinary memory, then copied in one go: the mapped range may be write-combined device
      // memory (NVIDIA), where reading back the nibble being merged takes minutes for a 7B layer.
      const c = new Uint8Array(n * codeRow);
      const s = new Uint16Array(groups * rowStride);
      mats.forEach((m, si) => transposeBlocks(m, segments[si]!.offset, first / 32, groups, rowStride, codeRow, c, s));
      new Uint8Array(codes.getMappedRange()).set(c);
      new Uint16Array(scales.getMappedRange()).set(s);
      codes.unmap();
      scales.unmap();
    }
  } catch (e) {
    for (const sh of shards) { sh.codes.destroy(); sh.scales.destroy(); }
    throw e;
  }
  return { format, rows: firstRow, cols, rowStride, shards, segments };
}

/**
 * Groups g0 .. g0 + groups of matrix m into one shard: the codes of channel 32g + j for outputs
 * `offset + o` into stored row (g − g0)·32 + j, the scales into table row g − g0. Outputs go in tiles
 * of 64, so reads (strided by a row of blocks) and writes (strided by a stored row) stay in cache.
 */
function transposeBlocks(m: QuantSource, offset: number, g0: number, groups: number, rowStride: number, codeRow: number,
  codes: Uint8Array, scales: Uint16Array): void {
  const B = BLOCK_BYTES[m.format];
  const blocks = m.cols / 32;
  const src = m.bytes;
  for (let g = 0; g < groups; g++) {
    for (let o0 = 0; o0 < m.rows; o0 += 64) {
      const o1 = Math.min(o0 + 64, m.rows);
      for (let o = o0; o < o1; o++) {
        const at = (o * blocks + g0 + g) * B;
        scales[g * rowStride + offset + o] = src[at]! | (src[at + 1]! << 8);
      }
      if (m.format === 'q8_0') {
        for (let j = 0; j < 32; j++) {
          const row = (g * 32 + j) * codeRow + offset;
          for (let o = o0; o < o1; o++) codes[row + o] = src[(o * blocks + g0 + g) * B + 2 + j]!;
        }
      } else {
        // Output 2i in the low nibble of byte i, 2i + 1 in the high one (offset is a multiple of 8).
        for (let j = 0; j < 32; j++) {
          const row = (g * 32 + j) * codeRow + offset / 2;
          const byteOf = 2 + (j & 15);
          const shift = j < 16 ? 0 : 4;
          for (let o = o0; o < o1; o++) {
            const q = (src[(o * blocks + g0 + g) * B + byteOf]! >> shift) & 15;
            const i = row + (o >> 1);
            codes[i] = (o & 1) ? codes[i]! | (q << 4) : q;
          }
        }
      }
    }
  }
}
