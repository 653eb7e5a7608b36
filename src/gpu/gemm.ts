// gemm: Y(T, rows) = X(T, cols) · Wᵀ for the T tokens of a prefill step, W the same row-major,
// sharded tensor gemv reads. Each workgroup takes a few weight rows × a tile of tokens, so a weight
// chunk comes from memory once per tile, not once per token. Same fusions as gemv (norm, accumulate,
// SwiGLU on a gate-up tensor), per token. T is step.nTokens; dispatches cover step.maxTokens.
import gemmWGSL from '../../shaders/gemm.wgsl';
import type { GpuContext } from './device.js';
import { defaultLanes } from './gemv.js';
import {
  checkBuffer, dispatchOp, checkPow2, entries, grid, pipelineFor, renderWGSL, roundUp, UniformWriter, type PreparedOp,
} from './pipeline.js';
import type { Step } from './step.js';
import { ELEMENTS_PER_16_BYTES, type WeightTensor } from './weights.js';
import { KernelArgumentError } from '../errors.js';

export interface GemmOptions {
  weights: WeightTensor;
  step: Step;
  /** X(T, cols): token t's input at x[xOffset + t·xStride ..], xStride default cols. */
  x: GPUBuffer;
  xOffset?: number;
  xStride?: number;
  /** Y(T, rows): token t's output row r at y[yOffset + t·yStride + r], yStride default rows. */
  y: GPUBuffer;
  yOffset?: number;
  yStride?: number;
  norm?: { weight: GPUBuffer; eps: number };
  accumulate?: boolean;
  nativeF16?: boolean;
  /** Tokens per workgroup (power of two, default 8). */
  tile?: number;
  /** Power of two, default 256; a workgroup holds workgroupSize / (lanesPerRow · tile) rows. */
  workgroupSize?: number;
  /** Invocations per (row, token): default 16, fewer for short rows; lanesPerRow · tile ≤ workgroupSize. */
  lanesPerRow?: number;
  label?: string;
}

export interface GemmShape {
  WG: number;
  LANES: number;
  TILE: number;
  F16: boolean;
  NATIVE_F16: boolean;
  X_VEC4: boolean;
  PRE_NORM: boolean;
  SWIGLU: boolean;
  ACCUMULATE: boolean;
}

export function wgsl(shape: GemmShape): string {
  return renderWGSL('gemm', gemmWGSL, { ...shape });
}

export async function prepare(ctx: GpuContext, opts: GemmOptions): Promise<PreparedOp> {
  const { weights: W, x, y, norm, step } = opts;
  const label = opts.label ?? 'gemm';
  const xOffset = opts.xOffset ?? 0;
  const xStride = opts.xStride ?? W.cols;
  const yOffset = opts.yOffset ?? 0;
  const yStride = opts.yStride ?? W.rows;
  const chunk = ELEMENTS_PER_16_BYTES[W.format];
  const TILE = opts.tile ?? 8;
  const WG = opts.workgroupSize ?? 256;
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  checkPow2(label, 'tile', TILE, WG);
  const LANES = opts.lanesPerRow ?? Math.min(WG / TILE, 16, defaultLanes(W.format, W.cols));
  checkPow2(label, 'lanesPerRow', LANES, WG / TILE);
  if (xStride < W.cols || yStride < W.rows) throw new KernelArgumentError(label, 'xStride ≥ cols and yStride ≥ rows are required');
  if (x === y) throw new KernelArgumentError(label, 'x and y must be different buffers');
  const T = step.maxTokens;
  const X_VEC4 = xOffset % 4 === 0 && xStride % 4 === 0;
  checkBuffer(label, 'x', x, 4 * roundUp(xOffset + (T - 1) * xStride + W.cols, X_VEC4 ? 4 : 1));
  checkBuffer(label, 'y', y, 4 * (yOffset + (T - 1) * yStride + W.rows));
  if (norm) checkBuffer(label, 'norm.weight', norm.weight, 4 * roundUp(W.cols, 4));
  const nativeF16 = W.format === 'f16' && (opts.nativeF16 ?? ctx.features.f16);
  if (nativeF16 && !ctx.features.f16) throw new KernelArgumentError(label, 'nativeF16 needs a device with shader-f16');

  const shape: GemmShape = {
    WG, LANES, TILE, F16: W.format === 'f16', NATIVE_F16: nativeF16, X_VEC4,
    PRE_NORM: !!norm, SWIGLU: W.layout === 'gate-up', ACCUMULATE: !!opts.accumulate,
  };
  const pipeline = await pipelineFor(ctx, 'gemm', wgsl(shape));
  const rowsPerGroup = WG / (LANES * TILE);
  const tiles = Math.ceil(T / TILE);

  const uniforms: GPUBuffer[] = [];
  const dispatches = W.shards.map((shard, i) => {
    const uniform = new UniformWriter()
      .u32(shard.rows).u32(W.cols).u32(Math.floor(W.cols / chunk)).u32(W.rowStride / chunk)
      .u32(xOffset).u32(xStride).u32(yOffset + shard.firstRow).u32(yStride)
      .f32(norm?.eps ?? 0).u32(0).u32(0).u32(0)
      .create(ctx.device, `${label}.params[${i}]`);
    uniforms.push(uniform);
    const bound = [uniform, step.uniform, shard.buffer, x, y];
    if (norm) bound.push(norm.weight);
    const bindGroup = ctx.device.createBindGroup({ label: `${label}[${i}]`, layout: pipeline.getBindGroupLayout(0), entries: entries(...bound) });
    const [gx, gy] = grid(ctx, Math.ceil(shard.rows / rowsPerGroup));
    return { bindGroup, size: [gx, gy, tiles] as const };
  });
  return dispatchOp(label, pipeline, dispatches, uniforms);
}
