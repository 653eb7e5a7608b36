// `was-edge generate|eval --backend cpu`: the same contract and figures as the reference backend, and
// llama.cpp's perplexity of the whole stories260K dev text to 3 decimals (the CPU backend is fast
// enough for the default suite).
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { runCli as run } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const DEV = sharedPath('data/tinystories_dev.txt');

describe('CLI on the CPU backend', () => {
  test('generate --backend cpu --json gives the golden greedy tokens, on one thread and on two', async () => {
    const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8'));
    for (const threads of ['1', '2']) {
      const r = await run('generate', '--backend', 'cpu', '--threads', threads, '--model', STORIES, '--prompt', 'Once upon a time', '--max-tokens', '32', '--json');
      expect(r.code, r.err).toBe(0);
      expect(JSON.parse(r.out).generated_ids).toEqual(golden.generated_ids);
    }
    const r = await run('generate', '--backend', 'cpu', '--model', STORIES, '--prompt', 'Once upon a time', '--max-tokens', '8');
    expect(r.err).toMatch(/tok\/s, cpu/);
  });

  test('eval --backend cpu matches --backend reference to 3 decimals on a slice, dense and sparse', async () => {
    const args = ['--model', STORIES, '--text', DEV, '--ctx', '128', '--max-chunks', '6', '--json'];
    const cpu = JSON.parse((await run('eval', '--backend', 'cpu', ...args)).out);
    const ref = JSON.parse((await run('eval', '--backend', 'reference', ...args)).out);
    expect(cpu.tokens_scored).toBe(ref.tokens_scored);
    expect(Math.abs(cpu.ppl - ref.ppl), `cpu ${cpu.ppl} vs reference ${ref.ppl}`).toBeLessThan(5e-4);
    const sparse = ['--mode', 'was', '--sparsity', '0.5', ...args];
    const cs = JSON.parse((await run('eval', '--backend', 'cpu', ...sparse)).out);
    const rs = JSON.parse((await run('eval', '--backend', 'reference', ...sparse)).out);
    console.log(`was 0.5: cpu ppl ${cs.ppl} kl ${cs.mean_kl} skipped ${cs.skipped_weight_fraction}; reference ${rs.ppl} ${rs.mean_kl} ${rs.skipped_weight_fraction}`);
    expect(Math.abs(cs.ppl - rs.ppl) / rs.ppl).toBeLessThan(2e-3);
    expect(Math.abs(cs.skipped_weight_fraction - rs.skipped_weight_fraction)).toBeLessThan(1e-3);
  });

  test('the whole stories260K dev text at ctx 128 reproduces llama.cpp\'s 6.3116 to 3 decimals', async () => {
    const r = await run('eval', '--backend', 'cpu', '--model', STORIES, '--text', DEV, '--ctx', '128', '--json');
    const j = JSON.parse(r.out);
    console.log(`stories260K dev ctx 128 on the CPU backend: ppl ${j.ppl} over ${j.tokens_scored} tokens`);
    expect(Math.abs(j.ppl - 6.3116)).toBeLessThan(5e-4);
  });

  test('unknown backends are usage errors that list cpu', async () => {
    const r = await run('generate', '--backend', 'tpu', '--model', STORIES);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/available: webgpu, cpu, reference/);
  });
});
