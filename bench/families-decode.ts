// Decode speed of the model families at the shapes people download, dense and WAS-sparse, on WebGPU
// through createBackend (the path generate() takes): Llama-3.2-1B (llama, rope factors, tied, vocab
// 128256) and Qwen3-0.6B (qwen3: q/k head norms, 128-wide heads, q 2048 wide on a 1024-wide model,
// vocab 151936), as Q4_K_M-style files with random but valid K-quant blocks (Q4_K matrices; Q6_K for
// the tied embedding/output and v/down). Thresholds: τ_j = t/‖W[:,j]‖₁ with one t per projection set
// from the column norms' median and a unit-scale activation, so about half the channels fall under it;
// the measured skipped fraction is printed beside each speed (what the engine really skipped).
//
//   npx esbuild bench/families-decode.ts --bundle --platform=node --format=esm --target=node20 \
//     --external:webgpu --loader:.wgsl=text --outfile=dist/bench-families.mjs && node dist/bench-families.mjs [--quick] [--tokens N]
import { randomFillSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createBackend } from '../src/create-backend.js';
import { nodeGPU } from '../src/gpu/node-gpu.js';
import { openModel } from '../src/model/model.js';
import { projectionNorms, type Thresholds } from '../src/model/projections.js';
import { wasTau } from '../src/sparsity/plan.js';
import { f32Bytes, kv, writeGGUF, type Meta, type TensorSpec } from '../test/helpers/gguf-writer.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, tokens: { type: 'string' } } });
const TOKENS = Number(args.tokens ?? 64);

interface Shape { name: string; arch: 'llama' | 'qwen3'; dim: number; hidden: number; layers: number; heads: number; kvHeads: number; headDim: number; vocab: number }
const SHAPES: Shape[] = args.quick
  ? [{ name: 'tiny llama3', arch: 'llama', dim: 256, hidden: 512, layers: 2, heads: 4, kvHeads: 2, headDim: 64, vocab: 1000 },
    { name: 'tiny qwen3', arch: 'qwen3', dim: 256, hidden: 512, layers: 2, heads: 4, kvHeads: 2, headDim: 128, vocab: 1000 }]
  : [{ name: 'Llama-3.2-1B-shaped', arch: 'llama', dim: 2048, hidden: 8192, layers: 16, heads: 32, kvHeads: 8, headDim: 64, vocab: 128256 },
    { name: 'Qwen3-0.6B-shaped', arch: 'qwen3', dim: 1024, hidden: 3072, layers: 28, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936 }];

const K_BYTES = { 12: 144, 14: 210 } as const;
/** Random K-quant blocks with sane f16 super-block scales (random codes and sub-scales are all valid). */
function kBlocks(type: 12 | 14, n: number): Uint8Array {
  const B = K_BYTES[type];
  const bytes = randomFillSync(new Uint8Array((n / 256) * B));
  const dv = new DataView(bytes.buffer);
  for (let b = 0; b < n / 256; b++) {
    // d ≈ 2^-10 (Q4_K: and dmin ≈ 2^-11) keeps weights near a trained model's ±0.05.
    if (type === 12) { dv.setUint16(b * B, 0x1400, true); dv.setUint16(b * B + 2, 0x1000, true); }
    else dv.setUint16(b * B + 208, 0x1000, true);
  }
  return bytes;
}

function synthetic(s: Shape): Uint8Array {
  const a = s.arch;
  const qDim = s.heads * s.headDim, kvDim = s.kvHeads * s.headDim;
  const tokens = Array.from({ length: s.vocab }, (_, i) => (i < 256 ? String.fromCodePoint(i < 33 ? 256 + i : i) : `t${i}`));
  const metadata: [string, Meta][] = [
    ['general.architecture', kv.str(a)], ['general.name', kv.str(s.name)],
    [`${a}.context_length`, kv.u32(4096)], [`${a}.embedding_length`, kv.u32(s.dim)], [`${a}.feed_forward_length`, kv.u32(s.hidden)],
    [`${a}.block_count`, kv.u32(s.layers)], [`${a}.attention.head_count`, kv.u32(s.heads)], [`${a}.attention.head_count_kv`, kv.u32(s.kvHeads)],
    [`${a}.attention.key_length`, kv.u32(s.headDim)], [`${a}.attention.value_length`, kv.u32(s.headDim)],
    [`${a}.rope.freq_base`, kv.f32(a === 'llama' ? 500000 : 1000000)], [`${a}.attention.layer_norm_rms_epsilon`, kv.f32(1e-6)],
    ['tokenizer.ggml.model', kv.str('gpt2')], ['tokenizer.ggml.pre', kv.str(a === 'llama' ? 'llama-bpe' : 'qwen2')],
    ['tokenizer.ggml.tokens', kv.arr('string', tokens)], ['tokenizer.ggml.token_type', kv.arr('i32', tokens.map(() => 1))],
    ['tokenizer.ggml.merges', kv.arr('string', [])], ['tokenizer.ggml.bos_token_id', kv.u32(1)], ['tokenizer.ggml.eos_token_id', kv.u32(2)],
  ];
  const ones = (n: number) => f32Bytes(new Float32Array(n).fill(1));
  const t: TensorSpec[] = [
    { name: 'token_embd.weight', dims: [s.dim, s.vocab], type: 14, data: kBlocks(14, s.dim * s.vocab) },
    { name: 'output_norm.weight', dims: [s.dim], type: 0, data: ones(s.dim) },
  ];
  if (a === 'llama') t.push({ name: 'rope_freqs.weight', dims: [s.headDim / 2], type: 0, data: f32Bytes(Array.from({ length: s.headDim / 2 }, (_, i) => 1 + (7 * i) / (s.headDim / 2 - 1))) });
  const m = (name: string, inp: number, out: number, type: 12 | 14 = 12) => t.push({ name, dims: [inp, out], type, data: kBlocks(type, inp * out) });
  for (let l = 0; l < s.layers; l++) {
    t.push({ name: `blk.${l}.attn_norm.weight`, dims: [s.dim], type: 0, data: ones(s.dim) });
    m(`blk.${l}.attn_q.weight`, s.dim, qDim);
    m(`blk.${l}.attn_k.weight`, s.dim, kvDim);
    m(`blk.${l}.attn_v.weight`, s.dim, kvDim, 14);
    if (a === 'qwen3') for (const n of ['attn_q_norm', 'attn_k_norm']) t.push({ name: `blk.${l}.${n}.weight`, dims: [s.headDim], type: 0, data: ones(s.headDim) });
    m(`blk.${l}.attn_output.weight`, qDim, s.dim);
    t.push({ name: `blk.${l}.ffn_norm.weight`, dims: [s.dim], type: 0, data: ones(s.dim) });
    m(`blk.${l}.ffn_gate.weight`, s.dim, s.hidden);
    m(`blk.${l}.ffn_up.weight`, s.dim, s.hidden);
    m(`blk.${l}.ffn_down.weight`, s.hidden, s.dim, 14);
  }
  return writeGGUF({ version: 3, metadata, tensors: t }).bytes;
}

/** About half the channels under τ for unit-scale activations: t = 0.67 · median column norm (|N(0,1)|'s median). */
function halfTau(norms: Float32Array[][]): Thresholds {
  return norms.map((layer) => layer.map((n) => {
    const sorted = Float32Array.from(n).sort();
    return wasTau(0.67 * sorted[sorted.length >> 1]!, n);
  }));
}

const rows: string[] = [];
for (const s of SHAPES) {
  const t0 = performance.now();
  const bytes = synthetic(s);
  const model = openModel(bytes);
  const made = performance.now();
  const b = await createBackend('webgpu', model, { contextSize: 512, platform: { gpu: nodeGPU } });
  const loaded = performance.now();
  const tau = halfTau(projectionNorms(model));
  for (const [label, thresholds] of [['dense', null], ['WAS ≈0.5', tau]] as const) {
    b.setThresholds(thresholds);
    let tok = await b.feedArgmax(1, 0); // warm-up token (pipelines, first submit)
    await b.skippedWeightFraction();
    const start = performance.now();
    for (let i = 1; i <= TOKENS; i++) tok = await b.feedArgmax(tok, i);
    const ms = (performance.now() - start) / TOKENS;
    const skipped = await b.skippedWeightFraction();
    rows.push(`| ${s.name} | ${(bytes.length / 2 ** 20).toFixed(0)} MiB | ${label} | ${skipped === null ? '—' : (100 * skipped).toFixed(1) + ' %'} | ${ms.toFixed(2)} ms | ${(1000 / ms).toFixed(1)} |`);
    console.log(rows.at(-1), `(made ${((made - t0) / 1e3).toFixed(1)} s, loaded ${((loaded - made) / 1e3).toFixed(1)} s)`);
  }
  b.dispose();
}
console.log(`\n| model (synthetic Q4_K_M) | file | mode | skipped weights | per token (feedArgmax, wall) | tokens/s |\n|---|---|---|---|---|---|\n${rows.join('\n')}`);
