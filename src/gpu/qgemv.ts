// qgemv: y = W·x for one token over a Q8_0 / Q4_0 matrix kept quantized (quant.ts row-major layout):
// the dense decode GEMV of quantized models, f32 accumulation, no shader-f16 needed. Fusions as in
// gemv: RMSNorm of x first (norm) and y += W·x (accumulate). One dispatch per shard. Also reads
// K-quants (Q4_K, Q5_K, Q6_K) in kquant.ts's row-major layout, in 32-channel blocks like Q4_0's.
import qgemvWGSL from '../../shaders/qgemv.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, checkPow2, dispatchOp, entries, grid, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import { K_KIND, type KQuantMatrix } from './kquant.js';
import type { QuantMatrix } from './quant.js';
import { KernelArgumentError } from '../errors.js';

export interface QgemvOptions {
  weights: QuantMatrix | KQuantMatrix;
  /** Input vector: x[xOffset .. xOffset + cols), xOffset a multiple of 4. */
  x: GPUBuffer;
  xOffset?: number;
  /** Output: y[yOffset + r] for r < weights.rows. Must not be the buffer x is in. */
  y: GPUBuffer;
  yOffset?: number;
  norm?: { weight: GPUBuffer; eps: number };
  accumulate?: boolean;
  /** Invocations per workgroup (power of two; default 256 with 64 lanes a row group, else 128). */
  workgroupSize?: number;
  /**
   * Invocations per group of rows (power of two ≤ workgroupSize). Default: 64 for matrices of
   * < 8192 rows and ≥ 64 blocks a row (more lane groups in flight: 4096×4096 Q4_0 14.2 µs against
   * 18.3 with 32 lanes on the H200), 32 otherwise (11008×4096: 27.6 against 29.7), fewer for short rows.
   */
  lanesPerRow?: number;
  /** Rows each group of lanes computes, sharing its loads of x (1..8, default 4). */
  rowsPerGroup?: number;
  label?: string;
}

/** The tuning knobs of qgemv, for engines and benchmarks to pass through. */
export type QgemvTuning = Pick<QgemvOptions, 'workgroupSize' | 'lanesPerRow' | 'rowsPerGroup'>;

export interface QgemvShape {
  WG: number;
  LANES: number;
  R: number;
  Q8: boolean;
  /** K-quant: KIND 0 Q4_K, 1 Q5_K, 2 Q6_K; KOFF its code offset (32 for Q6_K). */
  KQ: boolean;
  KIND: number;
  KOFF: number;
  PRE_NORM: boolean;
  ACCUMULATE: boolean;
}

export function wgsl(shape: QgemvShape): string {
  // KIND and KOFF exist only in the K-quant shader: left out of the others' text and key.
  const { KIND, KOFF, ...rest } = shape;
  return renderWGSL('qgemv', qgemvWGSL, shape.KQ ? { ...rest, KIND, KOFF } : rest);
}

export async function prepare(ctx: GpuContext, opts: QgemvOptions): Promise<PreparedOp> {
  const { weights: W, x, y, norm } = opts;
  const label = opts.label ?? 'qgemv';
  const xOffset = opts.xOffset ?? 0;
  const yOffset = opts.yOffset ?? 0;
  const blocks = W.cols / 32;
  const wide = W.rows < 8192 && blocks >= 64;
  const WG = opts.workgroupSize ?? (wide ? 256 : 128);
  const LANES = opts.lanesPerRow ?? Math.min(WG, wide ? 64 : blocks >= 32 ? 32 : blocks >= 8 ? 8 : 2);
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  checkPow2(label, 'lanesPerRow', LANES, WG);
  if (xOffset % 4 !== 0) throw new KernelArgumentError(label, `xOffset must be a multiple of 4, got ${xOffset}`);
  if (x === y) throw new KernelArgumentError(label, 'x and y must be different buffers');
  checkBuffer(label, 'x', x, 4 * (xOffset + W.cols));
  checkBuffer(label, 'y', y, 4 * (yOffset + W.rows));
  if (norm) checkBuffer(label, 'norm.weight', norm.weight, 4 * W.cols);
  const R = opts.rowsPerGroup ?? 4;
  if (!Number.isInteger(R) || R < 1 || R > 8) throw new KernelArgumentError(label, `rowsPerGroup must be 1..8, got ${R}`);
  const KQ = W.kind === 'kquant';
  const KIND = KQ ? K_KIND[W.format] : 0;
  const pipeline = await pipelineFor(ctx, 'qgemv', wgsl({ WG, LANES, R, Q8: W.format === 'q8_0', KQ, KIND, KOFF: KIND === 2 ? 32 : 0, PRE_NORM: !!norm, ACCUMULATE: !!opts.accumulate }));
  // u32s per row of each piece (kquant.ts: all follow from cols).
  const words = KQ ? { code: blocks * 4, scale: blocks / 2, high: blocks * KIND, super: blocks / 8 } : { code: W.codeWords, scale: W.scaleWords, high: 0, super: 0 };
  const rowsPerGroup = (WG / LANES) * R;
  const uniforms: GPUBuffer[] = [];
  const dispatches = W.shards.map((shard, i) => {
    const uniform = new UniformWriter()
      .u32(shard.rows).u32(blocks).u32(words.code).u32(words.scale).u32(xOffset).u32(yOffset + shard.firstRow).f32(norm?.eps ?? 0).u32(W.cols)
      .u32(words.high).u32(words.super).u32(0).u32(0)
      .create(ctx.device, `${label}.params[${i}]`);
    uniforms.push(uniform);
    const bound = [uniform, shard.codes, shard.scales, x, y];
    if (norm) bound.push(norm.weight);
    const all = entries(...bound);
    if ('supers' in shard) all.push({ binding: 6, resource: { buffer: shard.high } }, { binding: 7, resource: { buffer: shard.supers } });
    const bindGroup = ctx.device.createBindGroup({ label: `${label}[${i}]`, layout: pipeline.getBindGroupLayout(0), entries: all });
    const [gx, gy] = grid(ctx, Math.ceil(shard.rows / rowsPerGroup));
    return { bindGroup, size: [gx, gy, 1] as const };
  });
  return dispatchOp(label, pipeline, dispatches, uniforms);
}
