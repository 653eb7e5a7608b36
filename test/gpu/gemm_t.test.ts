// gemm_t (prefill over Wᵀ) against the reference's matvec per token, on random inputs: stacked
// segments of odd sizes, f32 and packed f16, norm / SwiGLU / accumulate, shards split by input channels.
import { afterAll, expect, test } from 'vitest';
import * as gemmT from '../../src/gpu/gemm_t.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { destroyTransposed, uploadTransposedStack, type WeightFormat } from '../../src/gpu/weights.js';
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import { matvec, rmsnorm } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

interface Case {
  /** Rows of each stacked matrix (q|k|v: three). */
  segments: number[];
  cols: number;
  T: number;
  maxTokens?: number;
  format?: WeightFormat;
  norm?: boolean;
  accumulate?: boolean;
  /** x' = silu(gate)·up, up this many elements after gate. */
  swiglu?: { upOffset: number };
  /** Input channels per shard. */
  shardCols?: number;
  /** Extra elements between tokens of X and Y, and before the first. */
  pad?: number;
  chunks?: number;
  tile?: number;
  piece?: number;
  workgroupSize?: number;
}

async function check(c: Case, salt: number): Promise<void> {
  const next = rng(SEED + salt);
  const { cols, T } = c;
  const format = c.format ?? 'f32';
  const pad = c.pad ?? 0;
  const rows = c.segments.reduce((a, b) => a + b, 0);
  const mats = c.segments.map((r) => randomArray(next, r * cols));
  const data = mats.map((m) => {
    if (format === 'f32') return m;
    const b = new Uint16Array(m.length);
    for (let i = 0; i < m.length; i++) m[i] = f16ToF32((b[i] = f32ToF16(m[i]!)));
    return b;
  });
  const segStride = c.segments.reduce((a, r) => a + Math.ceil(r / (format === 'f32' ? 4 : 8)) * (format === 'f32' ? 4 : 8), 0);
  const upOpts = c.shardCols ? { maxShardBytes: c.shardCols * segStride * (format === 'f32' ? 4 : 2) } : {};
  const W = await uploadTransposedStack(gpu, data.map((d, i) => ({ data: d, rows: c.segments[i]! })), cols, format, upOpts);
  if (c.shardCols) expect(W.shards.length).toBeGreaterThan(1);

  const step = createStep(gpu, c.maxTokens ?? T);
  writeStep(gpu.device, step, 0, new Array(T).fill(0));
  const up = c.swiglu?.upOffset ?? 0;
  const xStride = cols + up + pad;
  const yStride = rows + pad;
  const X = randomArray(next, pad + step.maxTokens * xStride);
  const Y0 = randomArray(next, pad + step.maxTokens * yStride);
  const normW = randomArray(next, cols, 2);
  const eps = 1e-5;
  const [xb, yb, nb] = [storage(gpu, X), storage(gpu, Y0), storage(gpu, normW)];
  const op = await gemmT.prepare(gpu, {
    weights: W, step, x: xb, xOffset: pad, xStride, y: yb, yOffset: pad, yStride,
    ...(c.norm ? { norm: { weight: nb, eps } } : {}),
    ...(c.swiglu ? { swiglu: c.swiglu } : {}),
    ...(c.accumulate ? { accumulate: true } : {}),
    chunks: c.chunks, tile: c.tile, piece: c.piece, workgroupSize: c.workgroupSize,
  });
  await run(gpu, op);
  const got = await readBuffer(gpu, yb, Y0.length);

  // The reference: matvec per token and matrix (tokens ≥ T and the gaps keep Y0).
  const want = Y0.slice();
  for (let t = 0; t < T; t++) {
    const at = pad + t * xStride;
    let x = X.slice(at, at + cols);
    if (c.swiglu) for (let j = 0; j < cols; j++) { const g = X[at + j]!; x[j] = (g / (1 + Math.exp(-g))) * X[at + up + j]!; }
    if (c.norm) {
      const xn = new Float32Array(cols);
      rmsnorm(xn, x, normW, eps);
      x = xn;
    }
    let first = 0;
    mats.forEach((m, s) => {
      const o = new Float32Array(c.segments[s]!);
      matvec(o, m, x, c.segments[s]!, cols);
      const yo = pad + t * yStride + first;
      for (let r = 0; r < o.length; r++) want[yo + r] = (c.accumulate ? Y0[yo + r]! : 0) + o[r]!;
      first += o.length;
    });
  }
  expectClose(got, want, `gemm_t ${JSON.stringify(c)}`);
  op.destroy();
  destroyTransposed(W);
  for (const b of [xb, yb, nb]) b.destroy();
}

describeGpu('gemm_t', () => {
  afterAll(() => gpu.device.destroy());
  test('T = 1, 5, 37 against matvec per token; stacked segments', async () => {
    let salt = 0;
    for (const T of [1, 5, 37]) {
      await check({ segments: [172], cols: 64, T }, ++salt);
      await check({ segments: [64, 16, 16], cols: 172, T, maxTokens: 40 }, ++salt);
      await check({ segments: [7, 33], cols: 33, T, format: 'f16', pad: 3 }, ++salt);
    }
  });
  test('fused: norm, accumulate, SwiGLU; shards', async () => {
    let salt = 100;
    await check({ segments: [64, 16, 16], cols: 172, T: 5, norm: true }, ++salt);
    await check({ segments: [64], cols: 172, T: 9, maxTokens: 16, swiglu: { upOffset: 176 }, accumulate: true, shardCols: 40 }, ++salt);
    await check({ segments: [65, 9], cols: 33, T: 37, norm: true, accumulate: true, format: 'f16', shardCols: 8 }, ++salt);
    await check({ segments: [40], cols: 100, T: 3, format: 'f16', swiglu: { upOffset: 100 }, pad: 1 }, ++salt);
  });
  test('tuning: chunks, tokens per invocation, pieces, workgroup sizes', async () => {
    let salt = 200;
    await check({ segments: [64, 16, 16], cols: 172, T: 13, norm: true, chunks: 8, tile: 4, piece: 33 }, ++salt);
    await check({ segments: [100], cols: 300, T: 9, format: 'f16', accumulate: true, chunks: 16, tile: 1, workgroupSize: 64, shardCols: 64 }, ++salt);
    await check({ segments: [33, 7], cols: 100, T: 37, norm: true, chunks: 1, tile: 16, piece: 16, workgroupSize: 32 }, ++salt);
  });
});
