// The WebGPU backend's memory, planned before any buffer exists (as src/cpu/plan.ts plans Wasm memory):
// the weights in the storage format and shards the uploaders will use (planWeights, from the same
// layout functions), the run state (runStateSizes, which createRunState allocates from) and the
// attention ops' split scratch. Checked against the optional gpuMemoryBudget and the adapter's limits,
// so that a model too large is refused with its numbers and what would fit, instead of failing halfway
// through an upload. Uniform buffers (kernel parameters, a few KiB) are not counted.
import type { LlamaConfig } from '../../model/config.js';
import { GpuOutOfMemoryError, type GpuMemoryRefusal } from '../../errors.js';
import { attentionScratchBytes, DEFAULT_KV_FORMAT, type KVFormat } from '../attention.js';
import type { GpuContext } from '../device.js';
import { runStateBuffers, runStateSizes, type GpuMemoryReport } from './state.js';
import { planWeights, type PlannedBuffer, type WeightFormatOption, type WeightPlan, type WeightSource } from './upload.js';

export type GpuMemoryPart = 'weights' | 'kvCache' | 'activations';

export interface GpuMemoryPlan extends GpuMemoryReport {
  contextSize: number;
  /** Tokens of activations (prefill chunk; 1 when blocks are quantized: prompts then run token by token). */
  chunk: number;
  /** Every planned buffer: weight shards, run state, attention scratch. */
  buffers: (PlannedBuffer & { part: GpuMemoryPart })[];
}

/** What the plan is checked against: the device's limits and the caller's budget (bytes; none: no budget). */
export interface GpuMemoryLimits {
  maxBindingSize: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  budget?: number;
}

export function gpuLimits(ctx: GpuContext, budget?: number): GpuMemoryLimits {
  const { maxStorageBufferBindingSize, maxBufferSize } = ctx.limits;
  return { maxBindingSize: ctx.maxBindingSize, maxStorageBufferBindingSize, maxBufferSize, ...(budget !== undefined ? { budget } : {}) };
}

/** The plan of the run state and the programs' scratch at `contextSize`, over weights already planned. */
function planAt(c: LlamaConfig, W: WeightPlan, contextSize: number, prefillChunk: number, kvFormat: KVFormat): GpuMemoryPlan {
  const chunk = W.quantized ? 1 : prefillChunk;
  const buffers: GpuMemoryPlan['buffers'] = W.buffers.map((b) => ({ ...b, part: 'weights' }));
  buffers.push(...runStateBuffers(c, runStateSizes(c, W.layers, contextSize, chunk, kvFormat)));
  // One attention op per layer for decode, one more with the prefill program (f32/f16 blocks).
  const attention = [attentionScratchBytes(contextSize, 1, c.nHeads, c.headDim), W.quantized ? 0 : attentionScratchBytes(contextSize, chunk, c.nHeads, c.headDim)];
  for (let l = 0; l < c.nLayers; l++) {
    attention.forEach((bytes, i) => { if (bytes) buffers.push({ label: `L${l}.attention${i ? '.prefill' : ''}.partials`, bytes, bound: true, part: 'activations' }); });
  }
  const sum = (part: GpuMemoryPart) => buffers.reduce((a, b) => a + (b.part === part ? b.bytes : 0), 0);
  const weights = sum('weights');
  const kvCache = sum('kvCache');
  const activations = sum('activations');
  return { weights, kvCache, activations, total: weights + kvCache + activations, contextSize, chunk, buffers };
}

/** The first limit the plan breaks, or null. Weight pieces too large for any shard are caught by the caller. */
function broken(p: GpuMemoryPlan, limits: GpuMemoryLimits): GpuMemoryRefusal['limit'] | null {
  for (const b of p.buffers) {
    // A buffer bound whole must fit a binding; every buffer must fit maxBufferSize.
    if (b.bound && b.bytes > limits.maxStorageBufferBindingSize) return { name: 'maxStorageBufferBindingSize', bytes: limits.maxStorageBufferBindingSize, buffer: b };
    if (b.bytes > limits.maxBufferSize) return { name: 'maxBufferSize', bytes: limits.maxBufferSize, buffer: b };
  }
  return limits.budget !== undefined && p.total > limits.budget ? { name: 'gpuMemoryBudget', bytes: limits.budget } : null;
}

/**
 * The GPU memory plan of `source` at `contextSize`, checked against `limits`: over the budget or a
 * limit, a GpuOutOfMemoryError (MODEL_TOO_LARGE_FOR_GPU) naming the planned bytes by part, the limit,
 * and the largest contextSize that fits. Pure arithmetic: nothing is read or allocated.
 */
export function planGpuMemory(source: WeightSource, contextSize: number, limits: GpuMemoryLimits,
  opts: { weightFormat?: WeightFormatOption; prefillChunk?: number; kvCache?: KVFormat } = {}): GpuMemoryPlan {
  const c = source.config;
  const W = planWeights(source, opts.weightFormat ?? 'auto', limits.maxBindingSize);
  const at = (n: number) => planAt(c, W, n, opts.prefillChunk ?? 32, opts.kvCache ?? DEFAULT_KV_FORMAT);
  const plan = at(contextSize);
  const need = { weights: plan.weights, kvCache: plan.kvCache, activations: plan.activations, total: plan.total, contextSize };
  const piece = W.unsplittable[0];
  if (piece) {
    const buffer = { label: `${piece.label} (${piece.unit})`, bytes: piece.bytes };
    const name = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    throw new GpuOutOfMemoryError({ need, limit: { name, bytes: limits.maxBindingSize, buffer }, fitsContextSize: 0 });
  }
  const limit = broken(plan, limits);
  if (limit) {
    // The largest context whose plan fits (each part grows with it: bisect).
    let lo = 0;
    let hi = contextSize - 1;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (broken(at(mid), limits)) hi = mid - 1;
      else lo = mid;
    }
    throw new GpuOutOfMemoryError({ need, limit, fitsContextSize: lo });
  }
  return plan;
}
