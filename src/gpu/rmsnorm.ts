// rmsnorm: out(T, n) = RMSNorm(x(T, n)) · weight(n), one workgroup per token. Standalone: the final
// norm before the output head when not fused, and prefill; gemv/gemm fuse it into the next product.
import rmsnormWGSL from '../../shaders/rmsnorm.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, dispatchOp, checkDims, checkPow2, entries, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { Step } from './step.js';
import { KernelArgumentError } from '../errors.js';

export interface RmsnormOptions {
  step: Step;
  n: number;
  eps: number;
  /** x[xOffset + t·xStride + i], xStride default n. */
  x: GPUBuffer;
  xOffset?: number;
  xStride?: number;
  weight: GPUBuffer;
  /** Must not be x's buffer. */
  out: GPUBuffer;
  outOffset?: number;
  outStride?: number;
  workgroupSize?: number;
  label?: string;
}

export function wgsl(shape: { WG: number }): string {
  return renderWGSL('rmsnorm', rmsnormWGSL, shape);
}

export async function prepare(ctx: GpuContext, opts: RmsnormOptions): Promise<PreparedOp> {
  const { step, n, x, out, weight } = opts;
  const label = opts.label ?? 'rmsnorm';
  const xOffset = opts.xOffset ?? 0;
  const xStride = opts.xStride ?? n;
  const outOffset = opts.outOffset ?? 0;
  const outStride = opts.outStride ?? n;
  const WG = opts.workgroupSize ?? 256;
  checkDims(label, { n });
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  if (x === out) throw new KernelArgumentError(label, 'x and out must be different buffers');
  const T = step.maxTokens;
  checkBuffer(label, 'x', x, 4 * (xOffset + (T - 1) * xStride + n));
  checkBuffer(label, 'out', out, 4 * (outOffset + (T - 1) * outStride + n));
  checkBuffer(label, 'weight', weight, 4 * n);

  const pipeline = await pipelineFor(ctx, 'rmsnorm', wgsl({ WG }));
  const uniform = new UniformWriter().u32(n).u32(xOffset).u32(xStride).u32(outOffset).u32(outStride).f32(opts.eps).u32(0).u32(0)
    .create(ctx.device, `${label}.params`);
  const bindGroup = ctx.device.createBindGroup({
    label, layout: pipeline.getBindGroupLayout(0), entries: entries(uniform, step.uniform, x, weight, out),
  });
  return dispatchOp(label, pipeline, [{ bindGroup, size: [T, 1, 1] }], [uniform]);
}
