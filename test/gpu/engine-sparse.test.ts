// The WebGPU engine in sparse mode against the reference's sparse forward with the same thresholds.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { WebGPUBackend } from '../../src/gpu/engine/backend.js';
import type { Model } from '../../src/model/model.js';
import type { Thresholds } from '../../src/model/projections.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { projectionNorms } from '../../src/model/projections.js';
import { buildTau, parseCalibration, type SparsityMode } from '../../src/sparsity/plan.js';
import { greedy, maxDelta } from '../helpers/backend.js';
import { readShared } from '../helpers/shared.js';
import { describeGpu, gpu } from './context.js';

const model = openModel(readShared('models/stories260K/stories260K.gguf'));
const weights = loadWeightsF32(model.file, model.config);
/** A backend with thresholds set (one weight copy: created dense, then given τ). */
async function sparseBackend(m: Model, tau: Thresholds, contextSize = 64): Promise<WebGPUBackend> {
  const b = await WebGPUBackend.create(gpu, m, { contextSize, kvCache: 'f32' }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
  b.setThresholds(tau);
  return b;
}

const cal = parseCalibration(JSON.parse(readFileSync(new URL('../../schedules/stories260K.calib.json', import.meta.url), 'utf8')), model.config);

describeGpu('WebGPU engine, sparse decode (stories260K, shipped calibration)', () => {
  // Thresholding is discontinuous: a channel whose |x_j| lies within float rounding of τ_j may fall
  // either way in two correct implementations (seen: |x| = 0.18594848 vs τ = 0.18594833, layer 1,
  // o projection). So the GPU's tokens must equal the reference's with τ, or with τ scaled by
  // 1 ± 1e-5 — equality up to rounding at the boundary, and nothing looser.
  test.each([['was', 0.5], ['teal', 0.5], ['was-greedy', 0.6], ['was', 0.8]] as [SparsityMode, number][])(
    '%s at %f: the 24 greedy tokens equal the reference sparse forward', async (mode, s) => {
      const norms = projectionNorms(model);
      const tau = buildTau(cal, mode, s, norms)!;
      const prompt = model.tokenizer.encode('Once upon a time');
      const reference = (f: number) => new ReferenceBackend(model.config, weights, 64, {
        thresholds: tau.map((L) => L.map((t) => t && t.map((v) => v * f))),
      });
      const gpuBackend = await sparseBackend(model, tau);
      const got = await greedy(gpuBackend, prompt, 24);
      const wants = [await greedy(reference(1), prompt, 24), await greedy(reference(1 + 1e-5), prompt, 24), await greedy(reference(1 - 1e-5), prompt, 24)];
      expect(wants.some((w) => w.join() === got.join()), `GPU ${got} vs reference ${wants[0]}`).toBe(true);
      if (got.join() !== wants[0]!.join()) console.log(`${mode} ${s}: equal to the reference with τ·(1 ± 1e-5) (a boundary channel)`);
      // logits of the first decode step
      const a = await reference(1).feed(prompt, 0);
      const b = await gpuBackend.feed(prompt, 0);
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
      console.log(`${mode} ${s}: max |Δlogit| GPU vs reference after the prompt = ${d.toExponential(2)}`);
      expect(d).toBeLessThan(1e-4);
      gpuBackend.dispose();
    });

  test('the skipped-weight fraction counted on the GPU equals the reference\'s count on the same tokens', async () => {
    const norms = projectionNorms(model);
    const tau = buildTau(cal, 'was', 0.6, norms)!;
    const ref = new ReferenceBackend(model.config, weights, 64, { thresholds: tau });
    const gpuBackend = await sparseBackend(model, tau);
    const ids = model.tokenizer.encode('Once upon a time, there was a little dog named Max. He liked to run');
    expect(await gpuBackend.skippedWeightFraction(), 'no token yet').toBeNull();
    await ref.feed(ids, 0);
    await gpuBackend.feed(ids, 0);
    const want = (await ref.skippedWeightFraction())!;
    const got = await gpuBackend.skippedWeightFraction();
    console.log(`skipped-weight fraction over ${ids.length} tokens at was 0.6: GPU ${got}, reference ${want}`);
    expect(Math.abs(got! - want), `GPU ${got} vs reference ${want}`).toBeLessThan(1e-3);
    expect(await gpuBackend.skippedWeightFraction(), 'counters reset by the read').toBeNull();
    gpuBackend.dispose();
  });

  test('thresholds can be swapped without reloading; all −1 equals the dense engine', async () => {
    const sparseB = await sparseBackend(model, weights.layers.map(() => Array(7).fill(null)), 32);
    const denseB = await WebGPUBackend.create(gpu, model, { contextSize: 32, kvCache: 'f32' }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
    const ids = model.tokenizer.encode('Once upon a time');
    expect(await greedy(sparseB, ids, 8)).toEqual(await greedy(denseB, ids, 8));
    // Everything skipped: every projection adds nothing, as in the reference with the same τ.
    const all = weights.layers.map(() => [64, 64, 64, 64, 64, 64, 172].map((n) => new Float32Array(n).fill(Infinity)));
    sparseB.setThresholds(all);
    const ref = new ReferenceBackend(model.config, weights, 32, { thresholds: all });
    expect(await greedy(sparseB, ids, 2)).toEqual(await greedy(ref, ids, 2));
    const got: Float32Array[] = [];
    const want: Float32Array[] = [];
    await sparseB.feed(ids, 0, (_, l) => got.push(l.slice()));
    await ref.feed(ids, 0, (_, l) => want.push(l.slice()));
    const d = maxDelta(got, want, model.config.vocabSize);
    expect(d, `everything skipped: max |Δlogit| vs reference ${d}`).toBeLessThanOrEqual(1e-4);
    // And back to dense: null thresholds give the dense engine's tokens again, with nothing counted.
    sparseB.setThresholds(null);
    expect(await greedy(sparseB, ids, 8)).toEqual(await greedy(denseB, ids, 8));
    expect(await sparseB.skippedWeightFraction()).toBeNull();
    sparseB.dispose();
    denseB.dispose();
  });

  test('one weight copy: GPU weight bytes are the same with thresholds set as dense, and match the file', async () => {
    const b = await WebGPUBackend.create(gpu, model, { contextSize: 32, kvCache: 'f32' }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
    const dense = b.memory.weights;
    b.setThresholds(buildTau(cal, 'was', 0.5, projectionNorms(model))!);
    await greedy(b, model.tokenizer.encode('Once upon a time'), 2);
    expect(b.memory.weights).toBe(dense);
    // The file's tensors (all f32 here), stored once; rows are padded to 16 bytes and stacks to 4 outputs.
    const fileBytes = [...model.file.tensors.values()].reduce((a, t) => a + t.nbytes, 0);
    console.log(`GPU weight bytes ${dense}, file tensor bytes ${fileBytes}`);
    expect(dense).toBeGreaterThanOrEqual(fileBytes);
    expect(dense).toBeLessThan(1.05 * fileBytes);
    b.dispose();
  });
});
