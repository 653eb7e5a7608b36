// WAS on every architecture family through the CLI, on the CPU backend (the default without a GPU):
// calibrate, every --mode of eval, schedule (a tiny search) and eval/generate --schedule, on the
// suite's Q4_K_M family models (test/helpers/families.ts). The seven projections keep their meaning:
// biases and q/k norms are not projections, and q/o are qDim wide where the architecture says so.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { projectionShapes } from '../../src/model/projections.js';
import { openModel } from '../../src/model/model.js';
import { runCli as run } from '../helpers/cli.js';
import { FAMILIES, familyGGUF } from '../helpers/families.js';
import { sharedPath } from '../helpers/shared.js';

const TEXT = sharedPath('data/tinystories_calib.txt');
const dir = mkdtempSync(join(tmpdir(), 'was-edge-families-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(FAMILIES)('%s Q4_K_M', (family) => {
  const model = join(dir, `${family}-Q4_K_M.gguf`);
  const calib = join(dir, `${family}.calib.json`);
  writeFileSync(model, familyGGUF(family, 'Q4_K_M'));

  test('calibrate, then eval in every mode at 0.5: finite perplexity, about half the weights skipped', async () => {
    const c = await run('calibrate', '--model', model, '--text', TEXT, '--tokens', '128', '--ctx', '64', '--greedy-tokens', '6', '--out', calib);
    expect(c.code, c.err).toBe(0);
    const cal = JSON.parse(readFileSync(calib, 'utf8'));
    // One WAS table per projection, over that projection's input width (o reads qDim channels).
    const shapes = projectionShapes(openModel(familyGGUF(family, 'Q4_K_M')).config);
    expect(cal.was[0].length).toBe(7);
    expect(cal.model.dim).toBe(256);
    const dense = JSON.parse((await run('eval', '--model', model, '--text', TEXT, '--ctx', '64', '--max-chunks', '1', '--json')).out);
    for (const mode of ['teal', 'was', 'was-greedy']) {
      const r = await run('eval', '--model', model, '--text', TEXT, '--ctx', '64', '--max-chunks', '1', '--mode', mode, '--sparsity', '0.5', '--calibration', calib, '--json');
      expect(r.code, `${mode}: ${r.err}`).toBe(0);
      const j = JSON.parse(r.out);
      expect(Number.isFinite(j.ppl) && Number.isFinite(j.mean_kl), mode).toBe(true);
      expect(j.mean_kl, mode).toBeGreaterThan(0);
      expect(Math.abs(j.skipped_weight_fraction - 0.5), `${mode} skipped ${j.skipped_weight_fraction}`).toBeLessThan(0.06);
      expect(j.tokens_scored).toBe(dense.tokens_scored);
    }
    expect(shapes[3]!.cols).toBe(family === 'qwen3' ? 512 : 256);
  });
});

test('qwen3: a schedule search, then eval and generate with it', async () => {
  const model = join(dir, 'qwen3-Q4_K_M.gguf');
  const out = join(dir, 'qwen3.schedule.json');
  const s = await run('schedule', '--model', model, '--calib', join(dir, 'qwen3.calib.json'), '--text', TEXT, '--tokens', '256', '--ctx', '64',
    '--targets', '0.5', '--budget', '3', '--validation-tokens', '128', '--out', out);
  expect(s.code, s.err).toBe(0);
  const e = await run('eval', '--model', model, '--text', TEXT, '--ctx', '64', '--max-chunks', '1', '--schedule', out, '--level', '0.5', '--json');
  expect(e.code, e.err).toBe(0);
  expect(Math.abs(JSON.parse(e.out).skipped_weight_fraction - 0.5)).toBeLessThan(0.08);
  const g = await run('generate', '--model', model, '--prompt', 'Once upon a time', '--max-tokens', '8', '--schedule', out, '--level', '0.5', '--json');
  expect(g.code, g.err).toBe(0);
  expect(JSON.parse(g.out).finish_reason).toMatch(/^(length|eog)$/);
});
