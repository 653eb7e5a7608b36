// gemm_t: Y(T, rows) = X'(T, cols) · W for the T tokens of a prefill step, over Wᵀ stored input-channel
// major (weights.ts uploadTransposedStack, f32 or packed f16) — the one copy sparse_gemv decodes from, so
// prompts run a chunk of tokens per submit without a second, row-major copy. Segments (q|k|v, gate|up)
// land at their own output rows. Fusions: RMSNorm of each token's x first (norm), SwiGLU of a gate|up
// buffer first (swiglu: x' = silu(gate)·up), y += (accumulate). T is step.nTokens; dispatches cover
// step.maxTokens. Each invocation keeps `tile` tokens' accumulators, so a weight chunk loaded once
// serves that many tokens (the first form, one token per invocation, ran a 64-token f16 prompt at
// 2.85 ms a token against 1.34 for the row-major gemm on an H100: BENCHMARKS.md, 2026-12-05).
import gemmTWGSL from '../../shaders/gemm_t.wgsl';
import type { GpuContext } from './device.js';
import { KernelArgumentError } from '../errors.js';
import { checkBuffer, checkPow2, entries, grid, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { Step } from './step.js';
import { ELEMENTS_PER_16_BYTES, type TransposedWeightTensor } from './weights.js';

export interface GemmTOptions {
  weights: TransposedWeightTensor;
  step: Step;
  /** X(T, cols): token t's input at x[xOffset + t·xStride ..], xStride default cols. */
  x: GPUBuffer;
  xOffset?: number;
  xStride?: number;
  /** Y(T, rows): token t's output r of segment s at y[yOffset + t·yStride + s.firstRow + r], yStride default rows. */
  y: GPUBuffer;
  yOffset?: number;
  yStride?: number;
  norm?: { weight: GPUBuffer; eps: number };
  /** x' = silu(gate)·up: token t's gate at its x, up upOffset elements further. Not with norm. */
  swiglu?: { upOffset: number };
  accumulate?: boolean;
  /** Output chunks (16 bytes of a stored row) per workgroup (power of two, default 4). */
  chunks?: number;
  /** Tokens per workgroup: accumulators per invocation (default 8). */
  tile?: number;
  /** Power of two, default 256; lanes = workgroupSize / chunks share a chunk's channels. */
  workgroupSize?: number;
  /** Channels of x' staged in workgroup memory at a time (default 128). */
  piece?: number;
  label?: string;
}

export interface GemmTShape {
  WG: number;
  CH: number;
  TT: number;
  PK: number;
  NSEG: number;
  F16: boolean;
  PRE_NORM: boolean;
  SWIGLU: boolean;
  ACCUMULATE: boolean;
}

export function wgsl(shape: GemmTShape): string {
  return renderWGSL('gemm_t', gemmTWGSL, { ...shape });
}

export async function prepare(ctx: GpuContext, opts: GemmTOptions): Promise<PreparedOp> {
  const { weights: W, x, y, norm, step, swiglu } = opts;
  const label = opts.label ?? 'gemm_t';
  const xOffset = opts.xOffset ?? 0;
  const xStride = opts.xStride ?? W.cols;
  const yOffset = opts.yOffset ?? 0;
  const yStride = opts.yStride ?? W.rows;
  const chunk = ELEMENTS_PER_16_BYTES[W.format];
  const WG = opts.workgroupSize ?? 256;
  const CH = opts.chunks ?? 4;
  const TT = opts.tile ?? 8;
  const PK = opts.piece ?? 128;
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  checkPow2(label, 'chunks', CH, WG);
  checkPow2(label, 'tile', TT, WG);
  if (!Number.isInteger(PK) || PK < 1) throw new KernelArgumentError(label, `piece must be a positive integer, got ${PK}`);
  const shared = 4 * TT * PK + 16 * WG * (W.format === 'f16' ? 2 : 1) + 4 * TT;
  if (shared > ctx.limits.maxComputeWorkgroupStorageSize) {
    throw new KernelArgumentError(label, `tile ${TT}, piece ${PK} and workgroupSize ${WG} need ${shared} bytes of workgroup memory, over the device's ${ctx.limits.maxComputeWorkgroupStorageSize}`);
  }
  if (swiglu && norm) throw new KernelArgumentError(label, 'swiglu and norm cannot be combined');
  const upOffset = swiglu?.upOffset ?? 0;
  if (!Number.isInteger(upOffset) || upOffset < 0) throw new KernelArgumentError(label, `swiglu.upOffset must be a non-negative integer, got ${upOffset}`);
  if (xStride < W.cols + upOffset || yStride < W.rows) throw new KernelArgumentError(label, 'xStride ≥ cols (+ upOffset) and yStride ≥ rows are required');
  if (x === y) throw new KernelArgumentError(label, 'x and y must be different buffers');
  const T = step.maxTokens;
  checkBuffer(label, 'x', x, 4 * (xOffset + (T - 1) * xStride + W.cols + upOffset));
  checkBuffer(label, 'y', y, 4 * (yOffset + (T - 1) * yStride + W.rows));
  if (norm) checkBuffer(label, 'norm.weight', norm.weight, 4 * W.cols);

  const NSEG = W.segments.length;
  const shape = (accumulate: boolean): GemmTShape => ({ WG, CH, TT, PK, NSEG, F16: W.format === 'f16', PRE_NORM: !!norm, SWIGLU: !!swiglu, ACCUMULATE: accumulate });
  const first = await pipelineFor(ctx, 'gemm_t', wgsl(shape(!!opts.accumulate)));
  // Shards after the first add to what the first wrote.
  const rest = W.shards.length > 1 ? await pipelineFor(ctx, 'gemm_t', wgsl(shape(true))) : first;
  const stride = W.rowStride / chunk;
  const [gx, gy] = grid(ctx, Math.ceil(stride / CH));
  const tiles = Math.ceil(T / TT);

  const uniforms: GPUBuffer[] = [];
  const dispatches = W.shards.map((shard, i) => {
    const u = new UniformWriter()
      .u32(W.cols).u32(shard.firstCol).u32(shard.cols).u32(stride)
      .u32(xOffset).u32(xStride).u32(yOffset).u32(yStride)
      .f32(norm?.eps ?? 0).u32(upOffset).u32(0).u32(0);
    for (const s of W.segments) u.u32(s.offset).u32(s.rows).u32(s.firstRow).u32(0);
    const uniform = u.create(ctx.device, `${label}.params[${i}]`);
    uniforms.push(uniform);
    const pipeline = i === 0 ? first : rest;
    const bound = [uniform, step.uniform, shard.buffer, x, y];
    if (norm) bound.push(norm.weight);
    const bindGroup = ctx.device.createBindGroup({ label: `${label}[${i}]`, layout: pipeline.getBindGroupLayout(0), entries: entries(...bound) });
    return { pipeline, bindGroup };
  });
  return {
    label,
    encode(pass) {
      for (const d of dispatches) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(gx, gy, tiles);
      }
    },
    destroy() {
      for (const b of uniforms) b.destroy();
    },
  };
}
