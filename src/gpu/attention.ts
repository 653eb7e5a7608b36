// attention: causal grouped-query attention for the tokens of one step over the layer's KV cache.
// Token t (position step.pos + t) attends to positions 0 ..= step.pos + t, so decode (maxTokens 1)
// and prefill (the cache already holds this step's k, v: rope writes them first) are one kernel.
// Split-K over positions ("flash decoding"): a workgroup per (head, token, split of splitLength
// positions) and a combine pass, so a single decode token still fills the GPU; one pass when a
// single split covers the context.
import attentionWGSL from '../../shaders/attention.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, checkDims, checkPow2, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import type { Step } from './step.js';
import { KernelArgumentError } from '../errors.js';

/** How the KV cache stores an element: f32, or f16 (pairs of adjacent elements packed in a u32). */
export type KVFormat = 'f32' | 'f16';

/**
 * The KV cache's format unless asked otherwise: f32. f16 halves the cache (logits within 1e-3 of the
 * range on the test models) but moves activations enough that WAS thresholds flip where f32 runs match
 * the reference and llama.cpp exactly (schedules searched on WebGPU lost 15 % of mean KL agreement).
 */
export const DEFAULT_KV_FORMAT: KVFormat = 'f32';

/** Bytes of one layer's key (or value) cache: (contextLength, kvDim) elements in `format`. */
export function kvCacheBytes(contextLength: number, kvDim: number, format: KVFormat): number {
  return contextLength * kvDim * (format === 'f16' ? 2 : 4);
}

export interface AttentionOptions {
  step: Step;
  nHeads: number;
  nKVHeads: number;
  headDim: number;
  contextLength: number;
  /** q(T, ·): token t's head h at q[qOffset + t·qStride + h·headDim ..]; qStride default nHeads·headDim. */
  q: GPUBuffer;
  qOffset?: number;
  qStride?: number;
  /** (contextLength, nKVHeads·headDim) each, in kvFormat. */
  keyCache: GPUBuffer;
  valueCache: GPUBuffer;
  /** The caches' element format (default 'f32'; 'f16' as rope writes it with cache.format 'f16'). */
  kvFormat?: KVFormat;
  /** out(T, nHeads·headDim); must not be q's buffer. */
  out: GPUBuffer;
  outOffset?: number;
  outStride?: number;
  /**
   * Positions per split. Default for decode (maxTokens 1): max(64, contextLength / 32), so a token
   * fills the GPU; for prefill: the whole context (one pass, no scratch: tokens × heads is enough work).
   */
  splitLength?: number;
  /** Invocations per workgroup (power of two, default 256). */
  workgroupSize?: number;
  /** Invocations that share one key's dot product (power of two, default min(8, head vectors)). */
  team?: number;
  label?: string;
}

export interface AttentionShape {
  WG: number;
  HEAD_DIM: number;
  TEAM: number;
  GROUPS: number;
  UMOD: number;
  DIMS: number;
  SPLIT_LEN: number;
  VEC4: boolean;
  DIRECT: boolean;
  KV_F16: boolean;
}

export function wgsl(shape: AttentionShape): string {
  return renderWGSL('attention', attentionWGSL, { ...shape });
}

/** The default positions per split (see AttentionOptions.splitLength). */
export function defaultSplitLength(contextLength: number, maxTokens: number): number {
  return maxTokens === 1 ? Math.max(64, Math.ceil(contextLength / 32)) : contextLength;
}

/** Bytes of the split partials, per (token, head, split): (m, l) pairs and accumulators. */
function partialBytes(T: number, nHeads: number, nSplits: number, headDim: number): [number, number] {
  const partials = T * nHeads * nSplits;
  return [partials * 8, partials * headDim * 4];
}

/** GPU bytes an attention op with the default split makes for itself (0 with one split): for the memory planner. */
export function attentionScratchBytes(contextLength: number, maxTokens: number, nHeads: number, headDim: number): number {
  const nSplits = Math.ceil(contextLength / defaultSplitLength(contextLength, maxTokens));
  return nSplits === 1 ? 0 : partialBytes(maxTokens, nHeads, nSplits, headDim).reduce((a, b) => a + b, 0);
}

export async function prepare(ctx: GpuContext, opts: AttentionOptions): Promise<PreparedOp> {
  const { step, nHeads, nKVHeads, headDim, contextLength, q, keyCache, valueCache, out } = opts;
  const label = opts.label ?? 'attention';
  const qDim = nHeads * headDim;
  const kvDim = nKVHeads * headDim;
  const qOffset = opts.qOffset ?? 0;
  const qStride = opts.qStride ?? qDim;
  const outOffset = opts.outOffset ?? 0;
  const outStride = opts.outStride ?? qDim;
  const WG = opts.workgroupSize ?? 256;
  const T = step.maxTokens;
  const splitLength = opts.splitLength ?? defaultSplitLength(contextLength, T);
  checkDims(label, { nHeads, nKVHeads, headDim, contextLength, splitLength });
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  if (nHeads % nKVHeads) throw new KernelArgumentError(label, `nHeads ${nHeads} is not a multiple of nKVHeads ${nKVHeads}`);
  if (q === out) throw new KernelArgumentError(label, 'q and out must be different buffers');
  checkBuffer(label, 'q', q, 4 * (qOffset + (T - 1) * qStride + qDim));
  const kvFormat = opts.kvFormat ?? 'f32';
  if (kvFormat !== 'f32' && kvFormat !== 'f16') throw new KernelArgumentError(label, `kvFormat must be 'f32' or 'f16', got ${String(kvFormat)}`);
  if (kvFormat === 'f16' && headDim % 2) throw new KernelArgumentError(label, `an f16 cache needs an even headDim, got ${headDim}`);
  checkBuffer(label, 'keyCache', keyCache, kvCacheBytes(contextLength, kvDim, kvFormat));
  checkBuffer(label, 'valueCache', valueCache, kvCacheBytes(contextLength, kvDim, kvFormat));
  checkBuffer(label, 'out', out, 4 * (outOffset + (T - 1) * outStride + qDim));

  const VEC4 = headDim % 4 === 0;
  const units = VEC4 ? headDim / 4 : headDim;
  const TEAM = opts.team ?? Math.min(8, WG, 2 ** Math.ceil(Math.log2(units)));
  checkPow2(label, 'team', TEAM, WG);
  const nSplits = Math.ceil(contextLength / splitLength);
  const shape: AttentionShape = {
    WG, HEAD_DIM: headDim, TEAM, SPLIT_LEN: splitLength, VEC4, DIRECT: nSplits === 1, KV_F16: kvFormat === 'f16',
    // Value phase: one invocation per vector of a row, as many rows at once as fit the workgroup.
    ...(units <= WG ? { UMOD: units, GROUPS: Math.floor(WG / units), DIMS: 1 } : { UMOD: WG, GROUPS: 1, DIMS: Math.ceil(units / WG) }),
  };
  const code = wgsl(shape);
  const main = await pipelineFor(ctx, 'attention', code);
  const combine = shape.DIRECT ? undefined : await pipelineFor(ctx, 'attention', code, 'combine');

  const { device } = ctx;
  const uniform = new UniformWriter()
    .u32(nHeads).u32(nKVHeads).u32(kvDim / (VEC4 ? 4 : 1)).u32(qOffset).u32(qStride).u32(outOffset).u32(outStride)
    .u32(contextLength).f32(1 / Math.sqrt(headDim)).u32(nSplits).u32(0).u32(0)
    .create(device, `${label}.params`);
  const owned = [uniform];
  const bind = (pipeline: GPUComputePipeline, buffers: [number, GPUBuffer][]) => device.createBindGroup({
    label, layout: pipeline.getBindGroupLayout(0), entries: buffers.map(([binding, buffer]) => ({ binding, resource: { buffer } })),
  });
  const common: [number, GPUBuffer][] = [[0, uniform], [1, step.uniform]];
  const inputs: [number, GPUBuffer][] = [[2, q], [3, keyCache], [4, valueCache]];
  let passes: { pipeline: GPUComputePipeline; bindGroup: GPUBindGroup; size: [number, number, number] }[];
  if (!combine) {
    passes = [{ pipeline: main, bindGroup: bind(main, [...common, ...inputs, [5, out]]), size: [nHeads, T, 1] }];
  } else {
    // Scratch for the splits' partials, per (token, head, split): made here, at load, and owned by the op.
    const [mlBytes, accBytes] = partialBytes(T, nHeads, nSplits, headDim);
    const ml = device.createBuffer({ label: `${label}.partial_ml`, size: mlBytes, usage: GPUBufferUsage.STORAGE });
    const acc = device.createBuffer({ label: `${label}.partial_acc`, size: accBytes, usage: GPUBufferUsage.STORAGE });
    owned.push(ml, acc);
    passes = [
      { pipeline: main, bindGroup: bind(main, [...common, ...inputs, [6, ml], [7, acc]]), size: [nHeads, T, nSplits] },
      { pipeline: combine, bindGroup: bind(combine, [...common, [5, out], [6, ml], [7, acc]]), size: [nHeads, T, 1] },
    ];
  }
  return {
    label,
    ownedBytes: owned.slice(1).reduce((a, b) => a + b.size, 0),
    encode(pass) {
      for (const { pipeline, bindGroup, size } of passes) {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(...size);
      }
    },
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}
