// K-quant models on the CPU backend: a synthetic llama whose matrices are Q4_K, Q5_K and Q6_K (mixed
// as in a Q4_K_M file, embedding included) with a SentencePiece vocabulary, through CpuBackend.create
// and createBackend('cpu'), dense, sparse and threaded, against the reference forward over the exactly
// dequantised weights; then the real llama100m-debtext-bpe Q4_K_M file from token ids (no BPE
// tokenizer needed) against the reference and llama.cpp's logits and greedy tokens.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CpuBackend, cpuMemoryBytes } from '../../src/cpu/backend.js';
import { cpuWasmNode, nodeCpuOptions } from '../../src/cpu/node.js';
import { createBackend } from '../../src/create-backend.js';
import { llamaConfig } from '../../src/model/config.js';
import { parseGGUF } from '../../src/model/gguf.js';
import { openModel, type Model } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { allLogits, greedy, maxDelta } from '../helpers/backend.js';
import { TYPE, writeGGUF } from '../helpers/gguf-writer.js';
import { kquantLlama } from '../helpers/kquant.js';
import { hasShared, readShared, sharedPath } from '../helpers/shared.js';

const reference = (m: Model, contextSize: number) => new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), contextSize);

describe('CPU backend, a synthetic K-quant llama', () => {
  const model = openModel(writeGGUF(kquantLlama(5)).bytes);
  const ids = [1, 7, 30, 3, 12, 12, 39, 5, 22, 4, 17, 9];

  test('the model loads, its tensors are K-quants, and the plan is smaller than f16 would be', () => {
    const types = new Set([...model.file.tensors.values()].map((t) => t.type));
    expect([...types].sort()).toEqual([TYPE.F32, TYPE.Q4_K, TYPE.Q5_K, TYPE.Q6_K].sort());
    const params = [...model.file.tensors.values()].filter((t) => t.dims.length === 2 && t.name !== 'token_embd.weight')
      .reduce((a, t) => a + t.nelements, 0);
    const bytes = cpuMemoryBytes(model, 16);
    console.log(`synthetic K-quant llama: ${params} matrix weights, CPU plan ${bytes} bytes at context 16`);
    expect(bytes).toBeLessThan(2 * params); // f16 alone would take 2 bytes a weight
  });

  test('CpuBackend.create (debug build, asserts on): logits of 12 positions within 1e-4 of the reference', async () => {
    const b = await CpuBackend.create(model, { contextSize: 16, wasm: await cpuWasmNode('debug') });
    const want = await allLogits(reference(model, 16), ids);
    const got = await allLogits(b, ids);
    const d = maxDelta(got, want, model.config.vocabSize);
    const range = Math.max(...want.map((r) => Math.max(...r) - Math.min(...r)));
    console.log(`synthetic K-quant llama: max |Δlogit| CPU vs reference = ${d.toExponential(2)} (logit range ${range.toFixed(2)})`);
    expect(range).toBeGreaterThan(1); // logits that mean something to compare
    expect(d).toBeLessThanOrEqual(1e-4);
    b.dispose();
  });

  test("createBackend('cpu') (release build) gives the reference's greedy tokens", async () => {
    const b = await createBackend('cpu', model, { contextSize: 32, platform: { cpu: { wasm: await cpuWasmNode('release') } } });
    expect(b.name).toBe('cpu');
    expect(await greedy(b, [1, 7, 30], 16)).toEqual(await greedy(reference(model, 32), [1, 7, 30], 16));
    b.dispose();
  });

  test('activation-sparse decode (τ = 0.3 on every channel): logits and skipped weights as the reference\'s', async () => {
    const c = model.config;
    const inputs = [c.dim, c.dim, c.dim, c.dim, c.dim, c.dim, c.hiddenDim]; // q k v o gate up down
    const tau = Array.from({ length: c.nLayers }, () => inputs.map((n) => new Float32Array(n).fill(0.3)));
    const b = await CpuBackend.create(model, { contextSize: 16, wasm: await cpuWasmNode('debug'), thresholds: tau, prefill: 'sparse' });
    const ref = new ReferenceBackend(c, loadWeightsF32(model.file, c), 16, { thresholds: tau, prefill: 'sparse' });
    const d = maxDelta(await allLogits(b, ids), await allLogits(ref, ids), c.vocabSize);
    const skipped = await b.skippedWeightFraction();
    console.log(`synthetic K-quant llama, sparse: max |Δlogit| = ${d.toExponential(2)}, ${(100 * skipped!).toFixed(1)} % of weights skipped`);
    expect(d).toBeLessThanOrEqual(1e-4);
    expect(skipped).toBeGreaterThan(0.1);
    expect(skipped).toBe(await ref.skippedWeightFraction());
    b.dispose();
  });

  test('worker threads (-mt build) give the logits of one thread, bit for bit', async () => {
    const one = await CpuBackend.create(model, { contextSize: 16, wasm: await cpuWasmNode('release') });
    const three = await CpuBackend.create(model, { contextSize: 16, ...nodeCpuOptions(3) });
    expect(three.threads).toBe(3);
    expect(maxDelta(await allLogits(three, ids), await allLogits(one, ids), model.config.vocabSize)).toBe(0);
    three.dispose();
    one.dispose();
  });
});

describe.skipIf(!hasShared('models/llama100m-debtext-bpe'))('CPU backend, llama100m-debtext-bpe Q4_K_M (real llama.cpp K-quants)', () => {
  const file = parseGGUF(readShared('models/llama100m-debtext-bpe', 'llama100m-debtext-bpe-Q4_K_M.gguf'));
  // Its byte-level BPE vocabulary is not read here: the backends need only the file and the config.
  const model = { file, config: llamaConfig(file) } as Model;
  const golden = JSON.parse(readFileSync(sharedPath('reference/llama100m-debtext-bpe/greedy_8_prompts_Q4_K_M.json'), 'utf8'));
  const first = golden.cases[0] as { prompt_ids: number[]; generated_ids: number[]; top8_last_logits: [number, number][] };

  test('logits within 1e-4 of the reference; the top 8 of the last prompt position near llama.cpp\'s; greedy tokens', async () => {
    const b = await CpuBackend.create(model, { contextSize: 64, wasm: await cpuWasmNode('release') });
    console.log(`llama100m Q4_K_M: CPU memory ${(b.plan.bytes / 2 ** 20).toFixed(1)} MiB (weights ${(b.plan.weightBytes / 2 ** 20).toFixed(1)} MiB, file ${(file.source.size / 2 ** 20).toFixed(1)} MiB)`);
    const seq = [...first.prompt_ids, ...first.generated_ids.slice(0, 4)];
    const got = await allLogits(b, seq);
    const want = await allLogits(reference(model, 64), seq);
    const d = maxDelta(got, want, model.config.vocabSize);
    console.log(`llama100m Q4_K_M: max |Δlogit| CPU vs reference over ${seq.length} positions = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    // llama.cpp quantizes activations to 8 bits here: about 1 % of the logit range (its README).
    const last = got[first.prompt_ids.length - 1]!;
    const range = Math.max(...last) - Math.min(...last);
    const worst = Math.max(...first.top8_last_logits.map(([id, v]) => Math.abs(last[id]! - v)));
    console.log(`llama100m Q4_K_M: top-8 logits vs llama.cpp: max |Δ| ${worst.toFixed(4)} (range ${range.toFixed(2)})`);
    expect(worst).toBeLessThanOrEqual(0.01 * range);
    const tokens = await greedy(b, first.prompt_ids, 8);
    console.log(`llama100m Q4_K_M: greedy ${tokens.join(' ')}; llama.cpp ${first.generated_ids.slice(0, 8).join(' ')}`);
    expect(tokens).toEqual(first.generated_ids.slice(0, 8));
    b.dispose();
  });
});
