// `was-edge schedule --backend webgpu`: the search measures on one sparse WebGPU backend whose τ is
// swapped per evaluation (setThresholds); its uniform start and skipped fraction match the reference's.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { parseSchedule, scheduleLevel } from '../../src/sparsity/schedule.js';
import { runCli as run } from '../helpers/cli.js';
import { sharedPath } from '../helpers/shared.js';
import { describeGpu } from './context.js';

const dir = mkdtempSync(join(tmpdir(), 'was-edge-schedule-gpu-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeGpu('was-edge schedule on WebGPU', () => {
  test('a 3-evaluation search: the uniform start and its skipped fraction agree with the reference', async () => {
    const args = ['schedule', '--model', sharedPath('models/stories260K/stories260K.gguf'), '--text', sharedPath('data/tinystories_calib.txt'),
      '--tokens', '256', '--targets', '0.5', '--budget', '3', '--seed', '2'];
    const files = { webgpu: join(dir, 'gpu.json'), reference: join(dir, 'ref.json') };
    for (const [backend, out] of Object.entries(files)) {
      const r = await run(...args, '--backend', backend, '--out', out);
      expect(r.code, r.err).toBe(0);
    }
    const [gpu, ref] = [files.webgpu, files.reference].map((f) => parseSchedule(JSON.parse(readFileSync(f, 'utf8'))));
    const g = scheduleLevel(gpu!, 0.5, 'was-greedy');
    const r = scheduleLevel(ref!, 0.5, 'was-greedy');
    console.log(`uniform 0.5: webgpu KL ${g.calibrationLoss} skipped ${g.skippedWeightFraction}; reference ${r.calibrationLoss} ${r.skippedWeightFraction}`);
    // Channels within rounding of τ may fall either way: close, not equal (as cli-webgpu.test.ts).
    expect(Math.abs(g.calibrationLoss! - r.calibrationLoss!) / r.calibrationLoss!).toBeLessThan(5e-3);
    expect(Math.abs(g.skippedWeightFraction - r.skippedWeightFraction)).toBeLessThan(1e-3);
    expect(scheduleLevel(gpu!, 0.5, 'was-bo').search!.trace).toHaveLength(3);
  });
});
