// Token sampling: greedy, temperature, top-k, top-p, driven by a seeded deterministic PRNG so that
// the same seed gives the same text on every backend and platform.

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
}

export type NormalizedSampling = Required<SamplingOptions>;

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
  return { temperature, topK, topP, seed };
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

  /** Picks the next token from raw logits (not modified). */
  sample(logits: Float32Array): number {
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

/** Index of the largest logit; lowest index on ties. */
export function argmaxOf(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}
