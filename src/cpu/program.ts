// A model loaded into the CPU backend's planned memory (src/cpu/plan.ts), once: projections packed
// into the CPU layout (src/cpu/layout.ts), norms, biases and per-head norm weights as f32, the
// embedding table as the file stores it, and the job descriptors of assembly/cpu/jobs.ts. Per token
// only a job's position and active-channel words change (src/cpu/backend.ts).

import type { LlamaConfig } from '../model/config.js';
import { tensorBytes } from '../model/gguf.js';
import type { Model } from '../model/model.js';
import { dequantize } from '../model/tensor.js';
import { dequantizeTensor, modelTensors } from '../model/weights.js';
import { ropeSpec } from '../reference/llama.js';
import type { RopeSpec } from '../reference/ops.js';
import { packMatrix } from './layout.js';
import {
  ATTENTION_WORDS, GEMV_HEADER_WORDS, KIND_ATTENTION, KIND_GEMV, MATRIX_WORDS, scratchStrides, type CpuPlan, type MatrixPlan,
} from './plan.js';

/** Writes the model's weights and the job descriptors into `memory`; returns the model's rotation. */
export function loadProgram(model: Model, p: CpuPlan, memory: WebAssembly.Memory): RopeSpec {
  const c = model.config;
  const heap = memory.buffer;
  const tensors = modelTensors(model.file, c);
  const vector = (name: string, at: number) => {
    const t = tensors.get(name)!;
    dequantize(t.type, tensorBytes(model.file, t), t.nelements, new Float32Array(heap, at, t.nelements));
  };
  const matrix = (m: MatrixPlan) => packMatrix(model.file, m.tensor, heap, m.w, m.scales);
  p.layers.forEach((L, l) => {
    vector(`blk.${l}.attn_norm.weight`, L.attnNorm);
    vector(`blk.${l}.ffn_norm.weight`, L.ffnNorm);
    if (c.qkvBias) {
      vector(`blk.${l}.attn_q.bias`, L.bq);
      vector(`blk.${l}.attn_k.bias`, L.bk);
      vector(`blk.${l}.attn_v.bias`, L.bv);
    }
    if (c.qkNorm) {
      vector(`blk.${l}.attn_q_norm.weight`, L.qNorm);
      vector(`blk.${l}.attn_k_norm.weight`, L.kNorm);
    }
    L.proj.forEach(matrix);
  });
  const emb = tensors.get('token_embd.weight')!;
  if (p.embedding.type === emb.type) new Uint8Array(heap, p.embedding.ptr, emb.nbytes).set(tensorBytes(model.file, emb));
  else vector('token_embd.weight', p.embedding.ptr); // planned as f32 (plan.ts)
  vector('output_norm.weight', p.outputNorm);
  matrix(p.output);
  writeJobs(new Int32Array(heap), p, c);
  const freqs = c.ropeFreqFactors ? dequantizeTensor(model.file, tensors.get('rope_freqs.weight')!) : null;
  return ropeSpec(c, { ropeFreqs: freqs });
}

/** The job descriptors of every layer and of the output projection (dense: idx words 0). */
function writeJobs(i32: Int32Array, p: CpuPlan, c: LlamaConfig): void {
  const { tmp, scores } = scratchStrides(p);
  const gemv = (job: number, ms: [MatrixPlan, number, number, number][]) => {
    i32.set([KIND_GEMV, ms.length, p.tmp, tmp], job / 4);
    ms.forEach(([m, x, idx, out], j) => i32.set(
      [m.fmt, m.w, m.scales, m.np, x, idx, m.inputs, out], job / 4 + GEMV_HEADER_WORDS + j * MATRIX_WORDS));
  };
  for (const L of p.layers) {
    const [q, k, v, o, gate, up, down] = L.proj as [MatrixPlan, MatrixPlan, MatrixPlan, MatrixPlan, MatrixPlan, MatrixPlan, MatrixPlan];
    // idx words start at 0 (dense); the backend's setActive() fills them per token in sparse runs.
    gemv(L.jobs.qkv, [[q, p.xb, 0, p.q], [k, p.xb, 0, p.k], [v, p.xb, 0, p.v]]);
    gemv(L.jobs.o, [[o, p.att, 0, p.xb2]]);
    gemv(L.jobs.gateUp, [[gate, p.xb, 0, p.hb], [up, p.xb, 0, p.hb2]]);
    gemv(L.jobs.down, [[down, p.hb, 0, p.xb2]]);
    const words = [KIND_ATTENTION, p.q, L.keyCache, L.valueCache, p.att, 0, c.nHeads, c.nKVHeads, c.headDim, p.scores, scores];
    if (words.length !== ATTENTION_WORDS) throw new Error('attention job layout');
    i32.set(words, L.jobs.attention / 4);
  }
  gemv(p.outputJob, [[p.output, p.x, 0, p.logits]]);
}
