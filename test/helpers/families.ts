// Tiny random-weight GGUFs of every architecture family was-edge runs, in the formats people download
// (F16, Q8_0, Q4_K_M, Q5_K_M, Q6_K), made the way llama.cpp's convert_hf_to_gguf.py and llama-quantize
// lay them out. Seeded and deterministic: bench/llama-cpp/ feeds the same bytes to llama.cpp (and
// transformers for qwen3), and test/fixtures/families/ keeps their logits keyed by each file's sha256.
// Imports nothing from src/: a misreading there cannot be mirrored here.
//
// Families: llama3 (llama, rope_freqs factors, base 500000, pre llama-bpe), smollm (llama, tied output,
// pre smollm), qwen2 (q/k/v biases, NEOX rope, base 1e6, pre qwen2), qwen3 (per-head q/k RMSNorm, NEOX,
// head size 128 from key_length: q is 512 wide on a 256-wide model).

import { createHash } from 'node:crypto';
import { f32Bytes, kv, TYPE, writeGGUF, type GGUFSpec, type Meta, type TensorSpec } from './gguf-writer.js';
import { quantizeK, quantizeLegacy, toHalf } from './kquant.js';

import { mulberry32 } from './random.js';

export const FAMILIES = ['llama3', 'smollm', 'qwen2', 'qwen3'] as const;
/**
 * SmolLM2-135M's widths (576, 9 heads of 64, 3 KV heads, ffn 1536): rows of 576 are not a multiple of
 * 256, so llama-quantize's Q4_K_M/Q5_K_M give them Q5_0/Q5_1 (and Q8_0 for Q6_K) — as in the SmolLM2
 * and Qwen2.5-0.5B files people download. Only its Q4_K_M and Q5_K_M files are made.
 */
export const ODD_WIDTH = 'smollm576' as const;
export type Family = (typeof FAMILIES)[number] | typeof ODD_WIDTH;
export const FORMATS = ['F16', 'Q8_0', 'Q4_K_M', 'Q5_K_M', 'Q6_K'] as const;
export type Format = (typeof FORMATS)[number];

/** Shapes: K-quants need rows of 256, so dim and hidden are multiples of 256 (but in ODD_WIDTH). */
const LAYERS = 2, VOCAB = 512;
const SHAPE = { dim: 256, hidden: 512, heads: 4, kvHeads: 2 };

interface FamilySpec {
  arch: 'llama' | 'qwen2' | 'qwen3';
  shape?: typeof SHAPE;
  pre: string;
  headDim: number;
  ropeBase: number;
  tied: boolean;
  bos: string;
  eos: string;
  eot?: string;
  specials: string[];
  addBos: boolean;
}

const SPECS: Record<Family, FamilySpec> = {
  llama3: { arch: 'llama', pre: 'llama-bpe', headDim: 64, ropeBase: 500000, tied: false, bos: '<|begin_of_text|>', eos: '<|end_of_text|>', eot: '<|eot_id|>',
    specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'], addBos: true },
  smollm: { arch: 'llama', pre: 'smollm', headDim: 64, ropeBase: 10000, tied: true, bos: '<|im_start|>', eos: '<|im_end|>',
    specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], addBos: false },
  qwen2: { arch: 'qwen2', pre: 'qwen2', headDim: 64, ropeBase: 1000000, tied: true, bos: '<|endoftext|>', eos: '<|im_end|>',
    specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], addBos: false },
  qwen3: { arch: 'qwen3', pre: 'qwen2', headDim: 128, ropeBase: 1000000, tied: true, bos: '<|endoftext|>', eos: '<|im_end|>',
    specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], addBos: false },
  smollm576: { arch: 'llama', shape: { dim: 576, hidden: 1536, heads: 9, kvHeads: 3 }, pre: 'smollm', headDim: 64, ropeBase: 10000, tied: true,
    bos: '<|im_start|>', eos: '<|im_end|>', specials: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], addBos: false },
};

/** GPT-2's byte ↔ printable-character map (bytes_to_unicode). */
function byteChars(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(keep(b) ? b : 256 + extra++));
}

const TRAINING_TEXT = `Once upon a time there was a little girl who lived in a village near the forest. Whenever she went
out, the little girl wore a red riding cloak, so everyone in the village called her Little Red Riding Hood. The meaning of
life is to find what you love and to share it with the people around you. def main():\n    return [x * 2 for x in range(10)]\n`;

/**
 * A byte-level BPE vocabulary of VOCAB tokens: the 256 byte tokens, merges learned greedily from a fixed
 * text (the most frequent adjacent pair within GPT-2-style words, ties to the first seen), the family's
 * special tokens (control), and unused padding.
 */
export function tinyVocab(f: Family): { tokens: string[]; types: number[]; merges: string[] } {
  const chars = byteChars();
  const tokens = [...chars];
  const merges: string[] = [];
  const bytes = new TextEncoder();
  let words = (TRAINING_TEXT.match(/ ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+/gu) ?? [])
    .map((w) => [...bytes.encode(w)].map((b) => chars[b]!));
  const room = VOCAB - 256 - SPECS[f].specials.length - 8;
  while (merges.length < room) {
    const counts = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) {
      const k = `${w[i]} ${w[i + 1]}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let best = '', n = 1;
    for (const [k, c] of counts) if (c > n) { best = k; n = c; }
    if (!best) break;
    const [a, b] = best.split(' ') as [string, string];
    merges.push(best);
    tokens.push(a + b);
    words = words.map((w) => {
      const out: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) { out.push(a + b); i++; } else out.push(w[i]!);
      }
      return out;
    });
  }
  const types = tokens.map(() => 1);
  for (const s of SPECS[f].specials) { tokens.push(s); types.push(3); }
  while (tokens.length < VOCAB) { tokens.push(`[PAD${tokens.length}]`); types.push(5); }
  return { tokens, types, merges };
}

function metadata(f: Family, formatName: Format): [string, Meta][] {
  const s = SPECS[f];
  const { dim: DIM, hidden: HIDDEN, heads: HEADS, kvHeads: KV_HEADS } = s.shape ?? SHAPE;
  const a = s.arch;
  const v = tinyVocab(f);
  const id = (t: string) => v.tokens.indexOf(t);
  const fileType: Record<Format, number> = { F16: 1, Q8_0: 7, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18 };
  return [
    ['general.architecture', kv.str(a)],
    ['general.name', kv.str(`tiny-${f}`)],
    ['general.file_type', kv.u32(fileType[formatName])],
    [`${a}.context_length`, kv.u32(256)],
    [`${a}.embedding_length`, kv.u32(DIM)],
    [`${a}.feed_forward_length`, kv.u32(HIDDEN)],
    [`${a}.block_count`, kv.u32(LAYERS)],
    [`${a}.attention.head_count`, kv.u32(HEADS)],
    [`${a}.attention.head_count_kv`, kv.u32(KV_HEADS)],
    ...(f === 'qwen3' ? [[`${a}.attention.key_length`, kv.u32(s.headDim)], [`${a}.attention.value_length`, kv.u32(s.headDim)]] as [string, Meta][] : []),
    [`${a}.rope.freq_base`, kv.f32(s.ropeBase)],
    [`${a}.attention.layer_norm_rms_epsilon`, kv.f32(1e-6)],
    ...(a === 'llama' ? [[`${a}.rope.dimension_count`, kv.u32(s.headDim)], [`${a}.vocab_size`, kv.u32(VOCAB)]] as [string, Meta][] : []),
    ['tokenizer.ggml.model', kv.str('gpt2')],
    ['tokenizer.ggml.pre', kv.str(s.pre)],
    ['tokenizer.ggml.tokens', kv.arr('string', v.tokens)],
    ['tokenizer.ggml.token_type', kv.arr('i32', v.types)],
    ['tokenizer.ggml.merges', kv.arr('string', v.merges)],
    ['tokenizer.ggml.bos_token_id', kv.u32(id(s.bos))],
    ['tokenizer.ggml.eos_token_id', kv.u32(id(s.eos))],
    ...(s.eot ? [['tokenizer.ggml.eot_token_id', kv.u32(id(s.eot))]] as [string, Meta][] : []),
    ['tokenizer.ggml.add_bos_token', kv.bool(s.addBos)],
  ];
}

/** The type a matrix gets in `format`, in the spirit of llama-quantize's Q4_K_M/Q5_K_M mixes. */
function typeOf(format: Format, name: string, tied: boolean, cols: number): number {
  const t = kindOf(format, name, tied);
  // llama-quantize's fallbacks for rows that are not whole 256-weight super-blocks
  if (cols % 256 !== 0) return t === TYPE.Q4_K ? 6 : t === TYPE.Q5_K ? 7 : t === TYPE.Q6_K ? TYPE.Q8_0 : t;
  return t;
}

function kindOf(format: Format, name: string, tied: boolean): number {
  switch (format) {
    case 'F16': return TYPE.F16;
    case 'Q8_0': return TYPE.Q8_0;
    case 'Q6_K': return TYPE.Q6_K;
    default: {
      const k = format === 'Q4_K_M' ? TYPE.Q4_K : TYPE.Q5_K;
      // The output matrix (the embedding when tied) and v/down of "more bits" layers (here: the last) get Q6_K.
      if (name === 'output.weight' || (tied && name === 'token_embd.weight')) return TYPE.Q6_K;
      if (/blk\.1\.(attn_v|ffn_down)/.test(name)) return TYPE.Q6_K;
      return k;
    }
  }
}

/**
 * f32 → f16 bits, round to nearest (ties down), for the normal range these weights stay in (|v| in [2^-14,
 * 65504) or 0); bit arithmetic instead of kquant.ts's search, which is too slow for 10^6 weights.
 */
function halfOf(v: number): number {
  f32[0] = v;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  if (v === 0) return sign;
  if (e <= 0 || e >= 31) return toHalf(v); // subnormal or huge: the slow exact path
  let m = b & 0x7fffff;
  let h = sign | (e << 10) | (m >>> 13);
  m &= 0x1fff;
  if (m > 0x1000) h++; // ties round down, as kquant.ts's toHalf does (the fixtures were made with it)
  return h;
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function encode(type: number, x: Float32Array): Uint8Array {
  if (type === TYPE.F16) {
    const out = new Uint8Array(2 * x.length);
    const dv = new DataView(out.buffer);
    x.forEach((v, i) => dv.setUint16(2 * i, halfOf(v), true));
    return out;
  }
  if (type === TYPE.Q8_0) {
    const out = new Uint8Array((x.length / 32) * 34);
    const dv = new DataView(out.buffer);
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[32 * b + i]!));
      const d = amax / 127;
      const h = toHalf(d);
      dv.setUint16(34 * b, h, true);
      for (let i = 0; i < 32; i++) dv.setInt8(34 * b + 2 + i, d ? Math.round(x[32 * b + i]! / d) : 0);
    }
    return out;
  }
  if (type === 6 || type === 7) return quantizeLegacy(type, x);
  return quantizeK(type, x);
}

/** The GGUF spec of family `f` in `format`, random weights from `seed`. */
export function familySpec(f: Family, format: Format, seed = 1): GGUFSpec {
  const s = SPECS[f];
  const { dim: DIM, hidden: HIDDEN, heads: HEADS, kvHeads: KV_HEADS } = s.shape ?? SHAPE;
  const qDim = HEADS * s.headDim, kvDim = KV_HEADS * s.headDim;
  const shapes: [string, number[]][] = [['token_embd.weight', [DIM, VOCAB]], ['output_norm.weight', [DIM]]];
  if (!s.tied) shapes.push(['output.weight', [DIM, VOCAB]]);
  if (f === 'llama3') shapes.push(['rope_freqs.weight', [s.headDim / 2]]);
  for (let l = 0; l < LAYERS; l++) {
    const b = (n: string, dims: number[]) => shapes.push([`blk.${l}.${n}`, dims]);
    b('attn_norm.weight', [DIM]);
    b('attn_q.weight', [DIM, qDim]);
    b('attn_k.weight', [DIM, kvDim]);
    b('attn_v.weight', [DIM, kvDim]);
    if (s.arch === 'qwen2') { b('attn_q.bias', [qDim]); b('attn_k.bias', [kvDim]); b('attn_v.bias', [kvDim]); }
    if (s.arch === 'qwen3') { b('attn_q_norm.weight', [s.headDim]); b('attn_k_norm.weight', [s.headDim]); }
    b('attn_output.weight', [qDim, DIM]);
    b('ffn_norm.weight', [DIM]);
    b('ffn_gate.weight', [DIM, HIDDEN]);
    b('ffn_up.weight', [DIM, HIDDEN]);
    b('ffn_down.weight', [HIDDEN, DIM]);
  }
  const rnd = mulberry32(seed);
  const tensors = shapes.map(([name, dims]): TensorSpec => {
    const n = dims.reduce((a, d) => a * d, 1);
    if (dims.length === 1) {
      // Llama 3's factors: 1 for high frequencies, up to 8 for low ones (its scaling rule's range).
      const v = name === 'rope_freqs.weight' ? Array.from({ length: n }, (_, i) => 1 + (7 * i) / (n - 1))
        : name.endsWith('.bias') ? Array.from({ length: n }, () => (rnd() - 0.5) * 0.5)
        : Array.from({ length: n }, () => 0.8 + 0.4 * rnd());
      return { name, dims, type: TYPE.F32, data: f32Bytes(v) };
    }
    // Weights of a trained model's spread (≈ 1/√dim), with a stronger embedding so logits spread out
    // (not so strong when it is also the output: logits would just repeat the input token).
    const scale = name === 'token_embd.weight' ? (s.tied ? 0.3 : 1) : 0.12;
    const x = Float32Array.from({ length: n }, () => (rnd() + rnd() + rnd() - 1.5) * scale);
    const type = typeOf(format, name, s.tied, dims[0]!);
    return { name, dims, type, data: encode(type, x) };
  });
  return { version: 3, metadata: metadata(f, format), tensors };
}

const built = new Map<string, Uint8Array>();

/** The bytes of family `f` in `format` (memoized per process). */
export function familyGGUF(f: Family, format: Format, seed = 1): Uint8Array {
  const key = `${f}/${format}/${seed}`;
  let bytes = built.get(key);
  if (!bytes) built.set(key, (bytes = writeGGUF(familySpec(f, format, seed)).bytes));
  return bytes;
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Prompts every family test feeds (special-token text included: it is parsed as one token). */
export const FAMILY_PROMPTS = ['Once upon a time there was', 'The meaning of life is', 'def main():\n    return'];
