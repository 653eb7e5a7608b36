import { afterAll, expect, test } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import * as sparseGemv from '../../src/gpu/sparse_gemv.js';
import { destroyTransposed, uploadTransposedStack, type WeightFormat } from '../../src/gpu/weights.js';
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import { rmsnorm, sparseMatvec } from '../../src/reference/ops.js';
import { describeGpu, gpu, tryGpu } from './context.js';
import { expectClose, maxRelError, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

interface Case {
  /** Output rows of each stacked matrix (segment); one τ vector each. */
  segments: number[];
  cols: number;
  /** Fraction of channels skipped per segment: 0 → τ = −1 (dense), 1 → τ = +∞, else quantiles. */
  s: number;
  format?: WeightFormat;
  norm?: boolean;
  accumulate?: boolean;
  /** Stored rows (input channels) per shard: several weight buffers. */
  shardCols?: number;
  xOffset?: number;
  yOffset?: number;
  kChunk?: number | 'none';
  /** x' = silu(gate)·up with up this many elements after gate in x. */
  swiglu?: { upOffset: number };
  /** Count active channels per segment (stats). */
  riders?: boolean;
  tileChunks?: number;
  workgroupSize?: number;
  unroll?: number;
  piece?: number;
  reduceChunks?: number;
  normPrologue?: 'loop' | 'unrolled' | 'vec4';
  /** x given as this many partial vectors (xPartials), summed in order in f32. */
  xPartials?: number;
  /** Leave the partials in scratch (leavePartials): they are read back and summed here; y stays as it was. */
  leavePartials?: boolean;
  /** No τ: the dense variant (with s = 0). */
  dense?: boolean;
  /** Upload f32 values into an f16 tensor (converted by the uploader) instead of f16 bits. */
  convert?: boolean;
  /** Device to run on (default: the file's). */
  ctx?: GpuContext;
}

function toHalf(a: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = new Uint16Array(a.length);
  const values = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) values[i] = f16ToF32((bits[i] = f32ToF16(a[i]!)));
  return { bits, values };
}

/**
 * τ for one segment skipping round(s·cols) channels exactly: per-channel scores a_j (as WAS's weight
 * norms), a threshold t halfway between two sorted |x'_j|·a_j, τ_j = t / a_j (no channel sits on τ).
 */
function thresholds(next: () => number, xn: Float32Array, s: number): Float32Array {
  const cols = xn.length;
  if (s === 0) return new Float32Array(cols).fill(-1);
  if (s === 1) return new Float32Array(cols).fill(Infinity);
  const a = Float32Array.from({ length: cols }, () => 0.5 + next());
  const v = Array.from(xn, (x, j) => Math.abs(x) * a[j]!).sort((p, q) => p - q);
  const k = Math.round(s * cols);
  const t = k === 0 ? v[0]! / 2 : k === cols ? v[cols - 1]! * 2 + 1 : (v[k - 1]! + v[k]!) / 2;
  return Float32Array.from(a, (aj) => t / aj);
}

const errors: string[] = [];

async function check(c: Case, salt: number): Promise<void> {
  const ctx = c.ctx ?? gpu;
  const next = rng(SEED + salt);
  const { cols, segments } = c;
  const format = c.format ?? 'f32';
  const xOffset = c.xOffset ?? 0;
  const yOffset = c.yOffset ?? 0;
  const rows = segments.reduce((a, b) => a + b, 0);
  const mats = segments.map((r) => randomArray(next, r * cols));
  const halves = format === 'f16' ? mats.map(toHalf) : undefined;
  const ref = halves ? halves.map((h) => h.values) : mats;
  const data = halves ? (c.convert ? mats : halves.map((h) => h.bits)) : mats;

  const up = c.swiglu?.upOffset ?? 0;
  let xFull = randomArray(next, xOffset + cols + up, c.swiglu ? 4 : 1);
  // xPartials: the buffer holds `parts` random vectors, rowElems apart; x is their f32 sum in order.
  const parts = c.xPartials ?? 0;
  const rowElems = cols + up + 5;
  let xData = xFull;
  if (parts) {
    xData = randomArray(next, xOffset + (parts - 1) * rowElems + cols + up, c.swiglu ? 2 : 1);
    xFull = xFull.map((v, i) => {
      if (i < xOffset) return v;
      let sum = 0;
      for (let k = 0; k < parts; k++) sum = Math.fround(sum + xData[i + k * rowElems]!);
      return sum;
    });
  }
  const x = xFull.subarray(xOffset, xOffset + cols);
  const y0 = randomArray(next, yOffset + rows + 3);
  const normW = randomArray(next, cols, 2);
  const eps = 1e-5;
  let xn = x;
  if (c.swiglu) {
    const u = xFull.subarray(xOffset + up, xOffset + up + cols);
    xn = x.map((g, j) => (g / (1 + Math.exp(-g))) * u[j]!);
  } else if (c.norm) {
    xn = new Float32Array(cols);
    rmsnorm(xn, x, normW, eps);
  }
  const taus = segments.map(() => thresholds(next, xn, c.s));
  const tau = new Float32Array(segments.length * cols);
  taus.forEach((t, i) => tau.set(t, i * cols));

  // A skipped channel's weights must never be read: make them NaN (0 · NaN would show in y).
  segments.forEach((r, i) => {
    const d = data[i]!;
    for (let j = 0; j < cols; j++) {
      if (Math.abs(xn[j]!) > taus[i]![j]!) continue;
      for (let k = 0; k < r; k++) d[k * cols + j] = d instanceof Uint16Array ? 0x7e00 : NaN;
    }
  });
  const chunk = format === 'f32' ? 4 : 8;
  const rowBytes = segments.reduce((a, r) => a + Math.ceil(r / chunk) * chunk, 0) * (format === 'f32' ? 4 : 2);
  const W = await uploadTransposedStack(ctx, segments.map((r, i) => ({ data: data[i]!, rows: r })), cols, format,
    c.shardCols ? { maxShardBytes: c.shardCols * rowBytes } : {});
  if (c.shardCols) expect(W.shards.length).toBe(Math.ceil(cols / c.shardCols));
  if (c.ctx) expect(W.shards.length, 'forced small bindings: shards').toBeGreaterThan(1);

  const want = new Float32Array(rows);
  const magnitude = new Float32Array(rows); // Σ_j |W_ij·x_j| over active j: the scale of each row's rounding
  let at = 0;
  let skipped = 0;
  const absX = xn.map(Math.abs);
  segments.forEach((r, i) => {
    const out = new Float32Array(r);
    skipped += sparseMatvec(out, ref[i]!, xn, taus[i]!, r, cols);
    want.set(out, at);
    sparseMatvec(out, ref[i]!.map(Math.abs), absX, taus[i]!, r, cols);
    magnitude.set(out, at);
    at += r;
  });
  if (c.s > 0 && c.s < 1) expect(skipped).toBe(segments.length * Math.round(c.s * cols));
  if (c.accumulate && !c.leavePartials) for (let i = 0; i < rows; i++) want[i] = want[i]! + y0[yOffset + i]!;

  const xBuf = storage(ctx, xData);
  const yBuf = storage(ctx, y0);
  const tBuf = storage(ctx, tau);
  const nBuf = storage(ctx, normW);
  const stats = c.riders ? storage(ctx, new Float32Array(2 + segments.length)) : null;
  const {
    ctx: _, segments: __, s: ___, format: ____, shardCols: _____, convert: ______, riders: _______, norm, xPartials: ________,
    leavePartials: _________, dense: __________, xOffset: ___________, swiglu, ...tuning
  } = c;
  const kChunk = typeof c.kChunk === 'number' ? c.kChunk : sparseGemv.defaultKChunk(W);
  const scratch = c.leavePartials ? ctx.device.createBuffer({ size: sparseGemv.scratchBytes(W, kChunk), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC }) : null;
  // x as another op's partials: gate at xOffset, and with swiglu up at xOffset + upOffset.
  const xPartials = parts ? { buffer: xBuf, chunks: parts, rowElems, segmentOffsets: swiglu ? [xOffset, xOffset + swiglu.upOffset] : [xOffset] } : null;
  const op = await sparseGemv.prepare(ctx, {
    ...tuning, weights: W, ...(c.dense ? {} : { tau: tBuf }), ...(c.leavePartials ? {} : { y: yBuf }), ...(norm ? { norm: { weight: nBuf, eps } } : {}),
    ...(stats ? { stats: { buffer: stats, slot: 2 } } : {}), ...(xPartials ? { xPartials } : { x: xBuf, xOffset }),
    ...(swiglu ? { swiglu: xPartials ? {} : swiglu } : {}),
    ...(scratch ? { leavePartials: sparseGemv.splitKPartials(W, scratch, kChunk) } : {}),
  });
  await run(ctx, op);
  if (scratch) {
    // The partials as the next op reads them (SplitKPartials), summed here; y untouched.
    const L = sparseGemv.splitKPartials(W, scratch, kChunk);
    const raw = await readBuffer(ctx, scratch, L.chunks * L.rowElems);
    const got = new Float32Array(rows);
    let r0 = 0;
    segments.forEach((r, si) => {
      for (let i = 0; i < r; i++) for (let k = 0; k < L.chunks; k++) got[r0 + i] = got[r0 + i]! + raw[k * L.rowElems + L.segmentOffsets[si]! + i]!;
      r0 += r;
    });
    const what = `sparse_gemv leavePartials partials ${JSON.stringify({ ...c, ctx: undefined })}`;
    errors.push(`${maxRelError(got, want, magnitude).toExponential(1)} ${what}`);
    expectClose(got, want, what, 1e-5, magnitude);
    expect(Array.from(await readBuffer(ctx, yBuf, y0.length)), 'leavePartials leaves y as it was').toEqual(Array.from(y0));
    op.destroy();
    destroyTransposed(W);
    for (const b of [xBuf, yBuf, tBuf, nBuf, stats, scratch]) b?.destroy();
    return;
  }
  if (stats) {
    const counts = new Uint32Array((await readBuffer(ctx, stats, 2 + segments.length)).buffer);
    const active = taus.map((t) => xn.reduce((n, v, j) => n + (Math.abs(v) > t[j]! ? 1 : 0), 0));
    expect(Array.from(counts), 'stats rider: active channels per segment').toEqual([0, 0, ...active]);
  }
  const got = await readBuffer(ctx, yBuf, yOffset + rows + 3);
  const what = `sparse_gemv ${JSON.stringify({ ...c, ctx: undefined })}`;
  if (c.accumulate) for (let i = 0; i < rows; i++) magnitude[i] = magnitude[i]! + Math.abs(y0[yOffset + i]!);
  errors.push(`${maxRelError(got.subarray(yOffset, yOffset + rows), want, magnitude).toExponential(1)} ${what}`);
  expectClose(got.subarray(yOffset, yOffset + rows), want, what, 1e-5, magnitude);
  expect(Array.from(got.subarray(0, yOffset)), 'wrote before yOffset').toEqual(Array.from(y0.subarray(0, yOffset)));
  // Again from the same y: the sum order is fixed, so the bits are too.
  ctx.device.queue.writeBuffer(yBuf, 0, y0 as Float32Array<ArrayBuffer>);
  await run(ctx, op);
  expect(Array.from(await readBuffer(ctx, yBuf, yOffset + rows + 3)), 'a second run gives the same bits').toEqual(Array.from(got));
  expect(Array.from(got.subarray(yOffset + rows)), 'wrote past the output').toEqual(Array.from(y0.subarray(yOffset + rows)));

  op.destroy();
  destroyTransposed(W);
  for (const b of [xBuf, yBuf, tBuf, nBuf, stats]) b?.destroy();
}

describeGpu('sparse_gemv', () => {
  afterAll(() => {
    console.log(`sparse_gemv: seed ${SEED}; max relative error per case:\n${errors.join('\n')}`);
    gpu.device.destroy();
  });
  const rowsList: number[][] = [[1], [7], [33], [172], [192, 384]];
  const colsList = [1, 8, 33, 172];
  const sparsities = [0, 0.3, 0.5, 0.9, 1];
  const variants: { name: string; kChunk?: number | 'none' }[] = [{ name: 'split' }, { name: 'split kChunk 16', kChunk: 16 }, { name: 'no split', kChunk: 'none' }];
  let salt = 0;
  for (const format of ['f32', 'f16'] as WeightFormat[]) {
    for (const v of variants) {
      test(`${format} ${v.name}: rows × cols × sparsity`, async () => {
        for (const segments of rowsList) {
          for (const cols of colsList) {
            for (const s of sparsities) await check({ segments, cols, s, format, ...(v.kChunk ? { kChunk: v.kChunk } : {}) }, ++salt);
          }
        }
      });
      test(`${format} ${v.name}: stacked segments, norm, accumulate, shards, offsets`, async () => {
        const kc = v.kChunk ? { kChunk: v.kChunk } : {};
        for (const s of [0, 0.5, 0.9, 1]) {
          await check({ segments: [64, 16, 16], cols: 172, s, format, ...kc }, ++salt); // q|k|v
          await check({ segments: [33, 7, 7], cols: 33, s, format, norm: true, ...kc }, ++salt);
          await check({ segments: [172, 172], cols: 64, s, format, norm: true, accumulate: true, ...kc }, ++salt); // gate|up
          await check({ segments: [100], cols: 300, s, format, accumulate: true, shardCols: 37, ...kc }, ++salt);
          await check({ segments: [13, 40, 9], cols: 172, s, format, norm: true, accumulate: true, shardCols: 50, xOffset: 3, yOffset: 5, ...kc }, ++salt);
          await check({ segments: [20], cols: 64, s, format, xOffset: 8, yOffset: 1, convert: true, ...kc }, ++salt);
          await check({ segments: [64], cols: 172, s, format, swiglu: { upOffset: 172 }, accumulate: true, riders: true, ...kc }, ++salt); // down
          await check({ segments: [33, 7], cols: 100, s, format, swiglu: { upOffset: 105 }, xOffset: 2, riders: true, shardCols: 40, ...kc }, ++salt);
        }
      });
    }
  }
  test('tuning: tiles, workgroups, unroll, pieces, K-chunks', async () => {
    for (const format of ['f32', 'f16'] as WeightFormat[]) {
      for (const s of [0.3, 0.7]) {
        const base = { segments: [96, 40], cols: 300, s, format, norm: true, accumulate: true };
        await check({ ...base, kChunk: 100, piece: 32 }, ++salt); // several pieces per K-chunk
        await check({ ...base, kChunk: 33, unroll: 1 }, ++salt);
        await check({ ...base, kChunk: 64, unroll: 2, tileChunks: 16, workgroupSize: 128 }, ++salt);
        await check({ ...base, kChunk: 64, unroll: 8, tileChunks: 4, workgroupSize: 64, reduceChunks: 4 }, ++salt);
        await check({ ...base, kChunk: 'none', tileChunks: 4, unroll: 2 }, ++salt);
        await check({ ...base, kChunk: 'none', tileChunks: 32, workgroupSize: 32, piece: 64 }, ++salt);
        await check({ ...base, kChunk: 1, tileChunks: 1, workgroupSize: 32, reduceChunks: 32 }, ++salt);
        await check({ ...base, kChunk: 'none', shardCols: 29, piece: 32 }, ++salt);
      }
    }
  });
  test('leavePartials: the partials left in scratch sum to y; xPartials: x given as partial vectors (swiglu too)', async () => {
    for (const format of ['f32', 'f16'] as WeightFormat[]) {
      for (const s of [0, 0.5, 1]) {
        await check({ segments: [64, 16, 16], cols: 172, s, format, norm: true, leavePartials: true }, ++salt); // q|k|v → rope
        await check({ segments: [172, 172], cols: 64, s, format, norm: true, leavePartials: true, kChunk: 16, shardCols: 40 }, ++salt); // gate|up
        await check({ segments: [100], cols: 300, s, format, accumulate: true, leavePartials: true, kChunk: 64 }, ++salt);
        await check({ segments: [64], cols: 172, s, format, swiglu: { upOffset: 176 }, xPartials: 11, accumulate: true, riders: true }, ++salt); // down
        await check({ segments: [33, 7], cols: 100, s, format, swiglu: { upOffset: 105 }, xOffset: 2, xPartials: 3, shardCols: 40, kChunk: 'none' }, ++salt);
        await check({ segments: [20], cols: 64, s, format, xPartials: 1, xOffset: 8 }, ++salt);
      }
    }
  });
  test('dense (no τ): every channel read, as with τ = −1; with norm, SwiGLU, partials, shards, unroll 8', async () => {
    for (const format of ['f32', 'f16'] as WeightFormat[]) {
      const d = { s: 0, format, dense: true };
      await check({ ...d, segments: [64, 16, 16], cols: 172, norm: true, leavePartials: true }, ++salt); // q|k|v → rope
      await check({ ...d, segments: [100], cols: 300, accumulate: true, shardCols: 37, unroll: 8 }, ++salt); // o
      await check({ ...d, segments: [64], cols: 172, swiglu: { upOffset: 176 }, xPartials: 11, accumulate: true }, ++salt); // down
      await check({ ...d, segments: [33, 7], cols: 100, norm: true, xOffset: 2, yOffset: 5, kChunk: 'none' }, ++salt);
      await check({ ...d, segments: [13, 40, 9], cols: 172, kChunk: 64, piece: 32, unroll: 8 }, ++salt);
    }
  });
  test('RMSNorm prologues: loop, unrolled, vec4 (and vec4 falling back on unaligned x or cols)', async () => {
    for (const normPrologue of ['loop', 'unrolled', 'vec4'] as const) {
      for (const format of ['f32', 'f16'] as WeightFormat[]) {
        const base = { s: 0.5, format, norm: true, normPrologue };
        await check({ ...base, segments: [40, 9], cols: 1030, xOffset: 4, workgroupSize: 64, kChunk: 64 }, ++salt); // cols/4 not a multiple of WG
        await check({ ...base, segments: [33], cols: 1030, xOffset: 3, accumulate: true }, ++salt); // unaligned: unrolled
        await check({ ...base, segments: [17], cols: 33, kChunk: 'none' }, ++salt); // cols % 4 ≠ 0
        await check({ ...base, segments: [96, 40], cols: 300, shardCols: 64, tileChunks: 16, workgroupSize: 128 }, ++salt);
      }
    }
  });
  test('forced small bindings (forceMaxBindingSize): several shards per matrix', async () => {
    const { ctx } = await tryGpu({ forceMaxBindingSize: 4096 });
    expect(ctx, 'second device').toBeDefined();
    try {
      for (const kChunk of [undefined, 64, 'none'] as const) {
        await check({ segments: [172], cols: 172, s: 0.5, format: 'f32', ctx: ctx!, norm: true, ...(kChunk ? { kChunk } : {}) }, ++salt);
        await check({ segments: [192, 384], cols: 100, s: 0.3, format: 'f16', ctx: ctx!, accumulate: true, ...(kChunk ? { kChunk } : {}) }, ++salt);
      }
    } finally {
      ctx?.device.destroy();
    }
  });
  // Sizes for lavapipe (see gemv.test.ts): many rows and a long input, without a 4096² matrix.
  test('4096 × 1024 f32 and 1000 × 4096 f16 at s = 0.5 and 0.7', async () => {
    await check({ segments: [4096], cols: 1024, s: 0.5 }, ++salt);
    await check({ segments: [1000], cols: 4096, s: 0.5, format: 'f16', norm: true }, ++salt);
    await check({ segments: [1000], cols: 4096, s: 0.7, format: 'f16', kChunk: 'none' }, ++salt);
  });
});
