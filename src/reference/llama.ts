// The reference llama forward pass: plain TypeScript, f32, one token at a time, with a KV cache.
// Read it like llama2.c's run.c: config, weights and run state are three plain structures, every
// buffer is allocated once, and forward() is one screen. Every faster path is tested against it.

import type { LlamaConfig } from '../model/config.js';
import type { InputGroup, Thresholds } from '../model/projections.js';
import type { BlockWeights, LlamaWeights } from '../model/weights.js';
import { addInPlace, attention, matvec, rmsnorm, rope, sparseMatvec, swiglu } from './ops.js';

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

/** Sees every projection input (read-only): calibration records activations through it. */
export type InputRecorder = (layer: number, group: InputGroup, x: Float32Array) => void;

/**
 * Activation sparsity for one run: per layer and projection a threshold vector τ over the
 * projection's input channels (channel j is skipped when |x_j| ≤ τ_j), or null for dense; and
 * counters of the weights actually skipped, for the measured skipped fraction.
 */
export interface SparseRun {
  tau: Thresholds; // (layer, projection) → (in_dim) or null
  skippedParams: number;
  totalParams: number;
}

export interface ForwardOptions {
  sparse?: SparseRun;
  record?: InputRecorder;
}

/** Feeds `token` at position `pos`; leaves the next-token logits in s.logits and returns them. */
export function forward(
  c: LlamaConfig, w: LlamaWeights, s: RunState, token: number, pos: number, o: ForwardOptions = {},
): Float32Array {
  s.x.set(w.tokenEmbedding.subarray(token * c.dim, (token + 1) * c.dim));
  for (let l = 0; l < c.nLayers; l++) block(c, w.layers[l]!, s, l, pos, o);
  rmsnorm(s.x, s.x, w.outputNorm, c.rmsEps);
  matvec(s.logits, w.output, s.x, c.vocabSize, c.dim);
  return s.logits;
}

/** One transformer block on the residual stream s.x at position `pos` (layer l's KV cache). */
export function block(c: LlamaConfig, L: BlockWeights, s: RunState, l: number, pos: number, o: ForwardOptions = {}): void {
  const kvDim = c.nKVHeads * c.headDim;
  const { sparse, record } = o;
  // y = W·x, or its activation-sparse version when this projection has thresholds.
  const project = (p: number, out: Float32Array, W: Float32Array, x: Float32Array, rows: number, cols: number) => {
    if (!sparse) return matvec(out, W, x, rows, cols);
    sparse.totalParams += rows * cols;
    const tau = sparse.tau[l]?.[p];
    if (!tau) return matvec(out, W, x, rows, cols);
    sparse.skippedParams += sparseMatvec(out, W, x, tau, rows, cols) * rows;
  };
  const kCache = s.keyCache[l]!;
  const vCache = s.valueCache[l]!;

  // attention: x += Wo · attn(rope(Wq·n), rope(Wk·n), Wv·n), n = rmsnorm(x)
  rmsnorm(s.xb, s.x, L.attnNorm, c.rmsEps);
  record?.(l, 'qkv', s.xb);
  project(0, s.q, L.wq, s.xb, c.dim, c.dim);
  project(1, s.k, L.wk, s.xb, kvDim, c.dim);
  project(2, s.v, L.wv, s.xb, kvDim, c.dim);
  rope(s.q, c.nHeads, c.headDim, c.ropeDim, pos, c.ropeBase);
  rope(s.k, c.nKVHeads, c.headDim, c.ropeDim, pos, c.ropeBase);
  kCache.set(s.k, pos * kvDim);
  vCache.set(s.v, pos * kvDim);
  attention(s.xb, s.q, kCache, vCache, pos, c.nHeads, c.nKVHeads, c.headDim, s.scores);
  record?.(l, 'o', s.xb);
  project(3, s.xb2, L.wo, s.xb, c.dim, c.dim);
  addInPlace(s.x, s.xb2);

  // feed-forward: x += W_down · (silu(W_gate·n) ⊙ W_up·n), n = rmsnorm(x)
  rmsnorm(s.xb, s.x, L.ffnNorm, c.rmsEps);
  record?.(l, 'gate_up', s.xb);
  project(4, s.hb, L.wGate, s.xb, c.hiddenDim, c.dim);
  project(5, s.hb2, L.wUp, s.xb, c.hiddenDim, c.dim);
  swiglu(s.hb, s.hb, s.hb2);
  record?.(l, 'down', s.hb);
  project(6, s.xb2, L.wDown, s.hb, c.dim, c.hiddenDim);
  addInPlace(s.x, s.xb2);
}
