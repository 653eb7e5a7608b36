import { afterAll, test } from 'vitest';
import * as attentionKernel from '../../src/gpu/attention.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { attention } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, maxRelError, packF16, randomArray, readBuffer, rng, run, SEED, storage, unpackF16 } from './util.js';

describeGpu('attention', () => {
  afterAll(() => gpu.device.destroy());

  interface Case { nHeads: number; nKVHeads: number; headDim: number; pos: number; T?: number; maxTokens?: number; workgroupSize?: number; splitLength?: number; team?: number; f16?: boolean }

  async function check(c: Case, salt: number, contextLength = 512): Promise<void> {
    const next = rng(SEED + salt);
    const T = c.T ?? 1;
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKVHeads * c.headDim;
    const step = createStep(gpu, c.maxTokens ?? T);
    writeStep(gpu.device, step, c.pos, new Array(T).fill(0));
    // Scale 3 makes the softmax peaked enough that a wrong max or rescale shows.
    const q = randomArray(next, qDim * step.maxTokens, 3);
    const kc = randomArray(next, contextLength * kvDim);
    const vc = randomArray(next, contextLength * kvDim);
    const outLen = qDim * step.maxTokens;
    const cache = (a: Float32Array) => storage(gpu, c.f16 ? packF16(a) : a);
    const [qb, kb, vb, ob] = [storage(gpu, q), cache(kc), cache(vc), storage(gpu, outLen)];
    const op = await attentionKernel.prepare(gpu, {
      step, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim, contextLength, q: qb, keyCache: kb, valueCache: vb, out: ob,
      ...(c.workgroupSize ? { workgroupSize: c.workgroupSize } : {}),
      ...(c.splitLength ? { splitLength: c.splitLength } : {}),
      ...(c.team ? { team: c.team } : {}),
      ...(c.f16 ? { kvFormat: 'f16' as const } : {}),
    });
    await run(gpu, op);
    // The reference over the f32 cache: with f16, the kernel's error is the cache's rounding (≤ 2⁻¹¹ relative), through the softmax.
    const want = new Float32Array(outLen);
    for (let t = 0; t < T; t++) {
      attention(want.subarray(t * qDim, (t + 1) * qDim), q.subarray(t * qDim, (t + 1) * qDim), kc, vc, c.pos + t, c.nHeads, c.nKVHeads, c.headDim);
    }
    const got = await readBuffer(gpu, ob, outLen);
    expectClose(got, want, `attention ${JSON.stringify({ ...c, contextLength })}`, c.f16 ? 1e-2 : 1e-5);
    if (c.f16) {
      // Against the reference over the f16-rounded cache: the f32 kernel's tolerance.
      const [k16, v16] = [unpackF16(packF16(kc)), unpackF16(packF16(vc))];
      const want16 = new Float32Array(outLen);
      for (let t = 0; t < T; t++) {
        attention(want16.subarray(t * qDim, (t + 1) * qDim), q.subarray(t * qDim, (t + 1) * qDim), k16, v16, c.pos + t, c.nHeads, c.nKVHeads, c.headDim);
      }
      expectClose(got, want16, `attention over the f16-rounded cache ${JSON.stringify({ ...c, contextLength })}`);
      console.log(`attention f16 KV ${JSON.stringify(c)}: max rel error against f32 KV ${maxRelError(got, want).toExponential(2)}`);
    }
    for (const b of [qb, kb, vb, ob]) b.destroy();
  }

  test('decode at positions 0, 1, 37, 511 with grouped-query heads, split and whole', async () => {
    let salt = 0;
    for (const pos of [0, 1, 37, 511]) await check({ nHeads: 8, nKVHeads: 2, headDim: 64, pos }, ++salt); // 2 splits of 256
    for (const pos of [0, 37, 511]) await check({ nHeads: 8, nKVHeads: 2, headDim: 64, pos, splitLength: 100 }, ++salt);
    for (const pos of [0, 1, 37]) await check({ nHeads: 4, nKVHeads: 4, headDim: 8, pos }, ++salt, 64); // one pass
    await check({ nHeads: 6, nKVHeads: 3, headDim: 172, pos: 64, workgroupSize: 32 }, ++salt); // head wider than the workgroup
    await check({ nHeads: 2, nKVHeads: 1, headDim: 6, pos: 100, team: 1 }, ++salt); // scalar path
    await check({ nHeads: 2, nKVHeads: 1, headDim: 128, pos: 2047 }, ++salt, 2048);
  });

  test('prefill: causal over the step’s tokens', async () => {
    await check({ nHeads: 4, nKVHeads: 2, headDim: 16, pos: 0, T: 37, maxTokens: 40 }, 100);
    await check({ nHeads: 8, nKVHeads: 2, headDim: 64, pos: 33, T: 5 }, 101);
    await check({ nHeads: 4, nKVHeads: 2, headDim: 16, pos: 90, T: 20, maxTokens: 24, splitLength: 32 }, 102);
    await check({ nHeads: 4, nKVHeads: 1, headDim: 32, pos: 3, T: 7 }, 103, 48);
  });

  test('f16 cache (pairs packed in u32): within the f16 rounding of the f32 reference', async () => {
    let salt = 200;
    await check({ nHeads: 8, nKVHeads: 2, headDim: 64, pos: 511, f16: true }, ++salt);
    await check({ nHeads: 8, nKVHeads: 2, headDim: 64, pos: 37, splitLength: 100, f16: true }, ++salt);
    await check({ nHeads: 4, nKVHeads: 4, headDim: 8, pos: 37, f16: true }, ++salt, 64);
    await check({ nHeads: 6, nKVHeads: 3, headDim: 172, pos: 64, workgroupSize: 32, f16: true }, ++salt);
    await check({ nHeads: 2, nKVHeads: 1, headDim: 6, pos: 100, team: 1, f16: true }, ++salt); // scalar path
    await check({ nHeads: 8, nKVHeads: 2, headDim: 64, pos: 33, T: 5, f16: true }, ++salt); // prefill
    await check({ nHeads: 4, nKVHeads: 2, headDim: 16, pos: 90, T: 20, maxTokens: 24, splitLength: 32, f16: true }, ++salt);
  });
});
