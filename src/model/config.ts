// Llama hyper-parameters from GGUF metadata (llama.cpp's llm_load_hparams for LLM_ARCH_LLAMA).

import { ModelFormatError } from '../errors.js';
import type { GGUFFile, GGUFValue } from './gguf.js';

/** The architectures (GGUF `general.architecture`) this engine runs: llama's block with these variations. */
export const ARCHITECTURES = ['llama', 'qwen2', 'qwen3'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/**
 * Hyper-parameters of a llama-family model. The block is llama's for every architecture; what differs is
 * decided here once: qwen2 adds q/k/v biases, qwen3 RMS-normalizes each q and k head before rope, both
 * rotate NEOX-style (halves, not adjacent pairs), and Llama 3 divides rope frequencies by per-pair factors.
 */
export interface LlamaConfig {
  architecture: Architecture;
  name: string;
  dim: number; // embedding length
  hiddenDim: number; // feed-forward length
  nLayers: number;
  nHeads: number;
  nKVHeads: number; // grouped-query attention: nHeads % nKVHeads == 0
  headDim: number; // attention.key_length, else dim / nHeads
  qDim: number; // nHeads · headDim: q's rows and o's columns (not always dim: Qwen3)
  ropeDim: number; // rotated dimensions per head (rope.dimension_count), ≤ headDim
  /** 'normal': adjacent pairs (2i, 2i+1) rotate (llama); 'neox': pairs (i, i + ropeDim/2) (qwen2, qwen3). */
  ropeStyle: 'normal' | 'neox';
  vocabSize: number;
  contextLength: number;
  ropeBase: number; // rope.freq_base, 10000 when absent
  rmsEps: number;
  /** True when the file has no output.weight and the embedding doubles as the output matrix. */
  tiedOutput: boolean;
  /** q, k and v projections add a bias (blk.N.attn_{q,k,v}.bias; qwen2, and llama files that have them). */
  qkvBias: boolean;
  /** Each q and k head is RMS-normalized (blk.N.attn_{q,k}_norm.weight, headDim) before rope (qwen3). */
  qkNorm: boolean;
  /** rope_freqs.weight (ropeDim/2) divides each pair's frequency (Llama 3.1+ long-context scaling). */
  ropeFreqFactors: boolean;
}

function missing(key: string): never {
  throw new ModelFormatError('MISSING_METADATA',
    `GGUF metadata "${key}" is missing; the file is not a complete llama model. Re-convert it with llama.cpp.`);
}

export function metaNumber(file: GGUFFile, key: string, fallback?: number): number {
  const v: GGUFValue | undefined = file.metadata.get(key);
  if (v === undefined) return fallback ?? missing(key);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ModelFormatError('BAD_VALUE', `GGUF metadata "${key}" should be a number, found ${typeof v}.`);
  }
  return v;
}

export function metaString(file: GGUFFile, key: string, fallback?: string): string {
  const v = file.metadata.get(key);
  if (v === undefined) return fallback ?? missing(key);
  if (typeof v !== 'string') throw new ModelFormatError('BAD_VALUE', `GGUF metadata "${key}" should be a string.`);
  return v;
}

function positiveInt(file: GGUFFile, key: string, max: number, fallback?: number): number {
  const v = metaNumber(file, key, fallback);
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new ModelFormatError('ABSURD_VALUE', `GGUF metadata "${key}" is ${v}; expected an integer in 1..${max}.`);
  }
  return v;
}

export function llamaConfig(file: GGUFFile): LlamaConfig {
  const arch = metaString(file, 'general.architecture');
  if (!(ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new ModelFormatError('UNSUPPORTED_ARCHITECTURE',
      `GGUF architecture "${arch}" is not supported; was-edge runs ${ARCHITECTURES.join(', ')} models (Llama 2/3, SmolLM2, Mistral, Qwen2.5, Qwen3).`);
  }
  const a = arch as Architecture;
  const key = (k: string) => `${a}.${k}`;
  const dim = positiveInt(file, key('embedding_length'), 1 << 16);
  const nHeads = positiveInt(file, key('attention.head_count'), 1024);
  const nKVHeads = positiveInt(file, key('attention.head_count_kv'), nHeads, nHeads);
  if (nHeads % nKVHeads !== 0) {
    throw new ModelFormatError('BAD_VALUE', `GGUF heads do not divide: ${nHeads} query heads, ${nKVHeads} key/value heads.`);
  }
  if (!file.metadata.has(key('attention.key_length')) && dim % nHeads !== 0) {
    throw new ModelFormatError('BAD_VALUE', `GGUF dim ${dim} is not a multiple of ${nHeads} heads and no attention.key_length says the head size.`);
  }
  const headDim = positiveInt(file, key('attention.key_length'), 1 << 12, dim / nHeads);
  const valueLength = positiveInt(file, key('attention.value_length'), 1 << 12, headDim);
  if (valueLength !== headDim) {
    throw new ModelFormatError('BAD_VALUE', `GGUF attention.value_length ${valueLength} differs from key_length ${headDim}; was-edge needs one head size.`);
  }
  const ropeDim = positiveInt(file, key('rope.dimension_count'), headDim, headDim);
  // RoPE rotates pairs of dimensions: an odd head or rotary size has no meaning (and no kernel).
  if (headDim % 2 !== 0 || ropeDim % 2 !== 0) {
    throw new ModelFormatError('BAD_VALUE', `GGUF head size ${headDim} / rope dimension ${ropeDim} must be even (RoPE rotates pairs).`);
  }
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const vocabSize = positiveInt(file, key('vocab_size'), 1 << 22, Array.isArray(tokens) ? tokens.length : undefined);
  const rmsEps = metaNumber(file, key('attention.layer_norm_rms_epsilon'));
  if (!(rmsEps > 0 && rmsEps < 1)) throw new ModelFormatError('BAD_VALUE', `GGUF rms epsilon ${rmsEps} is out of range.`);
  const ropeBase = metaNumber(file, key('rope.freq_base'), 10000);
  if (!(ropeBase > 1)) throw new ModelFormatError('BAD_VALUE', `GGUF rope.freq_base ${ropeBase} is out of range.`);
  const scaling = metaString(file, key('rope.scaling.type'), 'none');
  if (scaling !== 'none' && !(scaling === 'linear' && metaNumber(file, key('rope.scaling.factor'), 1) === 1)) {
    throw new ModelFormatError('UNSUPPORTED_ROPE_SCALING',
      `GGUF rope scaling "${scaling}" is not supported (Llama 3's rope_freqs factors are); use a file without rope scaling.`);
  }
  return {
    architecture: a,
    name: metaString(file, 'general.name', 'unnamed'),
    dim,
    hiddenDim: positiveInt(file, key('feed_forward_length'), 1 << 18),
    nLayers: positiveInt(file, key('block_count'), 1024),
    nHeads,
    nKVHeads,
    headDim,
    qDim: nHeads * headDim,
    ropeDim,
    ropeStyle: a === 'llama' ? 'normal' : 'neox',
    vocabSize,
    contextLength: positiveInt(file, key('context_length'), 1 << 24),
    ropeBase,
    rmsEps,
    tiedOutput: !file.tensors.has('output.weight'),
    qkvBias: a === 'qwen2' || file.tensors.has('blk.0.attn_q.bias'),
    qkNorm: a === 'qwen3',
    ropeFreqFactors: file.tensors.has('rope_freqs.weight'),
  };
}
