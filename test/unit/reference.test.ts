// The reference forward pass against llama.cpp's goldens on real models.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { llamaConfig } from '../../src/model/config.js';
import { parseGGUF } from '../../src/model/gguf.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { greedy } from '../helpers/backend.js';
import { readF32, readShared, sharedPath } from '../helpers/shared.js';

function backendFor(...path: string[]) {
  const file = parseGGUF(readShared(...path));
  const config = llamaConfig(file);
  return new ReferenceBackend(config, loadWeightsF32(file, config), 512);
}

/** Feeds `ids` one by one and returns the max |Δ| of every row of logits against `golden`. */
async function maxLogitDelta(b: ReferenceBackend, ids: number[], golden: Float32Array): Promise<number> {
  const vocab = b.config.vocabSize;
  let worst = 0;
  await b.feed(ids, 0, (i, logits) => {
    for (let v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(logits[v]! - golden[i * vocab + v]!));
  });
  return worst;
}

describe('stories260K', () => {
  const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8'));
  const ids: number[] = [...golden.prompt_ids, ...golden.generated_ids.slice(0, -1)];

  test('logits for "Once upon a time" (36 positions) within 1e-4 of llama.cpp (F32 cache)', async () => {
    const ref = readF32('reference/stories260K/logits_once_upon_a_time.llama_cpp_kvf32.f32');
    expect(ids.length * 512).toBe(ref.length);
    const d = await maxLogitDelta(backendFor('models/stories260K/stories260K.gguf'), ids, ref);
    expect(d, `max |Δlogit| = ${d}`).toBeLessThanOrEqual(1e-4);
  });

  test.each(['stories260K.gguf', 'stories260K-F16.gguf'])('%s: 32 greedy tokens equal the golden', async (f) => {
    const out = await greedy(backendFor('models/stories260K', f), golden.prompt_ids, 32);
    expect(out).toEqual(golden.generated_ids);
  });
});

describe('llama16m-debtext (grouped-query attention, 8 layers)', () => {
  const golden = JSON.parse(readFileSync(sharedPath('reference/llama16m-debtext/greedy_the_meaning_of_life_is.json'), 'utf8'));
  const ids: number[] = [...golden.prompt_ids, ...golden.generated_ids.slice(0, -1)];

  test('F32 logits for "The meaning of life is" within 1e-4 of llama.cpp', async () => {
    const ref = readF32('reference/llama16m-debtext/logits_the_meaning_of_life_is.llama_cpp_F32_kvf32.f32');
    const d = await maxLogitDelta(backendFor('models/llama16m-debtext/llama16m-debtext-F32.gguf'), ids, ref);
    expect(d, `max |Δlogit| = ${d}`).toBeLessThanOrEqual(1e-4);
  });

  test('F32 and F16: 32 greedy tokens equal the golden', async () => {
    for (const f of ['F32', 'F16']) {
      const out = await greedy(backendFor(`models/llama16m-debtext/llama16m-debtext-${f}.gguf`), golden.prompt_ids, 32);
      expect(out, f).toEqual(golden.generated_ids);
    }
  });

  test.each(['Q8_0', 'Q4_0'])('%s logits close to llama.cpp (which also quantises activations)', async (q) => {
    const ref = readF32(`reference/llama16m-debtext/logits_the_meaning_of_life_is.llama_cpp_${q}_kvf32.f32`);
    const d = await maxLogitDelta(backendFor(`models/llama16m-debtext/llama16m-debtext-${q}.gguf`), ids, ref);
    console.log(`${q}: max |Δlogit| vs llama.cpp = ${d.toFixed(4)}`);
    expect(d, `max |Δlogit| = ${d}`).toBeLessThan(0.35);
  });
});
