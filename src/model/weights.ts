// Named llama tensors, shape-checked against the config, dequantised to f32 for the reference.

import { ModelFormatError } from '../errors.js';
import type { LlamaConfig } from './config.js';
import { tensorBytes, type GGUFFile, type GGUFTensorInfo } from './gguf.js';
import { dequantize } from './tensor.js';

/** The nine tensors of one transformer block, by their GGUF suffix. */
export const BLOCK_TENSORS = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output',
  'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
export type BlockTensor = (typeof BLOCK_TENSORS)[number];

/** The optional per-block tensors an architecture adds (LlamaConfig says which a model has). */
export const QKV_BIASES = ['attn_q.bias', 'attn_k.bias', 'attn_v.bias'] as const;
export const QK_NORMS = ['attn_q_norm', 'attn_k_norm'] as const;
type Named = BlockTensor | 'token_embd' | 'output_norm' | 'output' | 'rope_freqs' | (typeof QKV_BIASES)[number] | (typeof QK_NORMS)[number];

/** Expected ggml dims ([in, out] for matrices) of every tensor of a llama-family model. */
export function expectedDims(c: LlamaConfig, suffix: Named): number[] {
  const kvDim = c.nKVHeads * c.headDim;
  switch (suffix) {
    case 'token_embd': case 'output': return [c.dim, c.vocabSize];
    case 'output_norm': case 'attn_norm': case 'ffn_norm': return [c.dim];
    case 'attn_q': return [c.dim, c.qDim];
    case 'attn_output': return [c.qDim, c.dim];
    case 'attn_k': case 'attn_v': return [c.dim, kvDim];
    case 'ffn_gate': case 'ffn_up': return [c.dim, c.hiddenDim];
    case 'ffn_down': return [c.hiddenDim, c.dim];
    case 'attn_q.bias': return [c.qDim];
    case 'attn_k.bias': case 'attn_v.bias': return [kvDim];
    case 'attn_q_norm': case 'attn_k_norm': return [c.headDim];
    case 'rope_freqs': return [c.ropeDim / 2];
  }
}

/** Looks a tensor up and checks its shape; a missing or misshapen tensor is a ModelFormatError. */
export function requireTensor(file: GGUFFile, name: string, dims: number[]): GGUFTensorInfo {
  const t = file.tensors.get(name);
  if (!t) throw new ModelFormatError('MISSING_TENSOR', `GGUF tensor "${name}" is missing; the model file is incomplete.`);
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new ModelFormatError('BAD_SHAPE',
      `GGUF tensor "${name}" has shape [${t.dims}], the metadata implies [${dims}].`);
  }
  return t;
}

/** Every tensor of the model by name, with checked shapes (the output falls back to the embedding). */
export function modelTensors(file: GGUFFile, c: LlamaConfig): Map<string, GGUFTensorInfo> {
  const out = new Map<string, GGUFTensorInfo>();
  const add = (name: string, suffix: Named) => out.set(name, requireTensor(file, name, expectedDims(c, suffix)));
  add('token_embd.weight', 'token_embd');
  add('output_norm.weight', 'output_norm');
  add(c.tiedOutput ? 'token_embd.weight' : 'output.weight', 'output');
  if (c.tiedOutput) out.set('output.weight', out.get('token_embd.weight')!);
  if (c.ropeFreqFactors) add('rope_freqs.weight', 'rope_freqs');
  for (let l = 0; l < c.nLayers; l++) {
    for (const s of BLOCK_TENSORS) add(`blk.${l}.${s}.weight`, s);
    if (c.qkvBias) for (const s of QKV_BIASES) add(`blk.${l}.${s}`, s);
    if (c.qkNorm) for (const s of QK_NORMS) add(`blk.${l}.${s}.weight`, s);
  }
  // A bias this engine would not add changes every logit: refuse the file rather than run it wrong.
  for (const name of file.tensors.keys()) {
    if (name.endsWith('.bias') && !out.has(name)) {
      throw new ModelFormatError('UNSUPPORTED_TENSOR', `GGUF tensor "${name}" is not supported in a ${c.architecture} model (was-edge adds q/k/v biases only).`);
    }
  }
  return out;
}

export function dequantizeTensor(file: GGUFFile, t: GGUFTensorInfo): Float32Array {
  return dequantize(t.type, tensorBytes(file, t), t.nelements);
}

/** f32 weights of one block; matrices are row-major (out, in), as ggml stores them. */
export interface BlockWeights {
  attnNorm: Float32Array; // (dim)
  wq: Float32Array; // (q_dim, dim)
  wk: Float32Array; // (kv_dim, dim)
  wv: Float32Array; // (kv_dim, dim)
  wo: Float32Array; // (dim, q_dim)
  ffnNorm: Float32Array; // (dim)
  wGate: Float32Array; // (hidden_dim, dim)
  wUp: Float32Array; // (hidden_dim, dim)
  wDown: Float32Array; // (dim, hidden_dim)
  /** (q_dim), (kv_dim), (kv_dim) when config.qkvBias */
  bq: Float32Array | null;
  bk: Float32Array | null;
  bv: Float32Array | null;
  /** (head_dim) each when config.qkNorm */
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
}

export interface LlamaWeights {
  tokenEmbedding: Float32Array; // (vocab, dim)
  layers: BlockWeights[];
  outputNorm: Float32Array; // (dim)
  output: Float32Array; // (vocab, dim)
  /** (rope_dim / 2) when config.ropeFreqFactors */
  ropeFreqs: Float32Array | null;
}

export function loadWeightsF32(file: GGUFFile, c: LlamaConfig): LlamaWeights {
  const tensors = modelTensors(file, c);
  const get = (name: string) => dequantizeTensor(file, tensors.get(name)!);
  const tokenEmbedding = get('token_embd.weight');
  return {
    tokenEmbedding,
    outputNorm: get('output_norm.weight'),
    output: c.tiedOutput ? tokenEmbedding : get('output.weight'),
    ropeFreqs: c.ropeFreqFactors ? get('rope_freqs.weight') : null,
    layers: Array.from({ length: c.nLayers }, (_, l) => {
      const b = (s: BlockTensor) => get(`blk.${l}.${s}.weight`);
      const opt = (on: boolean, name: string) => (on ? get(`blk.${l}.${name}`) : null);
      return {
        attnNorm: b('attn_norm'), wq: b('attn_q'), wk: b('attn_k'), wv: b('attn_v'), wo: b('attn_output'),
        ffnNorm: b('ffn_norm'), wGate: b('ffn_gate'), wUp: b('ffn_up'), wDown: b('ffn_down'),
        bq: opt(c.qkvBias, 'attn_q.bias'), bk: opt(c.qkvBias, 'attn_k.bias'), bv: opt(c.qkvBias, 'attn_v.bias'),
        qNorm: opt(c.qkNorm, 'attn_q_norm.weight'), kNorm: opt(c.qkNorm, 'attn_k_norm.weight'),
      };
    }),
  };
}
