// How many calibration tokens the schedule search needs: the spread of its objective (mean
// KL(dense ‖ sparse), src/sparsity/search.ts) across disjoint slices of calibration text, against the
// gain a non-uniform schedule has over uniform. Each chunk of ctx tokens is measured on its own, for
// the uniform was-greedy level and one other level per target; slices of n chunks are means of n
// consecutive chunks, so one run gives every budget n·(ctx − 1). A budget is large enough when the
// spread of the slices' paired difference (other − uniform) is well below the mean difference.
//
// Build and run (after npm run build):
//   npx esbuild bench/objective-spread.ts --bundle --platform=node --format=esm --target=node20 --packages=external \
//     --outfile=dist/bench-objective-spread.mjs --log-level=warning
//   node dist/bench-objective-spread.mjs --model M.gguf --calib C.calib.json --text T --chunks 16 \
//     [--first-chunk 0] [--ctx 256] [--targets 0.5,0.6,0.7] [--other S.json]
// --other: a schedule whose was-bo block levels are split by C's greedy table (splitBlocks) as the
// non-uniform level; without it, blocks alternate target ± 0.05 (a fixed perturbation).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../src/cpu/backend.js';
import { openModel } from '../src/model/model.js';
import { parseCalibration } from '../src/sparsity/plan.js';
import { projectionNorms } from '../src/model/projections.js';
import { levelTau, parseSchedule, scheduleLevel, splitBlocks } from '../src/sparsity/schedule.js';
import { CalibrationObjective } from '../src/sparsity/search.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string' }, calib: { type: 'string' }, text: { type: 'string' }, other: { type: 'string' },
    chunks: { type: 'string', default: '16' }, 'first-chunk': { type: 'string', default: '0' }, ctx: { type: 'string', default: '256' },
    targets: { type: 'string', default: '0.5,0.6,0.7' },
  },
});
if (!v.model || !v.calib || !v.text) throw new Error('needs --model, --calib and --text (see the header of this file).');
const ctx = Number(v.ctx);
const M = Number(v.chunks);
const first = Number(v['first-chunk']);
const targets = v.targets!.split(',').map(Number);
const model = openModel(new Uint8Array(readFileSync(v.model)));
const cal = parseCalibration(JSON.parse(readFileSync(v.calib, 'utf8')), model.config);
const other = v.other ? parseSchedule(JSON.parse(readFileSync(v.other, 'utf8'))) : null;
const norms = projectionNorms(model);
const L = model.config.nLayers;
const all = model.tokenizer.encode(readFileSync(v.text, 'utf8'), { bos: true });
if ((first + M) * ctx > all.length) throw new Error(`the text has ${all.length} tokens, fewer than ${(first + M) * ctx}.`);
// One thread, the module read from build/ (the bundle sits in dist/, where cpuWasmUrl() would not find it).
const backend = await CpuBackend.create(model, { contextSize: ctx, threads: 1, wasm: readFileSync(new URL('../build/was-cpu.wasm', import.meta.url)) });
const run = backend;

const levels = targets.map((t) => {
  const uniform = splitBlocks(cal, new Array<number>(L).fill(t));
  const blocks = other ? scheduleLevel(other, t, 'was-bo').blocks : Array.from({ length: L }, (_, l) => t + (l % 2 ? 0.05 : -0.05) * (L % 2 && l === L - 1 ? 0 : 1));
  return { t, uniform: levelTau(uniform.thresholds, norms), other: levelTau(splitBlocks(cal, blocks).thresholds, norms) };
});
// (chunk, target) → [uniform KL, other KL]
const kl: number[][][] = [];
const t0 = performance.now();
for (let k = 0; k < M; k++) {
  const chunk = all.slice((first + k) * ctx, (first + k + 1) * ctx);
  chunk[0] = model.tokenizer.bos;
  const objective = await CalibrationObjective.create(run, [chunk]);
  const row: number[][] = [];
  for (const l of levels) row.push([(await objective.measure(l.uniform)).kl, (await objective.measure(l.other)).kl]);
  kl.push(row);
  process.stderr.write(`\r[spread] chunk ${k + 1}/${M}  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.stderr.write('\n');
backend.dispose();

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const sd = (a: number[]) => { const m = mean(a); return Math.sqrt(a.reduce((x, y) => x + (y - m) ** 2, 0) / Math.max(1, a.length - 1)); };
console.log(`${v.model.split('/').pop()} on ${v.text.split('/').pop()} chunks ${first}..${first + M - 1} of ${ctx} (${M * (ctx - 1)} predictions); ` +
  `other level: ${other ? `was-bo blocks of ${v.other!.split('/').pop()}` : 'blocks alternating target ± 0.05'}`);
console.log('| target | tokens per slice | slices | mean KL uniform | sd across slices | rel. sd | mean gain of other | sd of paired gain | gain ÷ sd |');
console.log('|---|---|---|---|---|---|---|---|---|');
levels.forEach((l, ti) => {
  for (let n = 1; n <= M / 2; n *= 2) {
    const slices = Math.floor(M / n);
    const u: number[] = [];
    const g: number[] = [];
    for (let s = 0; s < slices; s++) {
      const rows = kl.slice(s * n, (s + 1) * n).map((r) => r[ti]!);
      const mu = mean(rows.map((r) => r[0]!));
      u.push(mu);
      g.push(1 - mean(rows.map((r) => r[1]!)) / mu); // relative gain of the other level on this slice
    }
    console.log(`| ${l.t} | ${n * (ctx - 1)} | ${slices} | ${mean(u).toFixed(4)} | ${sd(u).toFixed(4)} | ${(100 * sd(u) / mean(u)).toFixed(1)} % | ` +
      `${(100 * mean(g)).toFixed(2)} % | ${(100 * sd(g)).toFixed(2)} % | ${(mean(g) / sd(g)).toFixed(2)} |`);
  }
});
