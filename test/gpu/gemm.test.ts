import { afterAll, test } from 'vitest';
import * as gemm from '../../src/gpu/gemm.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { destroyWeights, uploadGateUp, uploadMatrix, type WeightFormat } from '../../src/gpu/weights.js';
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import { matvec, rmsnorm, swiglu } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

interface Case {
  rows: number;
  cols: number;
  T: number;
  maxTokens?: number;
  format?: WeightFormat;
  nativeF16?: boolean;
  norm?: boolean;
  accumulate?: boolean;
  swiglu?: boolean;
  shardRows?: number;
  /** Extra elements between tokens of X and Y, and before the first. */
  pad?: number;
}

async function check(c: Case, salt: number): Promise<void> {
  const next = rng(SEED + salt);
  const { rows, cols, T } = c;
  const format = c.format ?? 'f32';
  const pad = c.pad ?? 0;
  const nMat = c.swiglu ? 2 : 1;
  const mats = Array.from({ length: nMat }, () => randomArray(next, rows * cols));
  const bits = mats.map((m) => {
    const b = new Uint16Array(m.length);
    if (format === 'f16') for (let i = 0; i < m.length; i++) m[i] = f16ToF32((b[i] = f32ToF16(m[i]!)));
    return b;
  });
  const data = format === 'f16' ? bits : mats;
  const groupBytes = nMat * (format === 'f32' ? Math.ceil(cols / 4) * 16 : Math.ceil(cols / 8) * 16);
  const upOpts = c.shardRows ? { maxShardBytes: c.shardRows * groupBytes } : {};
  const W = c.swiglu
    ? await uploadGateUp(gpu, data[0]!, data[1]!, rows, cols, format, upOpts)
    : await uploadMatrix(gpu, data[0]!, rows, cols, format, upOpts);

  const step = createStep(gpu, c.maxTokens ?? T);
  writeStep(gpu.device, step, 0, new Array(T).fill(0));
  const xStride = cols + pad;
  const yStride = rows + pad;
  const X = randomArray(next, pad + step.maxTokens * xStride);
  const Y0 = randomArray(next, pad + step.maxTokens * yStride);
  const normW = randomArray(next, cols, 2);
  const eps = 1e-5;
  const [xb, yb, nb] = [storage(gpu, X), storage(gpu, Y0), storage(gpu, normW)];
  const op = await gemm.prepare(gpu, {
    weights: W, step, x: xb, xOffset: pad, xStride, y: yb, yOffset: pad, yStride,
    ...(c.norm ? { norm: { weight: nb, eps } } : {}),
    ...(c.accumulate ? { accumulate: true } : {}),
    ...(c.nativeF16 !== undefined ? { nativeF16: c.nativeF16 } : {}),
  });
  await run(gpu, op);
  const got = await readBuffer(gpu, yb, Y0.length);

  // The reference: matvec per token (tokens ≥ T and the gaps keep Y0).
  const want = Y0.slice();
  for (let t = 0; t < T; t++) {
    let x = X.subarray(pad + t * xStride, pad + t * xStride + cols);
    if (c.norm) {
      const xn = new Float32Array(cols);
      rmsnorm(xn, x, normW, eps);
      x = xn;
    }
    const outs = mats.map((m) => {
      const o = new Float32Array(rows);
      matvec(o, m, x, rows, cols);
      return o;
    });
    let y = outs[0]!;
    if (c.swiglu) {
      y = new Float32Array(rows);
      swiglu(y, outs[0]!, outs[1]!);
    }
    const o = pad + t * yStride;
    for (let r = 0; r < rows; r++) want[o + r] = (c.accumulate ? Y0[o + r]! : 0) + y[r]!;
  }
  expectClose(got, want, `gemm ${JSON.stringify(c)}`);
  op.destroy();
  destroyWeights(W);
  for (const b of [xb, yb, nb]) b.destroy();
}

describeGpu('gemm', () => {
  afterAll(() => gpu.device.destroy());
  test('T = 1, 5, 37 against matvec per token', async () => {
    let salt = 0;
    for (const T of [1, 5, 37]) {
      await check({ rows: 172, cols: 64, T }, ++salt);
      await check({ rows: 33, cols: 4097, T, maxTokens: 40 }, ++salt);
      await check({ rows: 7, cols: 33, T, format: 'f16', nativeF16: false, pad: 3 }, ++salt);
    }
  });
  test('fused: norm, accumulate, SwiGLU; shards; shader-f16', async () => {
    let salt = 100;
    await check({ rows: 64, cols: 172, T: 5, norm: true, swiglu: true }, ++salt);
    await check({ rows: 64, cols: 172, T: 9, maxTokens: 16, accumulate: true, shardRows: 10 }, ++salt);
    await check({ rows: 65, cols: 33, T: 37, norm: true, accumulate: true, format: 'f16', nativeF16: false, shardRows: 8 }, ++salt);
    if (gpu.features.f16) await check({ rows: 40, cols: 172, T: 5, format: 'f16', nativeF16: true, swiglu: true }, ++salt);
  });
});
