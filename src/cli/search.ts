// `was-edge calibrate` (score histograms and greedy splits over calibration text) and `was-edge
// schedule` (the constrained BO search over per-block levels, measured on the backend every command uses).

import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { CalibrationError, OptionError } from '../errors.js';
import type { Model } from '../model/model.js';
import { projectionNorms } from '../model/projections.js';
import { loadWeightsF32 } from '../model/weights.js';
import { loadModelFile, loadWasmNode } from '../node.js';
import { calibrate } from '../sparsity/calibrate.js';
import type { Calibration } from '../sparsity/plan.js';
import { formatSchedule, parseSchedule, scheduleLevel, type Schedule } from '../sparsity/schedule.js';
import { CalibrationObjective, checkSearchOptions, searchSchedules } from '../sparsity/search.js';
import { splitCalibrationText, validateLevels } from '../sparsity/validate.js';
import { checkOutPath, cliBackend, intOption, joinNegativeValues, numOption, readBytes, readText, sha256Of, usage } from './args.js';
import { progress } from './progress.js';
import { resolveDefaultCalibrationText, resolveDefaultModel } from './default-model.js';
import { schedulePlot } from './schedule-plot.js';
import { defaultCalibrationPath, readCalibration } from './sparsity.js';

export async function cmdCalibrate(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, text: { type: 'string' }, tokens: { type: 'string' }, ctx: { type: 'string' },
      'greedy-tokens': { type: 'string' }, out: { type: 'string' },
    },
    strict: true,
  });
  if (!v.text) throw usage('calibrate needs --text PATH.', 'calibrate');
  if (!v.out) throw usage('calibrate needs --out FILE.', 'calibrate');
  checkOutPath('--out', v.out);
  const tokens = intOption('tokens', v.tokens);
  if (tokens !== undefined && tokens < 1) throw new OptionError('--tokens', `must be at least 1, got ${tokens}.`);
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const bytes = readBytes(modelPath);
  const model = await loadModelFile(modelPath);
  const weights = loadWeightsF32(model.file, model.config);
  const t0 = performance.now();
  const bar = progress(err);
  const cal = await calibrate(model, weights, readText(v.text), await loadWasmNode('release'), {
    textName: basename(v.text),
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    tokens,
    ctx: intOption('ctx', v.ctx),
    greedyTokens: intOption('greedy-tokens', v['greedy-tokens']),
    onProgress: (phase, done, total) => {
      // Two phases (histograms, then greedy splits): each half of the bar.
      bar.update(`[calibrate] ${phase} ${done}/${total}  ${((performance.now() - t0) / 1000).toFixed(1)} s   `,
        (phase === 'greedy' ? 0.5 : 0) + done / total / 2);
    },
  });
  writeFileSync(v.out, JSON.stringify(cal) + '\n');
  out(`wrote ${v.out}: thresholds for ${cal.model.nLayers} layers × 7 projections over ${cal.data.tokens} tokens, greedy tables of ${cal.greedy[0]!.length} rows\n`);
}

/** The calibration file of `--calib` (default: the package's for this model), made for these bytes. */
function searchCalibration(model: Model, modelPath: string, sha256: string, calib: string | undefined): Calibration {
  const cal = readCalibration(calib ?? defaultCalibrationPath(modelPath), model, modelPath);
  if (cal.model.sha256 !== sha256) {
    throw new CalibrationError('CALIBRATION_MODEL_MISMATCH',
      `the calibration was made for the GGUF with sha256 ${cal.model.sha256.slice(0, 12)}…, not ${modelPath} (${sha256.slice(0, 12)}…); ` +
      `make one with \`was-edge calibrate --model ${modelPath} --text TEXT --out FILE\` and pass --calib FILE.`);
  }
  return cal;
}

export async function cmdSchedule(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, calib: { type: 'string' }, text: { type: 'string' }, tokens: { type: 'string' }, ctx: { type: 'string' },
      targets: { type: 'string' }, budget: { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' },
      out: { type: 'string' }, 'validation-tokens': { type: 'string' },
    },
    strict: true,
  });
  if (!v.out) throw usage('schedule needs --out FILE.', 'schedule');
  checkOutPath('--out', v.out);
  const targets = (v.targets ?? '0.4,0.5,0.6,0.7,0.8').split(',').map((t) => numOption('targets', t)!);
  if (new Set(targets).size !== targets.length) throw new OptionError('--targets', `lists a target twice: ${v.targets}.`);
  const budget = intOption('budget', v.budget, 24)!;
  const seed = intOption('seed', v.seed, 1)!;
  const tokens = intOption('tokens', v.tokens, 2048)!;
  checkSearchOptions({ targets, budget, seed });
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const sha256 = sha256Of(modelPath);
  const model = await loadModelFile(modelPath);
  const c = model.config;
  const ctx = intOption('ctx', v.ctx, Math.min(256, c.contextLength))!;
  if (ctx < 4 || ctx > c.contextLength) throw new OptionError('--ctx', `must be in 4..${c.contextLength} (the model's context length), got ${ctx}.`);
  const cal = searchCalibration(model, modelPath, sha256, v.calib);
  const textPath = v.text ?? resolveDefaultCalibrationText();
  // Search chunks from the start, validation chunks from the end, disjoint (src/sparsity/validate.ts).
  const all = model.tokenizer.encode(readText(textPath), { bos: true });
  const split = splitCalibrationText(all, model.tokenizer.bos, ctx, tokens, intOption('validation-tokens', v['validation-tokens'], tokens)!,
    cal.data.text === basename(textPath) ? cal.data.tokens : 0);
  const chunks = split.search;
  const wasm = await loadWasmNode('release');
  const norms = projectionNorms(model);
  const backend = await cliBackend(model, v, ctx, (note) => err(`was-edge: ${note}\n`));
  try {
    const t0 = performance.now();
    const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
    err(`[schedule] dense pass over ${chunks.length} chunks of ${ctx} on ${backend.name} …\n`);
    const objective = await CalibrationObjective.create(backend, chunks);
    err(`[schedule] dense pass: ${objective.tokens} predictions, mean NLL ${objective.denseNll.toFixed(4)}, ${seconds()} s\n`);
    const total = targets.length * budget;
    const line = progress(err);
    const levels = await searchSchedules(cal, norms, objective, wasm, {
      targets, budget, seed,
      onProgress: (p) => {
        const done = p.index * budget + p.evaluation;
        const bar = '#'.repeat(Math.round((24 * done) / total)).padEnd(24, '.');
        line.update(`[schedule] [${bar}] ${done}/${total}  target ${p.target} eval ${p.evaluation}/${p.budget}  ` +
          `KL uniform ${p.uniform.toFixed(4)} best ${p.best.toFixed(4)}  ${seconds()} s   `, done / total);
      },
    });
    err(`[schedule] validation: dense pass and ${2 * targets.length} runs over ${split.validation.length} held-out chunks …`);
    const validation = await validateLevels(levels, norms, backend, split.validation, { text: basename(textPath), firstToken: split.validationFirstToken });
    err(`\r[schedule] validation: ${validation.tokens} predictions, ${seconds()} s\n`);
    const schedule: Schedule = {
      version: 1,
      kind: 'was-edge-schedule',
      model: { name: cal.model.name, id: basename(modelPath).replace(/\.gguf$/i, ''), sha256, nLayers: c.nLayers, dim: c.dim, hiddenDim: c.hiddenDim, kvDim: c.nKVHeads * c.headDim },
      params: cal.params.slice(),
      calibration: { text: basename(textPath), tokens: objective.tokens },
      levels,
      validation,
    };
    parseSchedule(schedule, { sha256, config: c });
    const svg = `${v.out.replace(/\.json$/i, '')}.svg`;
    writeFileSync(v.out, formatSchedule(schedule));
    writeFileSync(svg, schedulePlot(schedule));
    for (const target of targets) {
      const u = scheduleLevel(schedule, target, 'was-greedy');
      const b = scheduleLevel(schedule, target, 'was-bo');
      out(`${target}: mean KL ${u.calibrationLoss!.toFixed(4)} uniform → ${b.calibrationLoss!.toFixed(4)} was-bo ` +
        `(skipped ${(100 * u.skippedWeightFraction).toFixed(1)}% → ${(100 * b.skippedWeightFraction).toFixed(1)}%), blocks ${b.blocks.map((x) => x.toFixed(2)).join(' ')}\n`);
      const g = validation.targets.find((x) => x.target === target)!;
      out(`  held out: mean KL ${g.wasGreedy.loss.toFixed(4)} uniform, ${g.wasBo.loss.toFixed(4)} was-bo (gain ${(100 * g.gain).toFixed(1)}%) → default ${g.default}\n`);
    }
    out(`wrote ${v.out} and ${svg}: ${targets.length} targets × ${budget} evaluations over ${objective.tokens} calibration tokens in ${seconds()} s\n`);
  } finally {
    backend.dispose();
  }
}
