// Token sampling: penalties and biases on the logits, then greedy or temperature with top-k, top-p
// and min-p, driven by a seeded deterministic PRNG so that the same seed gives the same text on every
// backend and platform.

import { OptionError } from './errors.js';

export interface SamplingOptions {
  /** 0 means greedy (argmax). Default 0. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 disables. Default 0. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (nucleus sampling); 1 disables. Default 1. */
  topP?: number;
  /** PRNG seed (an integer in 0..2^32−1). Default 0. */
  seed?: number;
  /** Keep tokens whose probability is at least minP × the top token's (before temperature); 0 disables. Default 0. */
  minP?: number;
  /**
   * llama.cpp's repetition penalty over the last `repeatLastN` tokens (prompt included): a positive
   * logit is divided by it, a negative one multiplied. 1 disables. Default 1.
   */
  repeatPenalty?: number;
  /** Tokens the penalties look back over. Default 64. */
  repeatLastN?: number;
  /** OpenAI's presence penalty: subtracted once from the logit of every token seen in the window. Default 0. */
  presencePenalty?: number;
  /** OpenAI's frequency penalty: subtracted per occurrence in the window. Default 0. */
  frequencyPenalty?: number;
  /** Added to the logits of these token ids (-Infinity bans a token). */
  logitBias?: Record<number, number>;
}

export type NormalizedSampling = Required<Omit<SamplingOptions, 'logitBias'>> & { logitBias: [number, number][] };

function checkRange(name: string, v: unknown, lo: number, hi: number, what: string): number {
  if (typeof v !== 'number' || !(v >= lo && v <= hi)) throw new OptionError(name, `must be a number in [${lo}, ${hi}] (${what}), got ${String(v)}.`);
  return v;
}

function normalizeBias(bias: unknown): [number, number][] {
  if (bias === undefined) return [];
  if (typeof bias !== 'object' || bias === null || Array.isArray(bias)) throw new OptionError('logitBias', 'must be an object of token id → number.');
  return Object.entries(bias).map(([k, v]) => {
    const id = Number(k);
    if (!Number.isInteger(id) || id < 0) throw new OptionError('logitBias', `keys must be token ids, got "${k}".`);
    if (typeof v !== 'number' || Number.isNaN(v) || v === Infinity) throw new OptionError('logitBias', `values must be numbers (-Infinity bans), got ${String(v)} for ${k}.`);
    return [id, v];
  });
}

/** Validates sampling options once at the edge and returns a normalised copy. */
export function normalizeSampling(o: SamplingOptions = {}): NormalizedSampling {
  const temperature = o.temperature ?? 0;
  const topK = o.topK ?? 0;
  const topP = o.topP ?? 1;
  const seed = o.seed ?? 0;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0 || temperature > 100) {
    throw new OptionError('temperature', `must be a number in [0, 100] (0 = greedy), got ${String(temperature)}.`);
  }
  if (!Number.isInteger(topK) || topK < 0) {
    throw new OptionError('topK', `must be a non-negative integer (0 = disabled), got ${String(topK)}.`);
  }
  if (typeof topP !== 'number' || !(topP > 0 && topP <= 1)) {
    throw new OptionError('topP', `must be a number in (0, 1] (1 = disabled), got ${String(topP)}.`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new OptionError('seed', `must be an integer in [0, 4294967295], got ${String(seed)}.`);
  }
  const repeatLastN = o.repeatLastN ?? 64;
  if (!Number.isInteger(repeatLastN) || repeatLastN < 0 || repeatLastN > 1 << 20) {
    throw new OptionError('repeatLastN', `must be an integer in [0, 1048576], got ${String(repeatLastN)}.`);
  }
  return {
    temperature, topK, topP, seed, repeatLastN,
    minP: checkRange('minP', o.minP ?? 0, 0, 1, '0 = disabled'),
    repeatPenalty: checkRange('repeatPenalty', o.repeatPenalty ?? 1, 0.01, 100, '1 = disabled'),
    presencePenalty: checkRange('presencePenalty', o.presencePenalty ?? 0, -2, 2, '0 = disabled'),
    frequencyPenalty: checkRange('frequencyPenalty', o.frequencyPenalty ?? 0, -2, 2, '0 = disabled'),
    logitBias: normalizeBias(o.logitBias),
  };
}

/** xoshiro128** (Blackman & Vigna 2018), seeded through splitmix32; uniform floats in [0, 1). */
export class Rng {
  private s = new Uint32Array(4);
  constructor(seed: number) {
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
  }
  nextU32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }
  /** 32 random bits as a float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Sampler {
  private readonly rng: Rng;
  private probs: Float32Array = new Float32Array(0);
  private order: Uint32Array = new Uint32Array(0);

  constructor(readonly options: NormalizedSampling) {
    this.rng = new Rng(options.seed);
  }

  get greedy(): boolean {
    return this.options.temperature === 0 || this.options.topK === 1;
  }

  /** Whether the choice depends on the raw logits' argmax alone (a backend may compute it for us). */
  get argmaxOnly(): boolean {
    const o = this.options;
    return this.greedy && o.repeatPenalty === 1 && o.presencePenalty === 0 && o.frequencyPenalty === 0 && o.logitBias.length === 0;
  }

  /** The logits after biases and penalties (a copy when any applies). */
  adjusted(raw: Float32Array, history: readonly number[]): Float32Array {
    const o = this.options;
    const penalize = o.repeatPenalty !== 1 || o.presencePenalty !== 0 || o.frequencyPenalty !== 0;
    if (!penalize && o.logitBias.length === 0) return raw;
    const out = raw.slice();
    for (const [id, b] of o.logitBias) if (id < out.length) out[id]! += b;
    if (penalize) {
      // llama.cpp's llama_sampler_penalties: repeat penalty by sign, then frequency and presence.
      for (const [id, count] of window(history, o.repeatLastN)) {
        if (id >= out.length) continue;
        const l = out[id]!;
        out[id] = (l <= 0 ? l * o.repeatPenalty : l / o.repeatPenalty) - count * o.frequencyPenalty - o.presencePenalty;
      }
    }
    return out;
  }

  /**
   * Picks the next token from raw logits (not modified); `history` is every token so far (prompt and
   * generated), the window of the penalties.
   */
  sample(raw: Float32Array, history: readonly number[] = []): number {
    const logits = this.adjusted(raw, history);
    const n = logits.length;
    if (this.greedy) return argmaxOf(logits);
    const { temperature, topK, topP } = this.options;
    if (this.probs.length !== n) {
      this.probs = new Float32Array(n);
      this.order = new Uint32Array(n);
    }
    // softmax(logits / T)
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((logits[i]! - max) / temperature);
      this.probs[i] = e;
      sum += e;
    }
    // Candidates by descending probability (ties: lower id first, so the order is deterministic).
    const probs = this.probs;
    const order = this.order;
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => probs[b]! - probs[a]! || a - b);
    let keep = topK > 0 ? Math.min(topK, n) : n;
    if (this.options.minP > 0) {
      // p_i ≥ minP·p_max before temperature ⇔ l_i ≥ l_max + ln(minP)
      const cut = logits[order[0]!]! + Math.log(this.options.minP);
      let m = 1;
      while (m < keep && logits[order[m]!]! >= cut) m++;
      keep = m;
    }
    if (topP < 1) {
      let cum = 0;
      for (let i = 0; i < keep; i++) {
        cum += probs[order[i]!]! / sum;
        if (cum >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    let kept = 0;
    for (let i = 0; i < keep; i++) kept += probs[order[i]!]!;
    let r = this.rng.next() * kept;
    for (let i = 0; i < keep; i++) {
      r -= probs[order[i]!]!;
      if (r < 0) return order[i]!;
    }
    return order[keep - 1]!;
  }
}

/** Token counts in the last `n` of `history`. */
function window(history: readonly number[], n: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = Math.max(0, history.length - n); i < history.length; i++) counts.set(history[i]!, (counts.get(history[i]!) ?? 0) + 1);
  return counts;
}

/** Index of the largest logit; lowest index on ties. */
export function argmaxOf(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
