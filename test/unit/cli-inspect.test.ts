// `was-edge tokenize` and `was-edge logits`: the 100M BPE model's prompt ids against llama.cpp's
// (../shared/reference/llama100m-debtext-bpe), and last-position logits against the reference forward.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { runCli } from '../helpers/cli.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const BPE = sharedPath('models/llama100m-debtext-bpe/llama100m-debtext-bpe-Q4_K_M.gguf');
const golden = JSON.parse(readFileSync(sharedPath('reference/llama100m-debtext-bpe/greedy_8_prompts_Q4_K_M.json'), 'utf8')) as {
  cases: { prompt: string; prompt_ids: number[] }[];
};

test.each(golden.cases.map((c) => [c.prompt, c.prompt_ids] as const))('tokenize --json %j equals llama.cpp', async (prompt, ids) => {
  const r = await runCli('tokenize', '--model', BPE, '--text', prompt, '--json');
  expect(r.code, r.err).toBe(0);
  expect(JSON.parse(r.out)).toEqual({ ids });
});

test('tokenize --no-parse-special keeps special-token text as text', async () => {
  const parsed = JSON.parse((await runCli('tokenize', '--model', sharedPath('models/stories260K/stories260K.gguf'), '--text', 'a</s>b', '--json')).out).ids as number[];
  const plain = JSON.parse((await runCli('tokenize', '--model', sharedPath('models/stories260K/stories260K.gguf'), '--text', 'a</s>b', '--no-parse-special', '--json')).out).ids as number[];
  expect(parsed).toContain(2);
  expect(plain).not.toContain(2);
});

test('logits --json: the last prompt position over the whole vocabulary, as the reference computes it', async () => {
  const r = await runCli('logits', '--model', sharedPath('models/stories260K/stories260K.gguf'), '--prompt', 'Once upon a time', '--backend', 'cpu', '--json');
  expect(r.code, r.err).toBe(0);
  const j = JSON.parse(r.out) as { prompt_ids: number[]; logits: number[] };
  const m = openModel(readShared('models/stories260K/stories260K.gguf'));
  expect(j.prompt_ids).toEqual(m.tokenizer.encode('Once upon a time', { parseSpecial: true }));
  const want = await new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 32).feed(j.prompt_ids, 0);
  expect(j.logits.length).toBe(m.config.vocabSize);
  let d = 0;
  for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(want[i]! - j.logits[i]!));
  expect(d).toBeLessThan(1e-4);
});

test('generate --json reports its finish reason', async () => {
  const r = await runCli('generate', '--model', sharedPath('models/stories260K/stories260K.gguf'), '--backend', 'reference', '--prompt', 'Once', '--max-tokens', '3', '--json');
  expect(JSON.parse(r.out).finish_reason).toBe('length');
});
