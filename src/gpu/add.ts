// add: x += y elementwise, n per token over step.nTokens tokens (contiguous). The residual add when
// gemv/gemm's `accumulate` is not used.
import addWGSL from '../../shaders/add.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, dispatchOp, checkDims, checkPow2, entries, grid, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { Step } from './step.js';
import { KernelArgumentError } from '../errors.js';

export interface AddOptions {
  step: Step;
  n: number;
  /** Updated in place. */
  x: GPUBuffer;
  /** Must be a buffer other than x. */
  y: GPUBuffer;
  workgroupSize?: number;
  label?: string;
}

export function wgsl(shape: { WG: number }): string {
  return renderWGSL('add', addWGSL, shape);
}

export async function prepare(ctx: GpuContext, opts: AddOptions): Promise<PreparedOp> {
  const { step, n, x, y } = opts;
  const label = opts.label ?? 'add';
  const WG = opts.workgroupSize ?? 256;
  checkDims(label, { n });
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  if (x === y) throw new KernelArgumentError(label, 'x and y must be different buffers');
  const total = n * step.maxTokens;
  checkBuffer(label, 'x', x, 4 * total);
  checkBuffer(label, 'y', y, 4 * total);

  const pipeline = await pipelineFor(ctx, 'add', wgsl({ WG }));
  const uniform = new UniformWriter().u32(n).create(ctx.device, `${label}.params`);
  const bindGroup = ctx.device.createBindGroup({
    label, layout: pipeline.getBindGroupLayout(0), entries: entries(uniform, step.uniform, x, y),
  });
  const [gx, gy] = grid(ctx, Math.ceil(total / WG));
  return dispatchOp(label, pipeline, [{ bindGroup, size: [gx, gy, 1] }], [uniform]);
}
