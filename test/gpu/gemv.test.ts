import { afterAll, expect, test } from 'vitest';
import * as gemv from '../../src/gpu/gemv.js';
import { destroyWeights, uploadGateUp, uploadMatrix, type WeightFormat } from '../../src/gpu/weights.js';
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import { matvec, rmsnorm, swiglu } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

interface Case {
  rows: number;
  cols: number;
  format?: WeightFormat;
  nativeF16?: boolean;
  norm?: boolean;
  accumulate?: boolean;
  swiglu?: boolean;
  /** Rows per shard (forces several weight buffers). */
  shardRows?: number;
  xOffset?: number;
  yOffset?: number;
  workgroupSize?: number;
  lanesPerRow?: number;
  unroll?: number;
  twoRows?: boolean;
  /** Upload f32 values into an f16 tensor (converted by the uploader) instead of f16 bits. */
  convert?: boolean;
}

function toHalf(a: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const bits = new Uint16Array(a.length);
  const values = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) values[i] = f16ToF32((bits[i] = f32ToF16(a[i]!)));
  return { bits, values };
}

async function check(c: Case, salt: number): Promise<void> {
  const next = rng(SEED + salt);
  const { rows, cols } = c;
  const format = c.format ?? 'f32';
  const xOffset = c.xOffset ?? 0;
  const yOffset = c.yOffset ?? 0;
  const nMat = c.swiglu ? 2 : 1;
  const mats = Array.from({ length: nMat }, () => randomArray(next, rows * cols));
  const halves = format === 'f16' ? mats.map(toHalf) : undefined;
  const ref = halves ? halves.map((h) => h.values) : mats;
  const data = halves ? (c.convert ? mats : halves.map((h) => h.bits)) : mats;
  const groupBytes = nMat * (format === 'f32' ? 4 * Math.ceil(cols / 4) * 4 : 2 * Math.ceil(cols / 8) * 8);
  const upOpts = c.shardRows ? { maxShardBytes: c.shardRows * groupBytes } : {};
  const W = c.swiglu
    ? await uploadGateUp(gpu, data[0]!, data[1]!, rows, cols, format, upOpts)
    : await uploadMatrix(gpu, data[0]!, rows, cols, format, upOpts);
  if (c.shardRows) expect(W.shards.length).toBe(Math.ceil(rows / c.shardRows));

  const xFull = randomArray(next, xOffset + cols);
  const x = xFull.subarray(xOffset);
  const y0 = randomArray(next, yOffset + rows);
  const normW = randomArray(next, cols, 2);
  const eps = 1e-5;
  const xBuf = storage(gpu, xFull);
  const yBuf = storage(gpu, y0);
  const nBuf = storage(gpu, normW);
  const op = await gemv.prepare(gpu, {
    weights: W, x: xBuf, xOffset, y: yBuf, yOffset,
    ...(c.norm ? { norm: { weight: nBuf, eps } } : {}),
    ...(c.accumulate ? { accumulate: true } : {}),
    ...(c.nativeF16 !== undefined ? { nativeF16: c.nativeF16 } : {}),
    ...(c.workgroupSize ? { workgroupSize: c.workgroupSize } : {}),
    ...(c.lanesPerRow ? { lanesPerRow: c.lanesPerRow } : {}),
    ...(c.unroll ? { unroll: c.unroll } : {}),
    ...(c.twoRows !== undefined ? { twoRows: c.twoRows } : {}),
  });
  await run(gpu, op);
  const got = await readBuffer(gpu, yBuf, yOffset + rows);

  let xin = x;
  if (c.norm) {
    xin = new Float32Array(cols);
    rmsnorm(xin, x, normW, eps);
  }
  const outs = ref.map((w) => {
    const o = new Float32Array(rows);
    matvec(o, w, xin, rows, cols);
    return o;
  });
  let want = outs[0]!;
  if (c.swiglu) {
    want = new Float32Array(rows);
    swiglu(want, outs[0]!, outs[1]!);
  }
  if (c.accumulate) want = want.map((v, i) => v + y0[yOffset + i]!);
  // Σ_j |W_ij·x_j|: the scale of each row's rounding error (matters when a single row cancels).
  // SwiGLU rows are products of two dot products, so they keep the plain relative measure.
  let magnitude: Float32Array | undefined;
  if (!c.swiglu) {
    magnitude = new Float32Array(rows);
    matvec(magnitude, ref[0]!.map(Math.abs), xin.map(Math.abs), rows, cols);
    if (c.accumulate) magnitude = magnitude.map((v, i) => v + Math.abs(y0[yOffset + i]!));
  }
  expectClose(got.subarray(yOffset, yOffset + rows), want, `gemv ${JSON.stringify(c)}`, 1e-5, magnitude);
  expect(Array.from(got.subarray(0, yOffset)), 'gemv wrote before yOffset').toEqual(Array.from(y0.subarray(0, yOffset)));

  op.destroy();
  destroyWeights(W);
  for (const b of [xBuf, yBuf, nBuf]) b.destroy();
}

describeGpu('gemv', () => {
  afterAll(() => gpu.device.destroy());
  const sizes: [number, number][] = [[172, 64], [64, 172], [8, 7], [1, 1], [33, 4097], [7, 33], [1, 8], [300, 9]];
  const formats: { format: WeightFormat; nativeF16?: boolean }[] = [
    { format: 'f32' }, { format: 'f16', nativeF16: false }, { format: 'f16', nativeF16: true },
  ];
  let salt = 0;
  for (const f of formats) {
    test.skipIf(f.nativeF16 && !gpu?.features.f16)(`plain ${f.format}${f.nativeF16 ? ' shader-f16' : ''}`, async () => {
      for (const [rows, cols] of sizes) await check({ rows, cols, ...f }, ++salt);
    });
    test.skipIf(f.nativeF16 && !gpu?.features.f16)(`fused ${f.format}${f.nativeF16 ? ' shader-f16' : ''}`, async () => {
      await check({ rows: 172, cols: 64, ...f, norm: true }, ++salt);
      await check({ rows: 64, cols: 172, ...f, accumulate: true }, ++salt);
      await check({ rows: 33, cols: 33, ...f, swiglu: true }, ++salt);
      await check({ rows: 172, cols: 64, ...f, swiglu: true, norm: true }, ++salt);
      await check({ rows: 7, cols: 4097, ...f, norm: true, accumulate: true }, ++salt);
      await check({ rows: 5, cols: 1, ...f, swiglu: true, norm: true, accumulate: true }, ++salt);
    });
  }
  test('shards, offsets, workgroup shapes', async () => {
    await check({ rows: 172, cols: 64, shardRows: 50 }, ++salt);
    await check({ rows: 33, cols: 7, format: 'f16', shardRows: 4, nativeF16: false }, ++salt);
    await check({ rows: 65, cols: 172, swiglu: true, norm: true, shardRows: 16 }, ++salt);
    await check({ rows: 64, cols: 33, xOffset: 3, yOffset: 5 }, ++salt); // scalar x loads
    await check({ rows: 64, cols: 172, xOffset: 8, yOffset: 1, norm: true, format: 'f16', nativeF16: false }, ++salt);
    await check({ rows: 100, cols: 4097, workgroupSize: 64, lanesPerRow: 8 }, ++salt);
    await check({ rows: 9, cols: 300, workgroupSize: 32, lanesPerRow: 32, swiglu: true }, ++salt);
    await check({ rows: 40, cols: 172, format: 'f16', convert: true, nativeF16: false }, ++salt);
    await check({ rows: 33, cols: 4097, norm: true, shardRows: 7 }, ++salt); // odd rows per shard
    await check({ rows: 172, cols: 64, twoRows: false, accumulate: true, format: 'f16', nativeF16: false, unroll: 1 }, ++salt);
    await check({ rows: 1, cols: 300, unroll: 4 }, ++salt);
  });
  // Sizes for lavapipe (CPU-run WebGPU, where the default suite runs): a long row and many rows, each
  // at a model's width, without a 4096² matrix (64 MiB of data made and checked on the CPU).
  test('4096 × 1024 f32 and 1000 × 4096 f16', async () => {
    await check({ rows: 4096, cols: 1024 }, ++salt);
    await check({ rows: 1000, cols: 4096, format: 'f16', nativeF16: false }, ++salt);
  });
});
