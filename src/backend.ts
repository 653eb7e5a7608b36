// The seam between the generation loop and whatever runs the model: the plain-TS reference today,
// WebGPU next, a Wasm SIMD CPU path later. A backend owns its weights and its KV cache.

import type { LlamaConfig } from './model/config.js';

export interface Backend {
  /** 'reference' | 'webgpu' | 'cpu' — for logs and results. */
  readonly name: string;
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
  dispose(): void;
}
