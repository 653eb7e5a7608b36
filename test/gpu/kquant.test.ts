// K-quant weights kept quantized on the GPU (src/gpu/kquant.ts): sparse_gemv, dense and sparse, over the
// input-major repack (stacks mixing Q4_K, Q5_K, Q6_K as a Q4_K_M file's q|k|v do), and qgemv and the
// embedding lookup over the row-major one, against the CPU's exact dequantisation (src/model/kquant.ts)
// followed by the reference matvec, on blocks made by the test quantizer from random values.
import { afterAll, expect, test } from 'vitest';
import * as embedding from '../../src/gpu/embedding.js';
import { destroyKQuant, K_BLOCK_BYTES, kquantBytes, uploadKQuantMatrix, uploadKQuantTransposedStack, type KFormat, type KQuantSource } from '../../src/gpu/kquant.js';
import * as qgemv from '../../src/gpu/qgemv.js';
import * as sparseGemv from '../../src/gpu/sparse_gemv.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { dequantize, GGMLType } from '../../src/model/tensor.js';
import { matvec, rmsnorm, sparseMatvec } from '../../src/reference/ops.js';
import { quantizeK } from '../helpers/kquant.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, maxRelError, randomArray, readBuffer, readU32, rng, run, SEED, storage } from './util.js';

const TYPE: Record<KFormat, GGMLType> = { q4_k: GGMLType.Q4_K, q5_k: GGMLType.Q5_K, q6_k: GGMLType.Q6_K };

/** A rows × cols K-quant matrix quantized from values of a trained layer's spread. */
function randomK(next: () => number, format: KFormat, rows: number, cols: number): KQuantSource {
  const x = Float32Array.from({ length: rows * cols }, () => (next() + next() + next() - 1.5) * 0.1);
  return { format, bytes: quantizeK(TYPE[format], x), rows, cols };
}

const deq = (m: KQuantSource) => dequantize(TYPE[m.format], m.bytes, m.rows * m.cols);

/** Flips the 4 low bits of the code of column `col` in every row: if a skipped channel were read, y would change. */
function scramble(m: KQuantSource, col: number): void {
  const B = K_BLOCK_BYTES[m.format];
  const e = col % 256;
  for (let r = 0; r < m.rows; r++) {
    const at = (r * (m.cols / 256) + Math.floor(col / 256)) * B;
    if (m.format === 'q6_k') {
      const n = e >> 7, i = (e >> 5) & 3, l = e & 31;
      m.bytes[at + 64 * n + l + 32 * (i & 1)]! ^= 15 << (i < 2 ? 0 : 4);
    } else {
      m.bytes[at + (m.format === 'q4_k' ? 16 : 48) + 32 * (e >> 6) + (e & 31)]! ^= 15 << (4 * ((e >> 5) & 1));
    }
  }
}

const errors: string[] = [];

interface Case {
  formats: KFormat[];
  rows: number[];
  cols: number;
  /** Fraction skipped per segment (0: τ = −1); dense: no τ at all. */
  s: number;
  dense?: boolean;
  norm?: boolean;
  accumulate?: boolean;
  kChunk?: number | 'none';
  /** Super-blocks of channels per shard. */
  shardSupers?: number;
  unroll?: number;
}

async function checkSparse(c: Case, salt: number): Promise<void> {
  const next = rng(SEED + salt);
  const { cols } = c;
  const mats = c.formats.map((f, i) => randomK(next, f, c.rows[i]!, cols));
  const ref = mats.map(deq);
  const rows = c.rows.reduce((a, b) => a + b, 0);
  const x = randomArray(next, cols);
  const normW = randomArray(next, cols, 2);
  const y0 = randomArray(next, rows);
  let xn = x;
  if (c.norm) { xn = new Float32Array(cols); rmsnorm(xn, x, normW, 1e-5); }
  // τ: one random threshold vector per segment, skipping about a fraction s of the channels.
  const taus = mats.map(() => {
    if (c.s === 0) return new Float32Array(cols).fill(-1);
    const sorted = Array.from(xn, Math.abs).sort((a, b) => a - b);
    const t = c.s >= 1 ? Infinity : sorted[Math.floor(c.s * cols)]! * (0.5 + next());
    return Float32Array.from({ length: cols }, () => t * (0.8 + 0.4 * next()));
  });
  const want = new Float32Array(rows);
  const magnitude = new Float32Array(rows);
  const active = taus.map((t) => xn.reduce((n, v, j) => n + (Math.abs(v) > t[j]! ? 1 : 0), 0));
  let at = 0;
  mats.forEach((m, i) => {
    const out = new Float32Array(m.rows);
    sparseMatvec(out, ref[i]!, xn, taus[i]!, m.rows, cols);
    want.set(out, at);
    sparseMatvec(out, ref[i]!.map(Math.abs), xn.map(Math.abs), taus[i]!, m.rows, cols);
    magnitude.set(out, at);
    at += m.rows;
    for (let j = 0; j < cols; j++) if (!(Math.abs(xn[j]!) > taus[i]![j]!)) scramble(m, j);
  });
  if (c.accumulate) for (let i = 0; i < rows; i++) { want[i] = want[i]! + y0[i]!; magnitude[i] = magnitude[i]! + Math.abs(y0[i]!); }

  const rowStride = c.rows.reduce((a, r) => a + Math.ceil(r / 8) * 8, 0);
  const W = await uploadKQuantTransposedStack(gpu, mats, c.shardSupers ? { maxShardBytes: c.shardSupers * 128 * rowStride } : {});
  if (c.shardSupers) expect(W.shards.length).toBe(Math.ceil(cols / 256 / c.shardSupers));
  const xb = storage(gpu, x);
  const yb = storage(gpu, y0);
  const tau = new Float32Array(mats.length * cols);
  taus.forEach((t, i) => tau.set(t, i * cols));
  const tb = storage(gpu, tau);
  const nb = storage(gpu, normW);
  const stats = storage(gpu, mats.length);
  const op = await sparseGemv.prepare(gpu, {
    weights: W, x: xb, y: yb, accumulate: !!c.accumulate, ...(c.norm ? { norm: { weight: nb, eps: 1e-5 } } : {}),
    ...(c.dense ? {} : { tau: tb, stats: { buffer: stats, slot: 0 } }), ...(c.kChunk ? { kChunk: c.kChunk } : {}), ...(c.unroll ? { unroll: c.unroll } : {}),
  });
  await run(gpu, op);
  const got = await readBuffer(gpu, yb, rows);
  const what = `sparse_gemv K ${JSON.stringify(c)}`;
  errors.push(`${maxRelError(got, want, magnitude).toExponential(1)} ${what}`);
  expectClose(got, want, what, 1e-5, magnitude);
  if (!c.dense) expect(Array.from(await readU32(gpu, stats, mats.length)), `${what}: active channels per segment`).toEqual(active);
  op.destroy();
  destroyKQuant(W);
  for (const b of [xb, yb, tb, nb, stats]) b.destroy();
}

describeGpu('K-quants kept quantized', () => {
  afterAll(() => {
    console.log(`kquant: seed ${SEED}; max relative error per case:\n${errors.join('\n')}`);
    gpu.device.destroy();
  });
  let salt = 0;

  test('sparse_gemv: each format, sparse at s = 0.5, 0.9, 1 and dense, split and not', async () => {
    for (const f of ['q4_k', 'q5_k', 'q6_k'] as KFormat[]) {
      for (const s of [0, 0.5, 0.9, 1]) {
        await checkSparse({ formats: [f], rows: [72], cols: 512, s }, ++salt);
        await checkSparse({ formats: [f], rows: [33], cols: 256, s, kChunk: 'none', norm: true }, ++salt);
      }
      await checkSparse({ formats: [f], rows: [72], cols: 512, s: 0, dense: true }, ++salt);
      await checkSparse({ formats: [f], rows: [40], cols: 768, s: 0, dense: true, kChunk: 'none', accumulate: true, unroll: 8 }, ++salt);
    }
  });

  test('sparse_gemv: mixed stacks (Q4_K_M q|k|v, gate|up), norm, accumulate, shards, K-chunks', async () => {
    for (const s of [0, 0.3, 0.7]) {
      const dense = s === 0 ? [true, false] : [false];
      for (const d of dense) {
        await checkSparse({ formats: ['q4_k', 'q4_k', 'q6_k'], rows: [64, 32, 32], cols: 512, s, dense: d, norm: true }, ++salt);
        await checkSparse({ formats: ['q4_k', 'q5_k'], rows: [100, 100], cols: 256, s, dense: d, norm: true, kChunk: 64 }, ++salt);
        await checkSparse({ formats: ['q6_k'], rows: [50], cols: 1024, s, dense: d, accumulate: true, shardSupers: 1 }, ++salt);
        await checkSparse({ formats: ['q5_k', 'q6_k', 'q4_k'], rows: [9, 17, 30], cols: 768, s, dense: d, accumulate: true, shardSupers: 2, kChunk: 96 }, ++salt);
        await checkSparse({ formats: ['q6_k', 'q4_k'], rows: [24, 8], cols: 512, s, dense: d, kChunk: 'none', shardSupers: 1 }, ++salt);
      }
    }
  });

  test('qgemv over the row-major layout: each format, norm, accumulate, shards, lane shapes', async () => {
    const cases: { format: KFormat; rows: number; cols: number; norm?: boolean; accumulate?: boolean; shardRows?: number; lanes?: number; r?: number }[] = [];
    for (const format of ['q4_k', 'q5_k', 'q6_k'] as KFormat[]) {
      cases.push(
        { format, rows: 40, cols: 256 },
        { format, rows: 77, cols: 1024, norm: true },
        { format, rows: 50, cols: 512, accumulate: true, shardRows: 16, lanes: 4, r: 3 },
        { format, rows: 100, cols: 2304, norm: true, accumulate: true, lanes: 64 },
      );
    }
    for (const c of cases) {
      const next = rng(SEED + ++salt);
      const m = randomK(next, c.format, c.rows, c.cols);
      const Wf = deq(m);
      const x = randomArray(next, c.cols);
      const normW = randomArray(next, c.cols, 2);
      const y0 = randomArray(next, c.rows);
      let xn = x;
      if (c.norm) { xn = new Float32Array(c.cols); rmsnorm(xn, x, normW, 1e-5); }
      const want = new Float32Array(c.rows);
      matvec(want, Wf, xn, c.rows, c.cols);
      const magnitude = new Float32Array(c.rows);
      matvec(magnitude, Wf.map(Math.abs), xn.map(Math.abs), c.rows, c.cols);
      if (c.accumulate) for (let i = 0; i < c.rows; i++) { want[i] = want[i]! + y0[i]!; magnitude[i] = magnitude[i]! + Math.abs(y0[i]!); }
      const W = await uploadKQuantMatrix(gpu, m, c.shardRows ? { maxShardBytes: c.shardRows * (c.cols / 2) } : {});
      if (c.shardRows) expect(W.shards.length).toBe(Math.ceil(c.rows / c.shardRows));
      const [xb, yb, nb] = [storage(gpu, x), storage(gpu, y0), storage(gpu, normW)];
      const op = await qgemv.prepare(gpu, {
        weights: W, x: xb, y: yb, accumulate: !!c.accumulate, ...(c.norm ? { norm: { weight: nb, eps: 1e-5 } } : {}),
        ...(c.lanes ? { lanesPerRow: c.lanes } : {}), ...(c.r ? { rowsPerGroup: c.r } : {}),
      });
      await run(gpu, op);
      const got = await readBuffer(gpu, yb, c.rows);
      const what = `qgemv K ${JSON.stringify(c)}`;
      errors.push(`${maxRelError(got, want, magnitude).toExponential(1)} ${what}`);
      expectClose(got, want, what, 1e-5, magnitude);
      op.destroy();
      destroyKQuant(W);
      for (const b of [xb, yb, nb]) b.destroy();
    }
  });

  test('embedding rows of K-quant tables, bit for bit, sharded, several tokens', async () => {
    for (const format of ['q4_k', 'q5_k', 'q6_k'] as KFormat[]) {
      for (const shardRows of [undefined, 7]) {
        const next = rng(SEED + ++salt);
        const vocab = 37, dim = 512;
        const m = randomK(next, format, vocab, dim);
        const values = deq(m);
        const table = await uploadKQuantMatrix(gpu, m, shardRows ? { maxShardBytes: shardRows * (dim / 2) } : {});
        const tokens = [36, 0, 7, 6, 13];
        const step = createStep(gpu, tokens.length);
        writeStep(gpu.device, step, 0, tokens);
        const out = storage(gpu, tokens.length * dim);
        const op = await embedding.prepare(gpu, { step, table, out });
        await run(gpu, op);
        const want = new Float32Array(tokens.length * dim);
        tokens.forEach((tok, t) => want.set(values.subarray(tok * dim, (tok + 1) * dim), t * dim));
        expectClose(await readBuffer(gpu, out, want.length), want, `embedding ${format} ${JSON.stringify({ shards: table.shards.length })}`, 0);
        op.destroy();
        destroyKQuant(table);
        out.destroy();
      }
    }
  });

  test('input-major bytes per weight: Q4_K 0.578, Q5_K 0.703, Q6_K 0.828 (file: 0.5625, 0.6875, 0.8203)', async () => {
    const next = rng(SEED);
    for (const [f, bpw] of [['q4_k', 148 / 256], ['q5_k', 180 / 256], ['q6_k', 212 / 256]] as [KFormat, number][]) {
      const m = randomK(next, f, 64, 1024);
      const W = await uploadKQuantTransposedStack(gpu, [m]);
      const R = await uploadKQuantMatrix(gpu, m);
      const none = f === 'q4_k' ? 4 : 0; // Q4_K's high plane: an empty (4-byte) buffer
      expect(kquantBytes(W) - none, `${f} input-major`).toBe(bpw * 64 * 1024);
      expect(kquantBytes(R) - none, `${f} row-major`).toBe(bpw * 64 * 1024);
      expect(kquantBytes(W) / m.bytes.byteLength).toBeLessThan(1.03);
      destroyKQuant(W);
      destroyKQuant(R);
    }
  });
});
