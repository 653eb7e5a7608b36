// The SentencePiece tokenizer against llama.cpp's token ids on both real vocabularies, round trips,
// the streaming decoder, and metadata validation on small hand-made vocabularies.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import { inMemory, parseGGUF, type GGUFFile, type GGUFValue } from '../../src/model/gguf.js';
import { StreamDecoder } from '../../src/model/stream-decoder.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { readShared, sharedPath } from '../helpers/shared.js';
import { mulberry32 } from '../helpers/random.js';

const cache = new Map<string, Tokenizer>();
function tokenizer(...path: string[]): Tokenizer {
  const key = path.join('/');
  let t = cache.get(key);
  if (!t) cache.set(key, (t = Tokenizer.fromGGUF(parseGGUF(readShared(...path)))));
  return t;
}
const stories = () => tokenizer('models', 'stories260K', 'stories260K.gguf');
const debtext = () => tokenizer('models', 'llama16m-debtext', 'llama16m-debtext-F32.gguf');

function json<T>(...path: string[]): T {
  return JSON.parse(readFileSync(sharedPath(...path), 'utf8')) as T;
}
function text(...path: string[]): string {
  return readFileSync(sharedPath(...path), 'utf8');
}

interface Vector { text: string; ids: number[] }
const storiesVectors = (): Vector[] =>
  json<{ text: string; llama_cpp_ids: number[] }[]>('reference', 'stories260K', 'tokenizer_vectors.json')
    .map((v) => ({ text: v.text, ids: v.llama_cpp_ids }));
const debtextVectors = (): Vector[] =>
  json<{ vectors: { text: string; llamacpp_ids: number[] }[] }>('reference', 'llama16m-debtext', 'tokenizer_vectors.json')
    .vectors.map((v) => ({ text: v.text, ids: v.llamacpp_ids }));

const models: [string, () => Tokenizer, () => Vector[]][] = [
  ['stories260K', stories, storiesVectors],
  ['llama16m-debtext', debtext, debtextVectors],
];

function streamed(tok: Tokenizer, ids: number[]): string[] {
  const d = new StreamDecoder(tok);
  return [...ids.map((id) => d.push(id)), d.flush()];
}

/** Deterministic strings mixing ASCII, runs of spaces, control characters, accents, CJK and astral emoji. */
function randomStrings(count: number, seed: number): string[] {
  const next = mulberry32(seed);
  const rand = (n: number) => (next() * n) | 0;
  const pick = (): number => {
    switch (rand(7)) {
      case 0: return 0x20;
      case 1: return [0x0a, 0x09, 0x0d, 0x00, 0xfeff][rand(5)]!;
      case 2: return 0x21 + rand(0x5e);
      case 3: return 0xa0 + rand(0x250);
      case 4: return 0x4e00 + rand(0x5000);
      case 5: return 0x1f300 + rand(0x300);
      default: { // any scalar value except surrogates and '▁', which sentencepiece reads as a space
        const c = rand(0x110000);
        return (c >= 0xd800 && c <= 0xdfff) || c === 0x2581 ? 0x41 : c;
      }
    }
  };
  return Array.from({ length: count }, () => String.fromCodePoint(...Array.from({ length: rand(40) }, pick)));
}

describe.each(models)('%s matches llama.cpp', (_name, tok, vectors) => {
  test('encode gives llama.cpp ids for every vector', () => {
    const failures: string[] = [];
    for (const v of vectors()) {
      const got = tok().encode(v.text);
      if (JSON.stringify(got) !== JSON.stringify(v.ids)) {
        failures.push(`${JSON.stringify(v.text)}\n  ours:      ${JSON.stringify(got)}\n  llama.cpp: ${JSON.stringify(v.ids)}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  test('decode(encode(x)) === x for the vectors and random unicode', () => {
    for (const x of [...vectors().map((v) => v.text), ...randomStrings(300, 7), '', ' ', '\n', '  ']) {
      const ids = tok().encode(x);
      expect(tok().decode(ids), JSON.stringify(x)).toBe(x);
      // Without BOS nothing marks the dummy prefix, so its space stays.
      expect(tok().decode(tok().encode(x, { bos: false })), JSON.stringify(x)).toBe(x === '' ? '' : ' ' + x);
    }
  });

  test('StreamDecoder pushes concatenate to decode()', () => {
    for (const x of [...vectors().map((v) => v.text), ...randomStrings(100, 11)]) {
      for (const ids of [tok().encode(x), tok().encode(x, { bos: false })]) {
        expect(streamed(tok(), ids).join(''), JSON.stringify(x)).toBe(tok().decode(ids));
      }
    }
  });
});

describe('byte fallback', () => {
  const byteId = (tok: Tokenizer, b: number): number => {
    const want = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    for (let id = 0; id < tok.vocabSize; id++) if (tok.piece(id) === want) return id;
    throw new Error(`no ${want}`);
  };

  test.each(models)('%s: an emoji over four byte tokens appears only when complete', (_name, tok) => {
    const bytes = [...new TextEncoder().encode('😊')];
    const ids = bytes.map((b) => byteId(tok(), b));
    expect(tok().encode('😊', { bos: false }).slice(-4)).toEqual(ids);
    const d = new StreamDecoder(tok());
    expect(d.push(tok().bos)).toBe('');
    expect(ids.map((id) => d.push(id))).toEqual(['', '', '', '😊']);
    expect(d.flush()).toBe('');
  });

  test('an incomplete character is held back, then flushed as U+FFFD; the stream restarts', () => {
    const tok = stories();
    const [b0, b1] = [0xe4, 0xb8].map((b) => byteId(tok, b)); // the first two bytes of '中'
    const d = new StreamDecoder(tok);
    expect(d.push(b0!) + d.push(b1!)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(tok.decode([b0!, b1!])).toBe('\uFFFD');
    expect(streamed(tok, tok.encode('Once upon')).join('')).toBe('Once upon');
  });

  test('a multi-byte character split across byte tokens mid-word', () => {
    const tok = debtext();
    const ids = tok.encode('naïve');
    expect(ids.some((id) => /^<0x/.test(tok.piece(id)))).toBe(true);
    const out = streamed(tok, ids);
    expect(out.join('')).toBe('naïve');
    expect(out.every((s) => !s.includes('\uFFFD'))).toBe(true);
  });
});

describe('greedy goldens', () => {
  test('stories260K: prompt ids and generated text', () => {
    const g = json<{ prompt: string; prompt_ids: number[]; generated_ids: number[]; generated_pieces: string[]; text_llama2c: string }>(
      'reference', 'stories260K', 'greedy_once_upon_a_time.json');
    const tok = stories();
    expect(tok.encode(g.prompt)).toEqual(g.prompt_ids);
    expect(tok.decode([...g.prompt_ids, ...g.generated_ids])).toBe(g.text_llama2c);
    // A continuation keeps its spaces: each generated token alone decodes to llama2c's piece.
    expect(g.generated_ids.map((id) => tok.decode([id]))).toEqual(g.generated_pieces);
    const d = new StreamDecoder(tok);
    for (const id of g.prompt_ids) d.push(id);
    expect(g.generated_ids.map((id) => d.push(id))).toEqual(g.generated_pieces);
  });

  test('llama16m-debtext: prompt ids, pieces and text', () => {
    const g = json<{ prompt: string; prompt_ids: number[]; generated_ids: number[]; generated_pieces: string[]; text: string }>(
      'reference', 'llama16m-debtext', 'greedy_the_meaning_of_life_is.json');
    const tok = debtext();
    expect(tok.encode(g.prompt)).toEqual(g.prompt_ids);
    expect(g.generated_ids.map((id) => tok.piece(id))).toEqual(g.generated_pieces);
    expect(tok.decode([...g.prompt_ids, ...g.generated_ids])).toBe(g.text);
  });
});

describe('whole files', () => {
  // llama16m-debtext's recipe counted [BOS] + sentencepiece ids of each file minus one trailing
  // newline (as llama.cpp's -f does) and found llama.cpp identical; we must give the same counts.
  const streams = () => json<{ streams: Record<string, { llamacpp_tokens: number; identical: boolean }> }>(
    'reference', 'llama16m-debtext', 'tokenizer_vectors.json').streams;
  const chomp = (s: string) => (s.endsWith('\n') ? s.slice(0, -1) : s);

  // Speed is bench/ work; the time is printed for the record.
  test('wiki.test.raw: llama.cpp token count, round trip', () => {
    const wiki = chomp(text('data', 'wiki.test.raw'));
    const tok = debtext();
    const t0 = performance.now();
    const ids = tok.encode(wiki);
    const ms = performance.now() - t0;
    console.log(`encode wiki.test.raw (${wiki.length} chars) → ${ids.length} tokens in ${ms.toFixed(0)} ms`);
    expect(ids.length).toBe(streams()['wiki']!.llamacpp_tokens);
    expect(tok.decode(ids)).toBe(wiki);
  });

  test('debtext_calib.txt: llama.cpp token count', () => {
    expect(debtext().encode(chomp(text('data', 'debtext_calib.txt'))).length).toBe(streams()['calib']!.llamacpp_tokens);
  });

  test('streaming a long text equals one decode', () => {
    const tok = stories();
    const ids = tok.encode(text('data', 'wiki.test.raw').slice(0, 100_000));
    expect(streamed(tok, ids).join('')).toBe(tok.decode(ids));
  });
});

/** A hand-made GGUF vocabulary: <unk> <s> </s>, 256 byte tokens, then `extra` normal pieces. */
function vocabFile(extra: [string, number][], meta: Record<string, GGUFValue | undefined> = {}): GGUFFile {
  const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) => hex(b)), ...extra.map((e) => e[0])];
  const types = [2, 3, 3, ...new Array<number>(256).fill(6), ...extra.map(() => 1)];
  const m = new Map<string, GGUFValue>([
    ['tokenizer.ggml.model', 'llama'],
    ['tokenizer.ggml.tokens', tokens],
    ['tokenizer.ggml.scores', Float32Array.from([0, 0, 0, ...new Array<number>(256).fill(0), ...extra.map((e) => e[1])])],
    ['tokenizer.ggml.token_type', Int32Array.from(types)],
    ['tokenizer.ggml.bos_token_id', 1],
    ['tokenizer.ggml.eos_token_id', 2],
    ['tokenizer.ggml.unknown_token_id', 0],
  ]);
  for (const [k, v] of Object.entries(meta)) {
    if (v === undefined) m.delete(k);
    else m.set(k, v);
  }
  return { version: 3, metadata: m, tensors: new Map(), alignment: 32, dataOffset: 0, source: inMemory(new Uint8Array(0)) };
}
const FIRST = 259; // id of the first extra piece

describe('merge order and options on a small vocabulary', () => {
  test('equal scores merge the leftmost pair first', () => {
    const tok = Tokenizer.fromGGUF(vocabFile([['▁', -1], ['a', -1], ['aa', -2]]));
    expect(tok.encode('aaa')).toEqual([1, FIRST, FIRST + 2, FIRST + 1]);
  });

  test('the highest-scoring pair merges first', () => {
    const tok = Tokenizer.fromGGUF(vocabFile([['▁', -1], ['a', -1], ['b', -1], ['ab', -3], ['ba', -2]]));
    expect(tok.encode('aba')).toEqual([1, FIRST, FIRST + 1, FIRST + 4]);
  });

  test('characters outside the vocabulary become their UTF-8 bytes, looked up by piece', () => {
    const tok = Tokenizer.fromGGUF(vocabFile([['▁', -1]]));
    expect(tok.encode('é', { bos: false })).toEqual([FIRST, 3 + 0xc3, 3 + 0xa9]);
    expect(tok.decode([1, ...tok.encode('é', { bos: false })])).toBe('é');
  });

  test('bos and add_space_prefix options; empty text', () => {
    const base = vocabFile([['▁', -1], ['a', -1]]);
    expect(Tokenizer.fromGGUF(base).encode('')).toEqual([1]);
    expect(Tokenizer.fromGGUF(base).encode('', { bos: false })).toEqual([]);
    const noBos = Tokenizer.fromGGUF(vocabFile([['▁', -1], ['a', -1]], { 'tokenizer.ggml.add_bos_token': false }));
    expect(noBos.addBos).toBe(false);
    expect(noBos.encode('a')).toEqual([FIRST, FIRST + 1]);
    expect(noBos.encode('a', { bos: true })).toEqual([1, FIRST, FIRST + 1]);
    const noPrefix = Tokenizer.fromGGUF(vocabFile([['▁', -1], ['a', -1]], { 'tokenizer.ggml.add_space_prefix': false }));
    expect(noPrefix.encode('a a')).toEqual([1, FIRST + 1, FIRST, FIRST + 1]);
    expect(noPrefix.decode(noPrefix.encode(' a'))).toBe(' a');
  });

  test('user-defined tokens are cut out first and the text after them gets the dummy prefix', () => {
    const f = vocabFile([['▁', -1], ['a', -1], ['<x>', 0]]);
    (f.metadata.get('tokenizer.ggml.token_type') as Int32Array)[FIRST + 2] = 4;
    const tok = Tokenizer.fromGGUF(f);
    expect(tok.encode('a<x>a')).toEqual([1, FIRST, FIRST + 1, FIRST + 2, FIRST, FIRST + 1]);
    expect(tok.decode([1, FIRST + 2, FIRST + 1])).toBe('<x>a');
  });

  test('control texts stay text unless parseSpecial; add_eos_token; eogIds holds eos and eot', () => {
    const f = vocabFile([['▁', -1], ['a', -1], ['<|im_end|>', 0]], { 'tokenizer.ggml.add_eos_token': true });
    (f.metadata.get('tokenizer.ggml.token_type') as Int32Array)[FIRST + 2] = 3;
    const tok = Tokenizer.fromGGUF(f);
    expect(tok.encode('a</s>', { parseSpecial: true })).toEqual([1, FIRST, FIRST + 1, 2, 2]);
    expect(tok.encode('a</s>')).not.toContain(FIRST + 2);
    expect(tok.encode('a</s>').slice(-2)).not.toEqual([2, 2]);
    expect(tok.encode('a', { eos: false })).toEqual([1, FIRST, FIRST + 1]);
    expect([...tok.eogIds].sort((x, y) => x - y)).toEqual([2, FIRST + 2]); // </s>, and <|im_end|> by its text
    expect(stories().eogIds).toEqual(new Set([stories().eos]));
  });

  test('control tokens decode to nothing and isControl says so', () => {
    const tok = stories();
    expect(tok.isControl(tok.bos)).toBe(true);
    expect(tok.isControl(tok.eos)).toBe(true);
    expect(tok.isControl(300)).toBe(false);
    expect(tok.isControl(-1)).toBe(false);
    expect(tok.decode([tok.bos, ...tok.encode('Hi', { bos: false }), tok.eos])).toBe('Hi');
    expect(tok.piece(tok.bos)).toBe('<s>');
  });

  test('ids outside the vocabulary are an OptionError', () => {
    const tok = stories();
    expect(() => tok.decode([tok.vocabSize])).toThrow(OptionError);
    expect(() => tok.piece(-1)).toThrow(OptionError);
    expect(() => new StreamDecoder(tok).push(1.5)).toThrow(OptionError);
  });
});

describe('bad tokenizer metadata → ModelFormatError', () => {
  const base: [string, number][] = [['▁', -1], ['a', -1]];
  test.each<[string, Record<string, GGUFValue | undefined>, string]>([
    ['no model', { 'tokenizer.ggml.model': undefined }, 'MISSING_METADATA'],
    ['bert model', { 'tokenizer.ggml.model': 'bert' }, 'UNSUPPORTED_TOKENIZER'],
    ['gpt2 model without merges', { 'tokenizer.ggml.model': 'gpt2' }, 'MISSING_METADATA'],
    ['no tokens', { 'tokenizer.ggml.tokens': undefined }, 'MISSING_METADATA'],
    ['tokens not strings', { 'tokenizer.ggml.tokens': Float32Array.of(1, 2) }, 'BAD_VALUE'],
    ['tokens with a number', { 'tokenizer.ggml.tokens': ['a', 1 as unknown as string] }, 'BAD_VALUE'],
    ['no scores', { 'tokenizer.ggml.scores': undefined }, 'MISSING_METADATA'],
    ['scores too short', { 'tokenizer.ggml.scores': new Float32Array(3) }, 'BAD_VALUE'],
    ['scores as strings', { 'tokenizer.ggml.scores': ['0'] }, 'BAD_VALUE'],
    ['no token types', { 'tokenizer.ggml.token_type': undefined }, 'MISSING_METADATA'],
    ['token types too short', { 'tokenizer.ggml.token_type': new Int32Array(5) }, 'BAD_VALUE'],
    ['token type 9', { 'tokenizer.ggml.token_type': new Int32Array(261).fill(9) }, 'BAD_VALUE'],
    ['bos out of range', { 'tokenizer.ggml.bos_token_id': 261 }, 'BAD_VALUE'],
    ['eos negative', { 'tokenizer.ggml.eos_token_id': -5 }, 'BAD_VALUE'],
    ['bos not a number', { 'tokenizer.ggml.bos_token_id': 'one' }, 'BAD_VALUE'],
    ['add_bos_token not a bool', { 'tokenizer.ggml.add_bos_token': 1 }, 'BAD_VALUE'],
  ])('%s', (_name, meta, code) => {
    let err: unknown;
    try { Tokenizer.fromGGUF(vocabFile(base, meta)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).code).toBe(code);
  });

  test('a byte token that does not read <0xXX>', () => {
    const f = vocabFile(base);
    (f.metadata.get('tokenizer.ggml.tokens') as string[])[3] = 'byte';
    expect(() => Tokenizer.fromGGUF(f)).toThrow(ModelFormatError);
  });

  test('unknown_token_id 0xFFFFFFFF means none; then every byte needs a token', () => {
    expect(Tokenizer.fromGGUF(vocabFile(base, { 'tokenizer.ggml.unknown_token_id': 0xffffffff })).unk).toBe(-1);
    const f = vocabFile(base, { 'tokenizer.ggml.unknown_token_id': 0xffffffff });
    (f.metadata.get('tokenizer.ggml.tokens') as string[])[3 + 0x80] = 'x';
    (f.metadata.get('tokenizer.ggml.token_type') as Int32Array)[3 + 0x80] = 1;
    expect(() => Tokenizer.fromGGUF(f)).toThrowError(expect.objectContaining({ code: 'UNSUPPORTED_TOKENIZER' }));
  });
});
