// The seam between the generation loop and whatever runs the model: the plain-TS reference, WebGPU,
// and the Wasm SIMD CPU backend. A backend owns its weights, its KV cache and its sparsity: one
// weight copy serves dense and sparse runs, and setThresholds() switches between them.

import type { LlamaConfig } from './model/config.js';
import type { Thresholds } from './model/projections.js';

/** Which forward pass runs the model. */
export type BackendKind = 'webgpu' | 'cpu' | 'reference';
export const BACKEND_KINDS: readonly BackendKind[] = ['webgpu', 'cpu', 'reference'];

/**
 * How a sparse backend runs a prompt (a feed of more than one token): 'sparse' sparsifies all but the
 * first 1 % of its positions (at least one: the BOS position's outlier activations), as the WAS
 * authors do; 'dense' runs every prompt position dense; 'all' sparsifies every position, as decoding.
 */
export type PrefillMode = 'sparse' | 'dense' | 'all';
export const PREFILL_MODES: readonly PrefillMode[] = ['sparse', 'dense', 'all'];

export interface Backend {
  readonly name: BackendKind;
  readonly config: LlamaConfig;
  /** Positions the KV cache holds; prompts plus generated tokens must fit. */
  readonly contextSize: number;
  /**
   * Feeds `tokens` at positions pos..pos+n−1 and returns the logits after the last one.
   * `onLogits`, when given, receives the logits of every fed position (for evaluation); the
   * view is only valid during the call.
   */
  feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array>;
  /** Feeds one token and returns the argmax of the next-token logits (greedy fast path). */
  feedArgmax(token: number, pos: number): Promise<number>;
  /** The thresholds of the tokens fed from now on; null runs dense. Costs a threshold write, no reload. */
  setThresholds(t: Thresholds | null): void;
  /** How prompts run while thresholds are set (default 'sparse'). */
  prefill: PrefillMode;
  /**
   * The fraction of projection weights (q k v o gate up down, by parameter count) skipped by the
   * tokens run since the last call, as counted while running; null when dense or when no token ran.
   * Resets the count.
   */
  skippedWeightFraction(): Promise<number | null>;
  dispose(): void;
}

/** Leading positions of an n-token prompt that run dense. */
export function densePrefix(mode: PrefillMode, n: number): number {
  if (n <= 1) return 0; // one token is a decode step
  return mode === 'dense' ? n : mode === 'all' ? 0 : Math.ceil(n / 100);
}
