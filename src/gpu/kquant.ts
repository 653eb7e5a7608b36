// K-quant weights on the GPU (ggml-common.h block_q4_K, block_q5_K, block_q6_K: super-blocks of 256
// input channels of one output row), kept quantized and repacked losslessly: nothing is re-quantised,
// the integers of a block are only moved. Each format has one repack function (below: a block → its 256
// unsigned codes, a u16 per 32 channels, a u32 per 256) and one WGSL decode (a `kind` in the shaders).
// The four pieces, in both layouts:
//   codes  4 low bits of every code, laid out as Q4_0's (quant.ts) — row-major: per row, 16 bytes per 32
//          channels (byte i: channel i low nibble, i + 16 high); input-major: stored row j = channel j,
//          output 2i in the low nibble of byte i, 2i + 1 in the high one.
//   high   the bits above 4 — Q5_K one (code's 16), Q6_K two (16, 32); Q4_K none. Row-major: per row, a
//          u32 (Q5_K: bit i = channel i) or two (Q6_K: word i / 16, bits 2(i % 16)) per 32 channels;
//          input-major: per stored row, each segment's outputs at its hOffset, 8 outputs a byte (Q5_K)
//          or 4 (Q6_K, bits 2(o % 4)).
//   scales a u16 per (32 channels, output): Q4_K/Q5_K the 6-bit scale sc | 6-bit min m << 8; Q6_K its two
//          int8 scales (channels 0..15 low byte, 16..31 high byte). Row-major [row][32-group], input-major
//          [32-group][output] (Q4_0's scale table geometry: 8 outputs a vec4<u32>).
//   supers a u32 per (256 channels, output): f16 d | f16 dmin << 16 (Q6_K: d). Row-major [row][256-group],
//          input-major [256-group][output].
// The shaders compute d·sc and dmin·m in f32, exactly as ggml does (an f16 times a 6- or 8-bit integer
// is exact in f32), so a weight is ggml's fround(d·sc · q) − dmin·m (Q6_K: d·sc · (q − 32)).
// Bytes per weight: Q4_K 0.578 (file 0.5625), Q5_K 0.703 (0.6875), Q6_K 0.828 (0.8203) — the 6-bit
// sc/m pairs take 16 bits instead of 12, Q6_K's d 32 instead of 16.
// An input-major stack may mix the three (a Q4_K_M file's q|k|v is Q4_K|Q4_K|Q6_K): the format is per
// segment, and a workgroup's tile lies in one segment, so the shader's branch on it is uniform.
import { scaleMinK4 } from '../model/kquant.js';
import { createBufferChecked, type GpuContext } from './device.js';
import { roundUp } from './pipeline.js';
import { maxShard, shardedLayout, shardsOf, type ShardedLayout, type TransposedSegment } from './weights.js';
import { KernelArgumentError } from '../errors.js';

export type KFormat = 'q4_k' | 'q5_k' | 'q6_k';

/** Block bytes in GGUF. */
export const K_BLOCK_BYTES: Record<KFormat, number> = { q4_k: 144, q5_k: 176, q6_k: 210 };
/** The shaders' `kind` of a format: also the bytes of high bits per 8 outputs (input-major) and u32s per 32 channels (row-major). */
export const K_KIND: Record<KFormat, number> = { q4_k: 0, q5_k: 1, q6_k: 2 };

export function isKFormat(f: string): f is KFormat {
  return f === 'q4_k' || f === 'q5_k' || f === 'q6_k';
}

/** A GGUF K-quant matrix: `rows` output rows of cols / 256 blocks each, as in the file. */
export interface KQuantSource {
  format: KFormat;
  bytes: Uint8Array;
  rows: number;
  cols: number;
}

/** The four buffers of a shard (see the layouts above). */
export interface KQuantBuffers {
  codes: GPUBuffer;
  high: GPUBuffer;
  scales: GPUBuffer;
  supers: GPUBuffer;
}

/** Row-major K-quant matrix (qgemv, embedding); every piece's row length follows from cols. */
export interface KQuantMatrix {
  readonly kind: 'kquant';
  readonly format: KFormat;
  readonly rows: number;
  readonly cols: number;
  readonly shards: readonly (KQuantBuffers & { firstRow: number; rows: number })[];
}

export interface KQuantSegment extends TransposedSegment {
  readonly format: KFormat;
  /** Byte of its first high bits in a stored row of the high plane (a multiple of 4). */
  readonly hOffset: number;
}

/** Input-channel-major K-quant stack (sparse_gemv). */
export interface KQuantTransposed {
  readonly format: 'kquant';
  readonly rows: number;
  readonly cols: number;
  /** Outputs per stored row: the segments, each padded to 8 outputs. */
  readonly rowStride: number;
  /** Bytes per stored row of the high plane. */
  readonly hRow: number;
  readonly shards: readonly (KQuantBuffers & { firstCol: number; cols: number })[];
  readonly segments: readonly KQuantSegment[];
}

/** A block's integers: 256 unsigned codes (Q6_K: q + 32), a u16 per 32 channels (8), the u32 returned. */
type Repack = (src: Uint8Array, at: number, codes: Uint8Array, scales: Uint16Array) => number;

/** Q4_K (dequantize_row_q4_K): byte l of 32-byte chunk c holds channel 64c + l (low nibble) and 64c + 32 + l (high). */
function repackQ4K(src: Uint8Array, at: number, codes: Uint8Array, scales: Uint16Array): number {
  for (let j = 0; j < 8; j++) scales[j] = scaleMinK4(src, at + 4, j, 0) | (scaleMinK4(src, at + 4, j, 1) << 8);
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const b = src[at + 16 + 32 * c + l]!;
      codes[64 * c + l] = b & 15;
      codes[64 * c + 32 + l] = b >> 4;
    }
  }
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

/** Q5_K (dequantize_row_q5_K): as Q4_K from byte 48, plus bit 2c (low nibble) or 2c + 1 (high) of qh[l] as 16. */
function repackQ5K(src: Uint8Array, at: number, codes: Uint8Array, scales: Uint16Array): number {
  for (let j = 0; j < 8; j++) scales[j] = scaleMinK4(src, at + 4, j, 0) | (scaleMinK4(src, at + 4, j, 1) << 8);
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) {
      const b = src[at + 48 + 32 * c + l]!;
      const h = src[at + 16 + l]!;
      codes[64 * c + l] = (b & 15) | (((h >> (2 * c)) & 1) << 4);
      codes[64 * c + 32 + l] = (b >> 4) | (((h >> (2 * c + 1)) & 1) << 4);
    }
  }
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

/** Q6_K (dequantize_row_q6_K): channel 128n + 32i + l: low 4 bits in ql[64n + l + 32(i & 1)] (high nibble for i ≥ 2), top 2 at bit 2i of qh[32n + l]. */
function repackQ6K(src: Uint8Array, at: number, codes: Uint8Array, scales: Uint16Array): number {
  for (let j = 0; j < 8; j++) scales[j] = src[at + 192 + 2 * j]! | (src[at + 193 + 2 * j]! << 8);
  for (let n = 0; n < 2; n++) {
    for (let i = 0; i < 4; i++) {
      for (let l = 0; l < 32; l++) {
        const lo = src[at + 64 * n + l + 32 * (i & 1)]!;
        const high = (src[at + 128 + 32 * n + l]! >> (2 * i)) & 3;
        codes[128 * n + 32 * i + l] = (i < 2 ? lo & 15 : lo >> 4) | (high << 4);
      }
    }
  }
  return src[at + 208]! | (src[at + 209]! << 8);
}

const REPACK: Record<KFormat, Repack> = { q4_k: repackQ4K, q5_k: repackQ5K, q6_k: repackQ6K };

function checkSource(fn: string, m: KQuantSource, cols?: number): void {
  if (!isKFormat(m.format)) throw new KernelArgumentError(fn, `format must be q4_k, q5_k or q6_k, got ${String(m.format)}`);
  if (!Number.isInteger(m.rows) || m.rows < 1 || !Number.isInteger(m.cols) || m.cols < 256 || m.cols % 256 !== 0) {
    throw new KernelArgumentError(fn, `K-quant matrices need rows ≥ 1 and cols a positive multiple of 256, got ${m.rows}×${m.cols}`);
  }
  if (cols !== undefined && m.cols !== cols) throw new KernelArgumentError(fn, `stacked matrices need the same cols, got ${m.cols} and ${cols}`);
  const need = m.rows * (m.cols / 256) * K_BLOCK_BYTES[m.format];
  if (m.bytes.byteLength < need) throw new KernelArgumentError(fn, `${m.rows}×${m.cols} ${m.format} needs ${need} bytes, got ${m.bytes.byteLength}`);
}

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/** A piece's buffer: its bytes rounded up to 4, at least 4 (Q4_K has no high bits). */
const pieceBytes = (bytes: number) => Math.max(4, roundUp(bytes, 4));

/** The four buffers from ordinary memory (built there: a mapped range may be write-combined). Sizes at least 4. */
async function createBuffers(ctx: GpuContext, label: string, data: { codes: Uint8Array; high: Uint8Array; scales: Uint16Array; supers: Uint32Array }, made: KQuantBuffers[]): Promise<KQuantBuffers> {
  const out: Partial<KQuantBuffers> = {};
  const parts = Object.entries(data) as [keyof KQuantBuffers, Uint8Array | Uint16Array | Uint32Array][];
  try {
    for (const [name, a] of parts) {
      const b = await createBufferChecked(ctx.device, { label: `${label}.${name}`, size: pieceBytes(a.byteLength), usage: USAGE(), mappedAtCreation: true });
      out[name] = b;
      new Uint8Array(b.getMappedRange()).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      b.unmap();
    }
  } catch (e) {
    for (const b of Object.values(out)) b.destroy();
    throw e;
  }
  made.push(out as KQuantBuffers);
  return out as KQuantBuffers;
}

export function destroyKQuant(w: KQuantMatrix | KQuantTransposed): void {
  for (const s of w.shards) { s.codes.destroy(); s.high.destroy(); s.scales.destroy(); s.supers.destroy(); }
}

/** GPU bytes of a K-quant matrix or stack. */
export function kquantBytes(w: KQuantMatrix | KQuantTransposed): number {
  return w.shards.reduce((a, s) => a + s.codes.size + s.high.size + s.scales.size + s.supers.size, 0);
}

/** The row-major layout: per shard of output rows, the four pieces (codes, high, scales, supers). */
export function kquantMatrixLayout(format: KFormat, rows: number, cols: number, maxShardBytes: number): ShardedLayout {
  const blocks = cols / 32;
  const codeBytes = blocks * 16; // the largest piece of a row
  return shardedLayout(rows, 'one row', codeBytes, 1, maxShardBytes,
    (n) => [n * codeBytes, n * blocks * K_KIND[format] * 4, n * blocks * 2, n * (cols / 256) * 4].map(pieceBytes));
}

/** The input-channel-major layout of stacked matrices (formats may differ): per shard of 256-channel super-blocks, the four pieces. */
export function kquantTransposedLayout(mats: readonly { format: KFormat; rows: number }[], cols: number, maxShardBytes: number):
  ShardedLayout & { segments: KQuantSegment[]; rowStride: number; hRow: number; codeRow: number; rows: number } {
  const segments: KQuantSegment[] = [];
  let offset = 0;
  let firstRow = 0;
  let hRow = 0;
  for (const m of mats) {
    segments.push({ firstRow, rows: m.rows, offset, format: m.format, hOffset: hRow });
    firstRow += m.rows;
    offset += roundUp(m.rows, 8);
    hRow += roundUp((roundUp(m.rows, 8) / 8) * K_KIND[m.format], 4);
  }
  const codeRow = offset / 2;
  // The codes of one super-block of channels: the largest piece.
  const L = shardedLayout(cols, 'a group of 256 stored rows', 256 * codeRow, 256, maxShardBytes,
    (n) => [n * codeRow, n * hRow, (n / 32) * offset * 2, (n / 256) * offset * 4].map(pieceBytes));
  return { ...L, segments, rowStride: offset, hRow, codeRow, rows: firstRow };
}

/** Uploads a K-quant matrix in the row-major layout, sharded by rows to the binding limit. */
export async function uploadKQuantMatrix(ctx: GpuContext, m: KQuantSource, opts: { label?: string; maxShardBytes?: number } = {}): Promise<KQuantMatrix> {
  const fn = 'uploadKQuantMatrix';
  checkSource(fn, m);
  const { format, rows, cols, bytes } = m;
  const blocks = cols / 32;
  const supers = cols / 256;
  const kind = K_KIND[format];
  const codeBytes = blocks * 16;
  const label = opts.label ?? 'kweights';
  const layout = shardsOf(fn, label, kquantMatrixLayout(format, rows, cols, maxShard(ctx, opts.maxShardBytes)));
  const repack = REPACK[format];
  const B = K_BLOCK_BYTES[format];
  const codes = new Uint8Array(256);
  const tbl = new Uint16Array(8);
  const shards: KQuantMatrix['shards'][number][] = [];
  const made: KQuantBuffers[] = [];
  try {
    for (const { first, count: n } of layout) {
      const c = new Uint8Array(n * codeBytes);
      const h = new Uint32Array(n * blocks * kind);
      const s = new Uint16Array(n * blocks);
      const d = new Uint32Array(n * supers);
      for (let r = 0; r < n; r++) {
        for (let sb = 0; sb < supers; sb++) {
          d[r * supers + sb] = repack(bytes, ((first + r) * supers + sb) * B, codes, tbl);
          for (let g = 0; g < 8; g++) {
            const b = sb * 8 + g; // 32-channel block of the row
            s[r * blocks + b] = tbl[g]!;
            const at = r * codeBytes + b * 16;
            for (let i = 0; i < 16; i++) c[at + i] = (codes[32 * g + i]! & 15) | ((codes[32 * g + 16 + i]! & 15) << 4);
            if (kind === 1) {
              let w = 0;
              for (let i = 0; i < 32; i++) w |= (codes[32 * g + i]! >> 4) << i;
              h[r * blocks + b] = w >>> 0;
            } else if (kind === 2) {
              for (let half = 0; half < 2; half++) {
                let w = 0;
                for (let i = 0; i < 16; i++) w |= (codes[32 * g + 16 * half + i]! >> 4) << (2 * i);
                h[(r * blocks + b) * 2 + half] = w >>> 0;
              }
            }
          }
        }
      }
      const buf = await createBuffers(ctx, `${label}[${shards.length}]`, { codes: c, high: new Uint8Array(h.buffer), scales: s, supers: d }, made);
      shards.push({ ...buf, firstRow: first, rows: n });
    }
  } catch (e) {
    for (const b of made) { b.codes.destroy(); b.high.destroy(); b.scales.destroy(); b.supers.destroy(); }
    throw e;
  }
  return { kind: 'kquant', format, rows, cols, shards };
}

/**
 * Uploads K-quant matrices with the same cols stacked along the outputs (q|k|v, gate|up; formats may
 * differ) in the input-channel-major layout; the input channels are sharded at multiples of 256.
 */
export async function uploadKQuantTransposedStack(ctx: GpuContext, mats: readonly KQuantSource[], opts: { label?: string; maxShardBytes?: number } = {}): Promise<KQuantTransposed> {
  const fn = 'uploadKQuantTransposedStack';
  if (mats.length < 1) throw new KernelArgumentError(fn, 'needs at least one matrix');
  const cols = mats[0]!.cols;
  for (const m of mats) checkSource(fn, m, cols);
  const L = kquantTransposedLayout(mats, cols, maxShard(ctx, opts.maxShardBytes));
  const { segments, rowStride, hRow, codeRow, rows: firstRow } = L;
  const label = opts.label ?? 'kweightsT';
  const shards: KQuantTransposed['shards'][number][] = [];
  const made: KQuantBuffers[] = [];
  try {
    for (const { first, count: n } of shardsOf(fn, label, L)) {
      const data = {
        codes: new Uint8Array(n * codeRow), high: new Uint8Array(n * hRow),
        scales: new Uint16Array((n / 32) * rowStride), supers: new Uint32Array((n / 256) * rowStride),
      };
      mats.forEach((m, i) => transposeBlocks(m, segments[i]!, first / 256, n / 256, rowStride, hRow, data));
      const buf = await createBuffers(ctx, `${label}[${shards.length}]`, data, made);
      shards.push({ ...buf, firstCol: first, cols: n });
    }
  } catch (e) {
    for (const b of made) { b.codes.destroy(); b.high.destroy(); b.scales.destroy(); b.supers.destroy(); }
    throw e;
  }
  return { format: 'kquant', rows: firstRow, cols, rowStride, hRow, shards, segments };
}

/**
 * Super-blocks sb0 .. sb0 + count of matrix m (segment `seg`) into one shard: channel 256(sb − sb0) + e
 * of output o goes to stored row 256(sb − sb0) + e at output slot seg.offset + o; super-block by
 * super-block, so the writes of consecutive outputs stay within 256 stored rows.
 */
function transposeBlocks(m: KQuantSource, seg: KQuantSegment, sb0: number, count: number, rowStride: number, hRow: number,
  out: { codes: Uint8Array; high: Uint8Array; scales: Uint16Array; supers: Uint32Array }): void {
  const repack = REPACK[m.format];
  const kind = K_KIND[m.format];
  const B = K_BLOCK_BYTES[m.format];
  const perRow = m.cols / 256;
  const codeRow = rowStride / 2;
  const codes = new Uint8Array(256);
  const tbl = new Uint16Array(8);
  for (let k = 0; k < count; k++) {
    for (let o = 0; o < m.rows; o++) {
      const slot = seg.offset + o;
      out.supers[k * rowStride + slot] = repack(m.bytes, (o * perRow + sb0 + k) * B, codes, tbl);
      for (let g = 0; g < 8; g++) out.scales[(k * 8 + g) * rowStride + slot] = tbl[g]!;
      const nib = slot >> 1;
      const nibShift = 4 * (slot & 1);
      for (let e = 0; e < 256; e++) {
        const j = k * 256 + e; // stored row in the shard
        const q = codes[e]!;
        out.codes[j * codeRow + nib]! |= (q & 15) << nibShift;
        if (kind === 1) out.high[j * hRow + seg.hOffset + (o >> 3)]! |= (q >> 4) << (o & 7);
        else if (kind === 2) out.high[j * hRow + seg.hOffset + (o >> 2)]! |= (q >> 4) << (2 * (o & 3));
      }
    }
  }
}
