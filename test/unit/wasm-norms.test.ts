// columnL1Norms in Wasm (assembly/score/norms.ts) against a plain f64 reference, on the debug build
// (asserts on) and then the release build we ship. Builds nothing: `npm test` runs `npm run build` first.

import { beforeAll, describe, expect, test } from 'vitest';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';
import { mulberry32 as rng } from '../helpers/random.js';

/** out[j] = Σ_i |W[i·cols + j]| in f64: the oracle. */
function columnL1NormsRef(w: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j]! += Math.abs(w[i * cols + j]!);
  }
  return out;
}


/** Signed values over six decades, like real weights with a few outlier channels. */
function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const next = rng(seed);
  const w = new Float32Array(rows * cols);
  for (let k = 0; k < w.length; k++) w[k] = (next() < 0.5 ? -1 : 1) * 10 ** (next() * 6 - 4);
  return w;
}

function maxRelativeError(got: Float32Array, want: Float64Array): number {
  let worst = 0;
  for (let j = 0; j < want.length; j++) {
    const denom = Math.abs(want[j]!);
    const err = denom === 0 ? Math.abs(got[j]!) : Math.abs(got[j]! - want[j]!) / denom;
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  return worst;
}

// 1×1, tails only (3×5, 7×33), exact 16-column strips (172×64), 4-strips plus tail (64×172), large.
const SHAPES: ReadonlyArray<readonly [number, number]> = [
  [1, 1],
  [3, 5],
  [172, 64],
  [64, 172],
  [7, 33],
  [384, 1024],
];

// f64 accumulation leaves only the final rounding to f32: ≤ 2^-24 relative, asserted with 2× slack.
// (The contract is 1e-6; this bound catches an accidental f32 accumulator, ~1e-6 at 384 rows.)
const TOLERANCE = 2 ** -23;

describe('columnL1Norms (Wasm)', () => {
  let debug: WasModule;
  let release: WasModule;
  const seed = Date.now() >>> 0; // fresh matrices per run; printed on failure

  beforeAll(async () => {
    // loadWasmNode throws WASM_NOT_FOUND naming the missing file and `npm run build` if build/ is absent.
    debug = await loadWasmNode('debug');
    release = await loadWasmNode('release');
  });

  test.each(SHAPES)('%i×%i matches the f64 reference; release equals debug', (rows, cols) => {
    const shapeSeed = (seed ^ Math.imul(rows, 0x9e3779b1) ^ cols) >>> 0;
    const w = randomMatrix(rows, cols, shapeSeed);
    const want = columnL1NormsRef(w, rows, cols);

    const got = debug.columnL1Norms(w, rows, cols);
    expect(got.length).toBe(cols);
    const rel = maxRelativeError(got, want);
    expect(rel, `${rows}×${cols} seed ${shapeSeed}: max relative error ${rel.toExponential(3)}`).toBeLessThanOrEqual(
      TOLERANCE,
    );

    // Same operations in the same order: the optimiser may not reassociate floats, so bit-equal.
    const fromRelease = release.columnL1Norms(w, rows, cols);
    const mismatch = fromRelease.findIndex((v, j) => !Object.is(v, got[j]));
    expect(mismatch, `${rows}×${cols} seed ${shapeSeed}: release differs from debug at column ${mismatch}`).toBe(-1);
  });

  test('pointer API: regions stay valid across memory growth, views are re-made', () => {
    const rows = 64;
    const cols = 172;
    const w = randomMatrix(rows, cols, seed);
    const wPtr = debug.alloc(w.byteLength);
    const outPtr = debug.alloc(cols * 4);
    expect(wPtr % 16).toBe(0);
    expect(outPtr % 16).toBe(0);
    debug.f32View(wPtr, w.length).set(w);

    const before = debug.memory.buffer;
    const big = debug.alloc(8 << 20); // forces memory.grow: `before` is detached now
    expect(debug.memory.buffer).not.toBe(before);

    debug.columnL1NormsInto(wPtr, rows, cols, outPtr);
    const rel = maxRelativeError(debug.f32View(outPtr, cols), columnL1NormsRef(w, rows, cols));
    expect(rel, `max relative error ${rel.toExponential(3)}`).toBeLessThanOrEqual(TOLERANCE);
    debug.free(big);
    debug.reset();
  });

  test('bad shapes are refused before reaching Wasm; debug asserts catch bad pointers', () => {
    expect(() => debug.columnL1Norms(new Float32Array(15), 4, 4)).toThrow(/W has 15 elements but rows × cols/);
    expect(() => debug.columnL1Norms(new Float32Array(0), -1, 0)).toThrow(/rows must be an integer/);
    expect(() => debug.columnL1NormsInto(debug.memory.buffer.byteLength, 4, 4, 0)).toThrow(/W runs past memory/);
  });

  test('zero rows give zero norms; zero columns give an empty result', () => {
    expect([...debug.columnL1Norms(new Float32Array(0), 0, 5)]).toEqual([0, 0, 0, 0, 0]);
    expect(debug.columnL1Norms(new Float32Array(0), 7, 0).length).toBe(0);
  });
});
