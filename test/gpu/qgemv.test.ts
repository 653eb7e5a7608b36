// Quantized weights on the GPU (Q8_0, Q4_0 kept as stored): dense qgemv over the row-major layout and
// sparse_gemv over the input-channel-major one, each against the reference GEMV (dequantise to f32,
// then ops.ts matvec / sparseMatvec with the same mask) on fresh random blocks.
import { afterAll, expect, test } from 'vitest';
import * as qgemv from '../../src/gpu/qgemv.js';
import { destroyQuant, uploadQuantMatrix, uploadQuantTransposedStack, type QuantFormat, type QuantSource } from '../../src/gpu/quant.js';
import * as sparseGemv from '../../src/gpu/sparse_gemv.js';
import { dequantize, f32ToF16, GGMLType } from '../../src/model/tensor.js';
import { matvec, rmsnorm, sparseMatvec } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, maxRelError, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

const TYPE: Record<QuantFormat, GGMLType> = { q8_0: GGMLType.Q8_0, q4_0: GGMLType.Q4_0 };

/** Random GGUF blocks: f16 scales in ±[2^−10, 2^−4), codes uniform over their range. */
function randomQuant(next: () => number, format: QuantFormat, rows: number, cols: number): QuantSource {
  const B = format === 'q8_0' ? 34 : 18;
  const bytes = new Uint8Array(rows * (cols / 32) * B);
  for (let b = 0; b < bytes.length / B; b++) {
    const d = f32ToF16((next() < 0.5 ? -1 : 1) * 2 ** (-10 + 6 * next()));
    bytes[b * B] = d & 0xff;
    bytes[b * B + 1] = d >> 8;
    for (let i = 2; i < B; i++) bytes[b * B + i] = Math.floor(next() * 256);
  }
  return { format, bytes, rows, cols };
}

const deq = (m: QuantSource) => dequantize(TYPE[m.format], m.bytes, m.rows * m.cols);
const errors: string[] = [];

interface DenseCase { format: QuantFormat; rows: number; cols: number; norm?: boolean; accumulate?: boolean; maxShardRows?: number; lanes?: number; r?: number; wg?: number }

async function checkDense(c: DenseCase, salt: number): Promise<void> {
  const next = rng(SEED + salt);
  const m = randomQuant(next, c.format, c.rows, c.cols);
  const W = deq(m);
  const x = randomArray(next, c.cols);
  const normW = randomArray(next, c.cols, 2);
  const y0 = randomArray(next, c.rows + 2);
  let xn = x;
  if (c.norm) { xn = new Float32Array(c.cols); rmsnorm(xn, x, normW, 1e-5); }
  const want = new Float32Array(c.rows);
  matvec(want, W, xn, c.rows, c.cols);
  const magnitude = new Float32Array(c.rows);
  matvec(magnitude, W.map(Math.abs), xn.map(Math.abs), c.rows, c.cols);
  if (c.accumulate) for (let i = 0; i < c.rows; i++) { want[i] = want[i]! + y0[i]!; magnitude[i] = magnitude[i]! + Math.abs(y0[i]!); }

  const codeBytes = (c.cols / 32) * (c.format === 'q8_0' ? 32 : 16);
  const Wq = await uploadQuantMatrix(gpu, m, c.maxShardRows ? { maxShardBytes: c.maxShardRows * codeBytes } : {});
  if (c.maxShardRows) expect(Wq.shards.length).toBe(Math.ceil(c.rows / c.maxShardRows));
  const xb = storage(gpu, x);
  const yb = storage(gpu, y0);
  const nb = storage(gpu, normW);
  const op = await qgemv.prepare(gpu, {
    weights: Wq, x: xb, y: yb, accumulate: c.accumulate, ...(c.norm ? { norm: { weight: nb, eps: 1e-5 } } : {}), ...(c.lanes ? { lanesPerRow: c.lanes } : {}), ...(c.r ? { rowsPerGroup: c.r } : {}),
    ...(c.wg ? { workgroupSize: c.wg } : {}),
  });
  await run(gpu, op);
  const got = await readBuffer(gpu, yb, c.rows + 2);
  const what = `qgemv ${JSON.stringify(c)}`;
  errors.push(`${maxRelError(got.subarray(0, c.rows), want, magnitude).toExponential(1)} ${what}`);
  expectClose(got.subarray(0, c.rows), want, what, 1e-5, magnitude);
  expect([got[c.rows], got[c.rows + 1]], 'wrote past the output').toEqual([y0[c.rows], y0[c.rows + 1]]);
  op.destroy();
  destroyQuant(Wq);
  for (const b of [xb, yb, nb]) b.destroy();
}

interface SparseCase { format: QuantFormat; segments: number[]; cols: number; s: number; norm?: boolean; accumulate?: boolean; shardCols?: number; kChunk?: number | 'none'; swiglu?: boolean; dense?: boolean; unroll?: number }

async function checkSparse(c: SparseCase, salt: number): Promise<void> {
  const next = rng(SEED + salt);
  const { cols, segments } = c;
  const rows = segments.reduce((a, b) => a + b, 0);
  const mats = segments.map((r) => randomQuant(next, c.format, r, cols));
  const Ws = mats.map(deq);
  const up = c.swiglu ? cols + 4 : 0;
  const xFull = randomArray(next, cols + up, c.swiglu ? 4 : 1);
  const x = xFull.subarray(0, cols);
  const normW = randomArray(next, cols, 2);
  const y0 = randomArray(next, rows + 3);
  let xn = x;
  if (c.swiglu) xn = x.map((g, j) => (g / (1 + Math.exp(-g))) * xFull[up + j]!);
  else if (c.norm) { xn = new Float32Array(cols); rmsnorm(xn, x, normW, 1e-5); }
  // τ per segment skipping round(s·cols) channels: halfway between sorted |x'| (no channel sits on τ).
  const sorted = Array.from(xn, Math.abs).sort((a, b) => a - b);
  const k = Math.round(c.s * cols);
  const t = c.s === 0 ? -1 : c.s === 1 ? Infinity : (sorted[k - 1]! + sorted[k]!) / 2;
  const taus = segments.map(() => Float32Array.from({ length: cols }, () => t));
  const tau = new Float32Array(segments.length * cols).fill(t);

  const want = new Float32Array(rows);
  const magnitude = new Float32Array(rows);
  let at = 0;
  segments.forEach((r, i) => {
    const out = new Float32Array(r);
    sparseMatvec(out, Ws[i]!, xn, taus[i]!, r, cols);
    want.set(out, at);
    sparseMatvec(out, Ws[i]!.map(Math.abs), xn.map(Math.abs), taus[i]!, r, cols);
    magnitude.set(out, at);
    at += r;
  });
  if (c.accumulate) for (let i = 0; i < rows; i++) { want[i] = want[i]! + y0[i]!; magnitude[i] = magnitude[i]! + Math.abs(y0[i]!); }

  const rowStride = segments.reduce((a, r) => a + Math.ceil(r / 8) * 8, 0);
  const codeRow = c.format === 'q8_0' ? rowStride : rowStride / 2;
  const W = await uploadQuantTransposedStack(gpu, mats, c.shardCols ? { maxShardBytes: c.shardCols * codeRow } : {});
  if (c.shardCols) expect(W.shards.length).toBe(Math.ceil(cols / c.shardCols));
  const xb = storage(gpu, xFull);
  const yb = storage(gpu, y0);
  const tb = storage(gpu, tau);
  const nb = storage(gpu, normW);
  const op = await sparseGemv.prepare(gpu, {
    weights: W, x: xb, ...(c.dense ? {} : { tau: tb }), y: yb, accumulate: c.accumulate, ...(c.kChunk ? { kChunk: c.kChunk } : {}), ...(c.unroll ? { unroll: c.unroll } : {}),
    ...(c.norm ? { norm: { weight: nb, eps: 1e-5 } } : {}), ...(c.swiglu ? { swiglu: { upOffset: up } } : {}),
  });
  await run(gpu, op);
  const got = await readBuffer(gpu, yb, rows + 3);
  const what = `sparse_gemv ${JSON.stringify(c)}`;
  errors.push(`${maxRelError(got.subarray(0, rows), want, magnitude).toExponential(1)} ${what}`);
  expectClose(got.subarray(0, rows), want, what, 1e-5, magnitude);
  expect(Array.from(got.subarray(rows)), 'wrote past the output').toEqual(Array.from(y0.subarray(rows)));
  op.destroy();
  destroyQuant(W);
  for (const b of [xb, yb, tb, nb]) b.destroy();
}

describeGpu('quantized GEMV (Q8_0, Q4_0)', () => {
  afterAll(() => {
    console.log(`qgemv: seed ${SEED}; max relative error per case:\n${errors.join('\n')}`);
    gpu.device.destroy();
  });
  let salt = 0;
  for (const format of ['q8_0', 'q4_0'] as QuantFormat[]) {
    test(`${format} dense qgemv: odd row counts, row lengths, norm, accumulate, shards`, async () => {
      for (const rows of [1, 3, 33, 130]) {
        for (const cols of [32, 96, 512]) await checkDense({ format, rows, cols }, ++salt);
      }
      await checkDense({ format, rows: 67, cols: 256, norm: true }, ++salt);
      await checkDense({ format, rows: 67, cols: 256, accumulate: true, norm: true }, ++salt);
      await checkDense({ format, rows: 100, cols: 160, maxShardRows: 30, accumulate: true }, ++salt);
      await checkDense({ format, rows: 50, cols: 1024, lanes: 8 }, ++salt);
      for (const r of [1, 2, 3, 8]) await checkDense({ format, rows: 37, cols: 192, r, norm: r === 3 }, ++salt);
      // The default for rows of ≥ 64 blocks: 64 lanes, workgroups of 256; and an explicit variant.
      await checkDense({ format, rows: 75, cols: 2048, norm: true }, ++salt);
      await checkDense({ format, rows: 37, cols: 2048, lanes: 64, wg: 256, r: 2, accumulate: true }, ++salt);
    });
    test(`${format} sparse over the input-channel-major layout: sparsity 0..1, segments, norm, SwiGLU input, shards`, async () => {
      for (const s of [0, 0.3, 0.5, 0.9, 1]) {
        await checkSparse({ format, segments: [13], cols: 64, s }, ++salt);
        await checkSparse({ format, segments: [64, 16, 16], cols: 96, s, norm: true }, ++salt); // q|k|v
        await checkSparse({ format, segments: [90, 90], cols: 64, s, norm: true, accumulate: true }, ++salt); // gate|up
        await checkSparse({ format, segments: [40], cols: 320, s, swiglu: true, accumulate: true, shardCols: 64 }, ++salt); // down
        await checkSparse({ format, segments: [33, 7], cols: 288, s, kChunk: 64, shardCols: 96 }, ++salt);
        await checkSparse({ format, segments: [21], cols: 160, s, kChunk: 'none', accumulate: true }, ++salt);
      }
    });
    test(`${format} dense over the input-channel-major layout (no τ): as τ = −1, unroll 4 and 8`, async () => {
      for (const unroll of [4, 8]) {
        await checkSparse({ format, segments: [64, 16, 16], cols: 96, s: 0, dense: true, norm: true, unroll }, ++salt);
        await checkSparse({ format, segments: [40], cols: 320, s: 0, dense: true, swiglu: true, accumulate: true, shardCols: 64, unroll }, ++salt);
        await checkSparse({ format, segments: [33, 7], cols: 288, s: 0, dense: true, kChunk: 64, shardCols: 96, unroll }, ++salt);
        await checkSparse({ format, segments: [21], cols: 160, s: 0, dense: true, kChunk: 'none', accumulate: true, unroll }, ++salt);
      }
    });
  }
  test('bad arguments are KernelArgumentErrors', async () => {
    const next = rng(SEED);
    await expect(uploadQuantMatrix(gpu, { ...randomQuant(next, 'q8_0', 2, 64), cols: 48 })).rejects.toThrow(/multiple of 32/);
    await expect(uploadQuantMatrix(gpu, { ...randomQuant(next, 'q4_0', 2, 64), rows: 3 })).rejects.toThrow(/needs/);
    const W = await uploadQuantTransposedStack(gpu, [randomQuant(next, 'q4_0', 8, 64)]);
    const b = storage(gpu, 128);
    await expect(sparseGemv.prepare(gpu, { weights: W, x: b, tau: b, y: storage(gpu, 64), kChunk: 48 })).rejects.toThrow(/multiple of 32/);
    destroyQuant(W);
  });
});
