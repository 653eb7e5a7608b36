import { afterAll, expect, test } from 'vitest';
import * as argmaxKernel from '../../src/gpu/argmax.js';
import { argmax } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { randomArray, readU32, rng, run, SEED, storage } from './util.js';

describeGpu('argmax', () => {
  afterAll(() => gpu.device.destroy());
  test('vocabularies 512, 4096, 32000 with planted ties; offsets; constant input', async () => {
    const next = rng(SEED);
    const result = storage(gpu, 4);
    for (const n of [512, 4096, 32000, 1, 7]) {
      for (let trial = 0; trial < 3; trial++) {
        const offset = trial === 2 ? 5 : 0;
        const x = randomArray(next, offset + n, 10);
        if (n > 1) {
          // Plant the maximum at two or three indices, in different invocations' slices and in one.
          const top = 20 + trial;
          const picks = [Math.floor(next() * n), Math.floor(next() * n), Math.floor(next() * n) % 256];
          for (const i of picks.slice(0, trial + 2)) x[offset + i] = top;
        }
        const xb = storage(gpu, x);
        await run(gpu, await argmaxKernel.prepare(gpu, { n, x: xb, offset, result }));
        const [got] = await readU32(gpu, result, 1);
        const want = argmax(x.subarray(offset), n);
        expect(got, `argmax n=${n} trial ${trial} (seed ${SEED})`).toBe(want);
        xb.destroy();
      }
    }
    const flat = storage(gpu, new Float32Array(4096).fill(-1));
    await run(gpu, await argmaxKernel.prepare(gpu, { n: 4096, x: flat, result }));
    expect((await readU32(gpu, result, 1))[0], 'all equal → index 0').toBe(0);
  });
});
