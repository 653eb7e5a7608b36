// The CPU (Wasm SIMD) backend end to end, against the same goldens as the WebGPU engine: llama.cpp's
// tokens and logits for the F32 files, the reference forward over the dequantised weights for F16,
// Q8_0 and Q4_0 (1e-4), the reference's sparse forward for every sparse mode, worker threads equal
// to one thread, and the up-front refusal of a model too large for Wasm32.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CpuBackend, cpuMemoryBytes } from '../../src/cpu/backend.js';
import { cpuWasmNode, nodeCpuOptions } from '../../src/cpu/node.js';
import type { LlamaConfig } from '../../src/model/config.js';
import type { GGUFFile, GGUFTensorInfo } from '../../src/model/gguf.js';
import { openModel, type Model } from '../../src/model/model.js';
import { GGMLType } from '../../src/model/tensor.js';
import { BLOCK_TENSORS, expectedDims, loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { projectionNorms } from '../../src/model/projections.js';
import { buildTau, parseCalibration, type SparsityMode } from '../../src/sparsity/plan.js';
import { readF32, readShared, sharedPath } from '../helpers/shared.js';
import { allLogits, greedy, maxDelta } from '../helpers/backend.js';
import { CpuMemoryError } from '../../src/errors.js';

const models = new Map<string, Model>();
const model = (path: string) => {
  if (!models.has(path)) models.set(path, openModel(readShared('models', path)));
  return models.get(path)!;
};
/** Single-threaded on the debug build (asserts on) unless told otherwise. */
const cpu = async (m: Model, opts: Parameters<typeof CpuBackend.create>[1] = {}) =>
  CpuBackend.create(m, { contextSize: 64, wasm: await cpuWasmNode('debug'), ...opts });

describe('CPU backend, stories260K', () => {
  const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8'));
  const ids: number[] = [...golden.prompt_ids, ...golden.generated_ids.slice(0, -1)];

  test.each(['stories260K.gguf', 'stories260K-F16.gguf'])('%s: logits of 36 positions within 1e-4, the 32 golden greedy tokens', async (f) => {
    const m = model(`stories260K/${f}`);
    const b = await cpu(m);
    const logits = await allLogits(b, ids);
    const ref = f === 'stories260K.gguf'
      ? readF32('reference/stories260K/logits_once_upon_a_time.llama_cpp_kvf32.f32')
      : await allLogits(new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 64), ids);
    const d = maxDelta(logits, ref, m.config.vocabSize);
    console.log(`${f}: max |Δlogit| vs ${f === 'stories260K.gguf' ? 'llama.cpp' : 'reference'} = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    expect(await greedy(b, golden.prompt_ids, 32)).toEqual(golden.generated_ids);
    b.dispose();
  });

  test('out-of-range positions and tokens are typed errors; the backend stays usable', async () => {
    const b = await cpu(model('stories260K/stories260K.gguf'), { contextSize: 16 });
    await expect(b.feed([1], 16)).rejects.toMatchObject({ code: 'KERNEL_ARGUMENT' });
    await expect(b.feedArgmax(99999, 0)).rejects.toMatchObject({ code: 'KERNEL_ARGUMENT' });
    expect(await b.feedArgmax(1, 0)).toBe(403);
    b.dispose();
  });
});

describe('CPU backend, llama16m-debtext (GQA, head 48, 8 layers)', () => {
  const g = JSON.parse(readFileSync(sharedPath('reference/llama16m-debtext/greedy_the_meaning_of_life_is.json'), 'utf8'));
  const seq: number[] = [...g.prompt_ids, ...g.generated_ids.slice(0, -1)];

  test('F32: logits of 37 positions within 1e-4 of llama.cpp; the 32 golden greedy tokens', async () => {
    const m = model('llama16m-debtext/llama16m-debtext-F32.gguf');
    const b = await cpu(m);
    const d = maxDelta(await allLogits(b, seq), readF32('reference/llama16m-debtext/logits_the_meaning_of_life_is.llama_cpp_F32_kvf32.f32'), m.config.vocabSize);
    console.log(`F32: max |Δlogit| vs llama.cpp = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    expect(await greedy(b, g.prompt_ids, 32)).toEqual(g.generated_ids);
    b.dispose();
  });

  // Q4_0 keeps output.weight in Q8_0: mixed formats in one model.
  test.each(['F16', 'Q8_0', 'Q4_0'])('%s: logits within 1e-4 of the reference forward over the dequantised weights', async (q) => {
    const m = model(`llama16m-debtext/llama16m-debtext-${q}.gguf`);
    const b = await cpu(m, { wasm: await cpuWasmNode('release') });
    const want = await allLogits(new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 64), seq);
    const d = maxDelta(await allLogits(b, seq), want, m.config.vocabSize);
    console.log(`${q}: max |Δlogit| vs reference = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    b.dispose();
  });

  test('worker threads (shared memory, -mt build) give the same logits as one thread, bit for bit', async () => {
    const m = model('llama16m-debtext/llama16m-debtext-Q4_0.gguf');
    const one = await cpu(m, { wasm: await cpuWasmNode('release') });
    const two = await CpuBackend.create(m, { contextSize: 64, ...nodeCpuOptions(3) });
    expect(two.threads).toBe(3);
    const a = await allLogits(one, seq.slice(0, 12));
    const b = await allLogits(two, seq.slice(0, 12));
    expect(maxDelta(a, b, m.config.vocabSize)).toBe(0);
    expect(await greedy(two, g.prompt_ids, 8)).toEqual(await greedy(one, g.prompt_ids, 8));
    two.dispose();
    one.dispose();
  });
});

describe('CPU backend, sparse decode (shipped calibrations)', () => {
  // As for WebGPU (test/gpu/engine-sparse.test.ts): a channel within rounding of τ may fall either
  // way, so tokens must equal the reference's with τ or with τ·(1 ± 1e-5), and nothing looser.
  const cases: [string, string, SparsityMode, number][] = [
    ['stories260K/stories260K.gguf', 'stories260K', 'was', 0.5],
    ['stories260K/stories260K.gguf', 'stories260K', 'teal', 0.5],
    ['stories260K/stories260K.gguf', 'stories260K', 'was-greedy', 0.6],
    ['stories260K/stories260K.gguf', 'stories260K', 'was', 0.8],
    ['llama16m-debtext/llama16m-debtext-Q4_0.gguf', 'llama16m-debtext-F32', 'was', 0.5],
    ['llama16m-debtext/llama16m-debtext-F16.gguf', 'llama16m-debtext-F32', 'was', 0.7],
  ];
  test.each(cases)('%s (calibration %s) %s %f: greedy tokens and the skipped fraction equal the reference sparse forward', async (path, calib, mode, s) => {
    const m = model(path);
    const weights = loadWeightsF32(m.file, m.config);
    const cal = parseCalibration(JSON.parse(readFileSync(new URL(`../../schedules/${calib}.calib.json`, import.meta.url), 'utf8')), m.config);
    const tau = buildTau(cal, mode, s, projectionNorms(m))!;
    const prompt = m.tokenizer.encode(m.config.vocabSize === 512 ? 'Once upon a time' : 'The meaning of life is');
    const reference = (f: number) => {
      return new ReferenceBackend(m.config, weights, 64, { thresholds: tau.map((L) => L.map((t) => t && t.map((v) => v * f))) });
    };
    const b = await cpu(m, { thresholds: tau, wasm: await cpuWasmNode('release') });
    const got = await greedy(b, prompt, 16);
    const exact = reference(1);
    const wants = [await greedy(exact, prompt, 16), await greedy(reference(1 + 1e-5), prompt, 16), await greedy(reference(1 - 1e-5), prompt, 16)];
    expect(wants.some((w) => w.join() === got.join()), `CPU ${got} vs reference ${wants[0]}`).toBe(true);
    const fCpu = await b.skippedWeightFraction();
    const fRef = (await exact.skippedWeightFraction())!;
    console.log(`${path} ${mode} ${s}: tokens ${got.join() === wants[0]!.join() ? 'equal' : 'equal up to a boundary channel'}; skipped fraction CPU ${fCpu}, reference ${fRef}`);
    if (got.join() === wants[0]!.join()) expect(fCpu).toBeCloseTo(fRef, 12);
    else expect(Math.abs(fCpu! - fRef)).toBeLessThan(1e-3);
    expect(await b.skippedWeightFraction(), 'the read resets the count').toBeNull();
    // logits after the prompt (sparse prefill: the first 1 % of positions dense, as the reference)
    const d = maxDelta([await b.feed(prompt, 0)], [(await exact.feed(prompt, 0)).slice()], m.config.vocabSize);
    expect(d, `max |Δlogit| ${d}`).toBeLessThan(1e-4);
    // back to dense without reloading
    b.setThresholds(null);
    expect(await greedy(b, prompt, 4)).toEqual(await greedy(new ReferenceBackend(m.config, weights, 64), prompt, 4));
    expect(await b.skippedWeightFraction()).toBeNull();
    b.dispose();
  });
});

describe('Wasm32 memory limit', () => {
  /** A llama-7B-shaped model (F32, 26 GB) as tensor descriptions only: nothing is read or allocated. */
  function hugeModel(type: GGMLType): Model {
    const c: LlamaConfig = {
      architecture: 'llama', name: 'huge', dim: 4096, hiddenDim: 11008, nLayers: 32, nHeads: 32, nKVHeads: 32, headDim: 128,
      ropeDim: 128, vocabSize: 32000, contextLength: 4096, ropeBase: 10000, rmsEps: 1e-5, tiedOutput: false, qDim: 4096, ropeStyle: 'normal', qkvBias: false, qkNorm: false, ropeFreqFactors: false,
    };
    const tensors = new Map<string, GGUFTensorInfo>();
    const add = (name: string, dims: number[]) => {
      const n = dims.reduce((a, b) => a * b, 1);
      const t = dims.length === 1 ? GGMLType.F32 : type;
      const nbytes = t === GGMLType.F32 ? 4 * n : t === GGMLType.Q4_0 ? (n / 32) * 18 : 2 * n;
      tensors.set(name, { name, dims, type: t, offset: 0, nbytes, nelements: n });
    };
    add('token_embd.weight', expectedDims(c, 'token_embd'));
    add('output_norm.weight', expectedDims(c, 'output_norm'));
    add('output.weight', expectedDims(c, 'output'));
    for (let l = 0; l < c.nLayers; l++) for (const s of BLOCK_TENSORS) add(`blk.${l}.${s}.weight`, expectedDims(c, s));
    return { file: { tensors } as GGUFFile, config: c, tokenizer: null as never };
  }

  test('a model that cannot fit is refused before allocating, with its size and what fits', async () => {
    const err = await CpuBackend.create(hugeModel(GGMLType.F32), { contextSize: 4096 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpuMemoryError);
    const e = err as CpuMemoryError;
    console.log(e.message);
    expect(e.code).toBe('MODEL_TOO_LARGE_FOR_WASM');
    expect(e.neededBytes).toBeGreaterThan(25e9);
    expect(e.limitBytes).toBe(2 ** 32);
    expect(e.message).toMatch(/needs 2\d\.\d\d GiB of Wasm memory/);
    expect(e.message).toMatch(/as Q4_0 this one would take about 3\.\d\d GiB/);
    // the same model as Q4_0 at a short context fits 4 GiB but not a 2 GiB browser
    const q4 = hugeModel(GGMLType.Q4_0);
    const need = cpuMemoryBytes(q4, 256);
    expect(need).toBeLessThan(2 ** 32);
    expect(need).toBeGreaterThan(2 ** 31);
    const small = await CpuBackend.create(q4, { contextSize: 4096, memoryLimit: 2 ** 31 }).catch((x: unknown) => x);
    expect(small).toMatchObject({ name: 'CpuMemoryError', code: 'MODEL_TOO_LARGE_FOR_WASM', limitBytes: 2 ** 31 });
  });

  test('a context too large for the limit names the largest that fits', async () => {
    const m = model('stories260K/stories260K.gguf');
    const limit = cpuMemoryBytes(m, 64) + 1;
    const err = await CpuBackend.create(m, { contextSize: 512, memoryLimit: limit }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CpuMemoryError);
    const fits = Number(/a contextSize of at most (\d+)/.exec((err as Error).message)?.[1]);
    expect(fits).toBeGreaterThanOrEqual(64);
    expect(cpuMemoryBytes(m, fits)).toBeLessThanOrEqual(limit);
    const b = await cpu(m, { contextSize: fits, memoryLimit: limit });
    expect(await b.feedArgmax(1, 0)).toBe(403);
    b.dispose();
  });
});
