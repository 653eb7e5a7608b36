// The f16 KV cache (the default) against the f32 one, end to end: logits of 64 positions within 1e-3 of
// the f32 run's logit range, greedy tokens equal wherever the f32 run's top-2 margin exceeds the
// difference, and the KV buffers half the bytes (planned == allocated).
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { WebGPUBackend } from '../../src/gpu/engine/backend.js';
import { openModel, type Model } from '../../src/model/model.js';
import { familyGGUF } from '../helpers/families.js';
import { readShared, sharedPath } from '../helpers/shared.js';
import { describeGpu, gpu } from './context.js';

const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8'));
const N = 64;

/** 64 token ids: the golden prompt and greedy text, then a fixed walk over the vocabulary. */
function tokens(m: Model): number[] {
  const ids: number[] = [...golden.prompt_ids, ...golden.generated_ids].filter((t: number) => t < m.config.vocabSize);
  for (let i = 0; ids.length < N; i++) ids.push((i * 7919 + 13) % m.config.vocabSize);
  return ids.slice(0, N);
}

async function logits(b: WebGPUBackend, ids: number[], decode: boolean): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  if (decode) for (let p = 0; p < ids.length; p++) rows.push((await b.feed([ids[p]!], p)).slice());
  else await b.feed(ids, 0, (_, l) => rows.push(l.slice()));
  return rows;
}

const cases: [string, () => Uint8Array][] = [
  ['stories260K f32', () => readShared('models/stories260K', 'stories260K.gguf')],
  ['qwen3 Q4_K_M', () => familyGGUF('qwen3', 'Q4_K_M')],
  ['llama3 F16', () => familyGGUF('llama3', 'F16')],
];

describeGpu('f16 KV cache', () => {
  afterAll(() => gpu.device.destroy());

  test.each(cases)('%s: logits within 1e-3 of the f32 KV range over 64 positions, greedy equal, half the KV bytes', async (name, bytes) => {
    const m = openModel(bytes());
    const ids = tokens(m);
    const b16 = await WebGPUBackend.create(gpu, m, { contextSize: N, kvCache: 'f16' });
    const b32 = await WebGPUBackend.create(gpu, m, { contextSize: N, kvCache: 'f32' });
    try {
      expect(b16.memory.kvCache * 2).toBe(b32.memory.kvCache);
      expect(b16.plan.kvCache).toBe(b16.memory.kvCache);
      expect(b16.plan.total).toBe(b16.memory.total);
      for (const decode of [false, true]) {
        const [r16, r32] = [await logits(b16, ids, decode), await logits(b32, ids, decode)];
        let worst = 0;
        let greedyChecked = 0;
        for (let p = 0; p < N; p++) {
          const [a, e] = [r16[p]!, r32[p]!];
          let lo = Infinity, hi = -Infinity, d = 0;
          let i1 = 0, i2 = -1;
          for (let i = 0; i < e.length; i++) {
            lo = Math.min(lo, e[i]!); hi = Math.max(hi, e[i]!);
            d = Math.max(d, Math.abs(a[i]! - e[i]!));
            if (e[i]! > e[i1]!) { i2 = i1; i1 = i; } else if (i !== i1 && (i2 < 0 || e[i]! > e[i2]!)) i2 = i;
          }
          worst = Math.max(worst, d / (hi - lo));
          // Greedy: the f32 argmax is the f16 one where the margin is over twice the largest difference.
          if (e[i1]! - e[i2]! > 2 * d) {
            greedyChecked++;
            expect(a.indexOf(Math.max(...a)), `${name} position ${p}`).toBe(i1);
          }
        }
        console.log(`${name} ${decode ? 'decode' : 'prefill'}: max |Δ| / f32 logit range ${worst.toExponential(2)}; greedy equal at ${greedyChecked}/${N} positions (the others too close to call); KV ${b16.memory.kvCache} B vs ${b32.memory.kvCache} B`);
        expect(worst).toBeLessThanOrEqual(1e-3);
      }
    } finally {
      b16.dispose();
      b32.dispose();
    }
  });

  test('stories260K, f16 KV: the 32 golden greedy tokens (what the browser tests expect of the default engine)', async () => {
    const b = await WebGPUBackend.create(gpu, openModel(readShared('models/stories260K', 'stories260K.gguf')), { contextSize: N });
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

  test('kvCache is checked', async () => {
    const m = openModel(readShared('models/stories260K', 'stories260K.gguf'));
    await expect(WebGPUBackend.create(gpu, m, { contextSize: 8, kvCache: 'bf16' as never })).rejects.toMatchObject({ code: 'OPTION_OUT_OF_RANGE', option: 'kvCache' });
  });
});
