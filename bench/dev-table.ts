// Dev-text quality of a shipped schedule, every configuration at once: dense, teal (the calibration's
// TEAL thresholds), the uniform was-greedy level, the searched was-bo level and the default
// (`{ name, level }`) at each target. Scored as `was-edge eval --json` scores (src/eval.ts: ctx-token
// chunks, BOS first, the second half of each chunk scored, prefill 'sparse'; KL against the dense
// run; skipped counted while running), but each chunk's dense pass runs once for all configurations
// instead of once per `eval` process: about half the work of bench/eval-parallel.mjs for this table.
//
// Build (after npm run build):
//   npx esbuild bench/dev-table.ts --bundle --platform=node --format=esm --target=node20 --packages=external \
//     --outfile=dist/bench-dev-table.mjs --log-level=warning
// Run a slice of chunks (merge slices with --merge; one process per core):
//   node dist/bench-dev-table.mjs --model M.gguf --schedule schedules/ID.json --calib schedules/ID.calib.json \
//     --text T --ctx 256 [--first-chunk A] [--max-chunks N] [--stride S] [--deadline EPOCH_MS] [--targets 0.4,...] --json OUT.json
// --stride S takes chunks A, A+S, A+2S, … (P processes with A = 0..P−1 share the text's first chunks);
// --deadline starts no chunk after that time (Date.now()), so a time-boxed run keeps what it finished.
//   node dist/bench-dev-table.mjs --merge A.json B.json ...   → the markdown table
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../src/cpu/backend.js';
import { kl, logProb, logSoftmax } from '../src/eval.js';
import { openModel } from '../src/model/model.js';
import { buildTau, parseCalibration } from '../src/sparsity/plan.js';
import { defaultMethod, levelTau, modelProjectionNorms, parseSchedule, scheduleLevel, scheduleTargets } from '../src/sparsity/schedule.js';

interface Row { config: string; target: number | null; nll: number; kl: number; skipped: number; tokens: number; chunks: number }
interface Slice { model: string; text: string; ctx: number; chunkIds: number[]; defaults: Record<string, string>; rows: Row[] }

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' }, schedule: { type: 'string' }, calib: { type: 'string' }, text: { type: 'string' },
    ctx: { type: 'string', default: '256' }, 'first-chunk': { type: 'string', default: '0' }, 'max-chunks': { type: 'string' },
    targets: { type: 'string' }, json: { type: 'string' }, merge: { type: 'boolean' }, stride: { type: 'string', default: '1' },
    deadline: { type: 'string' },
  },
});

if (v.merge) {
  // A slice cut off by its deadline before its first chunk holds nothing.
  const slices = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Slice).filter((s) => s.chunkIds.length > 0);
  const s0 = slices[0]!;
  const merged = s0.rows.map((r, i) => {
    const rs = slices.map((s) => s.rows[i]!);
    const tokens = rs.reduce((a, x) => a + x.tokens, 0);
    const chunks = rs.reduce((a, x) => a + x.chunks, 0);
    // nll and KL weighted by tokens scored, the skipped fraction by chunks run (each runs ctx − 1 tokens).
    return { ...r, tokens, chunks, nll: rs.reduce((a, x) => a + x.nll * x.tokens, 0) / tokens, kl: rs.reduce((a, x) => a + x.kl * x.tokens, 0) / tokens,
      skipped: rs.reduce((a, x) => a + x.skipped * x.chunks, 0) / chunks };
  });
  const ids = slices.flatMap((s) => s.chunkIds).sort((a, b) => a - b);
  const ranges = ids.reduce<[number, number][]>((r, id) => {
    const last = r.at(-1);
    if (last && last[1] === id - 1) last[1] = id;
    else r.push([id, id]);
    return r;
  }, []).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ');
  console.log(`${s0.model} on ${s0.text}, ctx ${s0.ctx}, ${ids.length} chunks (${ranges}; ${merged[0]!.tokens} scored tokens), CPU backend; ` +
    'each cell: perplexity · mean KL · skipped (measured)');
  console.log('| target | dense | teal | was-greedy | was-bo | default (method) | default ÷ was-greedy |');
  console.log('|---|---|---|---|---|---|---|');
  const dense = merged.find((r) => r.config === 'dense')!;
  const cell = (r: typeof dense) => `${Math.exp(r.nll).toFixed(3)} · ${r.kl.toFixed(4)} · ${(100 * r.skipped).toFixed(1)} %`;
  const targets = [...new Set(merged.filter((r) => r.target !== null).map((r) => r.target!))];
  for (const t of targets) {
    const at = (c: string) => merged.find((r) => r.config === c && r.target === t)!;
    const d = s0.defaults[String(t)]!;
    const ratio = Math.exp(at(d).nll) / Math.exp(at('was-greedy').nll);
    console.log(`| ${t} | ${Math.exp(dense.nll).toFixed(3)} | ${cell(at('teal'))} | ${cell(at('was-greedy'))} | ${cell(at('was-bo'))} | ${Math.exp(at(d).nll).toFixed(3)} (${d}) | ${ratio.toFixed(4)} |`);
  }
  process.exit(0);
}

if (!v.model || !v.schedule || !v.calib || !v.text || !v.json) throw new Error('needs --model, --schedule, --calib, --text and --json (see the header of this file).');
const ctx = Number(v.ctx);
const model = openModel(new Uint8Array(readFileSync(v.model)));
const schedule = parseSchedule(JSON.parse(readFileSync(v.schedule, 'utf8')), { config: model.config });
const cal = parseCalibration(JSON.parse(readFileSync(v.calib, 'utf8')), model.config);
const norms = modelProjectionNorms(model);
const targets = v.targets ? v.targets.split(',').map(Number) : scheduleTargets(schedule);
const configs: { config: string; target: number | null; tau: (Float32Array | null)[][] | null }[] = [{ config: 'dense', target: null, tau: null }];
for (const t of targets) {
  configs.push({ config: 'teal', target: t, tau: buildTau(cal, 'teal', t, norms) });
  for (const m of ['was-greedy', 'was-bo'] as const) configs.push({ config: m, target: t, tau: levelTau(scheduleLevel(schedule, t, m).thresholds, norms) });
}
const tokens = model.tokenizer.encode(readFileSync(v.text, 'utf8'), { bos: true });
const first = Number(v['first-chunk']);
const stride = Number(v.stride);
const total = Math.floor(tokens.length / ctx);
const chunkIds: number[] = [];
for (let c = first; c < total && chunkIds.length < (v['max-chunks'] ? Number(v['max-chunks']) : Infinity); c += stride) chunkIds.push(c);
const deadline = v.deadline ? Number(v.deadline) : Infinity;
// One thread, the module read from build/ (the bundle sits in dist/, where cpuWasmUrl() would not find it).
const backend = await CpuBackend.create(model, { contextSize: ctx, threads: 1, wasm: readFileSync(new URL('../build/was-cpu.wasm', import.meta.url)) });
const V = model.config.vocabSize;
const half = ctx >> 1;
const denseLog = Array.from({ length: ctx - 1 - half }, () => new Float64Array(V));
const log = new Float64Array(V);
const acc = configs.map(() => ({ nll: 0, kl: 0, skipped: 0, tokens: 0 }));
const t0 = performance.now();
let n = 0;
for (const id of chunkIds) {
  if (Date.now() > deadline) break;
  n++;
  const chunk = tokens.slice(id * ctx, (id + 1) * ctx);
  chunk[0] = model.tokenizer.bos;
  for (const [i, cf] of configs.entries()) {
    backend.setThresholds(cf.tau, 'sparse');
    const a = acc[i]!;
    await backend.feed(chunk.slice(0, ctx - 1), 0, (p, logits) => {
      if (p < half) return;
      if (cf.tau === null) logSoftmax(logits, denseLog[p - half]!);
      a.nll -= logProb(logits, chunk[p + 1]!);
      logSoftmax(logits, log);
      if (cf.tau !== null) a.kl += kl(denseLog[p - half]!, log);
      a.tokens++;
    });
    a.skipped += (await backend.skippedWeightFraction?.()) ?? 0;
  }
  process.stderr.write(`\r[dev-table] chunk ${n}/${chunkIds.length}  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.stderr.write('\n');
backend.dispose();
const slice: Slice = {
  model: v.model.split('/').pop()!, text: v.text.split('/').pop()!, ctx, chunkIds: chunkIds.slice(0, n),
  defaults: Object.fromEntries(targets.map((t) => [String(t), defaultMethod(schedule, t)!])),
  rows: configs.map((cf, i) => ({ config: cf.config, target: cf.target, nll: acc[i]!.nll / acc[i]!.tokens, kl: acc[i]!.kl / acc[i]!.tokens,
    skipped: acc[i]!.skipped / n, tokens: acc[i]!.tokens, chunks: n })),
};
writeFileSync(v.json, JSON.stringify(slice) + '\n');
