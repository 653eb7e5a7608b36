// argmax: result[0] (u32) = index of the largest of x[offset .. offset + n), lowest index on ties,
// so greedy decoding copies back 4 bytes, not the logits. One workgroup (n is a vocabulary: ≤ ~256k).
import argmaxWGSL from '../../shaders/argmax.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, dispatchOp, checkDims, checkPow2, entries, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import { KernelArgumentError } from '../errors.js';

export interface ArgmaxOptions {
  n: number;
  x: GPUBuffer;
  offset?: number;
  /** Receives the index at byte 0 (STORAGE | COPY_SRC, ≥ 4 bytes). */
  result: GPUBuffer;
  workgroupSize?: number;
  label?: string;
}

export function wgsl(shape: { WG: number }): string {
  return renderWGSL('argmax', argmaxWGSL, shape);
}

export async function prepare(ctx: GpuContext, opts: ArgmaxOptions): Promise<PreparedOp> {
  const { n, x, result } = opts;
  const label = opts.label ?? 'argmax';
  const offset = opts.offset ?? 0;
  const WG = opts.workgroupSize ?? 256;
  checkDims(label, { n });
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  if (x === result) throw new KernelArgumentError(label, 'x and result must be different buffers');
  checkBuffer(label, 'x', x, 4 * (offset + n));
  checkBuffer(label, 'result', result, 4);

  const pipeline = await pipelineFor(ctx, 'argmax', wgsl({ WG }));
  const uniform = new UniformWriter().u32(n).u32(offset).create(ctx.device, `${label}.params`);
  const bindGroup = ctx.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries: entries(uniform, x, result) });
  return dispatchOp(label, pipeline, [{ bindGroup, size: [1, 1, 1] }], [uniform]);
}
