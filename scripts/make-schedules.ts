// Builds the prebuilt schedules (schedules/<model-id>.json and its .svg plot) of the shipped
// calibration files with `was-edge schedule`: per target a uniform was-greedy level and a was-bo
// level from the constrained BO search, both measured by the same objective (src/sparsity/search.ts).
// One CLI process per model, in parallel, each on the CPU backend with one thread.
//   npm run schedules        (models from ../shared or $WAS_EDGE_SHARED; needs `npm run build`)

import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.WAS_EDGE_SHARED ?? resolve(root, '../shared');
const TARGETS = '0.4,0.5,0.6,0.7,0.8';
const SEED = '1';
/**
 * model id → GGUF under shared/models and the search's size: 30 evaluations per target, and as many
 * calibration tokens as let two models finish in about 15 minutes on a 2-core machine
 * (BENCHMARKS.md, schedule search: llama16m at ~4 ms a token on one CPU thread).
 */
const MODELS: Record<string, { file: string; tokens: number; budget: number }> = {
  stories260K: { file: 'stories260K/stories260K.gguf', tokens: 4096, budget: 30 },
  'llama16m-debtext-F32': { file: 'llama16m-debtext/llama16m-debtext-F32.gguf', tokens: 1024, budget: 30 },
  'llama16m-debtext-F16': { file: 'llama16m-debtext/llama16m-debtext-F16.gguf', tokens: 1024, budget: 30 },
  'llama16m-debtext-Q8_0': { file: 'llama16m-debtext/llama16m-debtext-Q8_0.gguf', tokens: 1024, budget: 30 },
  'llama16m-debtext-Q4_0': { file: 'llama16m-debtext/llama16m-debtext-Q4_0.gguf', tokens: 1024, budget: 30 },
};
// `npm run schedules -- ID...` rebuilds only those models.
const only = process.argv.slice(2);

const runs = Object.entries(MODELS).filter(([id]) => only.length === 0 || only.includes(id)).map(([id, m]) => new Promise<void>((done, fail) => {
  const args = [resolve(root, 'bin/was-edge.mjs'), 'schedule', '--model', resolve(shared, 'models', m.file),
    '--calib', resolve(root, 'schedules', `${id}.calib.json`), '--text', resolve(shared, 'data/tinystories_calib.txt'),
    '--tokens', String(m.tokens), '--ctx', '256', '--targets', TARGETS, '--budget', String(m.budget), '--seed', SEED,
    '--backend', 'cpu', '--threads', '1', '--out', resolve(root, 'schedules', `${id}.json`)];
  console.error(`${id}: was-edge ${args.slice(1).join(' ')}`);
  // Two progress bars would overwrite each other: stdout is printed at the end, stderr on failure.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-4000); });
  child.on('exit', (code) => {
    process.stdout.write(out.split('\n').filter(Boolean).map((l) => `${id} ${l}\n`).join(''));
    if (code === 0) done();
    else fail(new Error(`${id}: was-edge schedule exited with ${code}:\n${err}`));
  });
}));
await Promise.all(runs);
