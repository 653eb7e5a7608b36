// swiglu: out = silu(gate) · up elementwise, n per token over step.nTokens tokens (contiguous).
// The fallback and test path: gemv/gemm compute it inside the gate-up product.
import swigluWGSL from '../../shaders/swiglu.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, dispatchOp, checkDims, checkPow2, entries, grid, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { Step } from './step.js';
import { KernelArgumentError } from '../errors.js';

export interface SwigluOptions {
  step: Step;
  n: number;
  gate: GPUBuffer;
  up: GPUBuffer;
  /** Must be a buffer other than gate's and up's. */
  out: GPUBuffer;
  workgroupSize?: number;
  label?: string;
}

export function wgsl(shape: { WG: number }): string {
  return renderWGSL('swiglu', swigluWGSL, shape);
}

export async function prepare(ctx: GpuContext, opts: SwigluOptions): Promise<PreparedOp> {
  const { step, n, gate, up, out } = opts;
  const label = opts.label ?? 'swiglu';
  const WG = opts.workgroupSize ?? 256;
  checkDims(label, { n });
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  if (out === gate || out === up) throw new KernelArgumentError(label, 'out must differ from gate and up');
  const total = n * step.maxTokens;
  for (const [name, b] of [['gate', gate], ['up', up], ['out', out]] as const) checkBuffer(label, name, b, 4 * total);

  const pipeline = await pipelineFor(ctx, 'swiglu', wgsl({ WG }));
  const uniform = new UniformWriter().u32(n).create(ctx.device, `${label}.params`);
  const bindGroup = ctx.device.createBindGroup({
    label, layout: pipeline.getBindGroupLayout(0), entries: entries(uniform, step.uniform, gate, up, out),
  });
  const [gx, gy] = grid(ctx, Math.ceil(total / WG));
  return dispatchOp(label, pipeline, [{ bindGroup, size: [gx, gy, 1] }], [uniform]);
}
