// CPU backend thread scaling in Node (worker_threads over one shared Wasm memory): greedy decode
// tokens/s of llama16m-debtext files at 1, 2, 4 … threads, dense and WAS 0.5/0.7, one process.
// Times are wall clock per token, argmax included, best of 3 runs after a warm-up.
//
// Build and run:  npm run build && npm run bench:cpu-threads [-- --threads 1,2,4,8 --tokens 128 --models DIR]
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../src/cpu/backend.js';
import { nodeCpuOptions } from '../src/cpu/node.js';
import { compileCpuWasm } from '../src/cpu/wasm.js';
import { openModel } from '../src/model/model.js';
import { buildTau, parseCalibration } from '../src/sparsity/plan.js';
import { projectionNorms } from '../src/model/projections.js';

const { values: args } = parseArgs({
  options: { threads: { type: 'string' }, tokens: { type: 'string' }, models: { type: 'string' }, formats: { type: 'string' } },
});
const root = resolve(import.meta.dirname, '..');
const dir = resolve(args.models ?? join(root, '../shared/models/llama16m-debtext'));
const cores = availableParallelism();
const threads = (args.threads ?? [1, 2, 4, 8, 16].filter((t) => t <= cores).join(',')).split(',').map(Number);
const tokens = Number(args.tokens ?? 128);
// The bundle sits in dist/, so the module's source-relative URL does not hold: read build/ directly.
const wasm = (threaded: boolean) => compileCpuWasm(readFileSync(join(root, 'build', threaded ? 'was-cpu-mt.wasm' : 'was-cpu.wasm')));
const calibration = JSON.parse(readFileSync(join(root, 'schedules/llama16m-debtext-F32.calib.json'), 'utf8'));

console.log(`# ${new Date().toISOString()}  ${cpus()[0]?.model ?? '?'} × ${cores}  Node ${process.versions.node}  load ${loadavg()[0]!.toFixed(2)}  ` +
  `${tokens} greedy tokens after "The meaning of life is"`);
const rows = [['model', 'threads', 'dense tok/s', '× 1 thread', 'WAS 0.5 tok/s', '× dense', 'WAS 0.7 tok/s', '× dense']];
for (const f of (args.formats ?? 'F32,Q4_0').split(',')) {
  const model = openModel(new Uint8Array(readFileSync(join(dir, `llama16m-debtext-${f}.gguf`))));
  const ids = model.tokenizer.encode('The meaning of life is');
  const cal = parseCalibration(calibration, model.config);
  const norms = projectionNorms(model);
  let single = 0;
  for (const t of threads) {
    const b = await CpuBackend.create(model, { contextSize: 512, ...nodeCpuOptions(t), wasm });
    const rate = async () => {
      let top = 0;
      for (let run = 0; run < 4; run++) {
        await b.feed(ids.slice(0, -1), 0);
        let tok = await b.feedArgmax(ids.at(-1)!, ids.length - 1);
        const t0 = performance.now();
        for (let i = 0; i < tokens; i++) tok = await b.feedArgmax(tok, ids.length + i);
        if (run > 0) top = Math.max(top, tokens / ((performance.now() - t0) / 1000));
      }
      return top;
    };
    const dense = await rate();
    if (t === threads[0]) single = dense;
    b.setThresholds(buildTau(cal, 'was', 0.5, norms));
    const s5 = await rate();
    b.setThresholds(buildTau(cal, 'was', 0.7, norms));
    const s7 = await rate();
    b.dispose();
    rows.push([f, String(t), dense.toFixed(1), (dense / single).toFixed(2), s5.toFixed(1), (s5 / dense).toFixed(2), s7.toFixed(1), (s7 / dense).toFixed(2)]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
process.exit(0);
