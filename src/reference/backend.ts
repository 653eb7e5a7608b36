// The reference forward pass behind the Backend seam.

import { densePrefix, type Backend, type PrefillMode } from '../backend.js';
import type { LlamaConfig } from '../model/config.js';
import type { Thresholds } from '../model/projections.js';
import type { LlamaWeights } from '../model/weights.js';
import { argmaxOf } from '../sampler.js';
import { createRunState, forward, type InputRecorder, type RunState, type SparseRun } from './llama.js';

export interface ReferenceBackendOptions {
  thresholds?: Thresholds | null;
  prefill?: PrefillMode;
  /** Sees every projection input of every token (calibration). */
  record?: InputRecorder;
}

export class ReferenceBackend implements Backend {
  readonly name = 'reference';
  prefill: PrefillMode;
  private readonly state: RunState;
  private readonly record: InputRecorder | undefined;
  /** The sparse run of every token fed (null: dense); also counts the weights skipped. */
  private sparse: SparseRun | null = null;

  constructor(
    readonly config: LlamaConfig,
    private readonly weights: LlamaWeights,
    readonly contextSize: number,
    o: ReferenceBackendOptions = {},
  ) {
    this.state = createRunState(config, contextSize);
    this.prefill = o.prefill ?? 'sparse';
    this.record = o.record;
    this.setThresholds(o.thresholds ?? null);
  }

  setThresholds(t: Thresholds | null): void {
    this.sparse = t ? { tau: t, skippedParams: 0, totalParams: 0 } : null;
  }

  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    let logits = this.state.logits;
    const sparse = this.sparse;
    const dense = sparse ? densePrefix(this.prefill, tokens.length) : 0;
    // Dense positions of a sparse run still count their weights as read (none skipped).
    const denseRun: SparseRun = { tau: [], skippedParams: 0, totalParams: 0 };
    tokens.forEach((t, i) => {
      logits = forward(this.config, this.weights, this.state, t, pos + i, { sparse: (i < dense ? denseRun : sparse) ?? undefined, record: this.record });
      onLogits?.(i, logits);
    });
    if (sparse) sparse.totalParams += denseRun.totalParams;
    return logits;
  }

  async feedArgmax(token: number, pos: number): Promise<number> {
    return argmaxOf(forward(this.config, this.weights, this.state, token, pos, { sparse: this.sparse ?? undefined, record: this.record }));
  }

  async skippedWeightFraction(): Promise<number | null> {
    const run = this.sparse;
    if (!run || run.totalParams === 0) return null;
    const f = run.skippedParams / run.totalParams;
    run.skippedParams = 0;
    run.totalParams = 0;
    return f;
  }

  dispose(): void {}
}
