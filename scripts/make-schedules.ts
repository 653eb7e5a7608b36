// Builds the prebuilt schedules (schedules/<model-id>.json and its .svg plot) with `was-edge schedule`:
// per target a uniform was-greedy level and a was-bo level from the constrained BO search, both
// measured by the same objective (src/sparsity/search.ts) on the model's own calibration text, and
// the validation gate (src/sparsity/validate.ts) on held-out tokens of that text choosing the default.
// With --calibrate it first remakes <model-id>.calib.json (`was-edge calibrate`) from the same text.
// Every (model, target) search is its own single-threaded CLI process (targets are independent: each
// starts its own BO with the same seed); --jobs run at once; a model's parts are merged into its file.
//   npm run schedules [-- [--calibrate] [--jobs N] [ID...]]
//   (models from ../shared or $WAS_EDGE_SHARED; needs `npm run build`)

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { schedulePlot } from '../src/cli/schedule-plot.js';
import { formatSchedule, parseSchedule, type Schedule } from '../src/sparsity/schedule.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.WAS_EDGE_SHARED ?? resolve(root, '../shared');
const TARGETS = [0.4, 0.5, 0.6, 0.7, 0.8];
const SEED = 1;
const CTX = 256;

interface ModelRecipe {
  /** GGUF under shared/models. */
  file: string;
  /** The model's own calibration text under shared/data (its domain: data/DATA.md). */
  text: string;
  /** Tokens `was-edge calibrate` records (from the start of the text). */
  calibTokens: number;
  /** Search tokens (from the start), validation tokens (from the end), evaluations per target. */
  tokens: number;
  validationTokens: number;
  budget: number;
}

/**
 * model id → recipe. Token budgets: BENCHMARKS.md "Schedule search on each model's own text"
 * (the spread of the mean-KL objective across disjoint slices against BO's gain over uniform).
 */
const DEBTEXT = { text: 'debtext_calib.txt', calibTokens: 4096, tokens: 2048, validationTokens: 4096, budget: 8 };
const MODELS: Record<string, ModelRecipe> = {
  stories260K: { file: 'stories260K/stories260K.gguf', text: 'tinystories_calib.txt', calibTokens: 16384, tokens: 4096, validationTokens: 4096, budget: 30 },
  'llama16m-debtext-F32': { file: 'llama16m-debtext/llama16m-debtext-F32.gguf', ...DEBTEXT },
  'llama16m-debtext-F16': { file: 'llama16m-debtext/llama16m-debtext-F16.gguf', ...DEBTEXT },
  'llama16m-debtext-Q8_0': { file: 'llama16m-debtext/llama16m-debtext-Q8_0.gguf', ...DEBTEXT },
  'llama16m-debtext-Q4_0': { file: 'llama16m-debtext/llama16m-debtext-Q4_0.gguf', ...DEBTEXT },
};

const { values: opts, positionals: only } = parseArgs({
  allowPositionals: true,
  options: { calibrate: { type: 'boolean' }, jobs: { type: 'string' } },
});
const jobs = Math.max(1, Number(opts.jobs ?? availableParallelism()));
const ids = Object.keys(MODELS).filter((id) => only.length === 0 || only.includes(id));
for (const id of only) if (!MODELS[id]) throw new Error(`unknown model id ${id}; known: ${Object.keys(MODELS).join(', ')}`);

function cli(label: string, args: string[]): Promise<string> {
  console.error(`${label}: was-edge ${args.join(' ')}`);
  return new Promise((done, fail) => {
    // Progress bars of parallel runs would overwrite each other: stdout comes back, stderr on failure.
    const child = spawn(process.execPath, [resolve(root, 'bin/was-edge.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-4000); });
    child.on('exit', (code) => (code === 0 ? done(out) : fail(new Error(`${label}: was-edge ${args[0]} exited with ${code}:\n${err}`))));
  });
}

/** Runs the tasks, at most `jobs` at a time. */
async function pool(tasks: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]!();
  }));
}

const model = (id: string) => resolve(shared, 'models', MODELS[id]!.file);
const text = (id: string) => resolve(shared, 'data', MODELS[id]!.text);
const calibPath = (id: string) => resolve(root, 'schedules', `${id}.calib.json`);

if (opts.calibrate) {
  await pool(ids.map((id) => async () => {
    const out = await cli(`${id} calibrate`, ['calibrate', '--model', model(id), '--text', text(id), '--tokens', String(MODELS[id]!.calibTokens),
      '--ctx', String(CTX), '--greedy-tokens', '64', '--out', calibPath(id)]);
    process.stdout.write(`${id} ${out}`);
  }));
}

const parts = mkdtempSync(join(tmpdir(), 'was-edge-schedules-'));
const partPath = (id: string, t: number) => join(parts, `${id}-${t}.json`);
try {
  await pool(ids.flatMap((id) => TARGETS.map((t) => async () => {
    const m = MODELS[id]!;
    const out = await cli(`${id} ${t}`, ['schedule', '--model', model(id), '--calib', calibPath(id), '--text', text(id),
      '--tokens', String(m.tokens), '--validation-tokens', String(m.validationTokens), '--ctx', String(CTX), '--targets', String(t),
      '--budget', String(m.budget), '--seed', String(SEED), '--backend', 'cpu', '--threads', '1', '--out', partPath(id, t)]);
    process.stdout.write(out.split('\n').filter(Boolean).map((l) => `${id} ${l}\n`).join(''));
  })));
  // One file per model: the parts agree on everything but their target's levels and validation.
  for (const id of ids) {
    const files = TARGETS.map((t) => parseSchedule(JSON.parse(readFileSync(partPath(id, t), 'utf8'))));
    const first = files[0]!;
    const schedule: Schedule = {
      ...first,
      levels: files.flatMap((f) => f.levels),
      validation: { ...first.validation!, targets: files.flatMap((f) => f.validation!.targets) },
    };
    parseSchedule(schedule);
    writeFileSync(resolve(root, 'schedules', `${id}.json`), formatSchedule(schedule));
    writeFileSync(resolve(root, 'schedules', `${id}.svg`), schedulePlot(schedule));
    console.error(`${id}: wrote schedules/${id}.json and .svg`);
  }
} finally {
  rmSync(parts, { recursive: true, force: true });
}
