// rope: finalizes the q|k|v of each token in place, one workgroup per head: the projection's output (or
// the sum of its split partials) + bias → RMSNorm of each q and k head → rotary position embedding of q
// and k at positions step.pos + t; with `cache`, it also stores the rotated k and the v of each token
// into the layer's KV cache (f32, or f16 pairs packed in u32), so all of it is one dispatch. cos/sin come
// from a table made at load.
import ropeWGSL from '../../shaders/rope.wgsl';
import { ropeTheta, type RopeSpec } from '../reference/ops.js';
import { kvCacheBytes, type KVFormat } from './attention.js';
import type { GpuContext } from './device.js';
import { createBufferChecked } from './device.js';
import { checkBuffer, dispatchOp, checkDims, checkPow2, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { SplitKPartials } from './sparse_gemv.js';
import type { Step } from './step.js';
import { KernelArgumentError } from '../errors.js';

/** A model's rotation on the GPU: the (cos θ, sin θ) table and how pairs are formed. */
export interface RopeTable {
  buffer: GPUBuffer;
  contextLength: number;
  ropeDim: number;
  /** 'normal': pairs (2i, 2i+1); 'neox': pairs (i, i + ropeDim/2). */
  style: RopeSpec['style'];
}

/**
 * (contextLength, ropeDim/2) pairs (cos θ, sin θ), θ = ropeTheta(spec, pos, i) (frequency factors
 * included), computed in f64 by the reference's one definition of θ and rounded once to f32.
 */
export async function createRopeTable(ctx: GpuContext, opts: { contextLength: number; spec: RopeSpec }): Promise<RopeTable> {
  const { contextLength, spec } = opts;
  const { ropeDim } = spec;
  checkDims('rope', { contextLength, ropeDim });
  if (ropeDim % 2) throw new KernelArgumentError('rope', `ropeDim must be even, got ${ropeDim}`);
  const half = ropeDim / 2;
  if (spec.freqFactors && spec.freqFactors.length !== half) {
    throw new KernelArgumentError('rope', `freqFactors has ${spec.freqFactors.length} entries, expected ropeDim/2 = ${half}`);
  }
  const buffer = await createBufferChecked(ctx.device, {
    label: 'rope.table', size: ropeTableBytes(contextLength, ropeDim), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, mappedAtCreation: true,
  });
  const data = new Float32Array(buffer.getMappedRange());
  for (let pos = 0; pos < contextLength; pos++) {
    for (let i = 0; i < half; i++) {
      const theta = ropeTheta(spec, pos, i);
      data[2 * (pos * half + i)] = Math.cos(theta);
      data[2 * (pos * half + i) + 1] = Math.sin(theta);
    }
  }
  buffer.unmap();
  return { buffer, contextLength, ropeDim, style: spec.style };
}

/** Bytes of the table: a (cos θ, sin θ) f32 pair per (position, rotated pair). */
export function ropeTableBytes(contextLength: number, ropeDim: number): number {
  return contextLength * (ropeDim / 2) * 8;
}

export interface RopeOptions {
  step: Step;
  table: RopeTable;
  nHeads: number;
  nKVHeads: number;
  headDim: number;
  /**
   * Holds token t's q heads at x[qOffset + t·stride ..], k heads at x[kOffset + t·stride ..] and (with
   * cache or bias) v heads at x[vOffset + t·stride ..] (e.g. the output of a fused q|k|v projection:
   * qOffset 0, kOffset nHeads·headDim, vOffset kOffset + kvDim, stride q+k+v dims). Afterwards x holds
   * the finished q, k (and v) of each token.
   */
  x: GPUBuffer;
  qOffset: number;
  kOffset: number;
  /** Needed with cache or bias. */
  vOffset?: number;
  stride: number;
  /** Write rotated k and v into the caches, (contextLength, kvDim) each, in `format` (default 'f32'; 'f16': adjacent elements packed in a u32). */
  cache?: { key: GPUBuffer; value: GPUBuffer; format?: KVFormat };
  /**
   * One-token steps with cache: read q, k, v as sums of a split q|k|v GEMV's partials (sparse_gemv's
   * leavePartials; segments q, k, v) instead of x; the results are still written to x.
   */
  partials?: SplitKPartials;
  /** (nHeads + 2·nKVHeads)·headDim: the q | k | v biases, added first (qwen2). */
  bias?: GPUBuffer;
  /** RMSNorm of each q and k head after the bias: weight (2, headDim), the q heads' then the k heads' (qwen3). */
  headNorm?: { weight: GPUBuffer; eps: number };
  /** Invocations per workgroup (one head each; power of two; default min(256, headDim/2 rounded up to one)). */
  workgroupSize?: number;
  label?: string;
}

export interface RopeShape {
  WG: number;
  PAIRS: number;
  CACHE: boolean;
  PARTIALS: boolean;
  CHUNKS: number;
  BIAS: boolean;
  NORM: boolean;
  NEOX: boolean;
  KV_F16: boolean;
}

export function wgsl(shape: RopeShape): string {
  return renderWGSL('rope', ropeWGSL, { ...shape });
}

export async function prepare(ctx: GpuContext, opts: RopeOptions): Promise<PreparedOp> {
  const { step, table, nHeads, nKVHeads, headDim, x, qOffset, kOffset, stride, cache, bias, headNorm } = opts;
  const label = opts.label ?? 'rope';
  const half = headDim / 2;
  const maxWG = ctx.limits.maxComputeInvocationsPerWorkgroup;
  const WG = opts.workgroupSize ?? Math.min(256, maxWG, 2 ** Math.ceil(Math.log2(Math.max(1, half))));
  checkDims(label, { nHeads, nKVHeads, headDim, stride });
  checkPow2(label, 'workgroupSize', WG, maxWG);
  if (headDim % 2) throw new KernelArgumentError(label, `headDim must be even, got ${headDim}`);
  if (table.ropeDim > headDim) throw new KernelArgumentError(label, `ropeDim ${table.ropeDim} exceeds headDim ${headDim}`);
  const qDim = nHeads * headDim;
  const kvDim = nKVHeads * headDim;
  const T = step.maxTokens;
  // v is read (and written back) only when something happens to it.
  const vHeads = !!cache || !!bias;
  const vOffset = opts.vOffset ?? 0;
  if (vHeads && opts.vOffset === undefined) throw new KernelArgumentError(label, 'vOffset is needed with cache or bias (v is read)');
  const ends = [qOffset + qDim, kOffset + kvDim, vHeads ? vOffset + kvDim : 0];
  checkBuffer(label, 'x', x, 4 * ((T - 1) * stride + Math.max(...ends)));
  const kvFormat = cache?.format ?? 'f32';
  if (kvFormat !== 'f32' && kvFormat !== 'f16') throw new KernelArgumentError(label, `cache.format must be 'f32' or 'f16', got ${String(kvFormat)}`);
  if (cache) {
    checkBuffer(label, 'cache.key', cache.key, kvCacheBytes(table.contextLength, kvDim, kvFormat));
    checkBuffer(label, 'cache.value', cache.value, kvCacheBytes(table.contextLength, kvDim, kvFormat));
  }
  if (bias) checkBuffer(label, 'bias', bias, 4 * (qDim + 2 * kvDim));
  if (headNorm) {
    checkBuffer(label, 'headNorm.weight', headNorm.weight, 4 * 2 * headDim);
    if (!(headNorm.eps > 0)) throw new KernelArgumentError(label, `headNorm.eps must be positive, got ${headNorm.eps}`);
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
    const end = Math.max(qAt + qDim, kAt + kvDim, vAt + kvDim);
    checkBuffer(label, 'partials.buffer', partials.buffer, 4 * ((chunks - 1) * rowElems + end));
  }
  const shape: RopeShape = {
    WG, PAIRS: Math.max(1, Math.ceil(half / WG)), CACHE: !!cache, PARTIALS: !!partials, CHUNKS: partials?.chunks ?? 0,
    BIAS: !!bias, NORM: !!headNorm, NEOX: table.style === 'neox', KV_F16: kvFormat === 'f16',
  };
  const pipeline = await pipelineFor(ctx, 'rope', wgsl(shape));
  const uniform = new UniformWriter()
    .u32(nHeads).u32(nKVHeads).u32(headDim).u32(table.ropeDim).u32(qOffset).u32(kOffset).u32(vOffset).u32(stride)
    .u32(kvDim).u32(table.contextLength)
    .u32(partials?.rowElems ?? 0).u32(partials?.segmentOffsets[0] ?? 0).u32(partials?.segmentOffsets[1] ?? 0).u32(partials?.segmentOffsets[2] ?? 0)
    .f32(headNorm?.eps ?? 0).u32(0)
    .create(ctx.device, `${label}.params`);
  // Bindings by number (the shader leaves out those its shape does not use).
  const bound: [number, GPUBuffer][] = [[0, uniform], [1, step.uniform], [2, table.buffer], [3, x]];
  if (cache) bound.push([4, cache.key], [5, cache.value]);
  if (partials) bound.push([6, partials.buffer]);
  if (bias) bound.push([7, bias]);
  if (headNorm) bound.push([8, headNorm.weight]);
  const bindGroup = ctx.device.createBindGroup({
    label, layout: pipeline.getBindGroupLayout(0), entries: bound.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
  });
  const heads = nHeads + nKVHeads + (vHeads ? nKVHeads : 0);
  return dispatchOp(label, pipeline, [{ bindGroup, size: [heads, T, 1] }], [uniform]);
}
