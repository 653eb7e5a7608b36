// Named llama tensors, shape-checked against the config, dequantised to f32 for the reference.

import { ModelFormatError } from '../errors.js';
import type { LlamaConfig } from './config.js';
import { tensorBytes, type GGUFFile, type GGUFTensorInfo } from './gguf.js';
import { dequantize } from './tensor.js';

/** The nine tensors of one transformer block, by their GGUF suffix. */
export const BLOCK_TENSORS = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output',
  'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;
export type BlockTensor = (typeof BLOCK_TENSORS)[number];

/** Expected ggml dims ([in, out] for matrices) of every tensor of a llama model. */
export function expectedDims(c: LlamaConfig, suffix: BlockTensor | 'token_embd' | 'output_norm' | 'output'): number[] {
  const kvDim = c.nKVHeads * c.headDim;
  switch (suffix) {
    case 'token_embd': case 'output': return [c.dim, c.vocabSize];
    case 'output_norm': case 'attn_norm': case 'ffn_norm': return [c.dim];
    case 'attn_q': case 'attn_output': return [c.dim, c.dim];
    case 'attn_k': case 'attn_v': return [c.dim, kvDim];
    case 'ffn_gate': case 'ffn_up': return [c.dim, c.hiddenDim];
    case 'ffn_down': return [c.hiddenDim, c.dim];
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
  const add = (name: string, suffix: Parameters<typeof expectedDims>[1]) =>
    out.set(name, requireTensor(file, name, expectedDims(c, suffix)));
  add('token_embd.weight', 'token_embd');
  add('output_norm.weight', 'output_norm');
  add(c.tiedOutput ? 'token_embd.weight' : 'output.weight', 'output');
  if (c.tiedOutput) out.set('output.weight', out.get('token_embd.weight')!);
  for (let l = 0; l < c.nLayers; l++) {
    for (const s of BLOCK_TENSORS) add(`blk.${l}.${s}.weight`, s);
  }
  return out;
}

export function dequantizeTensor(file: GGUFFile, t: GGUFTensorInfo): Float32Array {
  return dequantize(t.type, tensorBytes(file, t), t.nelements);
}

/** f32 weights of one block; matrices are row-major (out, in), as ggml stores them. */
export interface BlockWeights {
  attnNorm: Float32Array; // (dim)
  wq: Float32Array; // (dim, dim)
  wk: Float32Array; // (kv_dim, dim)
  wv: Float32Array; // (kv_dim, dim)
  wo: Float32Array; // (dim, dim)
  ffnNorm: Float32Array; // (dim)
  wGate: Float32Array; // (hidden_dim, dim)
  wUp: Float32Array; // (hidden_dim, dim)
  wDown: Float32Array; // (dim, hidden_dim)
}

export interface LlamaWeights {
  tokenEmbedding: Float32Array; // (vocab, dim)
  layers: BlockWeights[];
  outputNorm: Float32Array; // (dim)
  output: Float32Array; // (vocab, dim)
}

export function loadWeightsF32(file: GGUFFile, c: LlamaConfig): LlamaWeights {
  const tensors = modelTensors(file, c);
  const get = (name: string) => dequantizeTensor(file, tensors.get(name)!);
  const tokenEmbedding = get('token_embd.weight');
  return {
    tokenEmbedding,
    outputNorm: get('output_norm.weight'),
    output: c.tiedOutput ? tokenEmbedding : get('output.weight'),
    layers: Array.from({ length: c.nLayers }, (_, l) => {
      const b = (s: BlockTensor) => get(`blk.${l}.${s}.weight`);
      return {
        attnNorm: b('attn_norm'), wq: b('attn_q'), wk: b('attn_k'), wv: b('attn_v'), wo: b('attn_output'),
        ffnNorm: b('ffn_norm'), wGate: b('ffn_gate'), wUp: b('ffn_up'), wDown: b('ffn_down'),
      };
    }),
  };
}
