// The decode loop, shared by every backend: feed the prompt, then sample → feed → stop.

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


export type FinishReason = 'eos' | 'stop' | 'length' | 'context';

export interface GenerateResult {
  promptIds: number[];
  generatedIds: number[];
  text: string;
  finishReason: FinishReason;
  /** Decode speed over generated tokens (prompt excluded), tokens per second. */
  tokensPerSecond: number;
  prefillMs: number;
  decodeMs: number;
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

/** Resolves from the macrotask queue (not clamped like setTimeout), so that messages get handled. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
    port2.close();
  });
}

/**
 * The CPU and reference backends compute synchronously, so between tokens only microtasks would run:
 * in a worker, an abort or dispose message would wait for the whole generation. The loop lets the
 * event loop turn at least every YIELD_MS.
 */
const YIELD_MS = 10;
function yielder(): () => Promise<void> {
  let last = performance.now();
  return async () => {
    if (performance.now() - last < YIELD_MS) return;
    await nextTask();
    last = performance.now();
  };
}

/**
 * Generates from `prompt` (BOS only when empty), calling `onText` with each new piece of text.
 * The backend's cache is overwritten from position 0.
 */
export async function generate(
  backend: Backend, tokenizer: Tokenizer, prompt: string, options: GenerateOptions = {},
  onText?: (piece: string) => void,
): Promise<GenerateResult> {
  const o = normalizeGenerate(options);
  const ctx = backend.contextSize;
  // No token covers more than maxPieceLength characters: a longer text cannot fit, and is refused
  // before the (synchronous, superlinear) tokenisation of a huge string.
  if (prompt.length > ctx * Math.max(1, tokenizer.maxPieceLength)) {
    throw new ContextOverflowError('PROMPT_TOO_LONG',
      `The prompt has ${prompt.length} characters, more than the ${ctx} tokens of the context can hold; shorten the prompt or load with a larger context.`);
  }
  const promptIds = tokenizer.encode(prompt);
  if (promptIds.length === 0) promptIds.push(tokenizer.bos);
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
  const checkAbort = () => {
    if (o.signal?.aborted) throw new AbortError(o.signal.reason);
  };
  // The decoder must see the prompt so that the first generated piece keeps or drops its space
  // exactly as a full decode would.
  for (const id of promptIds) decoder.push(id);

  const turn = yielder();
  checkAbort();
  // A broken file (say, f32 bytes typed as f16) gives NaN/Inf logits, which would stream as one token
  // forever: the prompt's logits are checked (and every sampled step's); a one-token prompt runs once more for it.
  const finite = (logits: Float32Array) => {
    for (let i = 0; i < logits.length; i++) {
      if (!Number.isFinite(logits[i]!)) {
        throw new ModelFormatError('NON_FINITE_LOGITS', `the model "${backend.config.name}" computed a non-finite logit (${logits[i]}) on ${backend.name}: its weights are broken or of the wrong type; re-convert or re-download the file.`);
      }
    }
    return logits;
  };
  const t0 = performance.now();
  let finishReason: FinishReason = 'length';
  let next = -1;
  if (o.maxTokens > 0) {
    if (sampler.greedy) {
      finite(await backend.feed(promptIds.length > 1 ? promptIds.slice(0, -1) : promptIds, 0));
      await turn();
      next = await backend.feedArgmax(promptIds[promptIds.length - 1]!, promptIds.length - 1);
    } else {
      next = sampler.sample(finite(await backend.feed(promptIds, 0)));
    }
  }
  const t1 = performance.now();
  let pos = promptIds.length;
  while (generatedIds.length < o.maxTokens) {
    checkAbort();
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
    if (pos >= ctx) {
      finishReason = 'context';
      break;
    }
    await turn();
    checkAbort();
    next = sampler.greedy ? await backend.feedArgmax(next, pos) : sampler.sample(finite(await backend.feed([next], pos)));
    pos++;
  }
  if (!stops.stopped) emit(stops.push(decoder.flush()) + stops.flush());
  const t2 = performance.now();
  return {
    promptIds,
    generatedIds,
    text,
    finishReason,
    tokensPerSecond: generatedIds.length > 1 ? (generatedIds.length - 1) / ((t2 - t1) / 1000) : 0,
    prefillMs: t1 - t0,
    decodeMs: t2 - t1,
  };
}
