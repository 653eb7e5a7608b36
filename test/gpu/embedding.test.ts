import { afterAll, test } from 'vitest';
import * as embedding from '../../src/gpu/embedding.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { uploadMatrix, type WeightFormat } from '../../src/gpu/weights.js';
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';

describeGpu('embedding', () => {
  afterAll(() => gpu.device.destroy());
  test('rows of f32 and f16 tables, sharded, for one and several tokens', async () => {
    const next = rng(SEED);
    const cases: { vocab: number; dim: number; format: WeightFormat; shardRows?: number; tokens: number[]; maxTokens?: number }[] = [
      { vocab: 37, dim: 172, format: 'f32', tokens: [36] },
      { vocab: 37, dim: 172, format: 'f16', tokens: [0] },
      { vocab: 512, dim: 64, format: 'f32', shardRows: 50, tokens: [511, 0, 49, 50, 50], maxTokens: 8 },
      { vocab: 33, dim: 7, format: 'f16', shardRows: 4, tokens: [3, 4, 32] },
      { vocab: 9, dim: 1, format: 'f32', tokens: [8, 1] },
    ];
    for (const c of cases) {
      const values = randomArray(next, c.vocab * c.dim);
      const bits = new Uint16Array(values.length);
      if (c.format === 'f16') for (let i = 0; i < values.length; i++) values[i] = f16ToF32((bits[i] = f32ToF16(values[i]!)));
      const rowBytes = c.format === 'f32' ? Math.ceil(c.dim / 4) * 16 : Math.ceil(c.dim / 8) * 16;
      const table = await uploadMatrix(gpu, c.format === 'f32' ? values : bits, c.vocab, c.dim, c.format,
        c.shardRows ? { maxShardBytes: c.shardRows * rowBytes } : {});
      const step = createStep(gpu, c.maxTokens ?? c.tokens.length);
      writeStep(gpu.device, step, 0, c.tokens);
      const outLen = step.maxTokens * c.dim;
      const out = storage(gpu, outLen);
      await run(gpu, await embedding.prepare(gpu, { step, table, out }));
      const want = new Float32Array(outLen);
      c.tokens.forEach((tok, t) => want.set(values.subarray(tok * c.dim, (tok + 1) * c.dim), t * c.dim));
      expectClose(await readBuffer(gpu, out, outLen), want, `embedding ${JSON.stringify({ ...c, shards: table.shards.length })}`, 0);
    }
  });
});
