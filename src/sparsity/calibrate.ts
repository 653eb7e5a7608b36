// Calibration (WAS, Wang et al. 2025; TEAL, Liu et al. 2024): record every projection input over
// calibration text with the dense reference model, histogram the scores in Wasm, tabulate the
// thresholds on a grid of sparsity levels, and run the greedy split of each block's budget.

import { OptionError } from '../errors.js';
import type { Model } from '../model/model.js';
import type { LlamaWeights } from '../model/weights.js';
import { block, createRunState, forward, ropeSpec, type RunState, type SparseRun } from '../reference/llama.js';
import type { WasHistogram } from '../wasm/exports.js';
import type { WasModule } from '../wasm/module.js';
import { PROJECTION_GROUP, projectionNorms, projectionParams, type InputGroup, type ProjectionNorms } from '../model/projections.js';
import { checkpoint, type Checkpoint } from './checkpoint.js';
import { thresholdAt, wasTau, type Calibration } from './plan.js';

export interface CalibrateOptions {
  /** Name of the text (recorded in the file). */
  textName: string;
  /** sha256 of the GGUF file (recorded in the file). */
  modelSha256: string;
  /** Calibration tokens to record (default 16384), in chunks of `ctx` tokens each starting with BOS. */
  tokens?: number;
  ctx?: number;
  /** Tokens whose block outputs judge the greedy steps (default 64). */
  greedyTokens?: number;
  /**
   * Block sparsity added per greedy step (default 0.025). Not TEAL's step: greedyopt.py moves a
   * q-sized projection by its 0.025, i.e. 0.025/Σw of the block (w: sizes relative to q; Σw = 11 on
   * llama16m), Σw times finer (BENCHMARKS.md, 2026-12-05: the authors' code against ours).
   */
  greedyStep?: number;
  /** Grid points of the threshold tables minus one (default 200: steps of 0.005). */
  grid?: number;
  onProgress?: (phase: 'record' | 'greedy', done: number, total: number) => void;
  /** Stops the run with AbortError (checked, with the event loop let turn, between tokens and greedy steps). */
  signal?: AbortSignal;
}

/**
 * Throws OptionError for token counts calibrate() cannot use (call it before reading the model).
 * `flag` spells an option as the caller's user knows it (`--tokens` on the command line).
 */
export function checkCalibrateOptions(o: Pick<CalibrateOptions, 'tokens' | 'ctx' | 'greedyTokens'>, flag: (option: string) => string = (x) => x): void {
  const positive = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new OptionError(flag(name), `must be an integer of at least ${min}, got ${v}.`);
  };
  positive('tokens', o.tokens, 1);
  positive('ctx', o.ctx, 2);
  positive('greedyTokens', o.greedyTokens, 1);
}

const GROUP_INDEX: Record<InputGroup, number> = { qkv: 0, o: 1, gate_up: 2, down: 3 };

export async function calibrate(model: Model, w: LlamaWeights, text: string, wasm: WasModule, o: CalibrateOptions): Promise<Calibration> {
  checkCalibrateOptions(o);
  const c = model.config;
  const tick = checkpoint(o.signal, 'Calibration');
  const ctx = Math.min(o.ctx ?? 256, c.contextLength);
  const G = o.grid ?? 200;
  const greedyTokens = Math.min(o.greedyTokens ?? 64, ctx);
  const greedyStep = o.greedyStep ?? 0.025;
  const norms = projectionNorms(model);
  const params = projectionParams(c);
  const all = model.tokenizer.encode(text, { bos: true });
  const chunks = Math.max(1, Math.min(Math.ceil((o.tokens ?? 16384) / ctx), Math.floor(all.length / ctx)));

  // 1. Record: score histograms per (layer, projection) for WAS and per (layer, group) for TEAL.
  const { wasHist, tealHist } = await recordHistograms(model, w, wasm, norms, all, chunks, ctx, o.onProgress, tick);
  const grid = Array.from({ length: G + 1 }, (_, i) => i / G);
  // JSON has no Infinity: the 1-quantile is stored as null.
  const tabulate = (h: WasHistogram) => grid.map((q) => { const t = wasm.quantile(h, q); return Number.isFinite(t) ? t : null; });
  const was = wasHist.map((ps) => ps.map(tabulate)) as number[][][];
  const teal = tealHist.map((gs) => gs.map(tabulate)) as number[][][];

  // 2. Greedy split (TEAL §4.2, weighted by real parameter counts): per block, from all-dense, raise
  // the projection whose step adds the least block-output error until every projection is at 1.
  const blockInputs = denseBlockInputs(model, w, all.slice(0, greedyTokens), greedyTokens);
  const greedyState = createRunState(c, greedyTokens);
  const greedy: [number, number[]][][] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const blockError = (levels: number[]) =>
      sparseBlockError(model, w, greedyState, blockInputs, l, levels.map((s, p) => wasTau(thresholdAt(was[l]![p]!, grid, s), norms[l]![p]!)));
    greedy.push(await greedyTable(params, greedyStep, blockError, tick));
    o.onProgress?.('greedy', l + 1, c.nLayers);
  }

  return {
    version: 1,
    kind: 'was-edge-calibration',
    model: { name: c.name, sha256: o.modelSha256, nLayers: c.nLayers, dim: c.dim, hiddenDim: c.hiddenDim, kvDim: c.nKVHeads * c.headDim },
    data: { text: o.textName, tokens: chunks * ctx, ctx, greedyTokens, greedyStep },
    params,
    grid,
    was,
    teal,
    greedy,
  };
}

/** The dense reference over `chunks` chunks of ctx tokens (BOS first), each projection input's scores histogrammed. */
async function recordHistograms(model: Model, w: LlamaWeights, wasm: WasModule, norms: ProjectionNorms, all: number[], chunks: number, ctx: number,
  onProgress: CalibrateOptions['onProgress'], tick: Checkpoint): Promise<{ wasHist: WasHistogram[][]; tealHist: WasHistogram[][] }> {
  const c = model.config;
  const groupDims = [c.dim, c.qDim, c.dim, c.hiddenDim]; // inputs of q|k|v, o, gate|up, down
  const wasHist: WasHistogram[][] = norms.map((ps) => ps.map(() => wasm.createHistogram()));
  const tealHist: WasHistogram[][] = norms.map(() => groupDims.map(() => wasm.createHistogram()));
  const state = createRunState(c, ctx);
  const inputs = norms.map(() => groupDims.map((n) => new Float32Array(ctx * n))); // (layer, group) → (ctx, n)
  let pos = 0;
  const record = (l: number, g: InputGroup, x: Float32Array) => inputs[l]![GROUP_INDEX[g]]!.set(x, pos * x.length);
  for (let k = 0; k < chunks; k++) {
    const chunk = all.slice(k * ctx, (k + 1) * ctx);
    chunk[0] = model.tokenizer.bos;
    for (pos = 0; pos < chunk.length; pos++) {
      await tick();
      forward(c, w, state, chunk[pos]!, pos, { record });
    }
    // Position 0 (BOS) is left out: its activations are the same in every chunk, and that point mass
    // would put thresholds exactly on BOS's scores, where float rounding flips its masks.
    const rows = chunk.length - 1;
    const from = (l: number, g: number) => inputs[l]![g]!.subarray(groupDims[g]!, chunk.length * groupDims[g]!);
    for (let l = 0; l < c.nLayers; l++) {
      for (let g = 0; g < 4; g++) wasm.accumulate(tealHist[l]![g]!, from(l, g), null, rows, groupDims[g]!);
      for (let p = 0; p < 7; p++) {
        const g = PROJECTION_GROUP[p]!;
        wasm.accumulate(wasHist[l]![p]!, from(l, g), norms[l]![p]!, rows, groupDims[g]!);
      }
    }
    onProgress?.('record', k + 1, chunks);
  }
  return { wasHist, tealHist };
}

/** Squared error of block l's output with thresholds `tau` against the dense block, over the recorded tokens. */
function sparseBlockError(model: Model, w: LlamaWeights, state: RunState, blockInputs: Float32Array[], l: number, tau: Float32Array[]): number {
  const c = model.config;
  const sparse: SparseRun = { tau: [], skippedParams: 0, totalParams: 0 };
  sparse.tau[l] = tau;
  const n = blockInputs[l]!.length / c.dim;
  let err = 0;
  for (let t = 0; t < n; t++) {
    state.x.set(blockInputs[l]!.subarray(t * c.dim, (t + 1) * c.dim));
    // BOS (position 0) runs dense and is not scored: at run time it is in the dense prefix of
    // every prompt, and its outsized activations would otherwise dominate the error sum.
    block(c, w.layers[l]!, ropeSpec(c, w), state, l, t, t === 0 ? {} : { sparse });
    if (t === 0) continue;
    const want = blockInputs[l + 1]!;
    for (let i = 0; i < c.dim; i++) err += (state.x[i]! - want[t * c.dim + i]!) ** 2;
  }
  return err;
}

/**
 * One block's greedy table: from all-dense, repeatedly raise the projection whose step (greedyStep of
 * the block's parameters) adds the least error, until every projection is at 1. Rows of [block
 * effective sparsity, 7 levels].
 */
async function greedyTable(params: number[], greedyStep: number, blockError: (levels: number[]) => number, tick: Checkpoint): Promise<[number, number[]][]> {
  const total = params.reduce((a, b) => a + b, 0);
  let levels = [0, 0, 0, 0, 0, 0, 0];
  const rows: [number, number[]][] = [[0, levels.slice()]];
  for (;;) {
    await tick();
    let best: number[] | null = null;
    let bestErr = Infinity;
    for (let p = 0; p < 7; p++) {
      if (levels[p]! >= 1) continue;
      const cand = levels.slice();
      cand[p] = Math.min(1, levels[p]! + (greedyStep * total) / params[p]!);
      const err = blockError(cand);
      if (err < bestErr) {
        bestErr = err;
        best = cand;
      }
    }
    if (!best) break;
    levels = best;
    const eff = levels.reduce((a, s, p) => a + s * params[p]!, 0) / total;
    rows.push([round(eff), levels.map(round)]);
  }
  return rows;
}

/** Residual stream entering each block (and leaving the last) for the first `n` tokens, dense. */
function denseBlockInputs(model: Model, w: LlamaWeights, tokens: number[], n: number): Float32Array[] {
  const c = model.config;
  const s = createRunState(c, n);
  const out = Array.from({ length: c.nLayers + 1 }, () => new Float32Array(n * c.dim));
  tokens.forEach((token, t) => {
    s.x.set(w.tokenEmbedding.subarray(token * c.dim, (token + 1) * c.dim));
    for (let l = 0; l < c.nLayers; l++) {
      out[l]!.set(s.x, t * c.dim);
      block(c, w.layers[l]!, ropeSpec(c, w), s, l, t);
    }
    out[c.nLayers]!.set(s.x, t * c.dim);
  });
  return out;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
