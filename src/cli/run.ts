// `was-edge generate` and `was-edge eval`: argument parsing, then the same backend and schedule path
// as the SDK (createBackend, setThresholds, resolveSchedule).

import { parseArgs } from 'node:util';
import { perplexity, type PerplexityResult } from '../eval.js';
import { generate } from '../generate.js';
import { loadModelFile } from '../node.js';
import { cliBackend, intOption, joinNegativeValues, numOption, prefillOption, readText, usage } from './args.js';
import { progress } from './progress.js';
import { resolveDefaultModel } from './default-model.js';
import { finishReason } from './inspect.js';
import { SPARSITY_OPTIONS, sparsityFor, type Sparsity } from './sparsity.js';

/** --threads N: worker threads of the CPU backend (default: one per core). */
const CPU_OPTIONS = { threads: { type: 'string' } } as const;

export async function cmdGenerate(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'string' },
      temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' },
      seed: { type: 'string' }, stop: { type: 'string', multiple: true }, ctx: { type: 'string' },
      'min-p': { type: 'string' }, 'repeat-penalty': { type: 'string' }, 'repeat-last-n': { type: 'string' },
      'presence-penalty': { type: 'string' }, 'frequency-penalty': { type: 'string' },
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
    minP: numOption('min-p', v['min-p']),
    repeatPenalty: numOption('repeat-penalty', v['repeat-penalty']),
    repeatLastN: intOption('repeat-last-n', v['repeat-last-n']),
    presencePenalty: numOption('presence-penalty', v['presence-penalty']),
    frequencyPenalty: numOption('frequency-penalty', v['frequency-penalty']),
  };
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const model = await loadModelFile(modelPath);
  const { thresholds } = await sparsityFor(model, modelPath, v);
  let why = '';
  const backend = await cliBackend(model, v, intOption('ctx', v.ctx), (note) => { why = `: ${note.replace(/; using the CPU backend.*$/, '')}`; });
  try {
    backend.setThresholds(thresholds);
    const prompt = v.prompt ?? '';
    if (v.json) {
      const r = await generate(backend, model.tokenizer, prompt, options);
      out(JSON.stringify({ prompt_ids: r.promptIds, generated_ids: r.generatedIds, text: r.text, finish_reason: finishReason(r.finishReason) }) + '\n');
    } else {
      // The prompt goes out with the first piece, so that a prompt refused (too long) is not echoed first.
      let echoed = false;
      const echo = () => { if (!echoed) out(prompt); echoed = true; };
      const r = await generate(backend, model.tokenizer, prompt, options, (piece) => { echo(); out(piece); });
      echo();
      out('\n');
      const fraction = thresholds ? await backend.skippedWeightFraction() : null;
      const skipped = fraction != null ? `, ${(100 * fraction).toFixed(1)}% of block weights skipped` : '';
      err(`[${r.generatedIds.length} tokens, ${r.tokensPerSecond.toFixed(1)} tok/s, ${backend.name}${why}${skipped}, finish: ${r.finishReason}]\n`);
    }
  } finally {
    backend.dispose();
  }
}

type EvalResult = PerplexityResult & { prefill?: string; schedule?: Sparsity['schedule'] };

export async function cmdEval(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, text: { type: 'string' }, ctx: { type: 'string' },
      'max-chunks': { type: 'string' }, 'first-chunk': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' },
      ...SPARSITY_OPTIONS, ...CPU_OPTIONS,
    },
    strict: true,
  });
  if (!v.text) throw usage('eval needs --text PATH.', 'eval');
  if (!v.ctx) throw usage('eval needs --ctx N.', 'eval');
  const ctx = intOption('ctx', v.ctx)!;
  const maxChunks = intOption('max-chunks', v['max-chunks']);
  if (maxChunks !== undefined && maxChunks < 1) throw usage(`--max-chunks must be at least 1, got ${maxChunks}.`, 'eval');
  const text = readText(v.text);
  const modelPath = v.model ?? (await resolveDefaultModel(err));
  const model = await loadModelFile(modelPath);
  const sparsity = await sparsityFor(model, modelPath, v);
  const backend = await cliBackend(model, v, ctx, (note) => err(`was-edge: ${note}\n`));
  // mean KL and the skipped fraction are reported whenever a mode or schedule is asked for (0 for dense).
  const sparsityAsked = v.mode !== undefined || v.schedule !== undefined;
  try {
    const t0 = performance.now();
    const bar = progress(err);
    const r: EvalResult = await perplexity(backend, model.tokenizer, text, {
      ctx, maxChunks, firstChunk: intOption('first-chunk', v['first-chunk']),
      ...(sparsity.thresholds ? { thresholds: sparsity.thresholds } : {}),
      onProgress: (done, total) => {
        const s = (performance.now() - t0) / 1000;
        bar.update(`[eval] chunk ${done}/${total}  ${(done / total * 100).toFixed(0)}%  ${s.toFixed(1)} s`, done / total);
      },
    });
    if (sparsityAsked) {
      r.mean_kl ??= 0;
      r.skipped_weight_fraction ??= 0;
      if (sparsity.thresholds) r.prefill = prefillOption(v.prefill);
      if (sparsity.schedule) r.schedule = sparsity.schedule;
    }
    if (v.json) out(JSON.stringify(r) + '\n');
    else {
      const label = r.schedule ? `; schedule ${r.schedule.name} level ${r.schedule.level} (${r.schedule.method})` : '';
      const extra = sparsityAsked ? `; mean KL ${r.mean_kl!.toFixed(5)}, skipped ${(100 * r.skipped_weight_fraction!).toFixed(1)}% of block weights${label}` : '';
      out(`perplexity ${r.ppl.toFixed(4)} (nll ${r.nll.toFixed(6)}, ${r.tokens_scored} tokens scored in ${r.chunks} chunks of ${ctx}${extra})\n`);
    }
  } finally {
    backend.dispose();
  }
}
