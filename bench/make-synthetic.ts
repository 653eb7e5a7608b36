// Synthetic GGUFs in the shapes people download, streamed to disk tensor by tensor (never the whole
// file in memory): random but valid blocks in llama-quantize's Q4_K_M mix (Q4_K; Q6_K for the output
// or tied embedding and for v/down of its "more bits" layers; Q5_0/Q8_0 where a row is not a multiple
// of 256), or F16. For load, memory and speed measurements; the weights mean nothing, so their text
// is noise, but every byte is a legal block whose weights sit in a trained model's range.
//
//   npx esbuild bench/make-synthetic.ts --bundle --platform=node --format=esm --target=node20 --outfile=dist/make-synthetic.mjs
//   node dist/make-synthetic.mjs SHAPE FORMAT OUT.gguf      SHAPE: llama-3.2-1b | llama-3.2-3b | llama-3.1-8b | qwen2.5-0.5b | qwen3-0.6b
//                                                           FORMAT: Q4_K_M | F16
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { kv, TYPE, writeGGUF, type Meta, type TensorSpec } from '../test/helpers/gguf-writer.js';

interface Shape { arch: 'llama' | 'qwen2' | 'qwen3'; dim: number; hidden: number; layers: number; heads: number; kvHeads: number; headDim: number; vocab: number; tied: boolean; ropeBase: number }
const SHAPES: Record<string, Shape> = {
  'llama-3.2-1b': { arch: 'llama', dim: 2048, hidden: 8192, layers: 16, heads: 32, kvHeads: 8, headDim: 64, vocab: 128256, tied: true, ropeBase: 500000 },
  'llama-3.2-3b': { arch: 'llama', dim: 3072, hidden: 8192, layers: 28, heads: 24, kvHeads: 8, headDim: 128, vocab: 128256, tied: true, ropeBase: 500000 },
  'llama-3.1-8b': { arch: 'llama', dim: 4096, hidden: 14336, layers: 32, heads: 32, kvHeads: 8, headDim: 128, vocab: 128256, tied: false, ropeBase: 500000 },
  'qwen2.5-0.5b': { arch: 'qwen2', dim: 896, hidden: 4864, layers: 24, heads: 14, kvHeads: 2, headDim: 64, vocab: 151936, tied: true, ropeBase: 1000000 },
  'qwen3-0.6b': { arch: 'qwen3', dim: 1024, hidden: 3072, layers: 28, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936, tied: true, ropeBase: 1000000 },
};

const BLOCK: Record<number, [elements: number, bytes: number]> = {
  [TYPE.F32]: [1, 4], [TYPE.F16]: [1, 2], 6: [32, 22], [TYPE.Q8_0]: [32, 34], [TYPE.Q4_K]: [256, 144], [TYPE.Q6_K]: [256, 210],
};

/** llama-quantize's Q4_K_M choice for a matrix (llama_tensor_get_type, simplified to these shapes). */
function q4kmType(s: Shape, name: string, cols: number): number {
  const layer = Number(/blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  const n = s.layers;
  const moreBits = layer < n / 8 || layer >= (7 * n) / 8 || (layer - Math.floor(n / 8)) % 3 === 2;
  let t: number = TYPE.Q4_K;
  if (name === 'output.weight' || (s.tied && name === 'token_embd.weight')) t = TYPE.Q6_K;
  else if (/attn_v|ffn_down/.test(name) && moreBits) t = TYPE.Q6_K;
  if (cols % 256 !== 0) t = t === TYPE.Q6_K ? TYPE.Q8_0 : 6; // Q8_0 and Q5_0 fallbacks
  return t;
}

/** Random legal bytes of `n` weights of `type`, scales set so weights lie within about ±0.06. */
function randomTensor(type: number, n: number): Uint8Array {
  const [el, by] = BLOCK[type]!;
  const bytes = randomFillSync(new Uint8Array((n / el) * by));
  const dv = new DataView(bytes.buffer);
  const blocks = n / el;
  for (let b = 0; b < blocks; b++) {
    const at = b * by;
    switch (type) {
      case TYPE.F16: dv.setUint16(at, 0x2000 | (bytes[at]! & 0x83ff), true); break; // ±[2^-7, 2^-6)
      case TYPE.F32: dv.setFloat32(at, 1, true); break; // norms
      case TYPE.Q4_K: dv.setUint16(at, 0x1000, true); dv.setUint16(at + 2, 0x0c00, true); break; // d 2^-11, dmin 2^-12
      case TYPE.Q6_K: dv.setUint16(at + 208, 0x0c00, true); break;
      case TYPE.Q8_0: dv.setUint16(at, 0x1400, true); break;
      case 6: dv.setUint16(at, 0x1c00, true); break; // Q5_0: d 2^-8
    }
  }
  return bytes;
}

function tensorsOf(s: Shape, format: string): { name: string; dims: number[]; type: number }[] {
  const qDim = s.heads * s.headDim, kvDim = s.kvHeads * s.headDim;
  const out: { name: string; dims: number[]; type: number }[] = [];
  const matrix = (name: string, cols: number, rows: number) =>
    out.push({ name, dims: [cols, rows], type: format === 'F16' ? TYPE.F16 : q4kmType(s, name, cols) });
  const vector = (name: string, n: number) => out.push({ name, dims: [n], type: TYPE.F32 });
  matrix('token_embd.weight', s.dim, s.vocab);
  vector('output_norm.weight', s.dim);
  if (!s.tied) matrix('output.weight', s.dim, s.vocab);
  for (let l = 0; l < s.layers; l++) {
    vector(`blk.${l}.attn_norm.weight`, s.dim);
    matrix(`blk.${l}.attn_q.weight`, s.dim, qDim);
    matrix(`blk.${l}.attn_k.weight`, s.dim, kvDim);
    matrix(`blk.${l}.attn_v.weight`, s.dim, kvDim);
    if (s.arch === 'qwen2') for (const [b, n] of [['q', qDim], ['k', kvDim], ['v', kvDim]] as const) vector(`blk.${l}.attn_${b}.bias`, n);
    if (s.arch === 'qwen3') { vector(`blk.${l}.attn_q_norm.weight`, s.headDim); vector(`blk.${l}.attn_k_norm.weight`, s.headDim); }
    matrix(`blk.${l}.attn_output.weight`, qDim, s.dim);
    vector(`blk.${l}.ffn_norm.weight`, s.dim);
    matrix(`blk.${l}.ffn_gate.weight`, s.dim, s.hidden);
    matrix(`blk.${l}.ffn_up.weight`, s.dim, s.hidden);
    matrix(`blk.${l}.ffn_down.weight`, s.hidden, s.dim);
  }
  return out;
}

function metadata(name: string, s: Shape): [string, Meta][] {
  const a = s.arch;
  // A byte-level vocabulary of the model's size: the 256 byte tokens, then plain tokens (no merges).
  const tokens = Array.from({ length: s.vocab }, (_, i) => (i < 256 ? String.fromCodePoint(i < 33 || (i > 126 && i < 161) || i === 173 ? 256 + i : i) : `<t${i}>`));
  return [
    ['general.architecture', kv.str(a)], ['general.name', kv.str(`synthetic ${name}`)],
    [`${a}.context_length`, kv.u32(8192)], [`${a}.embedding_length`, kv.u32(s.dim)], [`${a}.feed_forward_length`, kv.u32(s.hidden)],
    [`${a}.block_count`, kv.u32(s.layers)], [`${a}.attention.head_count`, kv.u32(s.heads)], [`${a}.attention.head_count_kv`, kv.u32(s.kvHeads)],
    [`${a}.attention.key_length`, kv.u32(s.headDim)], [`${a}.attention.value_length`, kv.u32(s.headDim)],
    [`${a}.rope.freq_base`, kv.f32(s.ropeBase)], [`${a}.attention.layer_norm_rms_epsilon`, kv.f32(1e-5)],
    ['tokenizer.ggml.model', kv.str('gpt2')], ['tokenizer.ggml.pre', kv.str(a === 'llama' ? 'llama-bpe' : 'qwen2')],
    ['tokenizer.ggml.tokens', kv.arr('string', tokens)], ['tokenizer.ggml.token_type', kv.arr('i32', tokens.map(() => 1))],
    ['tokenizer.ggml.merges', kv.arr('string', [])],
    ['tokenizer.ggml.bos_token_id', kv.u32(256)], ['tokenizer.ggml.eos_token_id', kv.u32(257)], ['tokenizer.ggml.add_bos_token', kv.bool(a === 'llama')],
  ];
}

const [shapeName, format, out] = process.argv.slice(2);
const s = SHAPES[shapeName ?? ''];
if (!s || !out || (format !== 'Q4_K_M' && format !== 'F16')) {
  console.error(`usage: make-synthetic SHAPE (${Object.keys(SHAPES).join(' | ')}) Q4_K_M|F16 OUT.gguf`);
  process.exit(2);
}
const list = tensorsOf(s, format);
const sizes = list.map((t) => { const n = t.dims.reduce((a, b) => a * b, 1); const [el, by] = BLOCK[t.type]!; return (n / el) * by; });
// The header alone: tensor infos with their offsets, data left out (written below, one tensor at a time).
const ALIGN = 32;
let next = 0;
const specs: TensorSpec[] = list.map((t, i) => {
  const offset = next;
  next = Math.ceil((next + sizes[i]!) / ALIGN) * ALIGN;
  return { name: t.name, dims: t.dims, type: t.type, offset, data: new Uint8Array(0) };
});
const { bytes, layout } = writeGGUF({ version: 3, metadata: metadata(shapeName!, s), tensors: specs, alignment: ALIGN });
const fd = openSync(out, 'w');
writeSync(fd, bytes.subarray(0, layout.dataOffset));
let written = 0;
list.forEach((t, i) => {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const data = randomTensor(t.type, n);
  writeSync(fd, data);
  const pad = (Number(specs[i]!.offset) + sizes[i]! + ALIGN - 1) - ((Number(specs[i]!.offset) + sizes[i]! + ALIGN - 1) % ALIGN) - (Number(specs[i]!.offset) + sizes[i]!);
  if (pad) writeSync(fd, new Uint8Array(pad));
  written += data.length + pad;
});
closeSync(fd);
const types = new Map<number, number>();
list.forEach((t) => types.set(t.type, (types.get(t.type) ?? 0) + 1));
console.log(`${out}: ${shapeName} ${format}, ${list.length} tensors (${[...types].map(([t, c]) => `type ${t} ×${c}`).join(', ')}), ` +
  `${((layout.dataOffset + written) / 2 ** 20).toFixed(1)} MiB`);
