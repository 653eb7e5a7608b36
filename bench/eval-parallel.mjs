#!/usr/bin/env node
// Full-text perplexity tables on many cores: every configuration (dense, or mode × sparsity) is cut
// into chunk ranges (`was-edge eval --first-chunk A --max-chunks B`), the ranges run as separate
// single-threaded processes, and each configuration's slices are merged exactly: nll and mean KL
// weighted by tokens scored, the skipped fraction by tokens run (every chunk runs ctx − 1 tokens).
//
// Usage (after npm run build):
//   node bench/eval-parallel.mjs --model M.gguf --text T --ctx N [--calibration C.json]
//        [--modes "teal was was-greedy"] [--levels "0.4 0.5 0.6 0.7 0.8"] [--dense-only]
//        [--procs P] [--slices K] [--max-chunks N] [--backend cpu] [--json OUT.jsonl] [--state S.jsonl]
// --state appends every finished slice to S.jsonl and skips the slices already there, so a run cut
// short by a time limit resumes where it stopped (same arguments, same --slices).
// Prints a markdown table on stdout (rows in configuration order), progress on stderr.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync, appendFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: v } = parseArgs({
  options: {
    model: { type: 'string' }, text: { type: 'string' }, ctx: { type: 'string' }, calibration: { type: 'string' },
    modes: { type: 'string', default: 'teal was was-greedy' }, levels: { type: 'string', default: '0.4 0.5 0.6 0.7 0.8' },
    'dense-only': { type: 'boolean' }, procs: { type: 'string' }, slices: { type: 'string' }, 'max-chunks': { type: 'string' },
    backend: { type: 'string', default: 'cpu' }, json: { type: 'string' }, state: { type: 'string' },
  },
});
if (!v.model || !v.text || !v.ctx) throw new Error('needs --model, --text and --ctx (see the header of this file).');
const ctx = Number(v.ctx);
const procs = Number(v.procs ?? availableParallelism());

const { loadModelFile } = await import(join(root, 'dist/node.js'));
const model = await loadModelFile(v.model);
const nTokens = model.tokenizer.encode(readFileSync(v.text, 'utf8'), { bos: true }).length;
const chunks = Math.min(Math.floor(nTokens / ctx), v['max-chunks'] ? Number(v['max-chunks']) : Infinity);

const configs = [{ label: ['dense', '–'], args: [] }];
if (!v['dense-only']) {
  for (const s of v.levels.split(/\s+/)) {
    for (const m of v.modes.split(/\s+/)) configs.push({ label: [m, s], args: ['--mode', m, '--sparsity', s] });
  }
}
// Slices: enough to keep every process busy, at least ~8 per process for an even finish.
const slices = Number(v.slices ?? Math.max(1, Math.ceil((procs * 8) / configs.length)));
const per = Math.ceil(chunks / slices);
const tasks = [];
configs.forEach((c, ci) => {
  for (let first = 0; first < chunks; first += per) tasks.push({ ci, first, n: Math.min(per, chunks - first) });
});
const results = configs.map(() => []);
const keyOf = (t) => JSON.stringify([v.model.split('/').pop(), v.text.split('/').pop(), ctx, v.backend, configs[t.ci].args, t.first, t.n]);
const saved = new Map();
if (v.state && existsSync(v.state)) {
  for (const line of readFileSync(v.state, 'utf8').split('\n')) if (line) { const { key, result } = JSON.parse(line); saved.set(key, result); }
}
const todo = tasks.filter((t) => {
  const r = saved.get(keyOf(t));
  if (r) results[t.ci].push(r);
  return !r;
});
const common = ['--model', v.model, '--text', v.text, '--ctx', String(ctx), '--backend', v.backend, '--json'];
if (v.backend === 'cpu') common.push('--threads', '1');
if (v.calibration) common.push('--calibration', v.calibration);

function runTask(t) {
  const args = [join(root, 'bin/was-edge.mjs'), 'eval', ...common, ...configs[t.ci].args, '--first-chunk', String(t.first), '--max-chunks', String(t.n)];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`eval ${args.slice(2).join(' ')} exited ${code}: ${err.slice(-400)}`))));
  });
}

const t0 = performance.now();
let next = 0, done = tasks.length - todo.length;
async function worker() {
  while (next < todo.length) {
    const t = todo[next++];
    const r = await runTask(t);
    results[t.ci].push(r);
    if (v.state) appendFileSync(v.state, JSON.stringify({ key: keyOf(t), result: r }) + '\n');
    done++;
    process.stderr.write(`\r[eval-parallel] ${done}/${tasks.length} slices  ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
}
await Promise.all(Array.from({ length: Math.min(procs, todo.length) }, worker));
process.stderr.write('\n');

function merge(rs) {
  const tokens = rs.reduce((a, r) => a + r.tokens_scored, 0);
  const run = rs.reduce((a, r) => a + r.chunks, 0);
  const w = (f) => rs.reduce((a, r) => a + f(r) * r.tokens_scored, 0) / tokens;
  const nll = w((r) => r.nll);
  const m = { ppl: Math.exp(nll), nll, tokens_scored: tokens, chunks: run };
  if (rs[0].mean_kl !== undefined) m.mean_kl = w((r) => r.mean_kl);
  if (rs[0].skipped_weight_fraction !== undefined) m.skipped_weight_fraction = rs.reduce((a, r) => a + r.skipped_weight_fraction * r.chunks, 0) / run;
  return m;
}

console.log(`${v.model.split('/').pop()} on ${v.text.split('/').pop()}, ctx ${ctx}, ${chunks} chunks, backend ${v.backend}, ` +
  `${tasks.length} slices on ${procs} processes, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
console.log('| mode | sparsity | perplexity | mean KL | skipped (measured) | tokens scored |');
console.log('|---|---|---|---|---|---|');
configs.forEach((c, i) => {
  const m = merge(results[i]);
  const kl = m.mean_kl === undefined ? '–' : m.mean_kl.toFixed(4);
  const sk = m.skipped_weight_fraction === undefined ? '–' : `${(100 * m.skipped_weight_fraction).toFixed(1)} %`;
  console.log(`| ${c.label[0]} | ${c.label[1]} | ${m.ppl.toFixed(4)} | ${kl} | ${sk} | ${m.tokens_scored} |`);
  if (v.json) appendFileSync(v.json, JSON.stringify({ model: v.model, text: v.text, ctx, mode: c.label[0], sparsity: c.label[1], ...m }) + '\n');
});
