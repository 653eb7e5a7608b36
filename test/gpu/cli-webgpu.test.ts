// `was-edge generate|eval --backend webgpu`: same contract and same figures as the reference.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { runCli as run } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';
import { describeGpu } from './context.js';

describeGpu('CLI on WebGPU', () => {
  const model = sharedPath('models/stories260K/stories260K.gguf');
  test('generate --backend webgpu --json gives the golden greedy tokens', async () => {
    const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8'));
    const r = await run('generate', '--backend', 'webgpu', '--model', model, '--prompt', 'Once upon a time', '--max-tokens', '32', '--json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).generated_ids).toEqual(golden.generated_ids);
  });

  test('eval --backend webgpu matches --backend reference to 3 decimals on a slice of the dev text', async () => {
    for (const ctx of ['128', '512']) {
      const args = ['--model', model, '--text', sharedPath('data/tinystories_dev.txt'), '--ctx', ctx, '--max-chunks', '6', '--json'];
      const gpu = JSON.parse((await run('eval', '--backend', 'webgpu', ...args)).out);
      const ref = JSON.parse((await run('eval', '--backend', 'reference', ...args)).out);
      expect(gpu.tokens_scored).toBe(ref.tokens_scored);
      expect(Math.abs(gpu.ppl - ref.ppl), `webgpu ${gpu.ppl} vs reference ${ref.ppl}`).toBeLessThan(5e-4);
    }
  });

  test('eval --mode was on WebGPU: perplexity, mean KL and the GPU-counted skipped fraction match the reference', async () => {
    for (const prefill of ['sparse', 'all']) {
      const args = ['--model', model, '--text', sharedPath('data/tinystories_dev.txt'), '--ctx', '256', '--max-chunks', '3', '--json',
        '--mode', 'was', '--sparsity', '0.5', '--prefill', prefill];
      const g = await run('eval', '--backend', 'webgpu', ...args);
      expect(g.code, g.err).toBe(0);
      const gpu = JSON.parse(g.out);
      const ref = JSON.parse((await run('eval', '--backend', 'reference', ...args)).out);
      console.log(`was 0.5 prefill ${prefill}: webgpu ppl ${gpu.ppl} kl ${gpu.mean_kl} skipped ${gpu.skipped_weight_fraction}; ` +
        `reference ${ref.ppl} ${ref.mean_kl} ${ref.skipped_weight_fraction}`);
      expect(gpu.prefill).toBe(prefill);
      // Channels within rounding of τ may fall either way (engine-sparse.test.ts): close, not equal.
      expect(Math.abs(gpu.ppl - ref.ppl) / ref.ppl).toBeLessThan(2e-3);
      expect(Math.abs(gpu.mean_kl - ref.mean_kl)).toBeLessThan(2e-3);
      expect(Math.abs(gpu.skipped_weight_fraction - ref.skipped_weight_fraction)).toBeLessThan(1e-3);
    }
  });

  test('sampling with a seed gives the same text on WebGPU as on the reference', async () => {
    const args = ['--model', model, '--prompt', 'Lily', '--max-tokens', '24', '--temperature', '0.8', '--top-p', '0.9', '--seed', '11', '--json'];
    const gpu = JSON.parse((await run('generate', '--backend', 'webgpu', ...args)).out);
    const ref = JSON.parse((await run('generate', '--backend', 'reference', ...args)).out);
    expect(gpu.generated_ids).toEqual(ref.generated_ids);
  });
});
