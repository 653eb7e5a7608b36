// `was-edge` command line: generate text, evaluate perplexity, calibrate, search sparsity schedules.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PREFILL_MODES, type Backend, type PrefillMode } from '../backend.js';
import { OptionError, WasEdgeError } from '../errors.js';
import { WebGPUUnavailableError } from '../gpu/errors.js';
import { perplexity, type PerplexityResult } from '../eval.js';
import { generate } from '../generate.js';
import type { Model } from '../model/model.js';
import { loadWeightsF32, type LlamaWeights } from '../model/weights.js';
import { loadModelFile, loadWasmNode } from '../node.js';
import type { SparseRun } from '../reference/llama.js';
import { calibrate, projectionNorms } from '../sparsity/calibrate.js';
import { buildTau, CalibrationError, checkSparsity, parseCalibration, type Calibration, type ProjectionNorms } from '../sparsity/plan.js';
import {
  formatSchedule, parseSchedule, SCHEDULE_METHODS, ScheduleError, scheduleLevel, scheduleTargets, scheduleTau, type Schedule, type ScheduleMethod,
} from '../sparsity/schedule.js';
import { CalibrationObjective, checkSearchOptions, searchSchedules, type ThresholdedBackend } from '../sparsity/search.js';
import { splitCalibrationText, validateLevels } from '../sparsity/validate.js';
import type { GpuContext } from '../gpu/device.js';
import { ReferenceBackend } from '../reference/backend.js';
import { resolveDefaultCalibrationText, resolveDefaultModel } from './default-model.js';
import { schedulePlot } from './schedule-plot.js';

const USAGE = `usage:
  was-edge generate [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed S] [--stop TEXT]... [--ctx N]
                    [--backend webgpu|cpu|reference] [--threads N] [--json]
  was-edge eval --model PATH --text PATH --ctx N [--first-chunk N] [--max-chunks N] [--backend webgpu|cpu|reference]
                [--threads N] [--json]
  was-edge calibrate --model PATH --text PATH [--tokens N] [--ctx N] [--greedy-tokens N] --out FILE
  was-edge schedule [--model PATH] [--calib FILE] [--text PATH] [--tokens N] [--ctx N]
                    [--targets 0.4,0.5,...] [--budget N] [--seed S] [--backend webgpu|cpu|reference]
                    [--threads N] [--validation-tokens N] --out FILE

  generate and eval take [--mode dense|teal|was|was-greedy --sparsity S [--calibration FILE]]
  or [--schedule FILE|NAME --level T [--method was-bo|was-greedy]], and [--prefill sparse|dense|all]
  (default calibration: schedules/<model file name>.calib.json; a schedule NAME is the package's
  schedules/NAME.json, the level its validation chose unless --method says otherwise; prefill
  'sparse' runs the first 1% of prompt positions dense, 'all' none); eval --json then adds mean_kl (vs dense),
  skipped_weight_fraction (counted while running), prefill, and schedule {name, level, method}.

  schedule searches per-block sparsities at each target by constrained Bayesian optimisation,
  minimising the mean KL to dense over the first --tokens tokens (default 2048) of --text (default
  ../shared/data/tinystories_calib.txt) in chunks of --ctx (default 256), --budget evaluations per
  target (default 24, the uniform start included); writes FILE with a was-greedy (uniform) and a
  was-bo level per target, and FILE's .svg plot. --calib defaults to schedules/<model>.calib.json.
  was-bo is a target's default level only if it beats was-greedy on the last --validation-tokens
  tokens of --text (default: as many as --tokens), which the search does not see.

  --model defaults to $WAS_EDGE_MODEL, then ../shared/models/stories260K/stories260K.gguf,
  then a verified download of stories260K. An empty or absent prompt means BOS only.`;

class UsageError extends WasEdgeError {
  constructor(message: string) {
    super('USAGE', `${message}\n${USAGE}`);
  }
}

/** `--top-k -3` → `--top-k=-3`, so that negative numbers reach validation instead of confusing parseArgs. */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (a.startsWith('--') && !a.includes('=') && next !== undefined && /^-\d|^-\.\d|^-Infinity$|^-NaN$/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function intOption(name: string, v: string | undefined, fallback?: number): number | undefined {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new OptionError(`--${name}`, `must be an integer, got "${v}".`);
  return n;
}

function numOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new OptionError(`--${name}`, `must be a number, got "${v}".`);
  return n;
}

/** f32 weights already loaded for a model (sparse runs dequantise once for norms and both forwards). */
const weightsCache = new WeakMap<Model, { weights: LlamaWeights }>();

const SPARSITY_OPTIONS = {
  mode: { type: 'string' }, sparsity: { type: 'string' }, calibration: { type: 'string' }, prefill: { type: 'string' },
  schedule: { type: 'string' }, level: { type: 'string' }, method: { type: 'string' },
} as const;

/** A file of the package's schedules/ folder (dist/cli.js and src/cli/main.ts sit one and two folders below the root). */
function packageSchedulePath(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '..', 'schedules', name), resolve(here, '..', '..', 'schedules', name)];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** Default calibration file of a model: schedules/<GGUF file name without .gguf>.calib.json. */
function defaultCalibrationPath(modelPath: string): string {
  return packageSchedulePath(`${basename(modelPath).replace(/\.gguf$/i, '')}.calib.json`);
}

function readCalibration(path: string, model: Model, modelPath: string): Calibration {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CalibrationError('NO_CALIBRATION',
      `cannot read the calibration file ${path} (${(e as Error).message}); make one with \`was-edge calibrate --model ${modelPath} --text TEXT --out FILE\` and pass --calibration FILE.`);
  }
  return parseCalibration(json, model.config);
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** What a sparse run was given: the thresholds, and the schedule level they came from. */
interface Sparsity {
  run: SparseRun;
  schedule?: { name: string; level: number; method: ScheduleMethod };
}

/** --mode/--sparsity/--calibration or --schedule/--level/--method → the thresholds of a run (null for dense). */
async function sparsityFor(model: Model, modelPath: string,
  v: { mode?: string; sparsity?: string; calibration?: string; schedule?: string; level?: string; method?: string }): Promise<Sparsity | null> {
  if (v.schedule !== undefined) return scheduleSparsity(model, modelPath, v.schedule, v);
  if (v.level !== undefined || v.method !== undefined) throw new UsageError('--level and --method go with --schedule FILE|NAME.');
  const mode = checkSparsity(v.mode ?? 'dense', numOption('sparsity', v.sparsity) ?? (v.mode && v.mode !== 'dense' ? NaN : 0));
  if (mode === 'dense') return null;
  const cal = readCalibration(v.calibration ?? defaultCalibrationPath(modelPath), model, modelPath);
  const norms = await modelNorms(model);
  return { run: { tau: buildTau(cal, mode, numOption('sparsity', v.sparsity)!, norms)!, skippedParams: 0, totalParams: 0 } };
}

/** Column norms of the projections, from f32 weights kept for the run (the reference and eval's dense twin reuse them). */
async function modelNorms(model: Model): Promise<ProjectionNorms> {
  const weights = weightsCache.get(model)?.weights ?? loadWeightsF32(model.file, model.config);
  weightsCache.set(model, { weights });
  return projectionNorms(model, weights, await loadWasmNode('release'));
}

/**
 * --schedule FILE|NAME: an existing path is a file; otherwise a name, the package's
 * schedules/NAME.json. The schedule must be made for this GGUF's bytes (SCHEDULE_MODEL_MISMATCH).
 */
async function scheduleSparsity(model: Model, modelPath: string, ref: string, v: { mode?: string; sparsity?: string; calibration?: string; level?: string; method?: string }): Promise<Sparsity> {
  if (v.mode !== undefined || v.sparsity !== undefined || v.calibration !== undefined) {
    throw new UsageError('--schedule replaces --mode/--sparsity/--calibration; give one or the other.');
  }
  const isName = !existsSync(ref) && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(ref) && !ref.endsWith('.json');
  const path = isName ? packageSchedulePath(`${ref}.json`) : ref;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScheduleError('UNKNOWN_SCHEDULE', isName
      ? `no prebuilt schedule "${ref}" (${path}); the names are the model ids in the package's schedules/, or pass a schedule FILE.`
      : `cannot read the schedule file ${path} (${(e as Error).message}).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ScheduleError('BAD_SCHEDULE', `${path} is not JSON: ${(e as Error).message}.`);
  }
  const schedule = parseSchedule(json, { sha256: sha256Of(modelPath), config: model.config });
  const targets = scheduleTargets(schedule);
  if (v.level === undefined && targets.length !== 1) throw new UsageError(`--schedule needs --level T; the schedule has levels ${targets.join(', ')}.`);
  const level = v.level === undefined ? targets[0]! : numOption('level', v.level)!;
  if (v.method !== undefined && !(SCHEDULE_METHODS as readonly string[]).includes(v.method)) {
    throw new OptionError('--method', `must be one of ${SCHEDULE_METHODS.join(', ')}, got "${v.method}".`);
  }
  const chosen = scheduleLevel(schedule, level, v.method as ScheduleMethod | undefined);
  const tau = scheduleTau(schedule, level, await modelNorms(model), chosen.method);
  return { run: { tau, skippedParams: 0, totalParams: 0 }, schedule: { name: ref, level: chosen.target, method: chosen.method } };
}

function prefillOption(v: string | undefined): PrefillMode {
  if (v === undefined) return 'sparse';
  if (!(PREFILL_MODES as readonly string[]).includes(v)) throw new OptionError('--prefill', `must be one of ${PREFILL_MODES.join(', ')}, got "${v}".`);
  return v as PrefillMode;
}

/**
 * The backend the user asked for; without --backend, WebGPU when an adapter exists, else the CPU
 * (Wasm SIMD, `threads` worker threads, default one per core; with a note on stderr).
 */
async function makeBackend(model: Model, name: string | undefined, ctx: number | undefined, err: (s: string) => void,
  sparse?: SparseRun, prefill: PrefillMode = 'sparse', threads?: number): Promise<Backend> {
  const c = model.config;
  if (ctx !== undefined && (ctx < 1 || ctx > c.contextLength)) {
    throw new OptionError('--ctx', `must be in 1..${c.contextLength} (the model's context length), got ${ctx}.`);
  }
  const size = ctx ?? Math.min(c.contextLength, 4096);
  // Sparse runs already dequantised the weights for their norms; the dense twin of eval reuses them.
  const reference = () => new ReferenceBackend(c, weightsCache.get(model)?.weights ?? loadWeightsF32(model.file, c), size, sparse ? { sparse } : {}, prefill);
  const webgpu = async () => {
    const { acquireDevice } = await import('../gpu/device.js');
    const { WebGPUBackend } = await import('../gpu/engine.js');
    const { nodeGPU } = await import('../gpu/node-gpu.js');
    return WebGPUBackend.create(await acquireDevice({ gpu: await nodeGPU() }), model, { contextSize: size, ...(sparse ? { sparse: { tau: sparse.tau, prefill } } : {}) });
  };
  const cpu = async () => {
    const { CpuBackend } = await import('../cpu/backend.js');
    const { nodeCpuOptions } = await import('../cpu/node.js');
    return CpuBackend.create(model, { contextSize: size, ...nodeCpuOptions(threads), ...(sparse ? { sparse: { tau: sparse.tau, prefill } } : {}) });
  };
  switch (name) {
    case 'reference': return reference();
    case 'webgpu': return webgpu();
    case 'cpu': return cpu();
    case undefined:
      try {
        return await webgpu();
      } catch (e) {
        if (!(e instanceof WebGPUUnavailableError)) throw e;
        err(`was-edge: no WebGPU adapter (${e.message.split(':')[0]}); using the CPU backend\n`);
        return cpu();
      }
    default:
      throw new OptionError('--backend', `unknown backend "${name}"; available: webgpu, cpu, reference.`);
  }
}

/** --threads N: worker threads of the CPU backend (default: one per core). */
const CPU_OPTIONS = { threads: { type: 'string' } } as const;

async function cmdGenerate(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'string' },
      temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' },
      seed: { type: 'string' }, stop: { type: 'string', multiple: true }, ctx: { type: 'string' },
      backend: { type: 'string' }, json: { type: 'boolean' }, ...SPARSITY_OPTIONS, ...CPU_OPTIONS,
    },
    strict: true,
  });
  const options = {
    maxTokens: intOption('max-tokens', v['max-tokens'], 128)!,
    temperature: numOption('temperature', v.temperature),
    topK: intOption('top-k', v['top-k']),
    topP: numOption('top-p', v['top-p']),
    seed: intOption('seed', v.seed),
    stop: v.stop,
  };
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const model = await loadModelFile(modelPath);
  const sparse = (await sparsityFor(model, modelPath, v))?.run;
  const backend = await makeBackend(model, v.backend, intOption('ctx', v.ctx), err, sparse, prefillOption(v.prefill), intOption('threads', v.threads));
  try {
    const prompt = v.prompt ?? '';
    if (v.json) {
      const r = await generate(backend, model.tokenizer, prompt, options);
      out(JSON.stringify({ prompt_ids: r.promptIds, generated_ids: r.generatedIds, text: r.text }) + '\n');
    } else {
      out(prompt);
      const r = await generate(backend, model.tokenizer, prompt, options, out);
      out('\n');
      const fraction = sparse ? await backend.skippedWeightFraction?.() : null;
      const skipped = fraction != null ? `, ${(100 * fraction).toFixed(1)}% of block weights skipped` : '';
      err(`[${r.generatedIds.length} tokens, ${r.tokensPerSecond.toFixed(1)} tok/s, ${backend.name}${skipped}, finish: ${r.finishReason}]\n`);
    }
  } finally {
    backend.dispose();
  }
}

async function cmdEval(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, text: { type: 'string' }, ctx: { type: 'string' },
      'max-chunks': { type: 'string' }, 'first-chunk': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
      ...SPARSITY_OPTIONS, ...CPU_OPTIONS,
    },
    strict: true,
  });
  if (!v.text) throw new UsageError('eval needs --text PATH.');
  if (!v.ctx) throw new UsageError('eval needs --ctx N.');
  const ctx = intOption('ctx', v.ctx)!;
  const text = readFileSync(v.text, 'utf8');
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const model = await loadModelFile(modelPath);
  const sparsity = await sparsityFor(model, modelPath, v);
  const sparse = sparsity?.run;
  const prefill = prefillOption(v.prefill);
  const threads = intOption('threads', v.threads);
  const backend = await makeBackend(model, v.backend, ctx, err, sparse, prefill, threads);
  // mean KL needs the dense distributions of the same chunks (only when a mode or schedule is asked for).
  const sparsityAsked = v.mode !== undefined || v.schedule !== undefined;
  const dense = sparsityAsked ? await makeBackend(model, backend.name, ctx, err, undefined, 'sparse', threads) : undefined;
  try {
    const t0 = performance.now();
    const r: PerplexityResult & { skipped_weight_fraction?: number; prefill?: PrefillMode; schedule?: Sparsity['schedule'] } = await perplexity(backend, model.tokenizer, text, {
      ctx,
      dense: sparse ? dense : undefined,
      maxChunks: intOption('max-chunks', v['max-chunks']),
      firstChunk: intOption('first-chunk', v['first-chunk']),
      onProgress: (done, total) => {
        const s = (performance.now() - t0) / 1000;
        err(`\r[eval] chunk ${done}/${total}  ${(done / total * 100).toFixed(0)}%  ${s.toFixed(1)} s`);
        if (done === total) err('\n');
      },
    });
    if (sparsityAsked) {
      r.mean_kl ??= 0;
      // Counted while running (reference: per matvec; WebGPU: active channels counted by the kernels):
      // block weights whose input channel was skipped, over all block weights of the tokens run.
      r.skipped_weight_fraction = sparse ? (await backend.skippedWeightFraction?.()) ?? 0 : 0;
      if (sparse) r.prefill = prefill;
      if (sparsity?.schedule) r.schedule = sparsity.schedule;
    }
    if (v.json) out(JSON.stringify(r) + '\n');
    else {
      const label = r.schedule ? `; schedule ${r.schedule.name} level ${r.schedule.level} (${r.schedule.method})` : '';
      const extra = sparsityAsked ? `; mean KL ${r.mean_kl!.toFixed(5)}, skipped ${(100 * r.skipped_weight_fraction!).toFixed(1)}% of block weights${label}` : '';
      out(`perplexity ${r.ppl.toFixed(4)} (nll ${r.nll.toFixed(6)}, ${r.tokens_scored} tokens scored in ${r.chunks} chunks of ${ctx}${extra})\n`);
    }
  } finally {
    backend.dispose();
    dense?.dispose();
  }
}

async function cmdCalibrate(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      model: { type: 'string' }, text: { type: 'string' }, tokens: { type: 'string' }, ctx: { type: 'string' },
      'greedy-tokens': { type: 'string' }, out: { type: 'string' },
    },
    strict: true,
  });
  if (!v.text) throw new UsageError('calibrate needs --text PATH.');
  if (!v.out) throw new UsageError('calibrate needs --out FILE.');
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const bytes = readFileSync(modelPath);
  const model = await loadModelFile(modelPath);
  const weights = loadWeightsF32(model.file, model.config);
  const t0 = performance.now();
  const cal = await calibrate(model, weights, readFileSync(v.text, 'utf8'), await loadWasmNode('release'), {
    textName: basename(v.text),
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    tokens: intOption('tokens', v.tokens),
    ctx: intOption('ctx', v.ctx),
    greedyTokens: intOption('greedy-tokens', v['greedy-tokens']),
    onProgress: (phase, done, total) => {
      err(`\r[calibrate] ${phase} ${done}/${total}  ${((performance.now() - t0) / 1000).toFixed(1)} s   `);
      if (phase === 'greedy' && done === total) err('\n');
    },
  });
  writeFileSync(v.out, JSON.stringify(cal) + '\n');
  out(`wrote ${v.out}: thresholds for ${cal.model.nLayers} layers × 7 projections over ${cal.data.tokens} tokens, greedy tables of ${cal.greedy[0]!.length} rows\n`);
}

/**
 * The backend a schedule search measures with, its thresholds replaceable between evaluations.
 * Without --backend: WebGPU on a hardware adapter; on none, or on a software one (isFallbackAdapter,
 * e.g. Mesa lavapipe), the CPU backend, which runs these small models faster than a CPU Vulkan
 * driver that waits for every token's logits (BENCHMARKS.md, schedule search).
 */
async function thresholdedBackend(model: Model, name: string | undefined, ctx: number, err: (s: string) => void, threads?: number): Promise<ThresholdedBackend> {
  const c = model.config;
  const cpu = async (): Promise<ThresholdedBackend> => {
    const { CpuBackend } = await import('../cpu/backend.js');
    const { nodeCpuOptions } = await import('../cpu/node.js');
    const backend = await CpuBackend.create(model, { contextSize: ctx, ...nodeCpuOptions(threads) });
    return { backend, setTau: (tau) => backend.setThresholds(tau.length ? tau : null, 'sparse') };
  };
  const reference = (): ThresholdedBackend => {
    const run: SparseRun = { tau: [], skippedParams: 0, totalParams: 0 };
    const weights = weightsCache.get(model)?.weights ?? loadWeightsF32(model.file, c);
    return { backend: new ReferenceBackend(c, weights, ctx, { sparse: run }, 'sparse'), setTau: (tau) => { run.tau = tau; } };
  };
  const webgpu = async (gpu?: GpuContext): Promise<ThresholdedBackend> => {
    const { WebGPUBackend } = await import('../gpu/engine.js');
    const backend = await WebGPUBackend.create(gpu ?? await nodeDevice(), model, { contextSize: ctx, sparse: { tau: [], prefill: 'sparse' } });
    return { backend, setTau: (tau) => backend.setThresholds(tau) };
  };
  switch (name) {
    case 'reference': return reference();
    case 'webgpu': return webgpu();
    case 'cpu': return cpu();
    case undefined: {
      let gpu: GpuContext;
      try {
        gpu = await nodeDevice();
      } catch (e) {
        if (!(e instanceof WebGPUUnavailableError)) throw e;
        err(`was-edge: no WebGPU adapter (${e.message.split(':')[0]}); using the CPU backend\n`);
        return cpu();
      }
      if (!gpu.adapterInfo.isFallbackAdapter) return webgpu(gpu);
      gpu.device.destroy();
      err(`was-edge: the WebGPU adapter is a software one (${gpu.adapterInfo.description || gpu.adapterInfo.vendor}); using the CPU backend (--backend webgpu to insist)\n`);
      return cpu();
    }
    default:
      throw new OptionError('--backend', `unknown backend "${name}"; available: webgpu, cpu, reference.`);
  }
}

async function nodeDevice(): Promise<GpuContext> {
  const { acquireDevice } = await import('../gpu/device.js');
  const { nodeGPU } = await import('../gpu/node-gpu.js');
  return acquireDevice({ gpu: await nodeGPU() });
}

async function cmdSchedule(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, calib: { type: 'string' }, text: { type: 'string' }, tokens: { type: 'string' }, ctx: { type: 'string' },
      targets: { type: 'string' }, budget: { type: 'string' }, seed: { type: 'string' }, backend: { type: 'string' }, threads: { type: 'string' },
      out: { type: 'string' }, 'validation-tokens': { type: 'string' },
    },
    strict: true,
  });
  if (!v.out) throw new UsageError('schedule needs --out FILE.');
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
  const cal = readCalibration(v.calib ?? defaultCalibrationPath(modelPath), model, modelPath);
  if (cal.model.sha256 !== sha256) {
    throw new CalibrationError('CALIBRATION_MODEL_MISMATCH',
      `the calibration was made for the GGUF with sha256 ${cal.model.sha256.slice(0, 12)}…, not ${modelPath} (${sha256.slice(0, 12)}…); ` +
      `make one with \`was-edge calibrate --model ${modelPath} --text TEXT --out FILE\` and pass --calib FILE.`);
  }
  const textPath = v.text ?? resolveDefaultCalibrationText();
  const all = model.tokenizer.encode(readFileSync(textPath, 'utf8'), { bos: true });
  const nChunks = Math.ceil(tokens / ctx);
  if (tokens < 1 || nChunks * ctx > all.length) {
    throw new OptionError('--tokens', `must be in 1..${Math.floor(all.length / ctx) * ctx}: ${textPath} has ${all.length} tokens, in chunks of ${ctx}.`);
  }
  // Search chunks from the start, validation chunks from the end, disjoint (src/sparsity/validate.ts).
  const split = splitCalibrationText(all, model.tokenizer.bos, ctx, tokens, intOption('validation-tokens', v['validation-tokens'], tokens)!,
    cal.data.text === basename(textPath) ? cal.data.tokens : 0);
  const chunks = split.search;
  const wasm = await loadWasmNode('release');
  const norms = await modelNorms(model);
  const run = await thresholdedBackend(model, v.backend, ctx, err, intOption('threads', v.threads));
  try {
    const t0 = performance.now();
    const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
    err(`[schedule] dense pass over ${nChunks} chunks of ${ctx} on ${run.backend.name} …`);
    const objective = await CalibrationObjective.create(run, chunks);
    err(`\r[schedule] dense pass: ${objective.tokens} predictions, mean NLL ${objective.denseNll.toFixed(4)}, ${seconds()} s\n`);
    const total = targets.length * budget;
    const levels = await searchSchedules(cal, norms, objective, wasm, {
      targets, budget, seed,
      onProgress: (p) => {
        const done = p.index * budget + p.evaluation;
        const bar = '#'.repeat(Math.round((24 * done) / total)).padEnd(24, '.');
        err(`\r[schedule] [${bar}] ${done}/${total}  target ${p.target} eval ${p.evaluation}/${p.budget}  ` +
          `KL uniform ${p.uniform.toFixed(4)} best ${p.best.toFixed(4)}  ${seconds()} s   `);
        if (done === total) err('\n');
      },
    });
    err(`[schedule] validation: dense pass and ${2 * targets.length} runs over ${split.validation.length} held-out chunks …`);
    const validation = await validateLevels(levels, norms, run, split.validation, { text: basename(textPath), firstToken: split.validationFirstToken });
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
    run.backend.dispose();
  }
}

/** Runs the CLI; returns the process exit code (0 ok, 1 runtime error, 2 bad usage or input). */
export async function main(argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'generate': await cmdGenerate(rest, out, err); return 0;
      case 'eval': await cmdEval(rest, out, err); return 0;
      case 'calibrate': await cmdCalibrate(rest, out, err); return 0;
      case 'schedule': await cmdSchedule(rest, out, err); return 0;
      case undefined: case '-h': case '--help': case 'help': out(USAGE + '\n'); return cmd ? 0 : 2;
      default: throw new UsageError(`unknown command "${cmd}".`);
    }
  } catch (e) {
    if (e instanceof WasEdgeError) {
      err(`was-edge: ${e.name} [${e.code}]: ${e.message}\n`);
      return 2;
    }
    // parseArgs reports unknown or malformed flags with these codes.
    const code = (e as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      err(`was-edge: ${(e as Error).message}\n${USAGE}\n`);
      return 2;
    }
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      err(`was-edge: ${(e as Error).message}\n`);
      return 2;
    }
    err(`was-edge: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
