import { afterAll, test } from 'vitest';
import { createStep, writeStep } from '../../src/gpu/step.js';
import * as swigluKernel from '../../src/gpu/swiglu.js';
import { swiglu } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

describeGpu('swiglu', () => {
  afterAll(() => gpu.device.destroy());
  test('silu(gate) · up, one and several tokens', async () => {
    const next = rng(SEED);
    for (const c of [{ n: 172, T: 1 }, { n: 1, T: 1 }, { n: 4097, T: 3, maxTokens: 4 }, { n: 33, T: 2 }]) {
      const step = createStep(gpu, c.maxTokens ?? c.T);
      writeStep(gpu.device, step, 0, new Array(c.T).fill(1));
      const total = c.n * step.maxTokens;
      const gate = randomArray(next, total, 8);
      const up = randomArray(next, total, 2);
      const [gb, ub, ob] = [storage(gpu, gate), storage(gpu, up), storage(gpu, total)];
      await run(gpu, await swigluKernel.prepare(gpu, { step, n: c.n, gate: gb, up: ub, out: ob }));
      const want = new Float32Array(total);
      swiglu(want, gate, up, c.n * c.T); // tokens ≥ nTokens stay zero
      expectClose(await readBuffer(gpu, ob, total), want, `swiglu ${JSON.stringify(c)}`);
    }
  });
});
