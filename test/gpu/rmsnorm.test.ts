import { afterAll, test } from 'vitest';
import * as rmsnormKernel from '../../src/gpu/rmsnorm.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { rmsnorm } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

describeGpu('rmsnorm', () => {
  afterAll(() => gpu.device.destroy());
  test('random vectors, one and several tokens, offsets and strides', async () => {
    const next = rng(SEED);
    const cases = [
      { n: 172, T: 1 }, { n: 64, T: 1 }, { n: 8, T: 1 }, { n: 1, T: 1 }, { n: 7, T: 3 }, { n: 4097, T: 2 },
      { n: 33, T: 5, maxTokens: 8, xOffset: 3, xStride: 40, outOffset: 1, outStride: 35 },
    ];
    for (const c of cases) {
      const maxTokens = c.maxTokens ?? c.T;
      const xOffset = c.xOffset ?? 0;
      const xStride = c.xStride ?? c.n;
      const outOffset = c.outOffset ?? 0;
      const outStride = c.outStride ?? c.n;
      const step = createStep(gpu, maxTokens);
      writeStep(gpu.device, step, 0, new Array(c.T).fill(0));
      const x = randomArray(next, xOffset + maxTokens * xStride, 3);
      const w = randomArray(next, c.n);
      const eps = 1e-6;
      const outLen = outOffset + maxTokens * outStride;
      const [xb, wb, ob] = [storage(gpu, x), storage(gpu, w), storage(gpu, outLen)];
      const op = await rmsnormKernel.prepare(gpu, { step, n: c.n, eps, x: xb, xOffset, xStride, weight: wb, out: ob, outOffset, outStride });
      await run(gpu, op);
      const got = await readBuffer(gpu, ob, outLen);
      const want = new Float32Array(outLen);
      for (let t = 0; t < c.T; t++) {
        const o = new Float32Array(c.n);
        rmsnorm(o, x.subarray(xOffset + t * xStride, xOffset + t * xStride + c.n), w, eps);
        want.set(o, outOffset + t * outStride);
      }
      // Tokens ≥ nTokens and the gaps between strided rows stay zero.
      expectClose(got, want, `rmsnorm ${JSON.stringify(c)}`);
    }
  });
});
