// Perplexity with llama.cpp's method (tools/perplexity): the whole text tokenised with BOS, cut
// into floor(N / ctx) chunks of ctx tokens whose first token is replaced by BOS, the cache cleared
// per chunk, and the predictions of positions ctx/2 .. ctx−2 scored in every chunk.

import type { Backend } from './backend.js';
import { ContextOverflowError, OptionError } from './errors.js';
import type { Thresholds } from './model/projections.js';
import type { Tokenizer } from './model/tokenizer.js';

export interface PerplexityResult {
  ppl: number;
  /** Mean negative log-likelihood per scored token (nats). */
  nll: number;
  tokens_scored: number;
  chunks: number;
  /** Sparse runs: mean KL(dense ‖ sparse) per scored token (nats). */
  mean_kl?: number;
  /** Sparse runs: block weights skipped over the tokens run, as the backend counted them. */
  skipped_weight_fraction?: number;
}

export interface PerplexityOptions {
  ctx: number;
  /** Evaluate at most this many chunks (for quick slices). */
  maxChunks?: number;
  /** Skip this many chunks first, so that slices of one text can run in parallel and be merged. */
  firstChunk?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Evaluate a sparse run: each chunk runs dense first on the same backend (its distributions give
   * mean_kl), then with these thresholds. The backend is left dense.
   */
  thresholds?: Thresholds;
}

/** log softmax(logits) into out (f64). */
export function logSoftmax(logits: Float32Array, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
}

/** KL(p ‖ q) of two distributions given as log-probabilities. */
export function kl(logP: Float64Array | Float32Array, logQ: Float64Array): number {
  let d = 0;
  for (let i = 0; i < logP.length; i++) d += Math.exp(logP[i]!) * (logP[i]! - logQ[i]!);
  return d;
}

/** log softmax(logits)[target], stably: logits[target] − max − log Σ exp(logits − max). */
export function logProb(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[target]! - max - Math.log(sum);
}

export async function perplexityOfTokens(backend: Backend, bos: number, tokens: number[], o: PerplexityOptions): Promise<PerplexityResult> {
  const ctx = o.ctx;
  if (!Number.isInteger(ctx) || ctx < 4) throw new OptionError('ctx', `must be an integer ≥ 4, got ${ctx}.`);
  if (ctx > backend.contextSize) {
    throw new ContextOverflowError('CTX_TOO_LARGE', `ctx ${ctx} exceeds the context of ${backend.contextSize} the model was loaded with.`);
  }
  const start = o.firstChunk ?? 0;
  const total = Math.floor(tokens.length / ctx);
  if (!Number.isInteger(start) || start < 0) throw new OptionError('firstChunk', `must be an integer ≥ 0, got ${start}.`);
  if (total < 1) {
    throw new OptionError('text', `needs at least ${ctx} tokens for one chunk at ctx ${ctx}, has ${tokens.length}.`);
  }
  if (start >= total) throw new OptionError('firstChunk', `is ${start}, but the text has only ${total} chunks of ${ctx} tokens.`);
  let chunks = total - start;
  if (o.maxChunks !== undefined) {
    if (!Number.isInteger(o.maxChunks) || o.maxChunks < 1) throw new OptionError('maxChunks', `must be an integer ≥ 1, got ${o.maxChunks}.`);
    chunks = Math.min(chunks, o.maxChunks);
  }
  const first = ctx >> 1;
  let nll = 0;
  let count = 0;
  let klSum = 0;
  const V = backend.config.vocabSize;
  const sparse = o.thresholds;
  let skipped = 0;
  const denseLog = sparse ? Array.from({ length: ctx - 1 - first }, () => new Float64Array(V)) : [];
  const log = new Float64Array(V);
  for (let c = 0; c < chunks; c++) {
    const chunk = tokens.slice((start + c) * ctx, (start + c + 1) * ctx);
    chunk[0] = bos;
    if (sparse) {
      backend.setThresholds(null);
      await backend.feed(chunk.slice(0, ctx - 1), 0, (i, logits) => {
        if (i >= first) logSoftmax(logits, denseLog[i - first]!);
      });
      backend.setThresholds(sparse);
    }
    await backend.feed(chunk.slice(0, ctx - 1), 0, (i, logits) => {
      if (i >= first) {
        nll -= logProb(logits, chunk[i + 1]!);
        count++;
        if (sparse) {
          logSoftmax(logits, log);
          klSum += kl(denseLog[i - first]!, log);
        }
      }
    });
    // Every chunk feeds ctx − 1 tokens, so the mean of the chunks' fractions is the run's.
    if (sparse) skipped += (await backend.skippedWeightFraction()) ?? 0;
    o.onProgress?.(c + 1, chunks);
  }
  if (sparse) backend.setThresholds(null);
  const mean = nll / count;
  const r: PerplexityResult = { ppl: Math.exp(mean), nll: mean, tokens_scored: count, chunks };
  if (sparse) {
    r.mean_kl = klSum / count;
    r.skipped_weight_fraction = skipped / chunks;
  }
  return r;
}

export function perplexity(backend: Backend, tokenizer: Tokenizer, text: string, o: PerplexityOptions): Promise<PerplexityResult> {
  return perplexityOfTokens(backend, tokenizer.bos, tokenizer.encode(text, { bos: true }), o);
}
