// Re-runs only the greedy phase of `was-edge calibrate` on an existing calibration file, so that a
// change of the greedy search is measured on the same threshold tables without re-recording 16k
// tokens: calibrate() gets a WasModule whose histograms answer quantiles from the file's tables
// (and ignore what is recorded into them); column norms are computed for real. --greedy-step S
// sets CalibrateOptions.greedyStep (block sparsity per step; TEAL's step is 0.025/Σw, where Σw is
// the block's parameters over q's: 0.025/11 on llama16m, about 11× the greedy time of 0.025).
//
// Build and run (after npm run build; the bundle sits two folders below the root, where it finds build/was.wasm):
//   npx esbuild bench/reference-impl/regreedy.ts --bundle --platform=node --format=esm \
//     --target=node20 --packages=external --outfile=dist/refimpl/regreedy.mjs
//   node dist/refimpl/regreedy.mjs --model M.gguf --text CALIB.txt --calibration IN.json [--greedy-step S] --out OUT.json
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { calibrate } from '../../src/sparsity/calibrate.js';
import { parseCalibration } from '../../src/sparsity/plan.js';
import type { WasHistogram } from '../../src/wasm/exports.js';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';

const { values: v } = parseArgs({ options: {
  model: { type: 'string' }, text: { type: 'string' }, calibration: { type: 'string' }, out: { type: 'string' },
  'greedy-step': { type: 'string' },
} });
if (!v.model || !v.text || !v.calibration || !v.out) throw new Error('needs --model, --text, --calibration and --out');
const buf = readFileSync(v.model);
const model = openModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
const w = loadWeightsF32(model.file, model.config);
const old = parseCalibration(JSON.parse(readFileSync(v.calibration, 'utf8')), model.config);
const wasm = await loadWasmNode('release');
const G = old.grid.length - 1;
// calibrate() makes the WAS histograms first (layer by layer, 7 each), then TEAL's (4 each).
const rows = [...old.was.flat(), ...old.teal.flat()];
let made = 0;
const tables = {
  columnL1Norms: (W: Float32Array, r: number, c: number) => wasm.columnL1Norms(W, r, c),
  createHistogram: (): WasHistogram => ({ ptr: made++, nbins: 1, lo: 0, hi: 1 }),
  accumulate: () => {},
  quantile: (h: WasHistogram, q: number) => rows[h.ptr]![Math.round(q * G)] ?? Infinity,
} as unknown as WasModule;
const t0 = performance.now();
const cal = await calibrate(model, w, readFileSync(v.text, 'utf8'), tables, {
  textName: old.data.text, modelSha256: old.model.sha256, tokens: old.data.ctx, ctx: old.data.ctx,
  greedyTokens: old.data.greedyTokens, grid: G,
  ...(v['greedy-step'] ? { greedyStep: Number(v['greedy-step']) } : {}),
  onProgress: (phase, done, total) => process.stderr.write(`\r[regreedy] ${phase} ${done}/${total}  ${((performance.now() - t0) / 1000).toFixed(0)} s  `),
});
if (JSON.stringify(cal.was) !== JSON.stringify(old.was) || JSON.stringify(cal.teal) !== JSON.stringify(old.teal)) throw new Error('tables changed');
cal.data.tokens = old.data.tokens; // the tables are the old file's, recorded over that many tokens
writeFileSync(v.out, JSON.stringify(cal) + '\n');
process.stderr.write(`\nwrote ${v.out}: greedy tables of ${cal.greedy[0]!.length} rows\n`);
