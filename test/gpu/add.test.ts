import { afterAll, test } from 'vitest';
import * as add from '../../src/gpu/add.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { addInPlace } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

describeGpu('add', () => {
  afterAll(() => gpu.device.destroy());
  test('x += y, one and several tokens', async () => {
    const next = rng(SEED);
    for (const c of [{ n: 172, T: 1 }, { n: 1, T: 1 }, { n: 4097, T: 3, maxTokens: 4 }, { n: 33, T: 2 }]) {
      const step = createStep(gpu, c.maxTokens ?? c.T);
      writeStep(gpu.device, step, 7, new Array(c.T).fill(1));
      const total = c.n * step.maxTokens;
      const x = randomArray(next, total);
      const y = randomArray(next, total);
      const [xb, yb] = [storage(gpu, x), storage(gpu, y)];
      await run(gpu, await add.prepare(gpu, { step, n: c.n, x: xb, y: yb }));
      const want = x.slice();
      addInPlace(want, y, c.n * c.T); // tokens ≥ nTokens are left alone
      expectClose(await readBuffer(gpu, xb, total), want, `add ${JSON.stringify(c)}`);
    }
  });
});
