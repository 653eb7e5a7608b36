// Sampling options chat apps expect (penalties, min-p, logit bias) and the KV prefix reuse between
// calls: each against a plain re-statement of its rule or a cold run.
import { describe, expect, test } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { generate, type KvState } from '../../src/generate.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { normalizeSampling, Sampler } from '../../src/sampler.js';
import { readShared } from '../helpers/shared.js';

const model = openModel(readShared('models/stories260K/stories260K.gguf'));
const weights = loadWeightsF32(model.file, model.config);
const backend = () => new ReferenceBackend(model.config, weights, 128);

describe('penalties and biases', () => {
  const logits = Float32Array.from([2, -1, 0.5, 3, -2]);
  test('repeat penalty divides positive and multiplies negative logits of tokens in the window only', () => {
    const s = new Sampler(normalizeSampling({ repeatPenalty: 2, repeatLastN: 2 }));
    expect([...s.adjusted(logits, [3, 0, 1])]).toEqual([1, -2, 0.5, 3, -2]); // 3 is outside the last 2
  });
  test('frequency and presence penalties subtract per occurrence and once', () => {
    const s = new Sampler(normalizeSampling({ frequencyPenalty: 0.5, presencePenalty: 0.25 }));
    expect([...s.adjusted(logits, [0, 0, 2])]).toEqual([2 - 1 - 0.25, -1, 0.5 - 0.5 - 0.25, 3, -2]);
  });
  test('logit bias adds, -Infinity bans; greedy then picks the next best', () => {
    const s = new Sampler(normalizeSampling({ logitBias: { 3: -Infinity, 4: 1 } }));
    expect(s.argmaxOnly).toBe(false);
    expect(s.sample(logits)).toBe(0);
  });
  test('min-p keeps tokens within minP of the top probability', () => {
    const s = new Sampler(normalizeSampling({ temperature: 1, minP: 0.5, seed: 3 }));
    const picks = new Set(Array.from({ length: 200 }, () => s.sample(logits)));
    // p_i/p_max = e^(l_i − 3) ≥ 0.5 only for l = 3 (2 gives e^-1 ≈ 0.37)
    expect([...picks]).toEqual([3]);
  });
  test.each([['repeatPenalty', 0], ['minP', 2], ['presencePenalty', 3], ['logitBias', { x: 1 }], ['repeatLastN', -1]])('%s %j is an OptionError', (k, v) => {
    expect(() => normalizeSampling({ [k]: v })).toThrow(OptionError);
  });
  test('a repeat penalty changes a greedy loop on a real model, deterministically', async () => {
    const plain = await generate(backend(), model.tokenizer, 'Once upon a time', { maxTokens: 24 });
    const penalised = await generate(backend(), model.tokenizer, 'Once upon a time', { maxTokens: 24, repeatPenalty: 3 });
    const again = await generate(backend(), model.tokenizer, 'Once upon a time', { maxTokens: 24, repeatPenalty: 3 });
    expect(penalised.generatedIds).not.toEqual(plain.generatedIds);
    expect(again.generatedIds).toEqual(penalised.generatedIds);
  });
});

describe('KV prefix reuse', () => {
  test('a second call sharing a prefix resumes after it, with the cold run\'s tokens and logits', async () => {
    const warm = backend();
    const kv: KvState = { ids: [] };
    const first = await generate(warm, model.tokenizer, 'Once upon a time, there was a little girl', { maxTokens: 8 }, undefined, kv);
    expect(first.cachedTokens).toBe(0);
    expect(kv.ids.length).toBe(first.promptIds.length + first.generatedIds.length - 1);
    const prompt2 = `Once upon a time, there was a little girl${first.text} She said`;
    const second = await generate(warm, model.tokenizer, prompt2, { maxTokens: 8 }, undefined, kv);
    const cold = await generate(backend(), model.tokenizer, prompt2, { maxTokens: 8 });
    expect(second.cachedTokens).toBeGreaterThan(first.promptIds.length - 1);
    expect(second.generatedIds).toEqual(cold.generatedIds);
    // logits after the whole prompt: the warm cache fed only the suffix
    const ids = second.promptIds;
    const a = await warm.feed(ids.slice(second.cachedTokens), second.cachedTokens);
    const b = await backend().feed(ids, 0);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    expect(d).toBeLessThanOrEqual(1e-4);
  });
  test('a prompt that diverges at the start reuses nothing', async () => {
    const b = backend();
    const kv: KvState = { ids: [] };
    await generate(b, model.tokenizer, 'Once upon a time', { maxTokens: 4 }, undefined, kv);
    const r = await generate(b, model.tokenizer, 'The dog ran', { maxTokens: 4 }, undefined, kv);
    expect(r.cachedTokens).toBe(1); // BOS only
  });
});
