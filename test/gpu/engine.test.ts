// The WebGPU engine against the reference forward pass and llama.cpp's goldens, over every weight
// path: f32, packed f16 (with and without shader-f16), and shards forced small enough to split
// every matrix of the model.
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { acquireDevice, type GpuContext } from '../../src/gpu/device.js';
import { WebGPUBackend, type WebGPUBackendOptions } from '../../src/gpu/engine/backend.js';
import type { ModelWeights } from '../../src/gpu/engine/upload.js';
import { GpuDeviceLostError } from '../../src/errors.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { openModel, type Model } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { maxDelta } from '../helpers/backend.js';
import { readF32, readShared, sharedPath } from '../helpers/shared.js';
import { describeGpu, gpu } from './context.js';

const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8'));
const ids: number[] = [...golden.prompt_ids, ...golden.generated_ids.slice(0, -1)];
const models = new Map<string, Model>();
const model = (f: string) => {
  if (!models.has(f)) models.set(f, openModel(readShared('models/stories260K', f)));
  return models.get(f)!;
};

async function referenceLogits(m: Model): Promise<Float32Array[]> {
  const b = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 64);
  const rows: Float32Array[] = [];
  await b.feed(ids, 0, (_, l) => rows.push(l.slice()));
  return rows;
}

const contexts: GpuContext[] = [];
// Destroyed and waited for: a Dawn callback still pending when the test process exits can abort it
// (CI once died with "FATAL ERROR: Error::New napi_get_last_error_info" at the end of this file).
afterAll(async () => {
  for (const c of contexts) c.device.destroy();
  await Promise.all(contexts.map((c) => c.lost));
  await new Promise((r) => setTimeout(r, 50));
});

const variants: [string, string, { disableF16?: boolean; forceMaxBindingSize?: number }, WebGPUBackendOptions][] = [
  ['f32 weights', 'stories260K.gguf', {}, {}],
  ['packed-f16 weights, shader-f16 off', 'stories260K-F16.gguf', { disableF16: true }, {}],
  ['packed-f16 weights, native f16 when the adapter has it', 'stories260K-F16.gguf', {}, {}],
  ['f32 weights split into 4 KiB bindings', 'stories260K.gguf', { forceMaxBindingSize: 4096 }, {}],
  ['f16 weights split into 2 KiB bindings', 'stories260K-F16.gguf', { forceMaxBindingSize: 2048, disableF16: true }, {}],
];

describeGpu('WebGPU engine, stories260K', () => {
  test.each(variants)('%s: prefill and decode logits within 1e-4 of the reference, 32 golden greedy tokens', async (_, file, dev, opts) => {
    const ctx = await acquireDevice({ gpu: await nodeGPU(), ...dev });
    contexts.push(ctx);
    const m = model(file);
    // f32 KV: the goldens are f32-KV runs (reference, llama.cpp kvf32); the f16 cache has its own test (kv-f16.test.ts).
    const b = await WebGPUBackend.create(ctx, m, { contextSize: 64, kvCache: 'f32', ...opts });
    if (dev.forceMaxBindingSize) {
      // every matrix really is split
      const w = (b as unknown as { weights: ModelWeights }).weights;
      const all = [w.embedding, w.output, ...w.layers.flatMap((L) => [L.qkv, L.o, L.gateUp, L.down])];
      expect(Math.max(...all.map((m) => -m.shards.length))).toBeLessThan(-1);
    }
    const ref = await referenceLogits(m);
    const V = m.config.vocabSize;

    // prefill path: all 36 positions in chunks of 32 (gemm_t), logits of every position
    const pre: Float32Array[] = [];
    await b.feed(ids, 0, (_, l) => pre.push(l.slice()));
    const dPre = maxDelta(pre, ref, V);
    expect(dPre, `prefill max |Δ| vs reference = ${dPre}`).toBeLessThanOrEqual(1e-4);

    // decode path: one token at a time (sparse_gemv without τ)
    const dec: Float32Array[] = [];
    for (let p = 0; p < ids.length; p++) dec.push(await b.feed([ids[p]!], p));
    const dDec = maxDelta(dec, ref, V);
    expect(dDec, `decode max |Δ| vs reference = ${dDec}`).toBeLessThanOrEqual(1e-4);

    if (file === 'stories260K.gguf') {
      const llama = readF32('reference/stories260K/logits_once_upon_a_time.llama_cpp_kvf32.f32');
      const dl = maxDelta(dec, llama, V);
      expect(dl, `decode max |Δ| vs llama.cpp = ${dl}`).toBeLessThanOrEqual(1e-4);
    }

    // greedy on the GPU (argmax on device): the golden 32 tokens
    const out: number[] = [];
    await b.feed(golden.prompt_ids.slice(0, -1), 0);
    let next = await b.feedArgmax(golden.prompt_ids.at(-1), golden.prompt_ids.length - 1);
    for (let pos = golden.prompt_ids.length; out.length < 32; pos++) {
      out.push(next);
      if (out.length < 32) next = await b.feedArgmax(next, pos);
    }
    expect(out).toEqual(golden.generated_ids);
    b.dispose();
  });

  test('out-of-range positions and tokens are typed errors; the backend stays usable', async () => {
    const b = await WebGPUBackend.create(gpu, model('stories260K.gguf'), { contextSize: 16 });
    await expect(b.feed([1], 16)).rejects.toMatchObject({ code: 'KERNEL_ARGUMENT' });
    await expect(b.feedArgmax(99999, 0)).rejects.toMatchObject({ code: 'KERNEL_ARGUMENT' });
    expect(await b.feedArgmax(1, 0)).toBe(403);
    b.dispose();
  });

  test('a lost device rejects pending and later calls with GpuDeviceLostError, never hangs', async () => {
    const ctx = await acquireDevice({ gpu: await nodeGPU() });
    const b = await WebGPUBackend.create(ctx, model('stories260K.gguf'), { contextSize: 16 });
    expect(await b.feedArgmax(1, 0)).toBe(403);
    ctx.device.destroy();
    for (const pos of [1, 2]) {
      const e = await b.feedArgmax(403, pos).then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(GpuDeviceLostError);
      expect((e as GpuDeviceLostError).code).toBe('GPU_DEVICE_LOST');
    }
    b.dispose();
    await ctx.lost;
  });
});

describeGpu('WebGPU engine, llama16m-debtext (GQA, head 48, 8 layers)', () => {
  test('F32 decode logits within 1e-4 of llama.cpp; the 32 golden greedy tokens', async () => {
    const g = JSON.parse(readFileSync(sharedPath('reference/llama16m-debtext/greedy_the_meaning_of_life_is.json'), 'utf8'));
    const seq: number[] = [...g.prompt_ids, ...g.generated_ids.slice(0, -1)];
    const m = openModel(readShared('models/llama16m-debtext/llama16m-debtext-F32.gguf'));
    const b = await WebGPUBackend.create(gpu, m, { contextSize: 64, kvCache: 'f32' }); // llama.cpp's goldens are kvf32
    const V = m.config.vocabSize;
    const pre: Float32Array[] = [];
    await b.feed(seq, 0, (_, l) => pre.push(l.slice()));
    const llama = readF32('reference/llama16m-debtext/logits_the_meaning_of_life_is.llama_cpp_F32_kvf32.f32');
    const d = maxDelta(pre, llama, V);
    expect(d, `prefill max |Δ| vs llama.cpp = ${d}`).toBeLessThanOrEqual(1e-4);
    const out: number[] = [];
    await b.feed(g.prompt_ids.slice(0, -1), 0);
    let next = await b.feedArgmax(g.prompt_ids.at(-1), g.prompt_ids.length - 1);
    for (let pos = g.prompt_ids.length; out.length < 32; pos++) {
      out.push(next);
      if (out.length < 32) next = await b.feedArgmax(next, pos);
    }
    expect(out).toEqual(g.generated_ids);
    b.dispose();
  });
});
