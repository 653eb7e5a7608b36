import { afterAll, expect, test } from 'vitest';
import { acquireDevice, createBufferChecked } from '../../src/gpu/device.js';
import * as gemv from '../../src/gpu/gemv.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { uploadMatrix } from '../../src/gpu/weights.js';
import { matvec } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, randomArray, readBuffer, rng, run, SEED, storage } from './util.js';
import { GpuOutOfMemoryError, WebGPUUnavailableError } from '../../src/errors.js';

test('no GPU object, or no adapter: WebGPUUnavailableError', async () => {
  const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
  await expect(acquireDevice({ gpu: noAdapter })).rejects.toMatchObject({ name: 'WebGPUUnavailableError', code: 'WEBGPU_UNAVAILABLE' });
  if (!(globalThis.navigator as Navigator | undefined)?.gpu) {
    await expect(acquireDevice()).rejects.toBeInstanceOf(WebGPUUnavailableError);
  }
});

test('an allocation failing in its out-of-memory scope: GpuOutOfMemoryError', async () => {
  const device = {
    pushErrorScope() {},
    popErrorScope: async () => ({ message: 'Out of memory' }),
    createBuffer: () => ({ destroy() {} }),
  } as unknown as GPUDevice;
  const err = await createBufferChecked(device, { label: 'w', size: 2 ** 30, usage: 0 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GpuOutOfMemoryError);
  expect((err as GpuOutOfMemoryError).code).toBe('GPU_OUT_OF_MEMORY');
  expect((err as Error).message).toContain('1024.0 MiB');
});

describeGpu('device', () => {
  afterAll(() => gpu.device.destroy());

  test('limits raised to the adapter’s, features reported', () => {
    expect(gpu.maxBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(gpu.maxBindingSize % 16).toBe(0);
    expect(gpu.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(typeof gpu.features.f16).toBe('boolean');
    expect(gpu.features.f16).toBe(gpu.device.features.has('shader-f16'));
  });

  test('forceMaxBindingSize shards weights; disableF16; lost resolves null on destroy', async () => {
    const ctx = await acquireDevice({ gpu: await nodeGPU(), forceMaxBindingSize: 1000, disableF16: true });
    expect(ctx.maxBindingSize).toBe(992);
    expect(ctx.features.f16).toBe(false);
    expect(ctx.device.features.has('shader-f16')).toBe(false);
    const next = rng(SEED);
    const [rows, cols] = [40, 33]; // 144 bytes a row: 6 rows a shard
    const w = randomArray(next, rows * cols);
    const x = randomArray(next, cols);
    const W = await uploadMatrix(ctx, w, rows, cols, 'f32');
    expect(W.shards.map((s) => s.rows)).toEqual([6, 6, 6, 6, 6, 6, 4]);
    const y = storage(ctx, rows);
    await run(ctx, await gemv.prepare(ctx, { weights: W, x: storage(ctx, x), y }));
    const want = new Float32Array(rows);
    matvec(want, w, x, rows, cols);
    expectClose(await readBuffer(ctx, y, rows), want, 'gemv over 7 forced shards');
    ctx.device.destroy();
    expect(await ctx.lost).toBeNull();
  });
});
