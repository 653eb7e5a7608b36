// `was-edge` command line: generate text, evaluate perplexity.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Backend } from '../backend.js';
import { OptionError, WasEdgeError } from '../errors.js';
import { WebGPUUnavailableError } from '../gpu/errors.js';
import { perplexity } from '../eval.js';
import { generate } from '../generate.js';
import type { Model } from '../model/model.js';
import { loadWeightsF32 } from '../model/weights.js';
import { loadModelFile } from '../node.js';
import { ReferenceBackend } from '../reference/backend.js';
import { resolveDefaultModel } from './default-model.js';

const USAGE = `usage:
  was-edge generate [--model PATH] [--prompt TEXT] [--max-tokens N] [--temperature T]
                    [--top-k K] [--top-p P] [--seed S] [--stop TEXT]... [--ctx N]
                    [--backend webgpu|reference] [--json]
  was-edge eval --model PATH --text PATH --ctx N [--max-chunks N] [--backend webgpu|reference] [--json]

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

/**
 * The backend the user asked for; without --backend, WebGPU when an adapter exists, else the
 * reference (with a note on stderr).
 */
async function makeBackend(model: Model, name: string | undefined, ctx: number | undefined, err: (s: string) => void): Promise<Backend> {
  const c = model.config;
  if (ctx !== undefined && (ctx < 1 || ctx > c.contextLength)) {
    throw new OptionError('--ctx', `must be in 1..${c.contextLength} (the model's context length), got ${ctx}.`);
  }
  const size = ctx ?? Math.min(c.contextLength, 4096);
  const reference = () => new ReferenceBackend(c, loadWeightsF32(model.file, c), size);
  const webgpu = async () => {
    const { acquireDevice } = await import('../gpu/device.js');
    const { WebGPUBackend } = await import('../gpu/engine.js');
    const { nodeGPU } = await import('../gpu/node-gpu.js');
    return WebGPUBackend.create(await acquireDevice({ gpu: await nodeGPU() }), model, { contextSize: size });
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
      backend: { type: 'string' }, json: { type: 'boolean' },
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
  const model = await loadModelFile(v.model ?? (await resolveDefaultModel(err)));
  const backend = await makeBackend(model, v.backend, intOption('ctx', v.ctx), err);
  try {
    const prompt = v.prompt ?? '';
    if (v.json) {
      const r = await generate(backend, model.tokenizer, prompt, options);
      out(JSON.stringify({ prompt_ids: r.promptIds, generated_ids: r.generatedIds, text: r.text }) + '\n');
    } else {
      out(prompt);
      const r = await generate(backend, model.tokenizer, prompt, options, out);
      out('\n');
      err(`[${r.generatedIds.length} tokens, ${r.tokensPerSecond.toFixed(1)} tok/s, ${backend.name}, finish: ${r.finishReason}]\n`);
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
      'max-chunks': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  if (!v.text) throw new UsageError('eval needs --text PATH.');
  if (!v.ctx) throw new UsageError('eval needs --ctx N.');
  const ctx = intOption('ctx', v.ctx)!;
  const text = readFileSync(v.text, 'utf8');
  const model = await loadModelFile(v.model ?? (await resolveDefaultModel(err)));
  const backend = await makeBackend(model, v.backend, ctx, err);
  try {
    const t0 = performance.now();
    const r = await perplexity(backend, model.tokenizer, text, {
      ctx,
      maxChunks: intOption('max-chunks', v['max-chunks']),
      onProgress: (done, total) => {
        const s = (performance.now() - t0) / 1000;
        err(`\r[eval] chunk ${done}/${total}  ${(done / total * 100).toFixed(0)}%  ${s.toFixed(1)} s`);
        if (done === total) err('\n');
      },
    });
    if (v.json) out(JSON.stringify(r) + '\n');
    else out(`perplexity ${r.ppl.toFixed(4)} (nll ${r.nll.toFixed(6)}, ${r.tokens_scored} tokens scored in ${r.chunks} chunks of ${ctx})\n`);
  } finally {
    backend.dispose();
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
