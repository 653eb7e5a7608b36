// The token graph of src/gpu/kernels.ts's recipe composed from the registry over row-major weights (the
// backend's programs use the input-major kernels instead: test/gpu/engine*.test.ts), for a small random
// llama (two layers, grouped-query attention): decode token by token with gemv, and prefill the same
// tokens in one step with gemm; logits are compared with src/reference/ops.ts at every position.
import { afterAll, expect, test } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import { createRopeTable, createStep, kernels, uploadGateUp, uploadMatrix, vectorBytes, writeStep, type PreparedOp, type WeightFormat } from '../../src/gpu/kernels.js';
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import * as ops from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, readU32, rng, SEED, storage } from './util.js';

const cfg = { vocab: 97, dim: 64, nHeads: 8, nKVHeads: 2, headDim: 8, hidden: 172, layers: 2, ctx: 64, eps: 1e-5, base: 10000 };
const q = cfg.nHeads * cfg.headDim;
const kv = cfg.nKVHeads * cfg.headDim;
const TOKENS = [5, 17, 3, 96, 0, 17];

function randomModel(format: WeightFormat, seed: number) {
  const next = rng(seed);
  // Weights as the GPU will hold them (f16-rounded for f16), so the reference sees the same values.
  const mat = (rows: number, cols: number) => {
    const a = randomArray(next, rows * cols, 1 / Math.sqrt(cols));
    if (format === 'f16') for (let i = 0; i < a.length; i++) a[i] = f16ToF32(f32ToF16(a[i]!));
    return a;
  };
  const norm = (n: number) => randomArray(next, n, 0.5).map((v) => 1 + v);
  return {
    embd: mat(cfg.vocab, cfg.dim), head: mat(cfg.vocab, cfg.dim), outNorm: norm(cfg.dim),
    layers: Array.from({ length: cfg.layers }, () => ({
      attnNorm: norm(cfg.dim), wq: mat(q, cfg.dim), wk: mat(kv, cfg.dim), wv: mat(kv, cfg.dim), wo: mat(cfg.dim, q),
      ffnNorm: norm(cfg.dim), w1: mat(cfg.hidden, cfg.dim), w3: mat(cfg.hidden, cfg.dim), w2: mat(cfg.dim, cfg.hidden),
    })),
  };
}
type Model = ReturnType<typeof randomModel>;

/** Reference logits at every position of TOKENS (llama2.c's forward, with the ops of src/reference). */
function referenceLogits(m: Model): Float32Array[] {
  const kc = m.layers.map(() => new Float32Array(cfg.ctx * kv));
  const vc = m.layers.map(() => new Float32Array(cfg.ctx * kv));
  const mv = (w: Float32Array, v: Float32Array, rows: number) => {
    const o = new Float32Array(rows);
    ops.matvec(o, w, v, rows, v.length);
    return o;
  };
  return TOKENS.map((tok, pos) => {
    const x = m.embd.slice(tok * cfg.dim, (tok + 1) * cfg.dim);
    const xb = new Float32Array(cfg.dim);
    m.layers.forEach((L, l) => {
      ops.rmsnorm(xb, x, L.attnNorm, cfg.eps);
      const qv = mv(L.wq, xb, q);
      const k = mv(L.wk, xb, kv);
      ops.rope(qv, cfg.nHeads, { headDim: cfg.headDim, ropeDim: cfg.headDim, base: cfg.base, style: 'normal', freqFactors: null }, pos);
      ops.rope(k, cfg.nKVHeads, { headDim: cfg.headDim, ropeDim: cfg.headDim, base: cfg.base, style: 'normal', freqFactors: null }, pos);
      kc[l]!.set(k, pos * kv);
      vc[l]!.set(mv(L.wv, xb, kv), pos * kv);
      const att = new Float32Array(q);
      ops.attention(att, qv, kc[l]!, vc[l]!, pos, cfg.nHeads, cfg.nKVHeads, cfg.headDim);
      ops.addInPlace(x, mv(L.wo, att, cfg.dim));
      ops.rmsnorm(xb, x, L.ffnNorm, cfg.eps);
      const h = new Float32Array(cfg.hidden);
      ops.swiglu(h, mv(L.w1, xb, cfg.hidden), mv(L.w3, xb, cfg.hidden));
      ops.addInPlace(x, mv(L.w2, h, cfg.dim));
    });
    ops.rmsnorm(xb, x, m.outNorm, cfg.eps);
    return mv(m.head, xb, cfg.vocab);
  });
}

/** Loads the model and prepares one token graph for steps of up to maxTokens (gemv when 1, else gemm). */
async function prepareGraph(ctx: GpuContext, m: Model, format: WeightFormat, maxTokens: number) {
  const buf = (n: number) => ctx.device.createBuffer({ size: vectorBytes(n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const step = createStep(ctx, maxTokens);
  const table = await createRopeTable(ctx, {
    contextLength: cfg.ctx, spec: { headDim: cfg.headDim, ropeDim: cfg.headDim, base: cfg.base, style: 'normal', freqFactors: null },
  });
  const [x, qkv, att, h, logits, result] = [cfg.dim, q + 2 * kv, q, cfg.hidden, cfg.vocab, 1].map((n) => buf(n * maxTokens));
  const prod = maxTokens === 1
    ? (o: Parameters<typeof kernels.gemv.prepare>[1]) => kernels.gemv.prepare(ctx, o)
    : (o: Parameters<typeof kernels.gemv.prepare>[1]) => kernels.gemm.prepare(ctx, { ...o, step });
  const ops: PreparedOp[] = [await kernels.embedding.prepare(ctx, { step, table: await uploadMatrix(ctx, m.embd, cfg.vocab, cfg.dim, format), out: x })];
  for (const L of m.layers) {
    const wqkv = new Float32Array([...L.wq, ...L.wk, ...L.wv]);
    const [keyCache, valueCache] = [buf(cfg.ctx * kv), buf(cfg.ctx * kv)];
    ops.push(
      await prod({ weights: await uploadMatrix(ctx, wqkv, q + 2 * kv, cfg.dim, format), x, y: qkv, norm: { weight: storage(ctx, L.attnNorm), eps: cfg.eps } }),
      await kernels.rope.prepare(ctx, {
        step, table, nHeads: cfg.nHeads, nKVHeads: cfg.nKVHeads, headDim: cfg.headDim, x: qkv, qOffset: 0, kOffset: q, vOffset: q + kv, stride: q + 2 * kv,
        cache: { key: keyCache, value: valueCache },
      }),
      await kernels.attention.prepare(ctx, {
        step, nHeads: cfg.nHeads, nKVHeads: cfg.nKVHeads, headDim: cfg.headDim, contextLength: cfg.ctx, q: qkv, qStride: q + 2 * kv, keyCache, valueCache, out: att,
      }),
      await prod({ weights: await uploadMatrix(ctx, L.wo, cfg.dim, q, format), x: att, y: x, accumulate: true }),
      await prod({ weights: await uploadGateUp(ctx, L.w1, L.w3, cfg.hidden, cfg.dim, format), x, y: h, norm: { weight: storage(ctx, L.ffnNorm), eps: cfg.eps } }),
      await prod({ weights: await uploadMatrix(ctx, L.w2, cfg.dim, cfg.hidden, format), x: h, y: x, accumulate: true }),
    );
  }
  ops.push(await prod({ weights: await uploadMatrix(ctx, m.head, cfg.vocab, cfg.dim, format), x, y: logits, norm: { weight: storage(ctx, m.outNorm), eps: cfg.eps } }));
  const lastLogits = (n: number) => kernels.argmax.prepare(ctx, { n: cfg.vocab, x: logits, offset: (n - 1) * cfg.vocab, result });
  return { step, ops, logits, result, lastLogits };
}

function record(ctx: GpuContext, ops: PreparedOp[]): void {
  const enc = ctx.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const op of ops) op.encode(pass);
  pass.end();
  ctx.device.queue.submit([enc.finish()]);
}

describeGpu('one token graph (kernels.ts recipe)', () => {
  afterAll(() => gpu.device.destroy());
  for (const format of ['f32', 'f16'] as const) {
    test(`${format}: decode with gemv and prefill with gemm match the reference`, async () => {
      const model = randomModel(format, SEED);
      const want = referenceLogits(model);

      const dec = await prepareGraph(gpu, model, format, 1);
      const argmax = await dec.lastLogits(1);
      for (let pos = 0; pos < TOKENS.length; pos++) {
        writeStep(gpu.device, dec.step, pos, [TOKENS[pos]!]);
        record(gpu, [...dec.ops, argmax]);
        expectClose(await readBuffer(gpu, dec.logits, cfg.vocab), want[pos]!, `decode logits at ${pos}`);
        const sorted = [...want[pos]!].sort((a, b) => b - a);
        if (sorted[0]! - sorted[1]! > 1e-3) expect((await readU32(gpu, dec.result, 1))[0], `greedy token at ${pos}`).toBe(ops.argmax(want[pos]!));
      }

      const pre = await prepareGraph(gpu, model, format, 8);
      writeStep(gpu.device, pre.step, 0, TOKENS.slice(0, 4));  // two chunks: 4 tokens, then 2
      record(gpu, pre.ops);
      const first = await readBuffer(gpu, pre.logits, 4 * cfg.vocab);
      for (let t = 0; t < 4; t++) {
        expectClose(first.subarray(t * cfg.vocab, (t + 1) * cfg.vocab), want[t]!, `prefill logits at ${t}`);
      }
      writeStep(gpu.device, pre.step, 4, TOKENS.slice(4));
      record(gpu, pre.ops);
      const got = await readBuffer(gpu, pre.logits, 2 * cfg.vocab);
      for (let t = 0; t < 2; t++) {
        expectClose(got.subarray(t * cfg.vocab, (t + 1) * cfg.vocab), want[4 + t]!, `prefill logits at ${4 + t}`);
      }
    });
  }
});
