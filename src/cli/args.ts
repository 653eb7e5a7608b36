// Argument helpers shared by the CLI's commands: numbers, the backend every command builds the same
// way (createBackend, as the SDK does), and the usage text.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PREFILL_MODES, type Backend, type PrefillMode } from '../backend.js';
import { createBackend, type BackendChoice } from '../create-backend.js';
import { OptionError, UsageError } from '../errors.js';
import type { Model } from '../model/model.js';
import type { LlamaWeights } from '../model/weights.js';

export const USAGE = `usage:
  was-edge generate [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--min-p P] [--seed S] [--stop TEXT]... [--ctx N]
                    [--repeat-penalty R] [--repeat-last-n N] [--presence-penalty P] [--frequency-penalty F]
                    [--backend webgpu|cpu|reference] [--threads N] [--json]
  was-edge chat [--model PATH] (--messages-file F.json | a terminal) [--template chatml|llama2|llama3|TEXT]
                [--max-tokens N] [--temperature T] [--seed S] [--repeat-penalty R] [--ctx N]
                [--backend webgpu|cpu|reference] [--threads N] [--json]
  was-edge eval --model PATH --text PATH --ctx N [--first-chunk N] [--max-chunks N] [--backend webgpu|cpu|reference]
                [--threads N] [--json]
  was-edge calibrate --model PATH --text PATH [--tokens N] [--ctx N] [--greedy-tokens N] --out FILE
  was-edge schedule [--model PATH] [--calib FILE] [--text PATH] [--tokens N] [--ctx N]
                    [--targets 0.4,0.5,...] [--budget N] [--seed S] [--backend webgpu|cpu|reference]
                    [--threads N] --out FILE

  generate and eval take [--mode dense|teal|was|was-greedy --sparsity S [--calibration FILE]]
  or [--schedule FILE|NAME --level T [--method was-bo|was-greedy]], and [--prefill sparse|dense|all]
  (default calibration: schedules/<model file name>.calib.json; a schedule NAME is the package's
  schedules/NAME.json, the method the file ships as that level's default unless --method says
  otherwise; prefill 'sparse' runs the first 1% of prompt positions dense, 'all' none); eval --json
  then adds mean_kl (vs dense), skipped_weight_fraction (counted while running), prefill, and
  schedule {name, level, method}.

  schedule searches per-block sparsities at each target by constrained Bayesian optimisation,
  minimising the mean KL to dense over the first --tokens tokens (default 2048) of --text (default
  ../shared/data/tinystories_calib.txt) in chunks of --ctx (default 256), --budget evaluations per
  target (default 24, the uniform start included); writes FILE with a was-greedy (uniform) and a
  was-bo level per target, and FILE's .svg plot. --calib defaults to schedules/<model>.calib.json.

  Without --backend: WebGPU on a hardware adapter, else the CPU backend (a note on stderr says why).
  --model defaults to $WAS_EDGE_MODEL, then ../shared/models/stories260K/stories260K.gguf,
  then a verified download of stories260K. An empty or absent prompt means BOS only.`;

/** A usage error that shows the usage. */
export const usage = (message: string) => new UsageError(`${message}\n${USAGE}`);

/** `--top-k -3` → `--top-k=-3`, so that negative numbers reach validation instead of confusing parseArgs. */
export function joinNegativeValues(args: string[]): string[] {
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

export function intOption(name: string, v: string | undefined, fallback?: number): number | undefined {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new OptionError(`--${name}`, `must be an integer, got "${v}".`);
  return n;
}

export function numOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new OptionError(`--${name}`, `must be a number, got "${v}".`);
  return n;
}

export function prefillOption(v: string | undefined): PrefillMode {
  if (v === undefined) return 'sparse';
  if (!(PREFILL_MODES as readonly string[]).includes(v)) throw new OptionError('--prefill', `must be one of ${PREFILL_MODES.join(', ')}, got "${v}".`);
  return v as PrefillMode;
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** --backend, --threads, --ctx, --prefill as every command takes them. */
export interface BackendArgs {
  backend?: string;
  threads?: string;
  prefill?: string;
}

/**
 * The backend a command runs on, built by createBackend as the SDK builds it; without --backend,
 * WebGPU on a hardware adapter, else the CPU (Wasm SIMD, one worker thread per core by default),
 * with a note on stderr.
 */
export async function cliBackend(model: Model, v: BackendArgs, contextSize: number | undefined, err: (s: string) => void, weights?: LlamaWeights): Promise<Backend> {
  const c = model.config;
  if (contextSize !== undefined && (contextSize < 1 || contextSize > c.contextLength)) {
    throw new OptionError('--ctx', `must be in 1..${c.contextLength} (the model's context length), got ${contextSize}.`);
  }
  const choice = (v.backend ?? 'auto') as BackendChoice;
  if (!['auto', 'webgpu', 'cpu', 'reference'].includes(choice) || v.backend === 'auto') {
    throw new OptionError('--backend', `unknown backend "${v.backend}"; available: webgpu, cpu, reference.`);
  }
  const { nodeGPU } = await import('../gpu/node-gpu.js');
  const { nodeCpuOptions } = await import('../cpu/node.js');
  const { threads, ...cpu } = nodeCpuOptions(intOption('threads', v.threads));
  let note = '';
  const backend = await createBackend(choice, model, {
    contextSize, prefill: prefillOption(v.prefill), threads, weights, platform: { gpu: nodeGPU, cpu }, onNote: (n) => { note = n; },
  });
  if (choice === 'auto' && backend.name !== 'webgpu') err(`was-edge: ${note}\n`);
  return backend;
}
