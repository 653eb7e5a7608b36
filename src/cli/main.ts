// `was-edge` command line: generate text, evaluate perplexity.

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
import { buildTau, CalibrationError, checkSparsity, parseCalibration } from '../sparsity/plan.js';
import { ReferenceBackend } from '../reference/backend.js';
import { resolveDefaultModel } from './default-model.js';

const USAGE = `usage:
  was-edge generate [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed S] [--stop TEXT]... [--ctx N]
                    [--backend webgpu|reference] [--json]
  was-edge eval --model PATH --text PATH --ctx N [--max-chunks N] [--backend webgpu|reference] [--json]
  was-edge calibrate --model PATH --text PATH [--tokens N] [--ctx N] [--greedy-tokens N] --out FILE

  generate and eval take [--mode dense|teal|was|was-greedy --sparsity S [--calibration FILE]]
  [--prefill sparse|dense|all] (default calibration: schedules/<model file name>.calib.json;
  prefill 'sparse' runs the first 1% of prompt positions dense, 'all' none); eval --json then adds
  mean_kl (vs dense), skipped_weight_fraction (counted while running) and prefill.

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
} as const;

/** Default calibration file of a model: schedules/<GGUF file name without .gguf>.calib.json. */
function defaultCalibrationPath(modelPath: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const name = `${basename(modelPath).replace(/\.gguf$/i, '')}.calib.json`;
  // dist/cli.js and src/cli/main.ts sit one and two folders below the package root.
  const candidates = [resolve(here, '..', 'schedules', name), resolve(here, '..', '..', 'schedules', name)];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** --mode/--sparsity/--calibration → the thresholds of a run (null for dense). */
async function sparsityFor(model: Model, modelPath: string, v: { mode?: string; sparsity?: string; calibration?: string }): Promise<SparseRun | null> {
  const mode = checkSparsity(v.mode ?? 'dense', numOption('sparsity', v.sparsity) ?? (v.mode && v.mode !== 'dense' ? NaN : 0));
  if (mode === 'dense') return null;
  const path = v.calibration ?? defaultCalibrationPath(modelPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CalibrationError('NO_CALIBRATION',
      `cannot read the calibration file ${path} (${(e as Error).message}); make one with \`was-edge calibrate --model ${modelPath} --text TEXT --out FILE\` and pass --calibration FILE.`);
  }
  const cal = parseCalibration(json, model.config);
  const weights = loadWeightsF32(model.file, model.config);
  weightsCache.set(model, { weights });
  const norms = projectionNorms(model, weights, await loadWasmNode('release'));
  return { tau: buildTau(cal, mode, numOption('sparsity', v.sparsity)!, norms)!, skippedParams: 0, totalParams: 0 };
}

function prefillOption(v: string | undefined): PrefillMode {
  if (v === undefined) return 'sparse';
  if (!(PREFILL_MODES as readonly string[]).includes(v)) throw new OptionError('--prefill', `must be one of ${PREFILL_MODES.join(', ')}, got "${v}".`);
  return v as PrefillMode;
}

/**
 * The backend the user asked for; without --backend, WebGPU when an adapter exists, else the
 * reference (with a note on stderr).
 */
async function makeBackend(model: Model, name: string | undefined, ctx: number | undefined, err: (s: string) => void,
  sparse?: SparseRun, prefill: PrefillMode = 'sparse'): Promise<Backend> {
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
  switch (name) {
    case 'reference': return reference();
    case 'webgpu': return webgpu();
    case undefined:
      try {
        return await webgpu();
      } catch (e) {
        if (!(e instanceof WebGPUUnavailableError)) throw e;
        err(`was-edge: no WebGPU adapter (${e.message.split(':')[0]}); using the reference backend\n`);
        return reference();
      }
    default:
      throw new OptionError('--backend', `unknown backend "${name}"; available: webgpu, reference.`);
  }
}

async function cmdGenerate(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'string' },
      temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' },
      seed: { type: 'string' }, stop: { type: 'string', multiple: true }, ctx: { type: 'string' },
      backend: { type: 'string' }, json: { type: 'boolean' }, ...SPARSITY_OPTIONS,
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
  const sparse = await sparsityFor(model, modelPath, v);
  const backend = await makeBackend(model, v.backend, intOption('ctx', v.ctx), err, sparse ?? undefined, prefillOption(v.prefill));
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
      'max-chunks': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, ...SPARSITY_OPTIONS,
    },
    strict: true,
  });
  if (!v.text) throw new UsageError('eval needs --text PATH.');
  if (!v.ctx) throw new UsageError('eval needs --ctx N.');
  const ctx = intOption('ctx', v.ctx)!;
  const text = readFileSync(v.text, 'utf8');
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const model = await loadModelFile(modelPath);
  const sparse = await sparsityFor(model, modelPath, v);
  const prefill = prefillOption(v.prefill);
  const backend = await makeBackend(model, v.backend, ctx, err, sparse ?? undefined, prefill);
  // mean KL needs the dense distributions of the same chunks (only when a mode is asked for).
  const dense = v.mode ? await makeBackend(model, backend.name, ctx, err) : undefined;
  try {
    const t0 = performance.now();
    const r: PerplexityResult & { skipped_weight_fraction?: number; prefill?: PrefillMode } = await perplexity(backend, model.tokenizer, text, {
      ctx,
      dense: sparse ? dense : undefined,
      maxChunks: intOption('max-chunks', v['max-chunks']),
      onProgress: (done, total) => {
        const s = (performance.now() - t0) / 1000;
        err(`\r[eval] chunk ${done}/${total}  ${(done / total * 100).toFixed(0)}%  ${s.toFixed(1)} s`);
        if (done === total) err('\n');
      },
    });
    if (v.mode) {
      r.mean_kl ??= 0;
      // Counted while running (reference: per matvec; WebGPU: active channels counted by the kernels):
      // block weights whose input channel was skipped, over all block weights of the tokens run.
      r.skipped_weight_fraction = sparse ? (await backend.skippedWeightFraction?.()) ?? 0 : 0;
      if (sparse) r.prefill = prefill;
    }
    if (v.json) out(JSON.stringify(r) + '\n');
    else {
      const extra = v.mode ? `; mean KL ${r.mean_kl!.toFixed(5)}, skipped ${(100 * r.skipped_weight_fraction!).toFixed(1)}% of block weights` : '';
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
