// The reference forward pass behind the Backend seam.

import { densePrefix, type Backend, type PrefillMode } from '../backend.js';
import type { LlamaConfig } from '../model/config.js';
import type { LlamaWeights } from '../model/weights.js';
import { argmaxOf } from '../sampler.js';
import { createRunState, forward, type ForwardOptions, type RunState } from './llama.js';

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  private readonly state: RunState;

  constructor(
    readonly config: LlamaConfig,
    private readonly weights: LlamaWeights,
    readonly contextSize: number,
    /** Sparsity and recording for every token this backend runs (the reference's WAS path). */
    readonly options: ForwardOptions = {},
    /** Sparse runs: how prompts run (default 'sparse': all but the first 1 % of positions). */
    readonly prefill: PrefillMode = 'sparse',
  ) {
    this.state = createRunState(config, contextSize);
  }

  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    let logits = this.state.logits;
    const sparse = this.options.sparse;
    const dense = sparse ? densePrefix(this.prefill, tokens.length) : 0;
    // Dense positions of a sparse run still count their weights as read (none skipped).
    const denseRun = { tau: [], skippedParams: 0, totalParams: 0 };
    tokens.forEach((t, i) => {
      const o = i < dense ? { ...this.options, sparse: denseRun } : this.options;
      logits = forward(this.config, this.weights, this.state, t, pos + i, o);
      onLogits?.(i, logits);
    });
    if (sparse) sparse.totalParams += denseRun.totalParams;
    return logits;
  }

  async skippedWeightFraction(): Promise<number | null> {
    const run = this.options.sparse;
    if (!run || run.totalParams === 0) return null;
    const f = run.skippedParams / run.totalParams;
    run.skippedParams = 0;
    run.totalParams = 0;
    return f;
  }

  async feedArgmax(token: number, pos: number): Promise<number> {
    return argmaxOf(forward(this.config, this.weights, this.state, token, pos, this.options));
  }

  dispose(): void {}
}
