// GPU memory planned before allocation (src/gpu/engine/plan.ts): the plan equals what the backend
// allocates (every buffer but the kernels' uniforms, counted at device.createBuffer) for f32, f16, Q8_0,
// Q4_0 and K-quant models, sharded or not; a budget one byte under the plan is refused with the numbers
// and a contextSize that fits, before any buffer exists; that contextSize loads under the same budget;
// 'auto' on a (pretended) hardware adapter falls back to the CPU with a note; the SDK stays usable.
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import type * as Sdk from '../../src/node.js';
import { createBackend } from '../../src/create-backend.js';
import { nodeCpuOptions } from '../../src/cpu/node.js';
import { GpuOutOfMemoryError } from '../../src/errors.js';
import { WebGPUBackend, type WeightSource } from '../../src/gpu/engine/backend.js';
import { gpuLimits, planGpuMemory } from '../../src/gpu/engine/plan.js';
import { ggufWeights } from '../../src/gpu/engine/upload.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import type { LlamaConfig } from '../../src/model/config.js';
import { openModel } from '../../src/model/model.js';
import { familyGGUF } from '../helpers/families.js';
import { readShared, sharedPath } from '../helpers/shared.js';
import { describeGpu, gpu, tryGpu } from './context.js';

const MODELS: [string, () => Uint8Array][] = [
  ['stories260K (f32)', () => readShared('models/stories260K/stories260K.gguf')],
  ['llama16m F16', () => readShared('models/llama16m-debtext/llama16m-debtext-F16.gguf')],
  ['llama16m Q8_0', () => readShared('models/llama16m-debtext/llama16m-debtext-Q8_0.gguf')],
  ['llama16m Q4_0', () => readShared('models/llama16m-debtext/llama16m-debtext-Q4_0.gguf')],
  ['qwen3 Q4_K_M (family)', () => familyGGUF('qwen3', 'Q4_K_M')],
  ['qwen2 Q5_K_M (family)', () => familyGGUF('qwen2', 'Q5_K_M')],
  ['llama3 Q6_K (family, rope factors)', () => familyGGUF('llama3', 'Q6_K')],
  ['smollm F16 (family, tied output)', () => familyGGUF('smollm', 'F16')],
];

/** Counts device.createBuffer's calls and the bytes of all but uniform buffers, until restored. */
function countBuffers(device: GPUDevice): { calls: number; bytes: number; restore(): void } {
  const original = device.createBuffer;
  const c = {
    calls: 0, bytes: 0,
    restore: () => { device.createBuffer = original; },
  };
  device.createBuffer = function (this: GPUDevice, desc: GPUBufferDescriptor) {
    c.calls++;
    if (!(desc.usage & GPUBufferUsage.UNIFORM)) c.bytes += desc.size;
    return original.call(this, desc);
  };
  return c;
}

async function refusal(p: Promise<unknown>): Promise<GpuOutOfMemoryError> {
  try {
    await p;
  } catch (e) {
    return e as GpuOutOfMemoryError;
  }
  throw new Error('expected a rejection');
}

describeGpu('GPU memory planned before allocation', () => {
  test.each(MODELS)('%s: planned bytes == allocated bytes, part by part', async (_, bytes) => {
    const model = openModel(bytes());
    const counted = countBuffers(gpu.device);
    let b: WebGPUBackend;
    try {
      b = await WebGPUBackend.create(gpu, model, { contextSize: 64 });
    } finally {
      counted.restore();
    }
    const { plan, memory } = b;
    console.log(`${_}: planned ${plan.total} B (weights ${plan.weights}, KV ${plan.kvCache}, activations ${plan.activations}), allocated ${counted.bytes} B`);
    expect(counted.bytes).toBe(plan.total);
    expect({ weights: memory.weights, kvCache: memory.kvCache, activations: memory.activations, total: memory.total })
      .toEqual({ weights: plan.weights, kvCache: plan.kvCache, activations: plan.activations, total: plan.total });
    b.dispose();
  });

  // (The families' K-quant stacks are one 256-channel super-block wide but down's two: no limit shards them without refusing.)
  test.each([[0, 16], [2, 64], [3, 64]] as const)('MODELS[%i] sharded under a %i KiB binding limit: planned == allocated', async (i, kib) => {
    const bytes = MODELS[i]![1];
    const ctx = (await tryGpu({ forceMaxBindingSize: kib * 1024 })).ctx!;
    const model = openModel(bytes());
    const counted = countBuffers(ctx.device);
    try {
      const b = await WebGPUBackend.create(ctx, model, { contextSize: 32 });
      expect(b.plan.buffers.filter((x) => x.part === 'weights' && x.label.endsWith('[1]')).length).toBeGreaterThan(0); // sharded
      expect(counted.bytes).toBe(b.plan.total);
      expect(b.memory.total).toBe(b.plan.total);
      b.dispose();
    } finally {
      counted.restore();
      ctx.device.destroy();
    }
  });

  test('a K-quant stack whose 256 stored rows exceed the binding limit: refused before any buffer, naming the piece', async () => {
    const ctx = (await tryGpu({ forceMaxBindingSize: 64 * 1024 })).ctx!;
    const counted = countBuffers(ctx.device);
    try {
      const e = await refusal(WebGPUBackend.create(ctx, openModel(familyGGUF('qwen3', 'Q4_K_M')), { contextSize: 32 }));
      expect(e).toMatchObject({ code: 'MODEL_TOO_LARGE_FOR_GPU', limitBytes: 65536, fitsContextSize: 0 });
      expect(e.message).toMatch(/its buffer blk\.0\.qkv \(a group of 256 stored rows\) of \d+ bytes .* cannot be split/);
      expect(counted.calls).toBe(0);
    } finally {
      counted.restore();
      ctx.device.destroy();
    }
  });

  test('a budget one byte under the plan: MODEL_TOO_LARGE_FOR_GPU with the numbers, no buffer made; the contextSize it names loads', async () => {
    const model = openModel(readShared('models/llama16m-debtext/llama16m-debtext-Q4_0.gguf'));
    const contextSize = 256;
    const plan = planGpuMemory(ggufWeights(model), contextSize, gpuLimits(gpu));
    const budget = plan.total - 1;
    const counted = countBuffers(gpu.device);
    let e: GpuOutOfMemoryError;
    try {
      e = await refusal(WebGPUBackend.create(gpu, model, { contextSize, gpuMemoryBudget: budget }));
    } finally {
      counted.restore();
    }
    console.log(e.message);
    expect(e).toBeInstanceOf(GpuOutOfMemoryError);
    expect(e.code).toBe('MODEL_TOO_LARGE_FOR_GPU');
    expect(counted.calls).toBe(0);
    expect({ needed: e.neededBytes, limit: e.limitBytes, name: e.limitName }).toEqual({ needed: plan.total, limit: budget, name: 'gpuMemoryBudget' });
    const fits = e.fitsContextSize!;
    expect(fits).toBeGreaterThan(0);
    expect(fits).toBeLessThan(contextSize);
    for (const s of [`${plan.total} bytes`, `gpuMemoryBudget of ${budget} bytes`, `contextSize of at most ${fits}`, 'weights', 'KV cache', "backend: 'cpu'"]) {
      expect(e.message).toContain(s);
    }
    // The largest that fits: it loads under the same budget, one more does not.
    const b = await WebGPUBackend.create(gpu, model, { contextSize: fits, gpuMemoryBudget: budget });
    expect(b.memory.total).toBeLessThanOrEqual(budget);
    expect((await b.feed([1, 2, 3], 0)).length).toBe(model.config.vocabSize);
    b.dispose();
    await expect(WebGPUBackend.create(gpu, model, { contextSize: fits + 1, gpuMemoryBudget: budget })).rejects.toMatchObject({ code: 'MODEL_TOO_LARGE_FOR_GPU' });
    // The device is as good as before.
    const again = await WebGPUBackend.create(gpu, model, { contextSize });
    expect(again.memory.total).toBe(plan.total);
    again.dispose();
  });

  test('a budget the weights alone exceed: no contextSize is offered', async () => {
    const model = openModel(readShared('models/stories260K/stories260K.gguf'));
    const e = await refusal(WebGPUBackend.create(gpu, model, { contextSize: 64, gpuMemoryBudget: 1000 }));
    expect(e).toMatchObject({ code: 'MODEL_TOO_LARGE_FOR_GPU', fitsContextSize: 0, limitBytes: 1000 });
    expect(e.message).not.toContain('contextSize of at most');
    await expect(WebGPUBackend.create(gpu, model, { gpuMemoryBudget: -1 })).rejects.toMatchObject({ code: 'OPTION_OUT_OF_RANGE', option: 'gpuMemoryBudget' });
  });

  test("'auto' on a hardware adapter (lavapipe in disguise) with a too small budget: the CPU backend, and a note that says why", async () => {
    const model = openModel(readShared('models/stories260K/stories260K.gguf'));
    const hardware = async (): Promise<GPU> => {
      const real = await nodeGPU();
      return {
        requestAdapter: async (o?: GPURequestAdapterOptions) => {
          const a = await real.requestAdapter(o);
          if (!a) return a;
          const info = { vendor: 'test', architecture: '', device: '', description: 'Pretend GPU', isFallbackAdapter: false } as unknown as GPUAdapterInfo;
          return new Proxy(a, { get: (t, k) => (k === 'info' ? info : typeof Reflect.get(t, k, t) === 'function' ? Reflect.get(t, k, t).bind(t) : Reflect.get(t, k, t)) });
        },
      } as unknown as GPU;
    };
    const platform = { gpu: hardware, cpu: nodeCpuOptions(1) };
    let note = '';
    const b = await createBackend('auto', model, { contextSize: 64, gpuMemoryBudget: 4096, platform, onNote: (n) => { note = n; } });
    try {
      expect(b.name).toBe('cpu');
      expect(note).toMatch(/GPU memory plan \([\d.]+ MiB\) is over the gpuMemoryBudget of 0\.0 MiB on Pretend GPU; using the CPU backend/);
    } finally {
      b.dispose();
    }
    const g = await createBackend('auto', model, { contextSize: 64, platform, onNote: (n) => { note = n; } });
    expect(g.name).toBe('webgpu');
    expect(note).toBe('WebGPU on Pretend GPU');
    g.dispose();
    // 'webgpu' insists: the typed error.
    await expect(createBackend('webgpu', model, { contextSize: 64, gpuMemoryBudget: 4096, platform })).rejects.toMatchObject({ code: 'MODEL_TOO_LARGE_FOR_GPU' });
  });
});

describe('the plan against adapter limits (arithmetic, no GPU)', () => {
  // Llama-3.2-1B's shape in f16: the 128256×2048 table is split under a 128 MiB phone limit; a KV
  // cache buffer of 131072 positions (256 MiB) cannot be, and names the largest contextSize that fits.
  const c: LlamaConfig = {
    architecture: 'llama', name: 'llama-3.2-1b-shaped', dim: 2048, hiddenDim: 8192, nLayers: 16, nHeads: 32, nKVHeads: 8, headDim: 64, ropeDim: 64,
    vocabSize: 128256, contextLength: 131072, ropeBase: 500000, rmsEps: 1e-5, tiedOutput: true, qDim: 2048, ropeStyle: 'normal', qkvBias: false,
    qkNorm: false, ropeFreqFactors: false,
  };
  const source = { config: c, naturalFormat: () => 'f16' } as unknown as WeightSource;
  const phone = { maxBindingSize: 128 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 };

  test('the output table splits; the plan at 4096 positions fits', () => {
    const plan = planGpuMemory(source, 4096, phone);
    const table = plan.buffers.filter((b) => b.label.startsWith('token_embd'));
    expect(table.length).toBe(Math.ceil((128256 * 2048 * 2) / phone.maxBindingSize));
    expect(Math.max(...plan.buffers.map((b) => b.bytes))).toBeLessThanOrEqual(phone.maxBindingSize);
    // The KV cache is f32 by default; f16 halves it.
    expect(plan.kvCache).toBe(16 * 2 * 4096 * 512 * 4);
    expect(planGpuMemory(source, 4096, phone, { kvCache: 'f16' }).kvCache).toBe(16 * 2 * 4096 * 512 * 2);
    console.log(`1B-shaped f16 at 4096: ${(plan.total / 2 ** 30).toFixed(2)} GiB (weights ${(plan.weights / 2 ** 30).toFixed(2)})`);
  });

  test('a KV cache buffer over maxStorageBufferBindingSize: refused, naming it and contextSize 65536 (f32 KV; f16 fits)', () => {
    let e: GpuOutOfMemoryError | undefined;
    try {
      planGpuMemory(source, 131072, phone, { kvCache: 'f32' });
    } catch (err) {
      e = err as GpuOutOfMemoryError;
    }
    expect(e).toBeInstanceOf(GpuOutOfMemoryError);
    expect(e).toMatchObject({ code: 'MODEL_TOO_LARGE_FOR_GPU', limitName: 'maxStorageBufferBindingSize', limitBytes: phone.maxStorageBufferBindingSize, fitsContextSize: 65536 });
    expect(e!.message).toContain('blk.0.k_cache of 268435456 bytes');
    expect(planGpuMemory(source, 65536, phone, { kvCache: 'f32' }).contextSize).toBe(65536);
    // f16: 131072 positions are 128 MiB a buffer, just within the binding limit.
    expect(planGpuMemory(source, 131072, phone, { kvCache: 'f16' }).buffers.find((b) => b.label === 'blk.0.k_cache')!.bytes).toBe(phone.maxStorageBufferBindingSize);
  });

  test('one row over the binding limit cannot be split: refused with no contextSize', () => {
    expect(() => planGpuMemory(source, 16, { ...phone, maxBindingSize: 2048 })).toThrow(/its buffer token_embd \(one row\) of 4096 bytes \(0\.00 MiB\) cannot be split and is over the adapter's maxStorageBufferBindingSize of 2048 bytes/);
  });
});

const dist = new URL('../../dist/node.js', import.meta.url);

describe('the SDK (was-edge/node) with gpuMemoryBudget', () => {
  let engine: Sdk.Engine | undefined;
  afterAll(async () => { await engine?.dispose(); });

  test("backend 'webgpu' over the budget: the typed error across the worker; the engine then loads and generates", async (ctx) => {
    if (!existsSync(new URL('node-worker.js', dist))) throw new Error('dist/node-worker.js is missing: run `npm run build` first');
    const sdk = (await import(dist.href)) as typeof Sdk;
    engine = sdk.createEngine();
    const MODEL = sharedPath('models/stories260K/stories260K.gguf');
    let e: Error & { code?: string; fitsContextSize?: number; limitBytes?: number };
    try {
      await engine.load(MODEL, { backend: 'webgpu', contextSize: 256, gpuMemoryBudget: 100_000 });
      throw new Error('expected a rejection');
    } catch (err) {
      if (err instanceof sdk.WebGPUUnavailableError && process.env.WAS_EDGE_REQUIRE_GPU !== '1') {
        ctx.skip(`no WebGPU adapter (${err.message.split(':')[0]}); run eval "$(bash scripts/setup-webgpu.sh)" first`);
      }
      e = err as typeof e;
    }
    expect(e).toBeInstanceOf(sdk.GpuOutOfMemoryError);
    expect(e).toMatchObject({ code: 'MODEL_TOO_LARGE_FOR_GPU', limitBytes: 100_000 });
    await expect(engine.load(MODEL, { gpuMemoryBudget: 'lots' as unknown as number })).rejects.toMatchObject({ code: 'OPTION_OUT_OF_RANGE', option: 'gpuMemoryBudget' });
    const info = await engine.load(MODEL, { backend: 'webgpu', contextSize: 256 });
    expect(info.backend).toBe('webgpu');
    expect((await engine.generate('Once upon a time', { maxTokens: 4 }).result).backend).toBe('webgpu');
  });
});


