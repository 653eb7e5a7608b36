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
// Run slices of chunks (one process per core), then merge them into the markdown table:
//   node dist/bench-dev-table.mjs --model M.gguf --calib schedules/ID.calib.json [--schedule schedules/ID.json] \
//     --text T --ctx 256 [--methods teal,was-greedy,was-bo] [--first-chunk A] [--stride S] [--max-chunks N] \
//     [--deadline EPOCH_MS] [--targets 0.4,...] --json OUT.json
//   node dist/bench-dev-table.mjs --merge A.json B.json ...
// --stride S takes chunks A, A+S, A+2S, … (P processes with A = 0..P−1 share the text's first chunks);
// --deadline starts no chunk after that time (Date.now()), so a time-boxed run keeps what it finished.
// --methods without was-bo needs no schedule (was-greedy is the calibration's uniform split, as the
// schedule's own was-greedy level is), so teal and was-greedy can run while the search still runs,
// and was-bo later on the same chunks. Slices keep per-chunk sums; the table is computed on the
// chunks every configuration of a target finished.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../src/cpu/backend.js';
import { kl, logProb, logSoftmax } from '../src/eval.js';
import { openModel } from '../src/model/model.js';
import { buildTau, parseCalibration } from '../src/sparsity/plan.js';
import { projectionNorms } from '../src/model/projections.js';
import { defaultMethod, levelTau, parseSchedule, scheduleFromCalibration, scheduleLevel, scheduleTargets } from '../src/sparsity/schedule.js';

/** Sums over one chunk's scored positions for one configuration (key: "dense" or "method@target"). */
interface ChunkSums { nll: number; kl: number; tokens: number; skipped: number }
interface Slice { model: string; text: string; ctx: number; defaults?: Record<string, string>; chunks: { id: number; sums: Record<string, ChunkSums> }[] }

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string' }, schedule: { type: 'string' }, calib: { type: 'string' }, text: { type: 'string' },
    ctx: { type: 'string', default: '256' }, 'first-chunk': { type: 'string', default: '0' }, 'max-chunks': { type: 'string' },
    targets: { type: 'string' }, json: { type: 'string' }, merge: { type: 'boolean' }, stride: { type: 'string', default: '1' },
    deadline: { type: 'string' }, methods: { type: 'string', default: 'teal,was-greedy,was-bo' },
  },
});

if (v.merge) {
  const slices = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Slice);
  const s0 = slices[0]!;
  const defaults = slices.find((s) => s.defaults)?.defaults ?? {};
  // key → chunk id → sums (a chunk measured by two slices, e.g. dense in both phases, counts once).
  const byKey = new Map<string, Map<number, ChunkSums>>();
  for (const s of slices) {
    for (const c of s.chunks) {
      for (const [key, sums] of Object.entries(c.sums)) {
        if (!byKey.has(key)) byKey.set(key, new Map());
        byKey.get(key)!.set(c.id, sums);
      }
    }
  }
  const keys = [...byKey.keys()];
  const targets = [...new Set(keys.filter((k) => k !== 'dense').map((k) => Number(k.split('@')[1])))].sort((a, b) => a - b);
  // Per target, the chunks that dense and every configuration of that target finished.
  const commonOf = (t: number) => {
    const ks = ['dense', ...keys.filter((k) => k.endsWith(`@${t}`))];
    return [...byKey.get('dense')!.keys()].filter((id) => ks.every((k) => byKey.get(k)!.has(id))).sort((a, b) => a - b);
  };
  const total = (key: string, common: number[]) => {
    const rs = common.map((id) => byKey.get(key)!.get(id)!);
    const tokens = rs.reduce((a, r) => a + r.tokens, 0);
    // nll and KL per scored token; the skipped fraction per chunk run (each runs ctx − 1 tokens).
    return { ppl: Math.exp(rs.reduce((a, r) => a + r.nll, 0) / tokens), kl: rs.reduce((a, r) => a + r.kl, 0) / tokens,
      skipped: rs.reduce((a, r) => a + r.skipped, 0) / rs.length, tokens };
  };
  const ranges = (ids: number[]) => ids.reduce<[number, number][]>((r, id) => {
    const last = r.at(-1);
    if (last && last[1] === id - 1) last[1] = id;
    else r.push([id, id]);
    return r;
  }, []).map(([a, b]) => (a === b ? `${a}` : `${a}–${b}`)).join(', ');
  console.log(`${s0.model} on ${s0.text}, ctx ${s0.ctx}, CPU backend; each cell: perplexity · mean KL · skipped (measured)`);
  console.log('| target | chunks (scored tokens) | dense | teal | was-greedy | was-bo | default | default ÷ was-greedy |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const t of targets) {
    const common = commonOf(t);
    const cell = (key: string) => {
      if (!byKey.has(key)) return '–';
      const r = total(key, common);
      return `${r.ppl.toFixed(3)} · ${r.kl.toFixed(4)} · ${(100 * r.skipped).toFixed(1)} %`;
    };
    const d = defaults[String(t)];
    const ratio = d && byKey.has(`${d}@${t}`) && byKey.has(`was-greedy@${t}`) ? (total(`${d}@${t}`, common).ppl / total(`was-greedy@${t}`, common).ppl).toFixed(4) : '–';
    const dense = total('dense', common);
    console.log(`| ${t} | ${common.length}: ${ranges(common)} (${dense.tokens}) | ${dense.ppl.toFixed(3)} | ${cell(`teal@${t}`)} | ${cell(`was-greedy@${t}`)} | ` +
      `${cell(`was-bo@${t}`)} | ${d ?? '–'} | ${ratio} |`);
  }
  process.exit(0);
}

if (!v.model || !v.calib || !v.text || !v.json) throw new Error('needs --model, --calib, --text and --json (see the header of this file).');
const methods = v.methods!.split(',');
if (methods.includes('was-bo') && !v.schedule) throw new Error('--methods was-bo needs --schedule.');
const ctx = Number(v.ctx);
const model = openModel(new Uint8Array(readFileSync(v.model)));
const cal = parseCalibration(JSON.parse(readFileSync(v.calib, 'utf8')), model.config);
const schedule = v.schedule ? parseSchedule(JSON.parse(readFileSync(v.schedule, 'utf8')), { config: model.config }) : null;
const norms = projectionNorms(model);
const targets = v.targets ? v.targets.split(',').map(Number) : schedule ? scheduleTargets(schedule) : [0.4, 0.5, 0.6, 0.7, 0.8];
const uniform = scheduleFromCalibration(cal, targets);
const configs: { key: string; tau: (Float32Array | null)[][] | null }[] = [{ key: 'dense', tau: null }];
for (const t of targets) {
  if (methods.includes('teal')) configs.push({ key: `teal@${t}`, tau: buildTau(cal, 'teal', t, norms) });
  if (methods.includes('was-greedy')) configs.push({ key: `was-greedy@${t}`, tau: levelTau((schedule ? scheduleLevel(schedule, t, 'was-greedy') : scheduleLevel(uniform, t)).thresholds, norms) });
  if (methods.includes('was-bo')) configs.push({ key: `was-bo@${t}`, tau: levelTau(scheduleLevel(schedule!, t, 'was-bo').thresholds, norms) });
}
const tokens = model.tokenizer.encode(readFileSync(v.text, 'utf8'), { bos: true });
const stride = Number(v.stride);
const total = Math.floor(tokens.length / ctx);
const chunkIds: number[] = [];
for (let c = Number(v['first-chunk']); c < total && chunkIds.length < (v['max-chunks'] ? Number(v['max-chunks']) : Infinity); c += stride) chunkIds.push(c);
const deadline = v.deadline ? Number(v.deadline) : Infinity;
// One thread, the module read from build/ (the bundle sits in dist/, where cpuWasmUrl() would not find it).
const backend = await CpuBackend.create(model, { contextSize: ctx, threads: 1, wasm: readFileSync(new URL('../build/was-cpu.wasm', import.meta.url)) });
const V = model.config.vocabSize;
const half = ctx >> 1;
const denseLog = Array.from({ length: ctx - 1 - half }, () => new Float64Array(V));
const log = new Float64Array(V);
const done: Slice['chunks'] = [];
const t0 = performance.now();
for (const id of chunkIds) {
  if (Date.now() > deadline) break;
  const chunk = tokens.slice(id * ctx, (id + 1) * ctx);
  chunk[0] = model.tokenizer.bos;
  const sums: Record<string, ChunkSums> = {};
  for (const cf of configs) {
    backend.setThresholds(cf.tau);
    const a: ChunkSums = { nll: 0, kl: 0, tokens: 0, skipped: 0 };
    await backend.feed(chunk.slice(0, ctx - 1), 0, (p, logits) => {
      if (p < half) return;
      if (cf.tau === null) logSoftmax(logits, denseLog[p - half]!);
      a.nll -= logProb(logits, chunk[p + 1]!);
      if (cf.tau !== null) {
        logSoftmax(logits, log);
        a.kl += kl(denseLog[p - half]!, log);
      }
      a.tokens++;
    });
    a.skipped = (await backend.skippedWeightFraction?.()) ?? 0;
    sums[cf.key] = a;
  }
  done.push({ id, sums });
  process.stderr.write(`\r[dev-table] chunk ${done.length}/${chunkIds.length}  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
process.stderr.write('\n');
backend.dispose();
const slice: Slice = {
  model: v.model.split('/').pop()!, text: v.text.split('/').pop()!, ctx,
  defaults: schedule ? Object.fromEntries(targets.map((t) => [String(t), defaultMethod(schedule, t)!])) : undefined,
  chunks: done,
};
writeFileSync(v.json, JSON.stringify(slice) + '\n');
