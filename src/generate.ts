// The decode loop, shared by every backend: feed the prompt, then sample → feed → stop.

import { yielder } from './event-loop.js';
import type { Backend } from './backend.js';
import { AbortError, ContextOverflowError, ModelFormatError, OptionError } from './errors.js';
import type { Tokenizer } from './model/tokenizer.js';
import { StreamDecoder } from './model/stream-decoder.js';
import { normalizeSampling, Sampler, type SamplingOptions } from './sampler.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 128. */
  maxTokens?: number;
  /** Generation stops before the first occurrence of any of these strings. */
  stop?: string[];
  signal?: AbortSignal;
}

export interface NormalizedGenerate {
  sampling: ReturnType<typeof normalizeSampling>;
  maxTokens: number;
  stop: string[];
  signal: AbortSignal | undefined;
}

export function normalizeGenerate(o: GenerateOptions = {}): NormalizedGenerate {
  const maxTokens = o.maxTokens ?? 128;
  if (!Number.isInteger(maxTokens) || maxTokens < 0 || maxTokens > 1 << 20) {
    throw new OptionError('maxTokens', `must be an integer in [0, 1048576], got ${String(maxTokens)}.`);
  }
  const stop = o.stop ?? [];
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new OptionError('stop', 'must be an array of non-empty strings.');
  }
  return { sampling: normalizeSampling(o), maxTokens, stop: [...stop], signal: o.signal };
}


/** 'abort' only where the caller asked an abort to end the call (generateTokens' `onAbort: 'finish'`). */
export type FinishReason = 'eos' | 'stop' | 'length' | 'context' | 'abort';

/**
 * What an abort during generation does: 'throw' AbortError (generate(): the call failed), or 'finish'
 * with finishReason 'abort' and the text so far (chat: a reply the user stopped is still a reply).
 */
export type OnAbort = 'throw' | 'finish';

export interface GenerateResult {
  promptIds: number[];
  generatedIds: number[];
  text: string;
  finishReason: FinishReason;
  /** Decode speed over generated tokens (prompt excluded), tokens per second. */
  tokensPerSecond: number;
  prefillMs: number;
  decodeMs: number;
  /** Prompt tokens the KV cache already held (not fed again). */
  cachedTokens: number;
}

/** Holds back text that could still become a stop string; finds complete ones. */
class StopMatcher {
  private pending = '';
  stopped = false;
  constructor(private readonly stops: string[]) {}
  /** Returns the text safe to emit now. */
  push(text: string): string {
    if (this.stops.length === 0) return text;
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    // Keep the longest suffix that is a prefix of some stop string.
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }
  flush(): string {
    const out = this.pending;
    this.pending = '';
    return out;
  }
}

/**
 * The sequence a backend's KV cache holds, kept by its owner between calls: a call whose tokens start
 * with part of it resumes after the common prefix. Whoever changes what the cache was computed with
 * (the model, the thresholds) must clear `ids`.
 */
export interface KvState {
  ids: number[];
}

/** A broken file (say, f32 bytes typed as f16) gives NaN/Inf logits, which would stream as one token forever. */
function checkFinite(backend: Backend, logits: Float32Array): Float32Array {
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i]!)) {
      throw new ModelFormatError('NON_FINITE_LOGITS', `the model "${backend.config.name}" computed a non-finite logit (${logits[i]}) on ${backend.name}: its weights are broken or of the wrong type; re-convert or re-download the file.`);
    }
  }
  return logits;
}

/** Tokens of `ids` that `kv` already holds, leaving at least the last one to feed. */
function reusable(kv: KvState | undefined, ids: readonly number[]): number {
  if (!kv) return 0;
  let k = 0;
  while (k < kv.ids.length && k < ids.length - 1 && kv.ids[k] === ids[k]) k++;
  return k;
}

/**
 * Feeds the prompt from position `from` (what the cache does not hold) and returns the first token.
 * The prompt's logits are checked for NaN/Inf (a one-token cold prompt runs once more for it, as the
 * argmax fast path returns no logits).
 */
async function prefill(backend: Backend, sampler: Sampler, ids: readonly number[], from: number, turn: () => Promise<void>): Promise<number> {
  if (!sampler.argmaxOnly) return sampler.sample(checkFinite(backend, await backend.feed(ids.slice(from), from)), ids);
  if (ids.length - 1 > from) checkFinite(backend, await backend.feed(ids.slice(from, -1), from));
  else if (ids.length === 1) checkFinite(backend, await backend.feed(ids, 0));
  await turn();
  return backend.feedArgmax(ids[ids.length - 1]!, ids.length - 1);
}

/**
 * Generates from `prompt` (BOS only when empty), calling `onText` with each new piece of text.
 * The backend's cache is overwritten from position 0, or after the prefix `kv` says it holds.
 */
export async function generate(
  backend: Backend, tokenizer: Tokenizer, prompt: string, options: GenerateOptions = {},
  onText?: (piece: string) => void, kv?: KvState,
): Promise<GenerateResult> {
  const ctx = backend.contextSize;
  // No token covers more than maxPieceLength characters: a longer text cannot fit, and is refused
  // before the (synchronous, superlinear) tokenisation of a huge string.
  if (typeof prompt === 'string' && prompt.length > ctx * Math.max(1, tokenizer.maxPieceLength)) {
    throw new ContextOverflowError('PROMPT_TOO_LONG',
      `The prompt has ${prompt.length} characters, more than the ${ctx} tokens of the context can hold; shorten the prompt or load with a larger context.`);
  }
  normalizeGenerate(options); // option errors before tokenising
  const promptIds = tokenizer.encode(prompt);
  if (promptIds.length === 0) promptIds.push(tokenizer.bos);
  return generateTokens(backend, tokenizer, promptIds, options, onText, kv);
}

/** Generates after the prompt tokens `promptIds` (see generate() and OnAbort). */
export async function generateTokens(
  backend: Backend, tokenizer: Tokenizer, promptIds: number[], options: GenerateOptions = {},
  onText?: (piece: string) => void, kv?: KvState, onAbort: OnAbort = 'throw',
): Promise<GenerateResult> {
  const o = normalizeGenerate(options);
  const ctx = backend.contextSize;
  if (promptIds.length > ctx) {
    throw new ContextOverflowError('PROMPT_TOO_LONG',
      `The prompt is ${promptIds.length} tokens but the context holds ${ctx}; shorten the prompt or load with a larger context.`);
  }
  const sampler = new Sampler(o.sampling);
  const decoder = new StreamDecoder(tokenizer);
  const stops = new StopMatcher(o.stop);
  const generatedIds: number[] = [];
  let text = '';
  const emit = (piece: string) => {
    if (!piece) return;
    text += piece;
    onText?.(piece);
  };
  /** True when the call should end with 'abort' now. */
  const aborted = () => {
    if (!o.signal?.aborted) return false;
    if (onAbort === 'throw') throw new AbortError(o.signal.reason);
    return true;
  };
  // The decoder must see the prompt so that the first generated piece keeps or drops its space
  // exactly as a full decode would.
  for (const id of promptIds) decoder.push(id);

  const turn = yielder();
  if (aborted()) return { promptIds, generatedIds, text, finishReason: 'abort', tokensPerSecond: 0, prefillMs: 0, decodeMs: 0, cachedTokens: 0 };
  const cachedTokens = reusable(kv, promptIds);
  if (kv) kv.ids = []; // until this call ends well, the cache holds nothing reusable
  const fed = promptIds.slice();
  const t0 = performance.now();
  let finishReason: FinishReason = 'length';
  let next = o.maxTokens > 0 ? await prefill(backend, sampler, promptIds, cachedTokens, turn) : -1;
  const t1 = performance.now();
  while (generatedIds.length < o.maxTokens) {
    // The cache holds `fed` whenever the loop can stop, so an aborted call leaves a reusable prefix.
    if (aborted()) {
      finishReason = 'abort';
      break;
    }
    if (tokenizer.eogIds.has(next)) { // eos, eot (<|eot_id|>, <|im_end|>) and the like
      finishReason = 'eos';
      break;
    }
    generatedIds.push(next);
    emit(stops.push(decoder.push(next)));
    if (stops.stopped) {
      finishReason = 'stop';
      break;
    }
    if (generatedIds.length >= o.maxTokens) break;
    if (fed.length >= ctx) {
      finishReason = 'context';
      break;
    }
    await turn();
    if (aborted()) {
      finishReason = 'abort';
      break;
    }
    const pos = fed.length;
    fed.push(next);
    next = sampler.argmaxOnly ? await backend.feedArgmax(next, pos) : sampler.sample(checkFinite(backend, await backend.feed([next], pos)), fed);
  }
  if (!stops.stopped) emit(stops.push(decoder.flush()) + stops.flush());
  const t2 = performance.now();
  if (kv && o.maxTokens > 0) kv.ids = fed;
  return {
    promptIds,
    generatedIds,
    text,
    finishReason,
    tokensPerSecond: generatedIds.length > 1 ? (generatedIds.length - 1) / ((t2 - t1) / 1000) : 0,
    prefillMs: t1 - t0,
    decodeMs: t2 - t1,
    cachedTokens,
  };
}
