// rope: rotary position embedding of the q and k heads of each token, in place, at positions
// step.pos + t; with `cache`, it also stores the rotated k and the v of each token into the layer's
// KV cache, so rope and the cache write are one dispatch. cos/sin come from a table made at load.
import ropeWGSL from '../../shaders/rope.wgsl';
import type { GpuContext } from './device.js';
import { createBufferChecked } from './device.js';
import { checkBuffer, dispatchOp, checkDims, checkPow2, entries, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { SplitKPartials } from './sparse_gemv.js';
import type { Step } from './step.js';
import { KernelArgumentError } from '../errors.js';

export interface RopeTable {
  buffer: GPUBuffer;
  contextLength: number;
  ropeDim: number;
}

/**
 * (contextLength, ropeDim/2) pairs (cos θ, sin θ), θ = pos · base^(−2i/ropeDim), computed in f64 as
 * src/reference/ops.ts does and rounded once to f32.
 */
export async function createRopeTable(ctx: GpuContext, opts: { contextLength: number; ropeDim: number; base: number }): Promise<RopeTable> {
  const { contextLength, ropeDim, base } = opts;
  checkDims('rope', { contextLength, ropeDim });
  if (ropeDim % 2) throw new KernelArgumentError('rope', `ropeDim must be even, got ${ropeDim}`);
  const half = ropeDim / 2;
  const buffer = await createBufferChecked(ctx.device, {
    label: 'rope.table', size: contextLength * half * 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true,
  });
  const data = new Float32Array(buffer.getMappedRange());
  for (let i = 0; i < half; i++) {
    const freq = Math.pow(base, (-2 * i) / ropeDim);
    for (let pos = 0; pos < contextLength; pos++) {
      const theta = pos * freq;
      data[2 * (pos * half + i)] = Math.cos(theta);
      data[2 * (pos * half + i) + 1] = Math.sin(theta);
    }
  }
  buffer.unmap();
  return { buffer, contextLength, ropeDim };
}

export interface RopeOptions {
  step: Step;
  table: RopeTable;
  nHeads: number;
  nKVHeads: number;
  headDim: number;
  /**
   * Holds token t's q heads at x[qOffset + t·stride ..] and k heads at x[kOffset + t·stride ..]
   * (e.g. the output of a fused q|k|v gemv: qOffset 0, kOffset nHeads·headDim, stride q+k+v dims).
   */
  x: GPUBuffer;
  qOffset: number;
  kOffset: number;
  stride: number;
  /** Write rotated k and v (at x[vOffset + t·stride ..]) into the caches, (contextLength, kvDim) each. */
  cache?: { key: GPUBuffer; value: GPUBuffer; vOffset: number };
  /**
   * One-token steps with cache: read q, k, v as sums of a split q|k|v GEMV's partials (sparse_gemv's
   * leavePartials; segments q, k, v) instead of x; the rotated q (and k) are still written to x.
   */
  partials?: SplitKPartials;
  workgroupSize?: number;
  label?: string;
}

export function wgsl(shape: { WG: number; CACHE: boolean; PARTIALS: boolean; CHUNKS: number }): string {
  return renderWGSL('rope', ropeWGSL, shape);
}

export async function prepare(ctx: GpuContext, opts: RopeOptions): Promise<PreparedOp> {
  const { step, table, nHeads, nKVHeads, headDim, x, qOffset, kOffset, stride, cache } = opts;
  const label = opts.label ?? 'rope';
  const WG = opts.workgroupSize ?? 64;
  checkDims(label, { nHeads, nKVHeads, headDim, stride });
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  if (headDim % 2) throw new KernelArgumentError(label, `headDim must be even, got ${headDim}`);
  if (table.ropeDim > headDim) throw new KernelArgumentError(label, `ropeDim ${table.ropeDim} exceeds headDim ${headDim}`);
  const kvDim = nKVHeads * headDim;
  const T = step.maxTokens;
  const ends = [qOffset + nHeads * headDim, kOffset + kvDim, cache ? cache.vOffset + kvDim : 0];
  checkBuffer(label, 'x', x, 4 * ((T - 1) * stride + Math.max(...ends)));
  if (cache) {
    checkBuffer(label, 'cache.key', cache.key, 4 * table.contextLength * kvDim);
    checkBuffer(label, 'cache.value', cache.value, 4 * table.contextLength * kvDim);
  }

  const { partials } = opts;
  if (partials) {
    if (!cache || T !== 1) throw new KernelArgumentError(label, 'partials need a one-token step with a cache');
    if (partials.segmentOffsets.length !== 3) throw new KernelArgumentError(label, `partials need the three segments q, k, v, got ${partials.segmentOffsets.length}`);
    const { chunks, rowElems } = partials;
    const [qAt, kAt, vAt] = partials.segmentOffsets as [number, number, number];
    if (![chunks, rowElems, qAt, kAt, vAt].every((v) => Number.isInteger(v) && v >= 0) || chunks < 1) {
      throw new KernelArgumentError(label, `partials need integer chunks ≥ 1 and offsets ≥ 0, got ${JSON.stringify({ chunks, rowElems, qAt, kAt, vAt })}`);
    }
    const end = Math.max(qAt + nHeads * headDim, kAt + kvDim, vAt + kvDim);
    checkBuffer(label, 'partials.buffer', partials.buffer, 4 * ((chunks - 1) * rowElems + end));
  }
  const pipeline = await pipelineFor(ctx, 'rope', wgsl({ WG, CACHE: !!cache, PARTIALS: !!partials, CHUNKS: partials?.chunks ?? 0 }));
  const uniform = new UniformWriter()
    .u32(nHeads).u32(nKVHeads).u32(headDim).u32(table.ropeDim).u32(qOffset).u32(kOffset).u32(cache?.vOffset ?? 0).u32(stride)
    .u32(kvDim).u32(table.contextLength)
    .u32(partials?.rowElems ?? 0).u32(partials?.segmentOffsets[0] ?? 0).u32(partials?.segmentOffsets[1] ?? 0).u32(partials?.segmentOffsets[2] ?? 0).u32(0).u32(0)
    .create(ctx.device, `${label}.params`);
  const bound = [uniform, step.uniform, table.buffer, x];
  if (cache) bound.push(cache.key, cache.value);
  if (partials) bound.push(partials.buffer);
  const bindGroup = ctx.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries: entries(...bound) });
  const threads = ((nHeads + nKVHeads) * headDim) / 2 + (cache ? kvDim / 2 : 0);
  const groups = Math.ceil(threads / WG);
  return dispatchOp(label, pipeline, [{ bindGroup, size: [groups, T, 1] }], [uniform]);
}
