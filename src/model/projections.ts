// The seven projections of a llama block, decided once: their order (every table of levels, τ and
// counters uses it), GGUF tensor names, shapes, input groups, and the threshold set a sparse run uses.

import type { LlamaConfig } from './config.js';
import { tensorBytes } from './gguf.js';
import type { Model } from './model.js';
import { dequantize } from './tensor.js';
import { modelTensors } from './weights.js';

/** The seven projections of a block, in the order of every per-projection table. */
export const PROJECTIONS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** GGUF tensor name of each projection (`blk.N.<name>.weight`), in PROJECTIONS order. */
export const PROJECTION_TENSORS = ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down'] as const;

/** The four inputs of a block's seven projections: q|k|v share one, gate|up share one. */
export type InputGroup = 'qkv' | 'o' | 'gate_up' | 'down';
export const INPUT_GROUPS: readonly InputGroup[] = ['qkv', 'o', 'gate_up', 'down'];

/** The input group of each projection, in PROJECTIONS order (also TEAL's mask sharing). */
export const PROJECTION_GROUP = [0, 0, 0, 1, 2, 2, 3] as const;

/** (rows = output channels, cols = input channels) of each projection, in PROJECTIONS order. */
export function projectionShapes(c: LlamaConfig): { rows: number; cols: number }[] {
  const kvDim = c.nKVHeads * c.headDim;
  const rows = [c.qDim, kvDim, kvDim, c.dim, c.hiddenDim, c.hiddenDim, c.dim];
  const cols = [c.dim, c.dim, c.dim, c.qDim, c.dim, c.dim, c.hiddenDim];
  return rows.map((r, p) => ({ rows: r, cols: cols[p]! }));
}

/** Weights of one block's projections, in PROJECTIONS order (k and v are smaller under GQA). */
export function projectionParams(c: LlamaConfig): number[] {
  return projectionShapes(c).map(({ rows, cols }) => rows * cols);
}

/** GGUF name of projection p of block l. */
export function projectionTensorName(l: number, p: number): string {
  return `blk.${l}.${PROJECTION_TENSORS[p]}.weight`;
}

/**
 * The threshold set of a sparse run: per layer and projection a vector τ over the projection's input
 * channels (channel j is skipped when |x_j| ≤ τ_j), or null where that projection runs dense.
 * (layer, projection) → (in_dim) | null. A backend given `null` instead of a Thresholds runs dense.
 */
export type Thresholds = (Float32Array | null)[][];

/** Column L1 norms ‖W[:,j]‖₁ of every projection: (layer, projection) → (in_dim). */
export type ProjectionNorms = Float32Array[][];

/** Slot of (layer, projection) in a backend's active-channel counters. */
export const counterSlot = (l: number, p: number): number => PROJECTIONS.length * l + p;

/**
 * The fraction of projection weights skipped, from active-channel counts per counter slot summed over
 * `tokens` decode steps: a skipped input channel of projection p saves its `rows` weights.
 */
export function skippedFraction(c: LlamaConfig, active: ArrayLike<number>, tokens: number): number {
  const shapes = projectionShapes(c);
  let skipped = 0;
  let total = 0;
  for (let l = 0; l < c.nLayers; l++) {
    shapes.forEach(({ rows, cols }, p) => {
      skipped += (cols * tokens - active[counterSlot(l, p)]!) * rows;
      total += cols * tokens * rows;
    });
  }
  return skipped / total;
}

/** ‖W[:,j]‖₁ of a row-major (rows, cols) matrix: the sum over output rows of |W[i][j]|, in f64. */
export function columnL1Norms(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) out[j]! += Math.abs(w[row + j]!);
  }
  return Float32Array.from(out);
}

/**
 * Column L1 norms of every projection, straight from the GGUF (one tensor dequantised at a time), so
 * that no backend needs f32 weights on the CPU for them. The one entry point for WAS scores' norms:
 * calibration, schedules and runtime thresholds all divide by these.
 */
export function projectionNorms(model: Model): ProjectionNorms {
  const tensors = modelTensors(model.file, model.config);
  return Array.from({ length: model.config.nLayers }, (_, l) => PROJECTIONS.map((_p, p) => {
    const t = tensors.get(projectionTensorName(l, p))!;
    const [cols, rows] = t.dims as [number, number];
    return columnL1Norms(dequantize(t.type, tensorBytes(model.file, t), t.nelements), rows, cols);
  }));
}
