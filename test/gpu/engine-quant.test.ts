// The WebGPU engine on Q8_0 / Q4_0 GGUF files with the weights kept quantized: dense and WAS-sparse,
// against the reference forward over the dequantised weights (exact up to f32 rounding), and close to
// llama.cpp's dumps (which also quantise activations, so only close).
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { WebGPUBackend } from '../../src/gpu/engine/backend.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { projectionNorms } from '../../src/model/projections.js';
import { buildTau, parseCalibration } from '../../src/sparsity/plan.js';
import { allLogits, maxDelta } from '../helpers/backend.js';
import { readF32, readShared, sharedPath } from '../helpers/shared.js';
import { describeGpu, gpu } from './context.js';

const golden = JSON.parse(readFileSync(sharedPath('reference/llama16m-debtext/greedy_the_meaning_of_life_is.json'), 'utf8'));
const seq: number[] = [...golden.prompt_ids, ...golden.generated_ids.slice(0, -1)];

describeGpu('WebGPU engine, quantized weights kept quantized (llama16m-debtext Q8_0, Q4_0)', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const) {
    test(`${type}: logits within 1e-4 of the reference on the dequantised weights; GPU bytes below the f32 engine's`, async () => {
      const m = openModel(readShared(`models/llama16m-debtext/llama16m-debtext-${type}.gguf`));
      const V = m.config.vocabSize;
      const b = await WebGPUBackend.create(gpu, m, { contextSize: 64, kvCache: 'f32' }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
      b.setThresholds(null); // dense: nothing skipped to report
      const got = await allLogits(b, seq);
      const ref = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 64);
      const want = await allLogits(ref, seq);
      const d = maxDelta(got, want, V);
      const llama = maxDelta(got, readF32(`reference/llama16m-debtext/logits_the_meaning_of_life_is.llama_cpp_${type}_kvf32.f32`), V);
      const f32 = await WebGPUBackend.create(gpu, m, { contextSize: 64, weightFormat: 'f32', kvCache: 'f32' });
      console.log(`${type}: max |Δlogit| vs reference ${d.toExponential(2)}, vs llama.cpp ${llama.toFixed(3)} over ${seq.length} positions; ` +
        `GPU weights ${(b.memory.weights / 2 ** 20).toFixed(1)} MiB quantized vs ${(f32.memory.weights / 2 ** 20).toFixed(1)} MiB as f32`);
      expect(d).toBeLessThanOrEqual(1e-4);
      expect(llama).toBeLessThan(1); // llama.cpp quantises activations to 8 bits as well
      expect(b.memory.weights).toBeLessThan(0.5 * f32.memory.weights);
      // Greedy decoding through feedArgmax agrees with the logits path.
      await b.feed(golden.prompt_ids.slice(0, -1), 0);
      const first = await b.feedArgmax(golden.prompt_ids.at(-1), golden.prompt_ids.length - 1);
      const last = want[golden.prompt_ids.length - 1]!;
      expect(first).toBe(last.indexOf(Math.max(...last)));
      expect(await b.skippedWeightFraction()).toBeNull();
      b.dispose();
      f32.dispose();
    });
  }

  test('Q4_0 WAS-sparse: logits equal the reference sparse forward (τ from the dequantised column norms)', async () => {
    const m = openModel(readShared('models/llama16m-debtext/llama16m-debtext-Q4_0.gguf'));
    const weights = loadWeightsF32(m.file, m.config);
    const cal = parseCalibration(JSON.parse(readFileSync(new URL('../../schedules/llama16m-debtext-F32.calib.json', import.meta.url), 'utf8')), m.config);
    const tau = buildTau(cal, 'was', 0.5, projectionNorms(m))!;
    const b = await WebGPUBackend.create(gpu, m, { contextSize: 64, prefill: 'all', kvCache: 'f32' }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
    b.setThresholds(tau);
    const ref = new ReferenceBackend(m.config, weights, 64, { thresholds: tau, prefill: 'all' });
    const ids = seq.slice(0, 12);
    const got = await allLogits(b, ids);
    const want = await allLogits(ref, ids);
    const d = maxDelta(got, want, m.config.vocabSize);
    const skipped = await b.skippedWeightFraction();
    const refSkipped = (await ref.skippedWeightFraction())!;
    console.log(`Q4_0 was 0.5: max |Δlogit| vs reference sparse ${d.toExponential(2)}; skipped ${skipped} (reference ${refSkipped})`);
    // A channel within rounding of τ may flip (engine-sparse.test.ts); over 12 positions none should here.
    expect(d).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(skipped! - refSkipped)).toBeLessThan(1e-3);
    b.dispose();
  });
});
