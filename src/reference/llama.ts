// The reference llama forward pass: plain TypeScript, f32, one token at a time, with a KV cache.
// Read it like llama2.c's run.c: config, weights and run state are three plain structures, every
// buffer is allocated once, and forward() is one screen. Every faster path is tested against it.

import type { LlamaConfig } from '../model/config.js';
import type { LlamaWeights } from '../model/weights.js';
import { addInPlace, attention, matvec, rmsnorm, rope, swiglu } from './ops.js';

/** Per-sequence scratch and cache; allocated once per context length. */
export interface RunState {
  x: Float32Array; // (dim) the residual stream
  xb: Float32Array; // (dim) normed input / attention output
  xb2: Float32Array; // (dim) projection output before the residual add
  q: Float32Array; // (dim)
  k: Float32Array; // (kv_dim)
  v: Float32Array; // (kv_dim)
  hb: Float32Array; // (hidden_dim) gate, then silu(gate)·up
  hb2: Float32Array; // (hidden_dim) up
  scores: Float32Array; // (seq_len)
  logits: Float32Array; // (vocab)
  keyCache: Float32Array[]; // (layer) → (seq_len, kv_dim)
  valueCache: Float32Array[]; // (layer) → (seq_len, kv_dim)
}

export function createRunState(c: LlamaConfig, seqLen: number): RunState {
  const kvDim = c.nKVHeads * c.headDim;
  return {
    x: new Float32Array(c.dim),
    xb: new Float32Array(c.dim),
    xb2: new Float32Array(c.dim),
    q: new Float32Array(c.dim),
    k: new Float32Array(kvDim),
    v: new Float32Array(kvDim),
    hb: new Float32Array(c.hiddenDim),
    hb2: new Float32Array(c.hiddenDim),
    scores: new Float32Array(seqLen),
    logits: new Float32Array(c.vocabSize),
    keyCache: Array.from({ length: c.nLayers }, () => new Float32Array(seqLen * kvDim)),
    valueCache: Array.from({ length: c.nLayers }, () => new Float32Array(seqLen * kvDim)),
  };
}

/**
 * Optional hook on the input of every projection (WAS sparsity plugs in here): called with the
 * layer, the projection group and the input vector, it may zero channels in place.
 */
export type InputHook = (layer: number, group: 'qkv' | 'o' | 'gate_up' | 'down', x: Float32Array) => void;

/** Feeds `token` at position `pos`; leaves the next-token logits in s.logits and returns them. */
export function forward(
  c: LlamaConfig, w: LlamaWeights, s: RunState, token: number, pos: number, hook?: InputHook,
): Float32Array {
  const kvDim = c.nKVHeads * c.headDim;
  s.x.set(w.tokenEmbedding.subarray(token * c.dim, (token + 1) * c.dim));

  for (let l = 0; l < c.nLayers; l++) {
    const L = w.layers[l]!;
    const kCache = s.keyCache[l]!;
    const vCache = s.valueCache[l]!;

    // attention: x += Wo · attn(rope(Wq·n), rope(Wk·n), Wv·n), n = rmsnorm(x)
    rmsnorm(s.xb, s.x, L.attnNorm, c.rmsEps);
    hook?.(l, 'qkv', s.xb);
    matvec(s.q, L.wq, s.xb, c.dim, c.dim);
    matvec(s.k, L.wk, s.xb, kvDim, c.dim);
    matvec(s.v, L.wv, s.xb, kvDim, c.dim);
    rope(s.q, c.nHeads, c.headDim, c.ropeDim, pos, c.ropeBase);
    rope(s.k, c.nKVHeads, c.headDim, c.ropeDim, pos, c.ropeBase);
    kCache.set(s.k, pos * kvDim);
    vCache.set(s.v, pos * kvDim);
    attention(s.xb, s.q, kCache, vCache, pos, c.nHeads, c.nKVHeads, c.headDim, s.scores);
    hook?.(l, 'o', s.xb);
    matvec(s.xb2, L.wo, s.xb, c.dim, c.dim);
    addInPlace(s.x, s.xb2);

    // feed-forward: x += W_down · (silu(W_gate·n) ⊙ W_up·n), n = rmsnorm(x)
    rmsnorm(s.xb, s.x, L.ffnNorm, c.rmsEps);
    hook?.(l, 'gate_up', s.xb);
    matvec(s.hb, L.wGate, s.xb, c.hiddenDim, c.dim);
    matvec(s.hb2, L.wUp, s.xb, c.hiddenDim, c.dim);
    swiglu(s.hb, s.hb, s.hb2);
    hook?.(l, 'down', s.hb);
    matvec(s.xb2, L.wDown, s.hb, c.dim, c.hiddenDim);
    addInPlace(s.x, s.xb2);
  }

  rmsnorm(s.x, s.x, w.outputNorm, c.rmsEps);
  matvec(s.logits, w.output, s.x, c.vocabSize, c.dim);
  return s.logits;
}
