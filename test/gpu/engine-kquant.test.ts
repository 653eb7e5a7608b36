// The WebGPU engine on a K-quant model (a synthetic Q4_K/Q5_K/Q6_K llama, mixed within q|k|v and
// gate|up as in a Q4_K_M file): the weights stay quantized on the GPU (src/gpu/kquant.ts, repacked
// losslessly), so its logits must match the reference forward over the exactly dequantised weights, and
// its GPU weight bytes must be close to the file's, not the 8× of f32 (WAS-sparse decoding of K-quant
// files: families.test.ts). The first test goes through createBackend, independent of the engine's modules.
import { expect, test } from 'vitest';
import { createBackend } from '../../src/create-backend.js';
import { WebGPUBackend } from '../../src/gpu/engine/backend.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { openModel } from '../../src/model/model.js';
import { GGMLType } from '../../src/model/tensor.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { allLogits, maxDelta } from '../helpers/backend.js';
import { writeGGUF } from '../helpers/gguf-writer.js';
import { kquantLlama } from '../helpers/kquant.js';
import { describeGpu, gpu } from './context.js';

const K_TYPES = new Set<number>([GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K]);

describeGpu('WebGPU engine, K-quant weights kept quantized', () => {
  const m = openModel(writeGGUF(kquantLlama(5)).bytes);
  const ids = [1, 7, 30, 3, 12, 12, 39, 5, 22, 4, 17, 9];

  test("createBackend('webgpu'): logits of 12 positions within 1e-4 of the reference", async () => {
    const b = await createBackend('webgpu', m, { contextSize: 16, kvCache: 'f32', platform: { gpu: nodeGPU } }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
    const want = await allLogits(new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 16), ids);
    const d = maxDelta(await allLogits(b, ids), want, m.config.vocabSize);
    console.log(`synthetic K-quant llama on WebGPU: max |Δlogit| vs reference = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    b.dispose();
  });

  test('GPU weight bytes ≈ the file tensor bytes (every matrix a K-quant here), not the f32 engine\'s', async () => {
    const b = await WebGPUBackend.create(gpu, m, { contextSize: 16 });
    const f32 = await WebGPUBackend.create(gpu, m, { contextSize: 16, weightFormat: 'f32' });
    const tensors = [...m.file.tensors.values()];
    const fileBytes = tensors.reduce((a, t) => a + t.nbytes, 0);
    const kBytes = tensors.filter((t) => K_TYPES.has(t.type)).reduce((a, t) => a + t.nbytes, 0);
    console.log(`GPU weight bytes ${b.memory.weights} (f32 engine ${f32.memory.weights}); file tensor bytes ${fileBytes}, of which K-quant ${kBytes}`);
    expect(kBytes / fileBytes).toBeGreaterThan(0.95);
    expect(b.memory.weights).toBeGreaterThanOrEqual(fileBytes);
    expect(b.memory.weights).toBeLessThan(1.04 * fileBytes); // sc|m pairs in 16 bits, stacks padded to 8 outputs
    expect(f32.memory.weights).toBeGreaterThan(5 * b.memory.weights);
    b.dispose();
    f32.dispose();
  });
});
