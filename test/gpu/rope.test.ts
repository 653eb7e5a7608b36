import { afterAll, test } from 'vitest';
import * as rope from '../../src/gpu/rope.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { rope as ropeRef } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

describeGpu('rope', () => {
  afterAll(() => gpu.device.destroy());
  const contextLength = 2048;

  test('q and k in place; k, v into the cache; positions 0 … 2047, prefill tokens', async () => {
    const next = rng(SEED);
    const cases = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 0, T: 1 },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 1, T: 1 },
      { nHeads: 8, nKVHeads: 8, headDim: 8, ropeDim: 8, pos: 37, T: 1, base: 500000 },
      { nHeads: 3, nKVHeads: 1, headDim: 6, ropeDim: 4, pos: 511, T: 1 },
      { nHeads: 2, nKVHeads: 2, headDim: 128, ropeDim: 128, pos: 2047, T: 1 },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 30, T: 5, maxTokens: 8 },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 2, T: 3, noCache: true },
    ];
    for (const c of cases) {
      const base = c.base ?? 10000;
      const table = await rope.createRopeTable(gpu, { contextLength, ropeDim: c.ropeDim, base });
      const qDim = c.nHeads * c.headDim;
      const kvDim = c.nKVHeads * c.headDim;
      const stride = qDim + 2 * kvDim + 3; // q | k | v | gap, per token
      const step = createStep(gpu, c.maxTokens ?? c.T);
      writeStep(gpu.device, step, c.pos, new Array(c.T).fill(0));
      const x = randomArray(next, stride * step.maxTokens);
      const kc0 = randomArray(next, contextLength * kvDim);
      const vc0 = randomArray(next, contextLength * kvDim);
      const [xb, kb, vb] = [storage(gpu, x), storage(gpu, kc0), storage(gpu, vc0)];
      const op = await rope.prepare(gpu, {
        step, table, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim, x: xb, qOffset: 0, kOffset: qDim, stride,
        ...(c.noCache ? {} : { cache: { key: kb, value: vb, vOffset: qDim + kvDim } }),
      });
      await run(gpu, op);
      const wantX = x.slice();
      const wantK = kc0.slice();
      const wantV = vc0.slice();
      for (let t = 0; t < c.T; t++) {
        const p = c.pos + t;
        const q = wantX.subarray(t * stride, t * stride + qDim);
        const k = wantX.subarray(t * stride + qDim, t * stride + qDim + kvDim);
        ropeRef(q, c.nHeads, { headDim: c.headDim, ropeDim: c.ropeDim, base: base, style: 'normal', freqFactors: null }, p);
        ropeRef(k, c.nKVHeads, { headDim: c.headDim, ropeDim: c.ropeDim, base: base, style: 'normal', freqFactors: null }, p);
        if (!c.noCache) {
          wantK.set(k, p * kvDim);
          wantV.set(wantX.subarray(t * stride + qDim + kvDim, t * stride + qDim + 2 * kvDim), p * kvDim);
        }
      }
      const what = `rope ${JSON.stringify(c)}`;
      expectClose(await readBuffer(gpu, xb, x.length), wantX, `${what} x`);
      expectClose(await readBuffer(gpu, kb, wantK.length), wantK, `${what} key cache`);
      expectClose(await readBuffer(gpu, vb, wantV.length), wantV, `${what} value cache`, 0);
      for (const b of [xb, kb, vb, table.buffer]) b.destroy();
    }
  });

  test('partials: q, k, v summed from a split GEMV\'s partial vectors (one token), q and k written to x', async () => {
    const next = rng(SEED + 1);
    const cases = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 0, chunks: 1 },
      { nHeads: 4, nKVHeads: 4, headDim: 16, ropeDim: 16, pos: 9, chunks: 16 },
      { nHeads: 3, nKVHeads: 1, headDim: 6, ropeDim: 4, pos: 511, chunks: 5 },
    ];
    for (const c of cases) {
      const base = 10000;
      const table = await rope.createRopeTable(gpu, { contextLength, ropeDim: c.ropeDim, base });
      const qDim = c.nHeads * c.headDim;
      const kvDim = c.nKVHeads * c.headDim;
      // Segments padded as the sparse q|k|v op stores them, plus a gap per partial vector.
      const qAt = 0;
      const kAt = Math.ceil(qDim / 8) * 8;
      const vAt = kAt + Math.ceil(kvDim / 8) * 8;
      const rowElems = vAt + Math.ceil(kvDim / 8) * 8 + 4;
      const part = randomArray(next, c.chunks * rowElems);
      const sum = (at: number) => {
        let v = 0;
        for (let k = 0; k < c.chunks; k++) v = Math.fround(v + part[k * rowElems + at]!);
        return v;
      };
      const stride = qDim + 2 * kvDim;
      const step = createStep(gpu, 1);
      writeStep(gpu.device, step, c.pos, [0]);
      const x = randomArray(next, stride);
      const kc0 = randomArray(next, contextLength * kvDim);
      const vc0 = randomArray(next, contextLength * kvDim);
      const [xb, kb, vb, pb] = [storage(gpu, x), storage(gpu, kc0), storage(gpu, vc0), storage(gpu, part)];
      const op = await rope.prepare(gpu, {
        step, table, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim, x: xb, qOffset: 0, kOffset: qDim, stride,
        cache: { key: kb, value: vb, vOffset: qDim + kvDim }, partials: { buffer: pb, chunks: c.chunks, rowElems, segmentOffsets: [qAt, kAt, vAt] },
      });
      await run(gpu, op);
      const wantX = x.slice();
      const q = wantX.subarray(0, qDim);
      const k = wantX.subarray(qDim, qDim + kvDim);
      for (let i = 0; i < qDim; i++) q[i] = sum(qAt + i);
      for (let i = 0; i < kvDim; i++) k[i] = sum(kAt + i);
      ropeRef(q, c.nHeads, { headDim: c.headDim, ropeDim: c.ropeDim, base: base, style: 'normal', freqFactors: null }, c.pos);
      ropeRef(k, c.nKVHeads, { headDim: c.headDim, ropeDim: c.ropeDim, base: base, style: 'normal', freqFactors: null }, c.pos);
      const wantK = kc0.slice();
      const wantV = vc0.slice();
      wantK.set(k, c.pos * kvDim);
      for (let i = 0; i < kvDim; i++) wantV[c.pos * kvDim + i] = sum(vAt + i);
      const what = `rope partials ${JSON.stringify(c)}`;
      expectClose(await readBuffer(gpu, xb, x.length), wantX, `${what} x`);
      expectClose(await readBuffer(gpu, kb, wantK.length), wantK, `${what} key cache`);
      expectClose(await readBuffer(gpu, vb, wantV.length), wantV, `${what} value cache`, 0);
      for (const b of [xb, kb, vb, pb, table.buffer]) b.destroy();
    }
  });
});
