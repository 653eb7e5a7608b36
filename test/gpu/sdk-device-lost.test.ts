// Issue 20: the SDK's worker engine (src/sdk/engine.ts, in-process with a Node platform) on WebGPU,
// its device destroyed mid-generation or between calls: that call rejects with GpuDeviceLostError, the
// next one makes the backend again (a new device, the weights read again from the file) without the
// test reloading, with the golden greedy tokens, a cold KV cache, and the schedule still sparse. Where
// no new device comes, a GpuRecoveryError says so, and a load on the CPU goes on.
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { nodeCpuOptions } from '../../src/cpu/node.js';
import { GpuDeviceLostError, GpuRecoveryError, WebGPUUnavailableError } from '../../src/errors.js';
import type { GpuContext } from '../../src/gpu/device.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { fileSource, sha256Source } from '../../src/node-file.js';
import type { ChatMessage, GenerationResult } from '../../src/sdk/api.js';
import { Engine, type EnginePlatform } from '../../src/sdk/engine.js';
import type { PathOpener } from '../../src/sdk/loader.js';
import { sharedPath } from '../helpers/shared.js';
import { describeGpu } from './context.js';

const MODEL = sharedPath('models/stories260K/stories260K.gguf');
const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8')) as {
  prompt: string; generated_ids: number[];
};
const N = 16;
const GOLDEN = golden.generated_ids.slice(0, N);
const LOAD = { backend: 'webgpu', contextSize: 512, id: 'stories260K' } as const;
const SPARSE = { maxTokens: N, schedule: { name: 'stories260K', level: 0.6 } };

/** The model read on demand, as the Node worker opens paths (src/node-worker.ts). */
const openPath: PathOpener = async (path) => {
  const file = fileSource(path);
  return { file, sha256: await sha256Source(file) };
};

/** The platform of the Node worker, on one CPU thread; `gpu` counts its calls. */
function platform(gpu: () => Promise<GPU>): EnginePlatform & { gpuCalls: number } {
  const { threads, ...cpu } = nodeCpuOptions(1);
  const p = { openPath, cpu, threads, gpuCalls: 0, gpu: () => { p.gpuCalls++; return gpu(); } };
  return p;
}

/** The device of the engine's WebGPU backend (internals: tests only). */
const deviceOf = (e: Engine) => (e as unknown as { loaded: { backend: { ctx: GpuContext } } }).loaded.backend.ctx.device;

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; reason?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** A generate() whose device is destroyed after its third piece of text. */
function lostMidway(engine: Engine, options: object): Promise<GenerationResult> {
  let pieces = 0;
  return engine.generate(golden.prompt, { maxTokens: N, ...options }, undefined, () => {
    if (++pieces === 3) deviceOf(engine).destroy();
  });
}

const engines: Engine[] = [];
afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
  await new Promise((r) => setTimeout(r, 50)); // let Dawn settle the destroyed devices before the process ends
});

describeGpu('SDK engine on WebGPU: a lost device', () => {
  test('a loss mid-generation rejects that call; the next one recovers by itself with the golden tokens, dense and sparse', async () => {
    const p = platform(() => nodeGPU());
    const engine = new Engine(p);
    engines.push(engine);
    await engine.load({ path: MODEL }, LOAD);
    const before = await engine.generate(golden.prompt, { maxTokens: N });
    expect(before.tokenIds).toEqual(GOLDEN);
    expect(before.backendNote).toBeUndefined();
    const sparse = await engine.generate(golden.prompt, SPARSE);
    expect(sparse.skippedWeightFraction).toBeGreaterThan(0);

    const e = await rejection(lostMidway(engine, {}));
    expect(e).toBeInstanceOf(GpuDeviceLostError);
    expect({ name: e.name, code: e.code, reason: e.reason }).toEqual({ name: 'GpuDeviceLostError', code: 'GPU_DEVICE_LOST', reason: 'destroyed' });
    expect(e.message).toMatch(/the next call acquires a new device/);
    expect(p.gpuCalls).toBe(1);

    const after = await engine.generate(golden.prompt, { maxTokens: N });
    expect(p.gpuCalls).toBe(2);
    expect(after.tokenIds).toEqual(GOLDEN);
    expect(after.backend).toBe('webgpu');
    expect(after.backendNote).toMatch(/GPU device was lost \(destroyed\): acquired a new one and reloaded the weights/);
    expect((await engine.generate(golden.prompt, { maxTokens: 4 })).backendNote).toBeUndefined(); // told once

    // A schedule set when the device goes: the call after runs sparse again, as before the loss.
    await expect(lostMidway(engine, { schedule: SPARSE.schedule })).rejects.toMatchObject({ name: 'GpuDeviceLostError', code: 'GPU_DEVICE_LOST' });
    const resumed = await engine.generate(golden.prompt, SPARSE);
    expect(p.gpuCalls).toBe(3);
    expect(resumed.skippedWeightFraction).toBeGreaterThan(0);
    expect(resumed.schedule).toEqual(sparse.schedule);
    expect(resumed.tokenIds).toEqual(sparse.tokenIds);
  });

  test('a loss between chat turns: that turn rejects, the retried turn runs with nothing cached and the same reply', async () => {
    const engine = new Engine(platform(() => nodeGPU()));
    engines.push(engine);
    await engine.load({ path: MODEL }, LOAD);
    const turn1: ChatMessage[] = [{ role: 'system', content: 'Tell stories.' }, { role: 'user', content: 'Once upon a time' }];
    const first = await engine.chat(turn1, { template: 'chatml', maxTokens: 8 });
    const turn2: ChatMessage[] = [...turn1, { role: 'assistant', content: first.text }, { role: 'user', content: 'And then?' }];
    const warm = await engine.chat(turn2, { template: 'chatml', maxTokens: 8 });
    expect(warm.usage.cachedTokens).toBeGreaterThan(0);

    deviceOf(engine).destroy();
    await expect(engine.chat(turn2, { template: 'chatml', maxTokens: 8 })).rejects.toMatchObject({ name: 'GpuDeviceLostError', code: 'GPU_DEVICE_LOST' });
    const again = await engine.chat(turn2, { template: 'chatml', maxTokens: 8 });
    expect(again.usage.cachedTokens).toBe(0);
    expect(again.tokenIds).toEqual(warm.tokenIds);
    expect(again.backendNote).toMatch(/KV cache started empty/);
    // and the next turn reuses the recovered backend's cache again
    expect((await engine.chat(turn2, { template: 'chatml', maxTokens: 8 })).usage.cachedTokens).toBeGreaterThan(0);
  });

  test('no device to be had after the loss: GpuRecoveryError saying what to do, each call retries; a CPU load goes on', async () => {
    const p = platform(() => p.gpuCalls === 1 ? nodeGPU() : Promise.reject(new WebGPUUnavailableError('no WebGPU adapter (the test took it away)')));
    const engine = new Engine(p);
    engines.push(engine);
    await engine.load({ path: MODEL }, LOAD);
    expect((await engine.generate(golden.prompt, { maxTokens: N })).tokenIds).toEqual(GOLDEN);
    await expect(lostMidway(engine, {})).rejects.toMatchObject({ name: 'GpuDeviceLostError', code: 'GPU_DEVICE_LOST' });

    for (const calls of [2, 3]) {
      const e = await rejection(engine.generate(golden.prompt, { maxTokens: N }));
      expect(e).toBeInstanceOf(GpuRecoveryError);
      expect({ name: e.name, code: e.code, reason: e.reason }).toEqual({ name: 'GpuRecoveryError', code: 'GPU_RECOVERY_FAILED', reason: 'destroyed' });
      expect(e.message).toMatch(/no WebGPU adapter \(the test took it away\).*backend: 'cpu'/);
      expect(e.cause).toBeInstanceOf(WebGPUUnavailableError);
      expect(p.gpuCalls).toBe(calls);
    }

    const info = await engine.load({ path: MODEL }, { ...LOAD, backend: 'cpu' });
    expect(info.backend).toBe('cpu');
    const cpu = await engine.generate(golden.prompt, { maxTokens: N });
    expect(cpu.tokenIds).toEqual(GOLDEN);
    expect(cpu.backend).toBe('cpu');
  });
});
