// sparse_gemv: y = Σ_{j : |x_j| > τ_j} x_j · W[:, j] for one token (WAS / TEAL activation sparsity): the
// weights of a skipped input channel are never read, so time falls with the fraction s skipped.
// Over Wᵀ (weights.ts uploadTransposedStack: stored row j = column j of W), each segment (q|k|v, gate|up)
// with its own τ vector. Fusions as in gemv: RMSNorm of x first (norm; the threshold applies to the normed
// x), SwiGLU of a gate|up buffer first (swiglu), and y += (accumulate). Two forms, measured by bench/sparse.ts:
//   split (default): workgroups own (output tile, K-chunk of kChunk channels), partials go to scratch and
//     a second dispatch sums them into y; enough workgroups to fill the GPU at any shape. (Summing them in
//     the same dispatch — by each tile's last workgroup, or by compare-and-swap float adds into y — was
//     measured slower on the H200: BENCHMARKS.md.) With `leavePartials` the second dispatch is skipped
//     and the next op sums the partials as it reads them (SplitKPartials: rope, or sparse_gemv's xPartials).
//   kChunk 'none': a workgroup walks all channels for its tile; one dispatch per shard, no scratch.
// Without tau the op is dense (the DENSE shader variant: no test, no compaction): the engine's dense mode
// runs it over the same Wᵀ. stats: active channels per segment, counted on the GPU (the measured
// skipped-weight fraction). Quantized Wᵀ (Q8_0/Q4_0: quant.ts; Q4_K/Q5_K/Q6_K, mixed per segment:
// kquant.ts) is read as stored, the codes of each 32-channel group summed before its scales are applied.
import sparseGemvWGSL from '../../shaders/sparse_gemv.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, checkPow2, grid, pipelineFor, renderWGSL, roundUp, UniformWriter, type PreparedOp } from './pipeline.js';
import { K_KIND, type KQuantTransposed } from './kquant.js';
import type { QuantTransposed } from './quant.js';
import type { TransposedWeightTensor } from './weights.js';
import { KernelArgumentError } from '../errors.js';

/** Wᵀ in any stored format: f32, packed f16, Q8_0/Q4_0 codes with their scale table (quant.ts), or K-quants (kquant.ts). */
export type SparseWeights = TransposedWeightTensor | QuantTransposed | KQuantTransposed;

/** Outputs one invocation computes (one 16-byte chunk of f32/f16, 8 codes of Q8_0/Q4_0/K-quants). */
function outputsPerChunk(W: SparseWeights): number {
  return W.format === 'f32' ? 4 : 8;
}

function isQuant(W: SparseWeights): W is QuantTransposed | KQuantTransposed {
  return W.format === 'q8_0' || W.format === 'q4_0' || W.format === 'kquant';
}

export interface SparseGemvOptions {
  /** Wᵀ from uploadTransposed / uploadTransposedStack. */
  weights: SparseWeights;
  /** Input vector: x[xOffset .. xOffset + cols). Not with xPartials. */
  x?: GPUBuffer;
  xOffset?: number;
  /**
   * Thresholds (segments × cols) f32: channel j is skipped for segment s when |x'_j| ≤ tau[s·cols + j].
   * Left out: dense (every channel read; a shader without the test and the compaction).
   */
  tau?: GPUBuffer;
  /** Output: y[yOffset + r] for r < weights.rows (segments in order). Not x's or tau's buffer. Not with leavePartials. */
  y?: GPUBuffer;
  yOffset?: number;
  /** y += instead of y = (the residual add). */
  accumulate?: boolean;
  /** RMSNorm x first, x' = x / rms(x) · weight (cols f32), then threshold x'. */
  norm?: { weight: GPUBuffer; eps: number };
  /** Input channels per workgroup (split-K), or 'none': one workgroup walks all. Default: see defaultKChunk. */
  kChunk?: number | 'none';
  /** x' = silu(gate)·up: x holds gate at xOffset and up at xOffset + upOffset (cols each). Not with norm. */
  swiglu?: { upOffset?: number };
  /** Add each segment's active-channel count to stats[slot + segment] (u32 counters, never reset by the op). Needs tau. */
  stats?: { buffer: GPUBuffer; slot: number };
  /** 16-byte chunks of outputs per workgroup (power of two ≤ workgroupSize; default 64 split, 8 'none'). */
  tileChunks?: number;
  /**
   * How each workgroup sums x² for the fused RMSNorm: 'loop' (a loop over x), 'unrolled' (a constant
   * trip count, all loads in flight), 'vec4' (unrolled 16-byte loads; needs xOffset and cols multiples of
   * 4, else 'unrolled'; the default). On the H200 at 12288×4096 and 22016×4096 f16 the loop cost
   * 5.4–5.9 µs over no norm, 'unrolled' 2.0–4.1, 'vec4' 1.2–2.4 (BENCHMARKS.md).
   */
  normPrologue?: 'loop' | 'unrolled' | 'vec4';
  /** Invocations per workgroup (power of two, default 256). */
  workgroupSize?: number;
  /** Stored rows each invocation has in flight per loop trip (1..8, default 4). */
  unroll?: number;
  /** Channels tested and compacted per round (default min(kChunk, 1024), rounded up to 32). */
  piece?: number;
  /** Reduce: vec4s of output per workgroup (power of two ≤ workgroupSize, default 16). */
  reduceChunks?: number;
  /**
   * Split only: write the partials into this (made by splitKPartials for these weights and kChunk) and
   * skip the reduce dispatch; the next op sums them (rope's `partials`, or sparse_gemv's `xPartials`).
   * y is then not written.
   */
  leavePartials?: SplitKPartials;
  /**
   * The input is another op's partials instead of x: x'_i = Σ_{k < chunks} buffer[k·rowElems +
   * segmentOffsets[0] + i] (with swiglu, up is segment 1). `x` and `xOffset` are then left out. Not with norm.
   */
  xPartials?: SplitKPartials;
  /** Split partials, at least scratchBytes(weights, kChunk) bytes, STORAGE; shareable by ops run one after another. Default: the op makes its own. */
  scratch?: GPUBuffer;
  label?: string;
}

export interface SparseGemvShape {
  WG: number;
  TILE: number;
  UNROLL: number;
  PIECE: number;
  NSEG: number;
  F16: boolean;
  Q8: boolean;
  Q4: boolean;
  /** K-quants (the format per segment). */
  KQ: boolean;
  /** Codes as a 4-bit plane (Q4_0, K-quants). */
  NIB: boolean;
  /** Grouped scales: Q8_0, Q4_0, K-quants. */
  QUANT: boolean;
  /** 8 outputs per invocation (f16, Q8_0, Q4_0, K-quants). */
  WIDE: boolean;
  PRE_NORM: boolean;
  ACCUMULATE: boolean;
  SWIGLU: boolean;
  STATS: boolean;
  SPLIT: boolean;
  /** Channels per K-chunk (0 when !SPLIT). */
  KC: number;
  /** Reduce vec4s per workgroup (0 when !SPLIT). */
  R_CHUNKS: number;
  /** Σx² prologue loads per invocation when unrolled (0: a loop). */
  NORM_PER: number;
  /** The prologue reads x as vec4s (binding 9). */
  NORM_VEC4: boolean;
  /** x holds partial vectors to sum (xPartials). */
  X_PARTIALS: boolean;
  /** How many (xPartials.chunks; 0 without). */
  IN_CHUNKS: number;
  /** No τ: every channel is read, without the test and the compaction. */
  DENSE: boolean;
}

/**
 * The split-K contract between a split op that leaves its partials (leavePartials) and the op that sums
 * them as it reads them (rope's partials, sparse_gemv's xPartials): output r of segment s of the
 * producer is Σ_{k < chunks} buffer[k·rowElems + segmentOffsets[s] + r] (f32 elements).
 */
export interface SplitKPartials {
  readonly buffer: GPUBuffer;
  /** Partial vectors (K-chunks over all shards). */
  readonly chunks: number;
  /** Elements from one partial vector to the next (the stored row, padding included). */
  readonly rowElems: number;
  /** Element of each segment's first output within a partial vector. */
  readonly segmentOffsets: readonly number[];
}

/** The partials a split op over W with `kChunk` leaves in `scratch` (at least scratchBytes(W, kChunk)). */
export function splitKPartials(W: SparseWeights, scratch: GPUBuffer, kChunk = defaultKChunk(W)): SplitKPartials {
  checkBuffer('splitKPartials', 'scratch', scratch, scratchBytes(W, kChunk));
  return { buffer: scratch, chunks: kChunks(W, kChunk), rowElems: W.rowStride, segmentOffsets: W.segments.map((s) => s.offset) };
}

export function wgsl(shape: SparseGemvShape): string {
  return renderWGSL('sparse_gemv', sparseGemvWGSL, { ...shape });
}

/** Output tiles of `tileChunks` chunks: each segment's chunks rounded up to whole tiles (a tile never spans two). */
export function tileCount(W: SparseWeights, tileChunks: number): number {
  const chunk = outputsPerChunk(W);
  return W.segments.reduce((n, s) => n + Math.ceil(Math.ceil(s.rows / chunk) / tileChunks), 0);
}

/**
 * Default K-chunk: 256 input channels per workgroup, the fastest split on the H200 at every 7B shape
 * measured (BENCHMARKS.md, sparse GEMV; fewer means more partials to sum, more means fewer workgroups);
 * for fewer than 256 channels, cols rounded up to a power of two, at least 64.
 */
/** What the split-K sizes depend on: input channels, the stored row and the shards' channels (the memory planner passes a layout). */
export type SplitGeometry = Pick<SparseWeights, 'cols' | 'rowStride'> & { shards: readonly { cols: number }[] };

export function defaultKChunk(W: Pick<SparseWeights, 'cols'>): number {
  return Math.min(256, Math.max(64, 2 ** Math.ceil(Math.log2(W.cols))));
}

/** K-chunks over all shards (a chunk never spans two shards). */
export function kChunks(W: SplitGeometry, kChunk: number): number {
  return W.shards.reduce((n, s) => n + Math.ceil(s.cols / kChunk), 0);
}

/** Bytes of split scratch: one f32 partial per (K-chunk, stored-row element). */
export function scratchBytes(W: SplitGeometry, kChunk: number): number {
  return kChunks(W, kChunk) * W.rowStride * 4;
}

/** The input binding, after checking that x, xPartials, swiglu, norm and stats go together. */
function resolveInput(label: string, opts: SparseGemvOptions): { x: GPUBuffer; xOffset: number; upOffset: number } {
  const { xPartials, swiglu, norm } = opts;
  if (!opts.x === !xPartials) throw new KernelArgumentError(label, 'give x or xPartials (one of them)');
  if (xPartials && opts.xOffset !== undefined) throw new KernelArgumentError(label, 'xPartials sets the input offset (its segmentOffsets[0]): leave xOffset out');
  if (opts.stats && !opts.tau) throw new KernelArgumentError(label, 'stats count active channels: they need tau');
  if (swiglu && norm) throw new KernelArgumentError(label, 'swiglu and norm cannot be combined');
  if (xPartials && norm) throw new KernelArgumentError(label, 'xPartials and norm cannot be combined (the norm needs the summed x first)');
  if (xPartials && !(Number.isInteger(xPartials.chunks) && xPartials.chunks >= 1 && Number.isInteger(xPartials.rowElems) && xPartials.rowElems >= 0)) {
    throw new KernelArgumentError(label, `xPartials needs integer chunks ≥ 1 and rowElems ≥ 0, got ${JSON.stringify({ ...xPartials, buffer: undefined })}`);
  }
  // With xPartials, swiglu's up half is the producer's second segment.
  if (xPartials && swiglu && (xPartials.segmentOffsets.length !== 2 || swiglu.upOffset !== undefined)) {
    throw new KernelArgumentError(label, 'swiglu over xPartials needs a gate|up producer (two segments) and no upOffset (segment 1 is up)');
  }
  const upOffset = !swiglu ? 0 : xPartials ? xPartials.segmentOffsets[1]! - xPartials.segmentOffsets[0]! : swiglu.upOffset ?? -1;
  if (swiglu && !(Number.isInteger(upOffset) && upOffset >= 0)) throw new KernelArgumentError(label, `swiglu.upOffset must be a non-negative integer, got ${swiglu.upOffset}`);
  return { x: opts.x ?? xPartials!.buffer, xOffset: xPartials ? xPartials.segmentOffsets[0]! : opts.xOffset ?? 0, upOffset };
}

/** The shader's shape (without ACCUMULATE) from the weights and the tuning, checked against the device. */
function resolveShape(ctx: GpuContext, label: string, opts: SparseGemvOptions, xOffset: number): Omit<SparseGemvShape, 'ACCUMULATE'> {
  const { weights: W, norm } = opts;
  const chunk = outputsPerChunk(W);
  const QUANT = isQuant(W);
  const SPLIT = opts.kChunk !== 'none';
  if (opts.leavePartials && !SPLIT) throw new KernelArgumentError(label, "leavePartials needs a split op (kChunk is 'none')");
  const WG = opts.workgroupSize ?? 256;
  const KC = SPLIT ? (opts.kChunk as number | undefined) ?? defaultKChunk(W) : 0;
  // 64 chunks a tile, or 32 where that leaves under 256 workgroups (4096×4096: 128 → 256, 13.1 → 11.7 µs
  // at s = 0.6 in f16 on the H200, BENCHMARKS.md).
  const TILE = opts.tileChunks ?? (!SPLIT ? 8 : Number.isInteger(KC) && KC > 0 && tileCount(W, 64) * kChunks(W, KC) < 256 ? 32 : 64);
  const UNROLL = opts.unroll ?? 4;
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  checkPow2(label, 'tileChunks', TILE, WG);
  if (!Number.isInteger(UNROLL) || UNROLL < 1 || UNROLL > 8) throw new KernelArgumentError(label, `unroll must be 1..8, got ${UNROLL}`);
  if (SPLIT && (!Number.isInteger(KC) || KC < 1)) throw new KernelArgumentError(label, `kChunk must be a positive integer or 'none', got ${KC}`);
  const span = SPLIT ? KC : Math.max(...W.shards.map((s) => s.cols)); // channels one workgroup walks
  const PIECE = roundUp(opts.piece ?? Math.min(span, 1024), 32);
  const R_CHUNKS = SPLIT ? opts.reduceChunks ?? 16 : 0;
  if (SPLIT) checkPow2(label, 'reduceChunks', R_CHUNKS, WG);
  if (QUANT && SPLIT && KC % 32 !== 0) throw new KernelArgumentError(label, `quantized weights need kChunk a multiple of 32 (one scale group), got ${KC}`);
  const KQ = W.format === 'kquant';
  const shared = 4 * (PIECE / 32) * (QUANT ? 2 : 1) + 12 * PIECE + 16 * WG * (chunk === 8 ? 2 : 1);
  if (shared > ctx.limits.maxComputeWorkgroupStorageSize) {
    throw new KernelArgumentError(label, `piece ${PIECE} and workgroupSize ${WG} need ${shared} bytes of workgroup memory, over the device's ${ctx.limits.maxComputeWorkgroupStorageSize}: lower piece`);
  }
  const prologue = norm ? opts.normPrologue ?? 'vec4' : 'loop';
  const NORM_VEC4 = prologue === 'vec4' && xOffset % 4 === 0 && W.cols % 4 === 0;
  return {
    WG, TILE, UNROLL, PIECE, NSEG: W.segments.length, F16: W.format === 'f16', Q8: W.format === 'q8_0', Q4: W.format === 'q4_0', KQ, NIB: KQ || W.format === 'q4_0', QUANT,
    WIDE: chunk === 8, PRE_NORM: !!norm, SWIGLU: !!opts.swiglu, STATS: !!opts.stats, SPLIT, KC, R_CHUNKS,
    NORM_PER: prologue === 'loop' ? 0 : Math.ceil(W.cols / (NORM_VEC4 ? 4 : 1) / WG), NORM_VEC4,
    X_PARTIALS: !!opts.xPartials, IN_CHUNKS: opts.xPartials?.chunks ?? 0, DENSE: !opts.tau,
  };
}

/** Checks the caller's buffers against the weights; returns the split scratch (given, or made and owned). */
function resolveBuffers(ctx: GpuContext, label: string, opts: SparseGemvOptions, input: ReturnType<typeof resolveInput>, nK: number, owned: GPUBuffer[]): GPUBuffer | undefined {
  const { weights: W, tau, y, norm, stats, xPartials, leavePartials } = opts;
  if (!y !== !!leavePartials) throw new KernelArgumentError(label, leavePartials ? 'leavePartials writes no y: leave y out' : 'y is required (or leavePartials)');
  if (input.x === y || (tau && tau === y)) throw new KernelArgumentError(label, 'x and tau must not be the buffer y is in (a writable binding may not alias a read-only one)');
  checkBuffer(label, 'x', input.x, 4 * (input.xOffset + W.cols + input.upOffset + (xPartials ? (xPartials.chunks - 1) * xPartials.rowElems : 0)));
  if (stats) {
    if (!Number.isInteger(stats.slot) || stats.slot < 0) throw new KernelArgumentError(label, `stats.slot must be a non-negative integer, got ${stats.slot}`);
    checkBuffer(label, 'stats.buffer', stats.buffer, 4 * (stats.slot + W.segments.length));
  }
  if (tau) checkBuffer(label, 'tau', tau, 4 * W.segments.length * W.cols);
  if (y) checkBuffer(label, 'y', y, 4 * ((opts.yOffset ?? 0) + W.rows));
  if (norm) checkBuffer(label, 'norm.weight', norm.weight, 4 * W.cols);
  if (opts.kChunk === 'none') return undefined;
  const bytes = nK * W.rowStride * 4;
  if (leavePartials && (leavePartials.chunks !== nK || leavePartials.rowElems !== W.rowStride)) {
    throw new KernelArgumentError(label, `leavePartials was made for other weights or another kChunk (${leavePartials.chunks} chunks of ${leavePartials.rowElems}, here ${nK} of ${W.rowStride})`);
  }
  const given = leavePartials?.buffer ?? opts.scratch;
  if (given) {
    checkBuffer(label, 'scratch', given, bytes);
    return given;
  }
  const scratch = ctx.device.createBuffer({ label: `${label}.scratch`, size: bytes, usage: GPUBufferUsage.STORAGE });
  owned.push(scratch);
  return scratch;
}

export async function prepare(ctx: GpuContext, opts: SparseGemvOptions): Promise<PreparedOp> {
  const { weights: W, tau, y, norm, stats, xPartials, leavePartials } = opts;
  const label = opts.label ?? 'sparse_gemv';
  const input = resolveInput(label, opts);
  const { x, xOffset, upOffset } = input;
  const sh = resolveShape(ctx, label, opts, xOffset);
  const { SPLIT, KC, TILE } = sh;
  const { device } = ctx;
  const owned: GPUBuffer[] = [];
  const nK = SPLIT ? kChunks(W, KC) : 0;
  const scratch = resolveBuffers(ctx, label, opts, input, nK, owned);
  const code = wgsl({ ...sh, ACCUMULATE: !!opts.accumulate });
  const main = await pipelineFor(ctx, 'sparse_gemv', code);
  // Without split-K, shards after the first add to what the first wrote.
  const mainRest = !SPLIT && W.shards.length > 1 ? await pipelineFor(ctx, 'sparse_gemv', wgsl({ ...sh, ACCUMULATE: true })) : main;
  const reduce = SPLIT && !leavePartials ? await pipelineFor(ctx, 'sparse_gemv', code, 'reduce') : undefined;

  const chunk = outputsPerChunk(W);
  const tiles = tileCount(W, TILE);
  const segWords: number[] = [];
  let firstTile = 0;
  for (const s of W.segments) {
    const chunks = Math.ceil(s.rows / chunk);
    segWords.push(firstTile, s.offset / chunk, chunks, s.rows);
    firstTile += Math.ceil(chunks / TILE);
  }
  const paramsFor = (firstCol: number, cols: number, kFirst: number, i: number | string): GPUBuffer => {
    const u = new UniformWriter()
      .u32(W.cols).u32(firstCol).u32(cols).u32(W.rowStride / chunk).u32(xOffset).u32(opts.yOffset ?? 0).u32(tiles).u32(kFirst)
      .u32(nK).f32(norm?.eps ?? 0).u32(upOffset)
      .u32(stats?.slot ?? 0).u32(xPartials?.rowElems ?? 0).u32(W.format === 'kquant' ? W.hRow : 0).u32(0).u32(0); // then seg, on 16 bytes
    for (const v of segWords) u.u32(v);
    if (W.format === 'kquant') for (const s of W.segments) u.u32(s.firstRow).u32(K_KIND[s.format]).u32(s.hOffset).u32(0);
    else for (const s of W.segments) u.u32(s.firstRow).u32(0).u32(0).u32(0);
    const buffer = u.create(device, `${label}.params[${i}]`);
    owned.push(buffer);
    return buffer;
  };
  const bind = (pipeline: GPUComputePipeline, buffers: [number, GPUBuffer][], i: number | string) => device.createBindGroup({
    label: `${label}[${i}]`, layout: pipeline.getBindGroupLayout(0), entries: buffers.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
  });

  const dispatches: { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; size: [number, number] }[] = [];
  let kFirst = 0;
  let firstParams: GPUBuffer | undefined;
  W.shards.forEach((shard, i) => {
    const params = paramsFor(shard.firstCol, shard.cols, kFirst, i);
    firstParams ??= params;
    const pipeline = i === 0 ? main : mainRest;
    const bound: [number, GPUBuffer][] = [[0, params], [1, 'codes' in shard ? shard.codes : shard.buffer], [2, x], SPLIT ? [6, scratch!] : [4, y!]];
    if (tau) bound.push([3, tau]);
    if ('scales' in shard) bound.push([7, shard.scales]);
    if ('supers' in shard) bound.push([10, shard.supers], [11, shard.high]);
    if (norm) bound.push([5, norm.weight]);
    if (sh.NORM_VEC4) bound.push([9, x]);
    if (stats) bound.push([8, stats.buffer]);
    const kHere = SPLIT ? Math.ceil(shard.cols / KC) : 1;
    dispatches.push({ pipeline, bindGroup: bind(pipeline, bound, i), size: grid(ctx, tiles * kHere) });
    kFirst += kHere;
  });
  if (reduce) {
    dispatches.push({
      pipeline: reduce, bindGroup: bind(reduce, [[0, firstParams!], [4, y!], [6, scratch!]], 'reduce'),
      size: grid(ctx, Math.ceil(W.rowStride / 4 / sh.R_CHUNKS)),
    });
  }

  return {
    label,
    ownedBytes: scratch && !opts.scratch && !leavePartials ? scratch.size : 0,
    encode(pass) {
      for (const d of dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.size[0], d.size[1]);
      }
    },
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}
