// `was-edge calibrate` (score histograms and greedy splits over calibration text) and `was-edge
// schedule` (the constrained BO search over per-block levels, measured on the backend every command uses).

import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { Model } from '../model/model.js';
import { projectionNorms } from '../model/projections.js';
import { loadWeightsF32 } from '../model/weights.js';
import { loadModelFile, loadWasmNode } from '../node.js';
import { calibrate, checkCalibrateOptions } from '../sparsity/calibrate.js';
import { checkCalibrationModel, makeSchedule, planScheduleSearch, splitScheduleText } from '../sparsity/make-schedule.js';
import type { Calibration } from '../sparsity/plan.js';
import { formatSchedule, scheduleLevel } from '../sparsity/schedule.js';
import { checkOutPath, cliBackend, intOption, joinNegativeValues, numOption, readText, sha256Of, usage } from './args.js';
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
  const ctx = intOption('ctx', v.ctx);
  const greedyTokens = intOption('greedy-tokens', v['greedy-tokens']);
  checkCalibrateOptions({ tokens, ctx, greedyTokens }, flag);
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const model = await loadModelFile(modelPath);
  const weights = loadWeightsF32(model.file, model.config);
  const t0 = performance.now();
  const bar = progress(err);
  const cal = await calibrate(model, weights, readText(v.text), await loadWasmNode('release'), {
    textName: basename(v.text),
    modelSha256: await sha256Of(modelPath),
    tokens,
    ctx,
    greedyTokens,
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
  checkCalibrationModel(cal, sha256, modelPath,
    `make one with \`was-edge calibrate --model ${modelPath} --text TEXT --out FILE\` and pass --calib FILE.`);
  return cal;
}

/** `validationTokens` → `--validation-tokens`. */
const flag = (option: string) => `--${option.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}`;

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
  const options = {
    targets: v.targets?.split(',').map((t) => numOption('targets', t)!),
    budget: intOption('budget', v.budget), seed: intOption('seed', v.seed), tokens: intOption('tokens', v.tokens),
    validationTokens: intOption('validation-tokens', v['validation-tokens']), ctx: intOption('ctx', v.ctx),
  };
  // The options that need no model first (the context limit is the model's: checked again below).
  planScheduleSearch({ ...options, ctx: undefined }, Number.MAX_SAFE_INTEGER, '', flag);
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const sha256 = await sha256Of(modelPath);
  const model = await loadModelFile(modelPath);
  const c = model.config;
  const plan = planScheduleSearch(options, c.contextLength, "the model's context length", flag);
  const cal = searchCalibration(model, modelPath, sha256, v.calib);
  const textPath = v.text ?? resolveDefaultCalibrationText();
  const textName = basename(textPath);
  const split = splitScheduleText(model, cal, readText(textPath), textName, plan, flag);
  const wasm = await loadWasmNode('release');
  const norms = projectionNorms(model);
  const backend = await cliBackend(model, v, plan.ctx, (note) => err(`was-edge: ${note}\n`));
  try {
    const t0 = performance.now();
    const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
    const line = progress(err);
    const schedule = await makeSchedule({
      model, sha256, id: basename(modelPath).replace(/\.gguf$/i, ''), backend, calibration: cal, split, textName, wasm, norms,
    }, plan, {
      onProgress: (p) => {
        if (p.phase === 'dense' && p.done === 0) err(`[schedule] dense pass over ${p.chunks} chunks of ${p.ctx} on ${backend.name} …\n`);
        else if (p.phase === 'dense') err(`[schedule] dense pass: ${p.tokens} predictions, mean NLL ${p.denseNll!.toFixed(4)}, ${seconds()} s\n`);
        else if (p.phase === 'search') {
          const bar = '#'.repeat(Math.round((24 * p.done) / p.total)).padEnd(24, '.');
          line.update(`[schedule] [${bar}] ${p.done}/${p.total}  target ${p.target} eval ${p.evaluation}/${p.budget}  ` +
            `KL uniform ${p.uniform.toFixed(4)} best ${p.best.toFixed(4)}  ${seconds()} s   `, p.done / p.total);
        } else if (p.done === 0) {
          err(`[schedule] validation: dense pass and ${2 * p.total} runs over ${p.chunks} held-out chunks …`);
        }
      },
    });
    err(`\r[schedule] validation: ${schedule.validation!.tokens} predictions, ${seconds()} s\n`);
    const { targets, budget } = plan;
    const validation = schedule.validation!;
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
    out(`wrote ${v.out} and ${svg}: ${targets.length} targets × ${budget} evaluations over ${schedule.calibration.tokens} calibration tokens in ${seconds()} s\n`);
  } finally {
    backend.dispose();
  }
}
