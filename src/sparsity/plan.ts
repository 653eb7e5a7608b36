// From a calibration file to the thresholds a run uses: modes, levels per projection, τ vectors.
//
// dense       no thresholds
// teal        TEAL (Liu et al. 2024): magnitude |x_j| scores, one threshold per input group
//             (q|k|v share one mask, gate|up share one), every group at the target sparsity
// was         WAS (Wang et al. 2025): scores |x_j|·‖W[:,j]‖₁, one threshold per projection (q, k and
//             v get different masks from the same input), every projection at the target
// was-greedy  WAS scores, each block at the target, split over its 7 projections by the greedy
//             table recorded at calibration (read between its rows: greedySplit)

import { CalibrationError, OptionError } from '../errors.js';
import type { LlamaConfig } from '../model/config.js';
import type { LlamaWeights } from '../model/weights.js';
import { PROJECTIONS, PROJECTION_GROUP, type ProjectionNorms, type Thresholds } from '../model/projections.js';

export const MODES = ['dense', 'teal', 'was', 'was-greedy'] as const;
export type SparsityMode = (typeof MODES)[number];

/** TEAL's input group of each projection (q, k, v → 0; o → 1; gate, up → 2; down → 3): one mask per input. */
export const TEAL_GROUP = PROJECTION_GROUP;

/**
 * Calibration file, version 1 (written by `was-edge calibrate`, JSON):
 * - `grid`: sparsity levels 0, 1/G, …, 1 at which thresholds are tabulated;
 * - `was[layer][projection][g]`: the grid[g]-quantile of the WAS score |x_j|·n_j of that
 *   projection's inputs over the calibration tokens (projection order q k v o gate up down);
 * - `teal[layer][group][g]`: the same for |x_j| per TEAL input group;
 * - `greedy[layer]`: the greedy split, rows of [block effective sparsity, 7 projection levels];
 * - `params`: parameters per projection of one block (k and v are smaller under GQA).
 * Thresholds between grid points are interpolated linearly.
 */
export interface Calibration {
  version: 1;
  kind: 'was-edge-calibration';
  model: { name: string; sha256: string; nLayers: number; dim: number; hiddenDim: number; kvDim: number };
  data: { text: string; tokens: number; ctx: number; greedyTokens: number; greedyStep: number };
  params: number[];
  grid: number[];
  was: number[][][];
  teal: number[][][];
  greedy: [number, number[]][][];
}


/** Checks a parsed calibration file against the model it is used with. */
export function parseCalibration(json: unknown, c: LlamaConfig): Calibration {
  const bad = (what: string): never => {
    throw new CalibrationError('BAD_CALIBRATION', `calibration file: ${what}. Re-run \`was-edge calibrate\` for this model.`);
  };
  const f = json as Calibration;
  if (typeof f !== 'object' || f === null || f.kind !== 'was-edge-calibration') bad('not a was-edge calibration file');
  if (f.version !== 1) bad(`version ${String(f.version)} is not supported (1 is)`);
  const kvDim = c.nKVHeads * c.headDim;
  const m = f.model;
  if (!m || m.nLayers !== c.nLayers || m.dim !== c.dim || m.hiddenDim !== c.hiddenDim || m.kvDim !== kvDim) {
    bad(`made for a model of another shape (${m?.nLayers} layers, dim ${m?.dim}), not this one (${c.nLayers} layers, dim ${c.dim})`);
  }
  const G = f.grid?.length ?? 0;
  if (G < 2 || f.grid[0] !== 0 || f.grid[G - 1] !== 1) bad('grid must run from 0 to 1');
  const table = (t: number[][][], n: number, name: string) => {
    if (!Array.isArray(t) || t.length !== c.nLayers) bad(`${name} needs ${c.nLayers} layers`);
    for (const layer of t) {
      if (!Array.isArray(layer) || layer.length !== n) bad(`${name} needs ${n} rows per layer`);
      for (const row of layer) if (!Array.isArray(row) || row.length !== G || row.some((v) => typeof v !== 'number' && v !== null)) bad(`${name} rows need ${G} numbers`);
    }
  };
  table(f.was, 7, 'was');
  table(f.teal, 4, 'teal');
  if (!Array.isArray(f.greedy) || f.greedy.length !== c.nLayers) bad('greedy needs one table per layer');
  return f;
}

/** t at sparsity s from a row tabulated on the grid (JSON has no Infinity: null stands for it). */
export function thresholdAt(row: (number | null)[], grid: number[], s: number): number {
  if (s <= 0) return -1; // level 0: nothing is skipped, not even exact zeros
  if (s >= 1) return Infinity;
  const G = grid.length - 1;
  const g = Math.min(Math.floor(s * G), G - 1);
  const a = row[g] ?? Infinity;
  const b = row[g + 1] ?? Infinity;
  if (!Number.isFinite(b)) return s * G === g ? a : Infinity;
  const f = s * G - g;
  return a + (b - a) * f;
}

/** The 7 projection levels of block `layer` for a mode at target sparsity s. */
export function projectionLevels(cal: Calibration, mode: SparsityMode, s: number, layer: number): number[] {
  if (mode !== 'was-greedy') return PROJECTIONS.map(() => (mode === 'dense' ? 0 : s));
  return greedySplit(cal, s, layer);
}

/**
 * The 7 projection levels of block `layer` at block sparsity s: the greedy table read between its
 * two rows around s (consecutive rows differ by one projection's step, so the blend is the greedy
 * split stopped part-way through that step), rounded like the table (1e-6). Block sparsity is linear
 * in the levels (Σ params·level / Σ params), so the result's is s to that rounding, also where the
 * rows are off the 0.025 grid (a projection capped at 1 takes a shorter step). On a row, that row.
 */
export function greedySplit(cal: Calibration, s: number, layer: number): number[] {
  const rows = cal.greedy[layer]!;
  if (s <= rows[0]![0]) return rows[0]![1].slice();
  for (let i = 1; i < rows.length; i++) {
    const [b, hiLevels] = rows[i]!;
    if (s > b) continue;
    if (s === b) return hiLevels.slice();
    const [a, loLevels] = rows[i - 1]!;
    const f = b > a ? (s - a) / (b - a) : 1;
    return loLevels.map((lo, p) => Math.round((lo + (hiLevels[p]! - lo) * f) * 1e6) / 1e6);
  }
  return rows.at(-1)![1].slice();
}

export function checkSparsity(mode: string, s: number): SparsityMode {
  if (!(MODES as readonly string[]).includes(mode)) throw new OptionError('mode', `must be one of ${MODES.join(', ')}, got "${mode}".`);
  if (typeof s !== 'number' || !(s >= 0 && s <= 1)) throw new OptionError('sparsity', `must be a number in [0, 1], got ${String(s)}.`);
  return mode as SparsityMode;
}

export function projectionMatrices(c: LlamaConfig, w: LlamaWeights, l: number): [Float32Array, number, number][] {
  const L = w.layers[l]!;
  const kvDim = c.nKVHeads * c.headDim;
  return [[L.wq, c.qDim, c.dim], [L.wk, kvDim, c.dim], [L.wv, kvDim, c.dim], [L.wo, c.dim, c.qDim],
    [L.wGate, c.hiddenDim, c.dim], [L.wUp, c.hiddenDim, c.dim], [L.wDown, c.dim, c.hiddenDim]];
}

/** WAS: score threshold t over a projection's column norms n → τ = t/n (t < 0: skip nothing; n = 0: always skip). */
export function wasTau(t: number, n: Float32Array): Float32Array {
  return Float32Array.from(n, (nj) => (t < 0 ? -1 : nj > 0 ? t / nj : Infinity));
}

/**
 * τ vectors for a run: channel j of projection p is skipped when |x_j| ≤ τ_j, τ = t / n_j for WAS
 * (score |x|·n > t ⇔ |x| > t/n) and τ = t for TEAL. Null for dense.
 */
export function buildTau(cal: Calibration, mode: SparsityMode, s: number, norms: ProjectionNorms): Thresholds | null {
  if (mode === 'dense') return null;
  return norms.map((layerNorms, l) => {
    const levels = projectionLevels(cal, mode, s, l);
    const shared = new Map<number, Float32Array>(); // TEAL: one vector per input group
    return layerNorms.map((n, p) => {
      if (mode === 'teal') {
        const g = TEAL_GROUP[p]!;
        if (!shared.has(g)) shared.set(g, new Float32Array(n.length).fill(thresholdAt(cal.teal[l]![g]!, cal.grid, levels[p]!)));
        return shared.get(g)!;
      }
      return wasTau(thresholdAt(cal.was[l]![p]!, cal.grid, levels[p]!), n);
    });
  });
}
