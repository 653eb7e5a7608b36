// The WebGPU engine on a K-quant model (a synthetic Q4_K/Q5_K/Q6_K llama): until the engine has
// K-quant kernels it dequantises these tensors to f32 at load (exactly, through src/model/kquant.ts),
// so its logits must match the reference forward over the same weights. Built through createBackend
// so that this test does not depend on where the engine's modules live.
import { expect, test } from 'vitest';
import { createBackend } from '../../src/create-backend.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { allLogits, maxDelta } from '../helpers/backend.js';
import { writeGGUF } from '../helpers/gguf-writer.js';
import { kquantLlama } from '../helpers/kquant.js';
import { describeGpu } from './context.js';

describeGpu('WebGPU engine, K-quant weights (dequantised to f32 at load)', () => {
  test("createBackend('webgpu'): logits of 12 positions within 1e-4 of the reference", async () => {
    const m = openModel(writeGGUF(kquantLlama(5)).bytes);
    const ids = [1, 7, 30, 3, 12, 12, 39, 5, 22, 4, 17, 9];
    const b = await createBackend('webgpu', m, { contextSize: 16, platform: { gpu: nodeGPU } });
    const want = await allLogits(new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 16), ids);
    const d = maxDelta(await allLogits(b, ids), want, m.config.vocabSize);
    console.log(`synthetic K-quant llama on WebGPU: max |Δlogit| vs reference = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    b.dispose();
  });
});
