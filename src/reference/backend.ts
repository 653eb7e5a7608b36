// The reference forward pass behind the Backend seam.

import type { Backend } from '../backend.js';
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
  ) {
    this.state = createRunState(config, contextSize);
  }

  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    let logits = this.state.logits;
    tokens.forEach((t, i) => {
      logits = forward(this.config, this.weights, this.state, t, pos + i, this.options);
      onLogits?.(i, logits);
    });
    return logits;
  }

  async feedArgmax(token: number, pos: number): Promise<number> {
    return argmaxOf(forward(this.config, this.weights, this.state, token, pos, this.options));
  }

  dispose(): void {}
}
