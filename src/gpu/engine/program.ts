// The programs of the WebGPU backend: the op lists one token (decode) or a chunk of prompt tokens
// (prefill) records, built once at load from the kernel registry over the weights and the run state.
// Read top to bottom, each is the forward pass of src/reference/llama.ts:
//
//   decode, per layer (dense: no τ, every channel read; sparse: channels with |x_j| ≤ τ_j skipped):
//     sparse_gemv q|k|v (RMSNorm fused; split-K partials left for rope) → rope (sums them, + bias, q/k head
//     RMSNorm, rotation: one dispatch whatever the architecture; k, v into the cache) → attention (q_dim
//     wide) → sparse_gemv o (+= into x) → sparse_gemv gate|up (RMSNorm fused; partials left) →
//     sparse_gemv down (sums gate|up's partials, SwiGLU, += into x)
//   prefill (f32/f16 weights), per layer: gemm_t q|k|v → rope → attention → gemm_t o → gemm_t gate|up →
//     gemm_t down (SwiGLU of gate|up fused)
//   both: embedding first; the final RMSNorm and the output matrix last (gemv, gemm or qgemv: row-major).
//
// Dense and sparse decode are two op lists over the same weight buffers (only the GEMVs differ), chosen
// at submit time by whether thresholds are set.
import type { LlamaConfig } from '../../model/config.js';
import { counterSlot } from '../../model/projections.js';
import type { GpuContext } from '../device.js';
import { kernels } from '../kernels.js';
import type { PreparedOp } from '../pipeline.js';
import type { GemmTOptions } from '../gemm_t.js';
import { defaultKChunk, splitKPartials, type SparseGemvOptions, type SparseWeights, type SplitKPartials } from '../sparse_gemv.js';
import type { Step } from '../step.js';
import type { TransposedWeightTensor } from '../weights.js';
import type { RunState } from './state.js';
import type { LayerWeights, ModelWeights } from './upload.js';

export interface Programs {
  /** One token, every channel read. */
  decodeDense: PreparedOp[];
  /** One token, channels under τ skipped and counted. */
  decodeSparse: PreparedOp[];
  /** A chunk of tokens through gemm_t; null when a block matrix is quantized (prompts then run token by token). */
  prefill: PreparedOp[] | null;
  argmax: PreparedOp;
  /** Every distinct op, for dispose. */
  all: Set<PreparedOp>;
}

export interface ProgramTuning {
  /** Stored rows in flight per trip of the dense decode GEMVs (sparse_gemv unroll; default 8). */
  denseUnroll?: number;
  /** Input channels per workgroup of the dense decode GEMVs (default: denseKChunk; not below defaultKChunk). */
  denseKChunk?: number;
}

/**
 * Dense decode's K-chunk: 512 channels (fewer than 512: cols rounded up to a power of two, at least 64).
 * Half the partials of the sparse split (256): a 7B-shaped f16 step of 8 layers took 1.550 ms against
 * 1.606 with 256 on an H100 (BENCHMARKS.md, 2026-12-05); sparse decode keeps 256, where skipped
 * channels leave fewer rows per chunk to walk.
 */
export function denseKChunk(w: SparseWeights): number {
  return Math.min(512, Math.max(64, 2 ** Math.ceil(Math.log2(w.cols))));
}

/** Builds the decode and prefill programs (pipelines, uniforms and bind groups made here, once). */
export async function buildPrograms(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, S: RunState, tuning: ProgramTuning = {}): Promise<Programs> {
  const decode = await decodeFrame(ctx, c, W, S);
  const decodeDense = [decode.embedding];
  const decodeSparse = [decode.embedding];
  for (let l = 0; l < c.nLayers; l++) {
    const dense = { unroll: tuning.denseUnroll ?? 8, kChunk: tuning.denseKChunk ?? denseKChunk };
    decodeDense.push(...await decodeLayer(ctx, c, W, S, l, decode.attention[l]!, dense));
    decodeSparse.push(...await decodeLayer(ctx, c, W, S, l, decode.attention[l]!, { sparse: true }));
  }
  decodeDense.push(decode.output);
  decodeSparse.push(decode.output);
  const prefill = W.quantized ? null : await prefillProgram(ctx, c, W, S);
  const argmax = await kernels.argmax.prepare(ctx, { n: W.embedding.rows, x: S.logits, result: S.argmax, label: 'argmax' });
  return { decodeDense, decodeSparse, prefill, argmax, all: new Set([...decodeDense, ...decodeSparse, ...(prefill ?? []), argmax]) };
}

/** The ops dense and sparse decoding share: embedding, attention per layer, the output. */
async function decodeFrame(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, S: RunState) {
  const step = S.decodeStep;
  const attention: PreparedOp[] = [];
  for (let l = 0; l < c.nLayers; l++) attention.push(await attentionOp(ctx, c, S, l, step));
  return {
    embedding: await kernels.embedding.prepare(ctx, { step, table: W.embedding, out: S.x, label: 'embedding' }),
    attention,
    output: await outputOp(ctx, c, W, S, step),
  };
}

/** One decode layer: four GEMVs over Wᵀ, with rope and attention between them. */
async function decodeLayer(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, S: RunState, l: number, attention: PreparedOp,
  mode: { sparse?: boolean; unroll?: number; kChunk?: number | ((w: SparseWeights) => number) }): Promise<PreparedOp[]> {
  const L: LayerWeights = W.layers[l]!;
  const eps = c.rmsEps;
  const kc = (w: SparseWeights) => (typeof mode.kChunk === 'function' ? mode.kChunk(w) : mode.kChunk ?? defaultKChunk(w));
  const gemv = (name: string, w: SparseWeights, group: number, slot: number, o: Partial<SparseGemvOptions>) => kernels.sparse_gemv.prepare(ctx, {
    label: `L${l}.${name}`, weights: w, scratch: S.scratch, kChunk: kc(w), ...o,
    ...(mode.sparse ? { tau: S.tau[l]![group]!, stats: { buffer: S.counters, slot: counterSlot(l, slot) } } : { unroll: mode.unroll }),
  });
  // rope reads q|k|v as the sum of the q|k|v GEMV's split-K partials, down gate|up's.
  const qkvParts = splitKPartials(L.qkv, S.scratch, kc(L.qkv));
  const guParts = splitKPartials(L.gateUp, S.scratch, kc(L.gateUp));
  return [
    await gemv('qkv', L.qkv, 0, 0, { x: S.x, norm: { weight: L.attnNorm, eps }, leavePartials: qkvParts }),
    await ropeOp(ctx, c, L, S, l, S.decodeStep, qkvParts),
    attention,
    await gemv('o', L.o, 1, 3, { x: S.att, y: S.x, accumulate: true }),
    await gemv('gate_up', L.gateUp, 2, 4, { x: S.x, norm: { weight: L.ffnNorm, eps }, leavePartials: guParts }),
    await gemv('down', L.down, 3, 6, { xPartials: guParts, swiglu: {}, y: S.x, accumulate: true, scratch: S.downScratch }),
  ];
}

/**
 * rope: q|k|v finished in place for `step`'s tokens (from qkv, or from partials): + bias, q and k heads
 * RMS-normalized, rotated (the model's style and frequencies are in the table); k and v into layer l's cache.
 */
function ropeOp(ctx: GpuContext, c: LlamaConfig, L: LayerWeights, S: RunState, l: number, step: Step, partials?: SplitKPartials): Promise<PreparedOp> {
  const kvDim = c.nKVHeads * c.headDim;
  return kernels.rope.prepare(ctx, {
    label: `L${l}.rope`, step, table: S.ropeTable, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim,
    x: S.qkv, qOffset: 0, kOffset: c.qDim, vOffset: c.qDim + kvDim, stride: c.qDim + 2 * kvDim,
    cache: { key: S.keyCache[l]!, value: S.valueCache[l]!, format: S.kvFormat }, ...(partials ? { partials } : {}),
    ...(L.qkvBias ? { bias: L.qkvBias } : {}), ...(L.qkNorm ? { headNorm: { weight: L.qkNorm, eps: c.rmsEps } } : {}),
  });
}

/** attention of `step`'s tokens over layer l's cache, into att. */
function attentionOp(ctx: GpuContext, c: LlamaConfig, S: RunState, l: number, step: Step): Promise<PreparedOp> {
  return kernels.attention.prepare(ctx, {
    label: `L${l}.attention`, step, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim, contextLength: S.ropeTable.contextLength,
    q: S.qkv, qStride: c.qDim + 2 * c.nKVHeads * c.headDim, keyCache: S.keyCache[l]!, valueCache: S.valueCache[l]!, kvFormat: S.kvFormat, out: S.att,
  });
}

/** The final RMSNorm fused into the row-major output matrix: gemv (or qgemv) for one token, gemm for a chunk. */
async function outputOp(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, S: RunState, step: Step): Promise<PreparedOp> {
  const args = { label: 'output', x: S.x, y: S.logits, norm: { weight: W.outputNorm, eps: c.rmsEps } };
  if ('kind' in W.output) return kernels.qgemv.prepare(ctx, { ...args, weights: W.output });
  return step.maxTokens === 1 ? kernels.gemv.prepare(ctx, { ...args, weights: W.output }) : kernels.gemm.prepare(ctx, { ...args, weights: W.output, step });
}

/** Prefill: the decode recipe with gemm_t over the same Wᵀ, for up to prefillStep.maxTokens tokens. */
async function prefillProgram(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, S: RunState): Promise<PreparedOp[]> {
  const step = S.prefillStep;
  const eps = c.rmsEps;
  const ops = [await kernels.embedding.prepare(ctx, { step, table: W.embedding, out: S.x, label: 'embedding' })];
  for (let l = 0; l < c.nLayers; l++) {
    const L = W.layers[l]!;
    const gemm = (name: string, w: SparseWeights, o: Omit<GemmTOptions, 'step' | 'label' | 'weights'>) =>
      kernels.gemm_t.prepare(ctx, { label: `L${l}.${name}`, step, weights: floatWeights(w), ...o });
    ops.push(
      await gemm('qkv', L.qkv, { x: S.x, y: S.qkv, norm: { weight: L.attnNorm, eps } }),
      await ropeOp(ctx, c, L, S, l, step),
      await attentionOp(ctx, c, S, l, step),
      await gemm('o', L.o, { x: S.att, y: S.x, accumulate: true }),
      await gemm('gate_up', L.gateUp, { x: S.x, y: S.hb, norm: { weight: L.ffnNorm, eps } }), // gate | up per token
      await gemm('down', L.down, { x: S.hb, xStride: 2 * c.hiddenDim, swiglu: { upOffset: c.hiddenDim }, y: S.x, accumulate: true }),
    );
  }
  ops.push(await outputOp(ctx, c, W, S, step));
  return ops;
}

function floatWeights(w: SparseWeights): TransposedWeightTensor {
  if (w.format !== 'f32' && w.format !== 'f16') throw new Error(`gemm_t reads f32/f16 weights, not ${w.format}`);
  return w;
}
