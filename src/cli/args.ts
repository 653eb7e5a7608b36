// Argument helpers shared by the CLI's commands: numbers, the backend every command builds the same
// way (createBackend, as the SDK does), and the usage text.

import { fileSource, sha256Source } from '../node-file.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PREFILL_MODES, type Backend, type PrefillMode } from '../backend.js';
import { createBackend, type BackendChoice } from '../create-backend.js';
import { fileError, FileError, OptionError, UsageError } from '../errors.js';
import type { Model } from '../model/model.js';
import type { LlamaWeights } from '../model/weights.js';

const BACKEND = `  --backend webgpu|cpu|reference   default: WebGPU on a hardware adapter, else the CPU backend
                                   (WebAssembly SIMD); the summary line says which and why
  --threads N                      CPU backend worker threads (default: one per core)`;

const SPARSITY = `  sparsity, either
  --mode dense|teal|was|was-greedy --sparsity S [--calibration FILE]
                                   thresholds from a calibration file (made by \`was-edge calibrate\`)
  --schedule FILE|NAME --level T [--method was-bo|was-greedy]
                                   a schedule: NAME is one the package ships (the model id, e.g.
                                   stories260K), the method the file ships as that level's default
  --prefill sparse|dense|all       how prompts run under sparsity (sparse: the first 1% of
                                   positions dense; all: none)`;

const MODEL = `  --model PATH                     a GGUF file; default $WAS_EDGE_MODEL, then
                                   ../shared/models/stories260K/stories260K.gguf, then a verified
                                   download of stories260K (2 MB) into ~/.cache/was-edge`;

/** Each command's help: `was-edge COMMAND --help`. */
export const COMMAND_USAGE: Record<string, string> = {
  generate: `usage: was-edge generate [options]
Streams generated text to stdout (the prompt first); one summary line goes to stderr.

${MODEL}
  --prompt TEXT                    empty or absent: BOS only
  --max-tokens N                   default 128
  --temperature T --top-k K --top-p P --min-p P --seed S
                                   sampling (greedy unless T > 0; S makes it reproducible)
  --repeat-penalty R --repeat-last-n N --presence-penalty P --frequency-penalty F
                                   penalties on recent tokens (llama.cpp's and OpenAI's)
  --stop TEXT                      stop before TEXT (repeatable)
  --ctx N                          KV-cache positions (default: the model's context, at most 4096)
  --json                           print {"prompt_ids","generated_ids","text"} instead
${BACKEND}
${SPARSITY}`,
  chat: `usage: was-edge chat (--messages-file F.json | a terminal) [options]
Renders a conversation with the model's chat template and streams the reply; at a terminal, turn
after turn (the conversation's KV cache is reused; /exit ends it).

${MODEL}
  --messages-file F.json           a JSON array of { role: system|user|assistant, content }
  --template chatml|llama2|llama3|TEXT
                                   default: the model's own tokenizer.chat_template
  --max-tokens N                   default 256
  --temperature T --seed S --repeat-penalty R
  --ctx N
  --json                           print {"prompt_ids","generated_ids","text","finish_reason"}
${BACKEND}`,
  tokenize: `usage: was-edge tokenize (--text TEXT | --text-file F) [--no-parse-special] [--json]
The token ids of a text as a prompt gets them (BOS as the model says; special-token text parsed
unless --no-parse-special).

${MODEL}`,
  logits: `usage: was-edge logits (--prompt TEXT | --prompt-file F) [--backend B] [--json]
Feeds the prompt and prints the logits of its last position (--json: every vocabulary entry).

${MODEL}
${BACKEND}`,
  eval: `usage: was-edge eval --text PATH --ctx N [options]
Perplexity with llama.cpp's method (llama-perplexity): chunks of N tokens, BOS first, the second
half of each chunk scored. Progress goes to stderr.

${MODEL}
  --max-chunks N --first-chunk N   a slice of the chunks
  --json                           {"ppl","nll","tokens_scored","chunks"}; with sparsity also
                                   mean_kl, skipped_weight_fraction, prefill, schedule
${BACKEND}
${SPARSITY}`,
  calibrate: `usage: was-edge calibrate --text PATH --out FILE [options]
Records WAS score histograms over calibration text and writes thresholds and greedy splits.

${MODEL}
  --tokens N --ctx N --greedy-tokens N`,
  schedule: `usage: was-edge schedule --out FILE [options]
Searches per-block sparsities per target by constrained Bayesian optimisation (lowest mean KL to
dense over calibration text); writes FILE (a was-greedy and a was-bo level per target) and an SVG.

${MODEL}
  --calib FILE                     default: the repository's schedules/<model id>.calib.json
  --text PATH                      default ../shared/data/tinystories_calib.txt
  --tokens N --ctx N               default 2048 tokens in chunks of 256
  --targets 0.4,0.5,...            default 0.4,0.5,0.6,0.7,0.8
  --budget N --seed S              evaluations per target (default 24), search seed
  --validation-tokens N            held-out tokens from the end of --text (default: as many as
                                   --tokens); was-bo is a target's default only if it beats the
                                   uniform was-greedy level there
${BACKEND}`,
};

export const USAGE = `usage: was-edge COMMAND [options]
  generate    generate text (the default model if --model is absent)
  chat        a conversation with the model's chat template
  tokenize    the token ids of a text (--json: {"ids"})
  logits      the last prompt position's logits (--json: {"prompt_ids","logits"})
  eval        perplexity of a text, dense or sparse
  calibrate   record a model's activation statistics for sparsity
  schedule    search per-block sparsity schedules
  was-edge COMMAND --help    that command's options
  was-edge --version

Errors print \`was-edge: Name [CODE]: what to do\` and exit 2 (bad input) or 1 (a bug).`;

/** A usage error of `command` (or of the command line), pointing at the help that would have helped. */
export const usage = (message: string, command?: string) =>
  new UsageError(`${message} See \`was-edge ${command && COMMAND_USAGE[command] ? `${command} ` : ''}--help\`.`);

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

/** A text file; a file-system failure is a FileError naming the path. */
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw fileError(e, path);
  }
}

/** A model file's sha256, read in chunks (never held whole). */
export async function sha256Of(path: string): Promise<string> {
  const source = fileSource(path);
  try {
    return await sha256Source(source);
  } finally {
    source.close();
  }
}

/** `--out FILE` must be writable where it is asked for: checked before a run, not after it. */
export function checkOutPath(option: string, path: string): void {
  const folder = dirname(resolve(path));
  if (!existsSync(folder)) throw new FileError('ENOENT', folder, `${option}: the folder ${folder} does not exist; create it first.`);
  if (!statSync(folder).isDirectory()) throw new FileError('ENOTDIR', folder, `${option}: ${folder} is not a folder.`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new FileError('EISDIR', path, `${option}: ${path} is a folder, not a file.`);
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
 * and `onNote` is told why.
 */
export async function cliBackend(model: Model, v: BackendArgs, contextSize: number | undefined, onNote: (note: string) => void, weights?: LlamaWeights): Promise<Backend> {
  const c = model.config;
  if (contextSize !== undefined && (contextSize < 1 || contextSize > c.contextLength)) {
    throw new OptionError('--ctx', `must be in 1..${c.contextLength} (the model's context length), got ${contextSize}.`);
  }
  const choice = (v.backend ?? 'auto') as BackendChoice;
  if (!['auto', 'webgpu', 'cpu', 'reference'].includes(choice) || v.backend === 'auto') {
    throw new OptionError('--backend', `unknown backend "${v.backend}"; available: webgpu, cpu, reference.`);
  }
  const { nodeGPU } = await import('../gpu/node-gpu.js');
  const { softwareVulkanOnly } = await import('../gpu/vulkan-drivers.js');
  const { nodeCpuOptions } = await import('../cpu/node.js');
  const { threads, ...cpu } = nodeCpuOptions(intOption('threads', v.threads));
  let note = '';
  const backend = await createBackend(choice, model, {
    contextSize, prefill: prefillOption(v.prefill), threads, weights, platform: { gpu: nodeGPU, cpu, softwareOnly: () => softwareVulkanOnly() }, onNote: (n) => { note = n; },
  });
  if (choice === 'auto' && backend.name !== 'webgpu') onNote(note);
  return backend;
}
