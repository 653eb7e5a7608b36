// Builds the prebuilt was-greedy schedules (schedules/<model-id>.json) from the shipped calibration
// files, and measures each level on the reference: the skipped-weight fraction and the mean NLL over
// the first tokens of the calibration text (chunks of CTX tokens, each starting with BOS).
//   npm run schedules [-- --tokens N]       (models from ../shared or $WAS_EDGE_SHARED)

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { logProb } from '../src/eval.js';
import { openModel } from '../src/model/model.js';
import { loadWeightsF32 } from '../src/model/weights.js';
import { createRunState, forward, type SparseRun } from '../src/reference/llama.js';
import { parseCalibration } from '../src/sparsity/plan.js';
import { modelProjectionNorms, parseSchedule, scheduleFromCalibration, scheduleTau } from '../src/sparsity/schedule.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.WAS_EDGE_SHARED ?? resolve(root, '../shared');
const LEVELS = [0.4, 0.5, 0.6, 0.7, 0.8];
const CTX = 256;
/** model id → GGUF under shared/models. */
const MODELS: Record<string, string> = {
  stories260K: 'stories260K/stories260K.gguf',
  'llama16m-debtext-F32': 'llama16m-debtext/llama16m-debtext-F32.gguf',
};

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '2048' } } });
const budget = Number(values.tokens);

for (const [id, file] of Object.entries(MODELS)) {
  const bytes = readFileSync(resolve(shared, 'models', file));
  const model = openModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const cal = parseCalibration(JSON.parse(readFileSync(resolve(root, 'schedules', `${id}.calib.json`), 'utf8')), model.config);
  if (cal.model.sha256 !== sha256) throw new Error(`${id}: the calibration is for sha256 ${cal.model.sha256}, the model file is ${sha256}`);
  const schedule = scheduleFromCalibration(cal, LEVELS, 'was-greedy', id);
  const weights = loadWeightsF32(model.file, model.config);
  const norms = modelProjectionNorms(model);
  const all = model.tokenizer.encode(readFileSync(resolve(shared, 'data', cal.data.text), 'utf8'), { bos: true });
  const chunks = Math.max(1, Math.floor(Math.min(budget, all.length) / CTX));
  const state = createRunState(model.config, CTX);
  let scored = 0;
  for (const level of schedule.levels) {
    const t0 = performance.now();
    const sparse: SparseRun = { tau: scheduleTau(schedule, level.target, norms), skippedParams: 0, totalParams: 0 };
    let nll = 0;
    scored = 0;
    for (let k = 0; k < chunks; k++) {
      const chunk = all.slice(k * CTX, (k + 1) * CTX);
      chunk[0] = model.tokenizer.bos;
      for (let pos = 0; pos + 1 < chunk.length; pos++) {
        nll -= logProb(forward(model.config, weights, state, chunk[pos]!, pos, { sparse }), chunk[pos + 1]!);
        scored++;
      }
    }
    level.skippedWeightFraction = round(sparse.skippedParams / sparse.totalParams);
    level.calibrationLoss = round(nll / scored);
    level.measured = true;
    console.error(`${id} ${level.target}: skipped ${(100 * level.skippedWeightFraction).toFixed(1)}%, mean NLL ${level.calibrationLoss.toFixed(4)} ` +
      `(${scored} tokens, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  // calibration: the text and token count the measured fields were taken over.
  schedule.calibration = { text: cal.data.text, tokens: scored };
  parseSchedule(schedule, { sha256, config: model.config });
  writeFileSync(resolve(root, 'schedules', `${id}.json`), formatJson(schedule) + '\n');
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** JSON with two-space indents, but arrays of numbers on one line (the tables stay readable). */
function formatJson(v: unknown, indent = ''): string {
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object' || x === null)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
    const inner = indent + '  ';
    return `[\n${v.map((x) => inner + formatJson(x, inner)).join(',\n')}\n${indent}]`;
  }
  if (typeof v === 'object' && v !== null) {
    const inner = indent + '  ';
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatJson(x, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}

