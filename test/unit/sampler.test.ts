import { describe, expect, test } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { normalizeGenerate } from '../../src/generate.js';
import { normalizeSampling, Rng, Sampler } from '../../src/sampler.js';

const logits = new Float32Array([1, 3, 2, 0.5, 3]); // ids 1 and 4 tie for the top

function counts(s: Sampler, n: number, vocab = logits.length): number[] {
  const c = new Array<number>(vocab).fill(0);
  for (let i = 0; i < n; i++) c[s.sample(logits)]!++;
  return c;
}

describe('sampling options are checked once, at the edge', () => {
  test.each([
    ['temperature', { temperature: -0.1 }], ['temperature', { temperature: NaN }], ['temperature', { temperature: Infinity }],
    ['topK', { topK: -1 }], ['topK', { topK: 1.5 }], ['topP', { topP: 0 }], ['topP', { topP: 1.01 }],
    ['topP', { topP: NaN }], ['seed', { seed: -1 }], ['seed', { seed: 2 ** 32 }], ['seed', { seed: 0.5 }],
  ])('%s out of range → OptionError naming it', (name, opts) => {
    let err: unknown;
    try { normalizeSampling(opts); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(OptionError);
    expect((err as OptionError).option).toBe(name);
    expect((err as OptionError).code).toBe('OPTION_OUT_OF_RANGE');
    expect((err as OptionError).message).toContain(name);
  });
  test.each([['maxTokens', { maxTokens: -1 }], ['maxTokens', { maxTokens: 1.5 }], ['stop', { stop: [''] }]])(
    '%s out of range → OptionError', (name, opts) => {
      expect(() => normalizeGenerate(opts)).toThrowError(expect.objectContaining({ option: name }));
    });
  test('defaults are greedy', () => {
    expect(normalizeSampling()).toEqual({
      temperature: 0, topK: 0, topP: 1, seed: 0, minP: 0, repeatPenalty: 1, repeatLastN: 64, presencePenalty: 0, frequencyPenalty: 0, logitBias: [],
    });
  });
});

describe('Sampler', () => {
  test('greedy picks the lowest index among tied maxima', () => {
    expect(new Sampler(normalizeSampling()).sample(logits)).toBe(1);
    expect(new Sampler(normalizeSampling({ temperature: 1, topK: 1 })).sample(logits)).toBe(1);
  });
  test('the same seed gives the same sequence; another seed another one', () => {
    const a = counts(new Sampler(normalizeSampling({ temperature: 1, seed: 7 })), 50);
    const b = counts(new Sampler(normalizeSampling({ temperature: 1, seed: 7 })), 50);
    expect(a).toEqual(b);
    const seq = (seed: number) => Array.from({ length: 40 }, ((s) => () => s.sample(logits))(new Sampler(normalizeSampling({ temperature: 1, seed }))));
    expect(seq(1)).toEqual(seq(1));
    expect(seq(1)).not.toEqual(seq(2));
  });
  test('temperature 1 samples the softmax distribution', () => {
    const n = 40000;
    const c = counts(new Sampler(normalizeSampling({ temperature: 1, seed: 3 })), n);
    const z = Array.from(logits, Math.exp).reduce((a, b) => a + b);
    logits.forEach((l, i) => {
      const p = Math.exp(l) / z;
      const sd = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(c[i]! - n * p), `id ${i}: ${c[i]} vs ${n * p}`).toBeLessThan(5 * sd + 1);
    });
  });
  test('top-k keeps only the k most likely', () => {
    const c = counts(new Sampler(normalizeSampling({ temperature: 1, topK: 2, seed: 1 })), 2000);
    expect(c[0]! + c[2]! + c[3]!).toBe(0);
    expect(c[1]! > 0 && c[4]! > 0).toBe(true);
  });
  test('top-p keeps the smallest nucleus reaching p', () => {
    // p(1) = p(4) ≈ 0.37 each, p(2) ≈ 0.14: p = 0.5 keeps ids 1 and 4 only; 0.8 adds id 2
    const c = counts(new Sampler(normalizeSampling({ temperature: 1, topP: 0.5, seed: 1 })), 2000);
    expect(c[0]! + c[2]! + c[3]!).toBe(0);
    const d = counts(new Sampler(normalizeSampling({ temperature: 1, topP: 0.8, seed: 1 })), 4000);
    expect(d[2]!).toBeGreaterThan(0);
    expect(d[0]! + d[3]!).toBe(0);
  });
  test('high temperature flattens, low sharpens', () => {
    const hot = counts(new Sampler(normalizeSampling({ temperature: 50, seed: 5 })), 5000);
    const cold = counts(new Sampler(normalizeSampling({ temperature: 0.05, seed: 5 })), 5000);
    expect(Math.min(...hot)).toBeGreaterThan(700);
    expect(cold[0]! + cold[2]! + cold[3]!).toBe(0);
  });
  test('Rng output is uniform in [0,1)', () => {
    const r = new Rng(123);
    let sum = 0;
    for (let i = 0; i < 100000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      sum += x;
    }
    expect(Math.abs(sum / 100000 - 0.5)).toBeLessThan(0.01);
  });
});
