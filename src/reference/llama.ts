// The reference llama forward pass: plain TypeScript, f32, one token at a time, with a KV cache.
// Read it like llama2.c's run.c: config, weights and run state are three plain structures, every
// buffer is allocated once, and forward() is one screen. Every faster path is tested against it.

import type { LlamaConfig } from '../model/config.js';
import type { InputGroup, Thresholds } from '../model/projections.js';
import type { BlockWeights, LlamaWeights } from '../model/weights.js';
import { addInPlace, attention, headRmsnorm, matvec, rmsnorm, rope, sparseMatvec, swiglu, type RopeSpec } from './ops.js';

/** Per-sequence scratch and cache; allocated once per context length. */
export interface RunState {
  x: Float32Array; // (dim) the residual stream
  xb: Float32Array; // (dim) normed input
  att: Float32Array; // (q_dim) attention output
  xb2: Float32Array; // (dim) projection output before the residual add
  q: Float32Array; // (q_dim)
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
    att: new Float32Array(c.qDim),
    xb2: new Float32Array(c.dim),
    q: new Float32Array(c.qDim),
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

/** The model's rotation (style and frequency factors), as every backend applies it. */
export function ropeSpec(c: LlamaConfig, w: Pick<LlamaWeights, 'ropeFreqs'>): RopeSpec {
  return { headDim: c.headDim, ropeDim: c.ropeDim, base: c.ropeBase, style: c.ropeStyle, freqFactors: w.ropeFreqs };
}

/** Feeds `token` at position `pos`; leaves the next-token logits in s.logits and returns them. */
export function forward(
  c: LlamaConfig, w: LlamaWeights, s: RunState, token: number, pos: number, o: ForwardOptions = {},
): Float32Array {
  s.x.set(w.tokenEmbedding.subarray(token * c.dim, (token + 1) * c.dim));
  const r = ropeSpec(c, w);
  for (let l = 0; l < c.nLayers; l++) block(c, w.layers[l]!, r, s, l, pos, o);
  rmsnorm(s.x, s.x, w.outputNorm, c.rmsEps);
  matvec(s.logits, w.output, s.x, c.vocabSize, c.dim);
  return s.logits;
}

/** One transformer block on the residual stream s.x at position `pos` (layer l's KV cache). */
export function block(c: LlamaConfig, L: BlockWeights, r: RopeSpec, s: RunState, l: number, pos: number, o: ForwardOptions = {}): void {
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

  // attention: x += Wo · attn(rope(q), rope(k), v), q|k|v = W·n (+ bias) (headwise RMSNorm of q, k), n = rmsnorm(x)
  rmsnorm(s.xb, s.x, L.attnNorm, c.rmsEps);
  record?.(l, 'qkv', s.xb);
  project(0, s.q, L.wq, s.xb, c.qDim, c.dim);
  project(1, s.k, L.wk, s.xb, kvDim, c.dim);
  project(2, s.v, L.wv, s.xb, kvDim, c.dim);
  if (L.bq && L.bk && L.bv) {
    addInPlace(s.q, L.bq);
    addInPlace(s.k, L.bk);
    addInPlace(s.v, L.bv);
  }
  if (L.qNorm && L.kNorm) {
    headRmsnorm(s.q, c.nHeads, c.headDim, L.qNorm, c.rmsEps);
    headRmsnorm(s.k, c.nKVHeads, c.headDim, L.kNorm, c.rmsEps);
  }
  rope(s.q, c.nHeads, r, pos);
  rope(s.k, c.nKVHeads, r, pos);
  kCache.set(s.k, pos * kvDim);
  vCache.set(s.v, pos * kvDim);
  attention(s.att, s.q, kCache, vCache, pos, c.nHeads, c.nKVHeads, c.headDim, s.scores);
  record?.(l, 'o', s.att);
  project(3, s.xb2, L.wo, s.att, c.dim, c.qDim);
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
