// The kernels, one module each (validation, uniform layout, dispatch size; WGSL in shaders/<name>.wgsl).
// Every module exports `prepare(ctx, options): Promise<PreparedOp>` (pipeline, uniforms and bind
// groups made once, at load) and `wgsl(shape)` (the expanded shader text, which is also the pipeline
// cache key). A PreparedOp's `encode(pass)` only records dispatches into the caller's compute pass.
import * as add from './add.js';
import * as argmax from './argmax.js';
import * as attention from './attention.js';
import * as embedding from './embedding.js';
import * as gemm from './gemm.js';
import * as gemv from './gemv.js';
import * as rmsnorm from './rmsnorm.js';
import * as rope from './rope.js';
import * as sparse_gemv from './sparse_gemv.js';
import * as swiglu from './swiglu.js';

export type { PreparedOp } from './pipeline.js';
export { vectorBytes } from './pipeline.js';
export { createStep, writeStep, type Step } from './step.js';
export { createRopeTable, type RopeTable } from './rope.js';
export { uploadMatrix, uploadGateUp, destroyWeights, type WeightTensor, type WeightFormat } from './weights.js';
export { uploadTransposed, uploadTransposedStack, destroyTransposed, type TransposedWeightTensor } from './weights.js';

/**
 * The flat registry. How one decode token of a llama model is recorded with it (the engine's job;
 * test/gpu/decode.test.ts does exactly this for a small random model):
 *
 * At load, with `step = createStep(ctx, 1)` and activation buffers of `vectorBytes(n)` bytes
 * (STORAGE | COPY_SRC | COPY_DST; kernels read them as vec4s):
 *   - weights: `wqkv = uploadMatrix(ctx, concat(wq, wk, wv by rows), q+2kv, dim, fmt)`,
 *     `wo`, `gateUp = uploadGateUp(ctx, w1, w3, hidden, dim, fmt)`, `down`, `embd`, `head`;
 *   - per layer, prepare (the residual stream `x` (dim), `qkv` (q+2kv), `att` (q), `h` (hidden)):
 *       1. gemv   { weights: wqkv, x, y: qkv, norm: { weight: attn_norm, eps } }
 *       2. rope   { step, table, x: qkv, qOffset: 0, kOffset: q, stride: q+2kv,
 *                   cache: { key: kCache[l], value: vCache[l], vOffset: q+kv } }
 *       3. attention { step, q: qkv, qStride: q+2kv, keyCache, valueCache, out: att }
 *       4. gemv   { weights: wo, x: att, y: x, accumulate: true }              // x += wo·att
 *       5. gemv   { weights: gateUp, x, y: h, norm: { weight: ffn_norm, eps } } // h = silu(w1·n(x))·(w3·n(x))
 *       6. gemv   { weights: down, x: h, y: x, accumulate: true }              // x += w2·h
 *   - before the layers `embedding { step, table: embd, out: x }`; after them
 *     `gemv { weights: head, x, y: logits, norm: { weight: output_norm, eps } }` and
 *     `argmax { n: vocab, x: logits, result }`.
 * Per token: `writeStep(device, step, pos, [token])`, one command encoder, one compute pass,
 * `op.encode(pass)` for the ops above in order, `copyBufferToBuffer(result → a MAP_READ buffer, 4)`,
 * one submit, then map the 4 bytes. Nothing is allocated or created per token.
 * Prefill is the same graph with `createStep(ctx, chunk)` and gemm in place of gemv (attention and
 * rope read step.pos and step.nTokens; rope writes the step's k, v before attention reads them).
 * `op.destroy()` frees what an op owns: uniforms, and the split-K scratch of decode attention and sparse_gemv.
 * With activation sparsity, sparse_gemv { weights: uploadTransposedStack(...), tau, ... } takes gemv's
 * place in steps 1, 4, 6 (and 5 with a separate swiglu), over Wᵀ and one τ vector per stacked matrix.
 */
export const kernels = { embedding, rmsnorm, gemv, sparse_gemv, gemm, rope, attention, swiglu, add, argmax } as const;
