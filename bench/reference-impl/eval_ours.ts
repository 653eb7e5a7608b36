// `was-edge eval` for many mode × level runs in one process, without the dense twin the CLI runs for
// mean KL (half the time; on this shared 2-core machine the CLI runs took 5 minutes each). Same
// library calls as src/cli/main.ts: buildTau over projectionNorms, CpuBackend with { tau, prefill },
// perplexity() with llama.cpp's chunking, skippedWeightFraction(). One JSON line per run, as
// run_ours.sh writes them.
//
// Build and run (after npm run build; the bundle sits two folders below the root, where it finds build/):
//   npx esbuild bench/reference-impl/eval_ours.ts --bundle --platform=node --format=esm \
//     --target=node20 --packages=external --outfile=dist/refimpl/eval_ours.mjs
//   node dist/refimpl/eval_ours.mjs --model M.gguf --calibration C.json --text NAME=PATH \
//     --runs "was:0.6 teal:0.6" [--ctx 256] [--max-chunks 20] >> ours_eval.jsonl
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../../src/cpu/backend.js';
import { nodeCpuOptions } from '../../src/cpu/node.js';
import { perplexity } from '../../src/eval.js';
import { openModel } from '../../src/model/model.js';
import { projectionNorms } from '../../src/model/projections.js';
import { buildTau, checkSparsity, parseCalibration } from '../../src/sparsity/plan.js';

const { values: v } = parseArgs({ options: {
  model: { type: 'string' }, calibration: { type: 'string' }, text: { type: 'string' }, runs: { type: 'string' },
  ctx: { type: 'string', default: '256' }, 'max-chunks': { type: 'string', default: '20' },
} });
if (!v.model || !v.calibration || !v.text || !v.runs) throw new Error('needs --model, --calibration, --text NAME=PATH and --runs');
const [name, path] = v.text.split('=') as [string, string];
const buf = readFileSync(v.model);
const model = openModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
const cal = parseCalibration(JSON.parse(readFileSync(v.calibration, 'utf8')), model.config);
const norms = projectionNorms(model);
const text = readFileSync(path, 'utf8');
const ctx = Number(v.ctx);
for (const run of v.runs.split(/\s+/).filter(Boolean)) {
  const [m, s] = run.split(':') as [string, string];
  const mode = checkSparsity(m, Number(s));
  const tau = buildTau(cal, mode, Number(s), norms);
  const backend = await CpuBackend.create(model, { contextSize: ctx, ...nodeCpuOptions(1), ...(tau ? { thresholds: tau, prefill: 'sparse' as const } : {}) });
  const r = await perplexity(backend, model.tokenizer, text, { ctx, maxChunks: Number(v['max-chunks']) });
  const result = { ...r, skipped_weight_fraction: tau ? (await backend.skippedWeightFraction?.()) ?? 0 : 0, prefill: 'sparse' };
  backend.dispose();
  console.log(JSON.stringify({ text: name, mode, level: Number(s), calibration: v.calibration.split('/').pop(), runner: 'eval_ours.ts', result }));
}
