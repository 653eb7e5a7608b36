// Llama hyper-parameters from GGUF metadata (llama.cpp's llm_load_hparams for LLM_ARCH_LLAMA).

import { ModelFormatError } from '../errors.js';
import type { GGUFFile, GGUFValue } from './gguf.js';

export interface LlamaConfig {
  architecture: 'llama';
  name: string;
  dim: number; // embedding length
  hiddenDim: number; // feed-forward length
  nLayers: number;
  nHeads: number;
  nKVHeads: number; // grouped-query attention: nHeads % nKVHeads == 0
  headDim: number; // dim / nHeads
  ropeDim: number; // rotated dimensions per head (llama.rope.dimension_count), ≤ headDim
  vocabSize: number;
  contextLength: number;
  ropeBase: number; // llama.rope.freq_base, 10000 when absent
  rmsEps: number;
  /** True when the file has no output.weight and the embedding doubles as the output matrix. */
  tiedOutput: boolean;
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
  if (arch !== 'llama') {
    throw new ModelFormatError('UNSUPPORTED_ARCHITECTURE',
      `GGUF architecture "${arch}" is not supported; was-edge runs llama-architecture models.`);
  }
  const dim = positiveInt(file, 'llama.embedding_length', 1 << 16);
  const nHeads = positiveInt(file, 'llama.attention.head_count', 1024);
  const nKVHeads = positiveInt(file, 'llama.attention.head_count_kv', nHeads, nHeads);
  if (dim % nHeads !== 0 || nHeads % nKVHeads !== 0) {
    throw new ModelFormatError('BAD_VALUE',
      `GGUF heads do not divide: dim ${dim}, ${nHeads} query heads, ${nKVHeads} key/value heads.`);
  }
  const headDim = dim / nHeads;
  const ropeDim = positiveInt(file, 'llama.rope.dimension_count', headDim, headDim);
  // RoPE rotates pairs of dimensions: an odd head or rotary size has no meaning (and no kernel).
  if (headDim % 2 !== 0 || ropeDim % 2 !== 0) {
    throw new ModelFormatError('BAD_VALUE', `GGUF head size ${headDim} / rope dimension ${ropeDim} must be even (RoPE rotates pairs).`);
  }
  const tokens = file.metadata.get('tokenizer.ggml.tokens');
  const vocabSize = positiveInt(file, 'llama.vocab_size', 1 << 22, Array.isArray(tokens) ? tokens.length : undefined);
  const rmsEps = metaNumber(file, 'llama.attention.layer_norm_rms_epsilon');
  if (!(rmsEps > 0 && rmsEps < 1)) throw new ModelFormatError('BAD_VALUE', `GGUF rms epsilon ${rmsEps} is out of range.`);
  const ropeBase = metaNumber(file, 'llama.rope.freq_base', 10000);
  if (!(ropeBase > 1)) throw new ModelFormatError('BAD_VALUE', `GGUF rope.freq_base ${ropeBase} is out of range.`);
  return {
    architecture: 'llama',
    name: metaString(file, 'general.name', 'unnamed'),
    dim,
    hiddenDim: positiveInt(file, 'llama.feed_forward_length', 1 << 18),
    nLayers: positiveInt(file, 'llama.block_count', 1024),
    nHeads,
    nKVHeads,
    headDim,
    ropeDim,
    vocabSize,
    contextLength: positiveInt(file, 'llama.context_length', 1 << 24),
    ropeBase,
    rmsEps,
    tiedOutput: !file.tensors.has('output.weight'),
  };
}
