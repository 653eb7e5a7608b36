// The kernels, one module each (validation, uniform layout, dispatch size; WGSL in shaders/<name>.wgsl).
// Every module exports `prepare(ctx, options): Promise<PreparedOp>` (pipeline, uniforms and bind
// groups made once, at load) and `wgsl(shape)` (the expanded shader text, which is also the pipeline
// cache key). A PreparedOp's `encode(pass)` only records dispatches into the caller's compute pass.
import * as argmax from './argmax.js';
import * as attention from './attention.js';
import * as embedding from './embedding.js';
import * as gemm from './gemm.js';
import * as gemm_t from './gemm_t.js';
import * as gemv from './gemv.js';
import * as qgemv from './qgemv.js';
import * as rope from './rope.js';
import * as sparse_gemv from './sparse_gemv.js';

export type { PreparedOp } from './pipeline.js';
export { vectorBytes } from './pipeline.js';
export { createStep, writeStep, type Step } from './step.js';
export { createRopeTable, type RopeTable } from './rope.js';
export { uploadMatrix, uploadGateUp, destroyWeights, type WeightTensor, type WeightFormat } from './weights.js';
export { uploadTransposed, uploadTransposedStack, destroyTransposed, type TransposedWeightTensor } from './weights.js';

/**
 * The flat registry. The backend builds its programs from it (src/gpu/engine/program.ts: one token
 * reads each weight matrix once, input-channel-major):
 *
 * At load: the block matrices as Wᵀ stacks, `uploadTransposedStack(ctx, [q, k, v], dim, fmt)` (or
 * quant.ts `uploadQuantTransposedStack` for Q8_0/Q4_0, kquant.ts `uploadKQuantTransposedStack` for K-quants), likewise o, [gate, up], down; the embedding and
 * the output matrix row-major (`uploadMatrix`); activation buffers of `vectorBytes(n)` bytes; a split-K
 * scratch of `sparse_gemv.scratchBytes(W, kChunk)`; `step = createStep(ctx, 1)`. Per layer (x the
 * residual stream, qkv, att, scratch):
 *   1. sparse_gemv { weights: qkvT, x, norm: attn_norm, leavePartials: P = splitKPartials(qkvT, scratch) }
 *   2. rope        { step, table, x: qkv, partials: P, cache: { key, value }, bias?, headNorm? }
 *                  // sums P, + q|k|v bias, q/k head RMSNorm, rotation (table: θ, normal/NEOX); k, v into the cache
 *   3. attention   { step, q: qkv, keyCache, valueCache, out: att }
 *   4. sparse_gemv { weights: oT, x: att, y: x, accumulate: true }                  // x += Wo·att
 *   5. sparse_gemv { weights: gateUpT, x, norm: ffn_norm, leavePartials: G }
 *   6. sparse_gemv { weights: downT, xPartials: G, swiglu: {}, y: x, accumulate }  // x += Wd·(silu(g)·u)
 * with `tau` (and `stats`) on the four sparse_gemv ops for WAS/TEAL sparsity, without for dense. Before
 * the layers `embedding { step, table: embd, out: x }`; after them `gemv` (`qgemv` when quantized: Q8_0/Q4_0, or K-quants from kquant.ts `uploadKQuantMatrix`)
 * `{ weights: output, x, y: logits, norm: output_norm }` and `argmax { n: vocab, x: logits, result }`.
 * Per token: `writeStep(device, step, pos, [token])`, one command encoder, one compute pass, `encode`
 * for the ops in order, one submit. Nothing is allocated or created per token.
 * Prefill is the same graph with `createStep(ctx, chunk)`: gemm_t over the same Wᵀ in place of
 * sparse_gemv (its SwiGLU input fusion for down) and gemm for the output; rope reads qkv (no partials).
 * test/gpu/decode.test.ts composes gemv, gemm, rope, attention over row-major weights the same way.
 * `op.destroy()` frees what an op owns: uniforms, and the split-K scratch of decode attention and sparse_gemv.
 */
export const kernels = { embedding, gemv, qgemv, sparse_gemv, gemm, gemm_t, rope, attention, argmax } as const;
