// Byte-level BPE pre-tokenization: the regex splits llama.cpp applies before merging, per
// `tokenizer.ggml.pre` (src/llama-vocab.cpp, llm_tokenizer_bpe constructor; unicode.cpp
// unicode_regex_split), and GPT-2's byte↔unicode map (unicode_byte_to_utf8_map).
//
// Each regex of a list splits every piece the previous one left, keeping the text between
// matches as pieces too (Hugging Face's Split "Isolated"; unicode_regex_split_stl). llama.cpp runs
// hand-written scanners for the GPT-2, Llama 3 and Qwen2 expressions; they implement the same
// regexes. Unicode classes: \s is White_Space (llama.cpp's unicode_set_whitespace; JavaScript's
// own \s would also take U+FEFF and miss U+0085); letters and numbers are llama.cpp's (L, N below).

import { ModelFormatError } from '../errors.js';

const S = '\\p{White_Space}';
const NS = '\\P{White_Space}';
// llama.cpp c392e509's unicode-data.cpp knows Unicode 15.1; engines with Unicode 16 or 17 (Node 20.20's
// ICU 78 among them) call these letters and digits too, and would split differently around them.
// Taking them out of \p{L} and \p{N} gives llama.cpp's classes on any engine of Unicode 15.1 to 17.
const NEW_L = [
  '\\u{88F}\\u{C5C}\\u{CDC}\\u{1C89}-\\u{1C8A}\\u{A7CB}-\\u{A7CF}\\u{A7D2}\\u{A7D4}',
  '\\u{A7DA}-\\u{A7DC}\\u{A7F1}\\u{105C0}-\\u{105F3}\\u{10940}-\\u{10959}',
  '\\u{10D4A}-\\u{10D65}\\u{10D6F}-\\u{10D85}\\u{10EC2}-\\u{10EC7}\\u{11380}-\\u{11389}',
  '\\u{1138B}\\u{1138E}\\u{11390}-\\u{113B5}\\u{113B7}\\u{113D1}\\u{113D3}',
  '\\u{11BC0}-\\u{11BE0}\\u{11DB0}-\\u{11DDB}\\u{13460}-\\u{143FA}\\u{16100}-\\u{1611D}',
  '\\u{16D40}-\\u{16D6C}\\u{16EA0}-\\u{16EB8}\\u{16EBB}-\\u{16ED3}\\u{16FF2}-\\u{16FF3}',
  '\\u{187F8}-\\u{187FF}\\u{18CFF}\\u{18D09}-\\u{18D1E}\\u{18D80}-\\u{18DF2}',
  '\\u{1E5D0}-\\u{1E5ED}\\u{1E5F0}\\u{1E6C0}-\\u{1E6DE}\\u{1E6E0}-\\u{1E6E2}',
  '\\u{1E6E4}-\\u{1E6E5}\\u{1E6E7}-\\u{1E6ED}\\u{1E6F0}-\\u{1E6F4}\\u{1E6FE}-\\u{1E6FF}',
  '\\u{2B73A}-\\u{2B73F}\\u{2CEA2}-\\u{2CEAD}\\u{323B0}-\\u{33479}',
].join('');
const NEW_N = [
  '\\u{10D40}-\\u{10D49}\\u{116D0}-\\u{116E3}\\u{11BF0}-\\u{11BF9}\\u{11DE0}-\\u{11DE9}',
  '\\u{16130}-\\u{16139}\\u{16D70}-\\u{16D79}\\u{16FF4}-\\u{16FF6}\\u{1CCF0}-\\u{1CCF9}',
  '\\u{1E5F1}-\\u{1E5FA}',
].join('');
const L = `(?:(?![${NEW_L}])\\p{L})`;
const N = `(?:(?![${NEW_N}])\\p{N})`;
/** One character that is neither a letter nor a number (to llama.cpp) nor in `also`. */
const notLN = (also: string): string => `(?:[${NEW_L}${NEW_N}]|[^${also}\\p{L}\\p{N}])`;
// (?i:'s|'t|…) of the Hugging Face files, spelled case by case as llama.cpp adapted it (PR 6920).
const CONTRACTIONS_CI = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?${L}+| ?${N}+| ?${notLN(S)}+|${S}+(?!${NS})|${S}+`;
const llama3Like = (digits: string): string =>
  `${CONTRACTIONS_CI}|${notLN('\\r\\n')}?${L}+|${digits}| ?${notLN(S)}+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NS})|${S}+`;
const LLAMA3 = llama3Like(`${N}{1,3}`); // numbers in groups of up to three digits
const QWEN2 = llama3Like(N); // every digit alone

interface PreTokenizer {
  regexes: string[];
  /** A word that is a whole vocabulary token skips merging (llama.cpp ignore_merges; HF "ignore_merges"). */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos for this pre type when tokenizer.ggml.add_bos_token is absent. */
  addBos: boolean;
}

const gpt2: PreTokenizer = { regexes: [GPT2], ignoreMerges: false, addBos: false };
const smollm: PreTokenizer = { regexes: [N, GPT2], ignoreMerges: false, addBos: false };
const qwen2: PreTokenizer = { regexes: [QWEN2], ignoreMerges: false, addBos: false };
const llama3: PreTokenizer = { regexes: [LLAMA3], ignoreMerges: true, addBos: true };
// LLAMA_VOCAB_PRE_TYPE_DEFAULT: what llama.cpp uses for "default" or a file without `pre`.
const fallback: PreTokenizer = {
  regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, `${N}+`, '[0-9][0-9][0-9]'], ignoreMerges: false, addBos: false,
};

// Names from llama_vocab::impl::load that map to the expressions above.
const PRE: Record<string, PreTokenizer> = {
  'default': fallback,
  'llama3': llama3, 'llama-v3': llama3, 'llama-bpe': llama3, 'falcon3': llama3,
  'dbrx': { ...llama3, ignoreMerges: false, addBos: false },
  'smaug-bpe': { ...llama3, ignoreMerges: false, addBos: false },
  'qwen2': qwen2, 'deepseek-r1-qwen': qwen2, 'megrez': qwen2, 'stablelm2': qwen2,
  'smollm': smollm, 'starcoder': smollm, 'refact': smollm, 'codeshell': smollm, 'command-r': smollm,
  'exaone': smollm, 'minerva-7b': smollm,
  'gpt-2': gpt2, 'phi-2': gpt2, 'mpt': gpt2, 'olmo': gpt2, 'jais': gpt2,
};

/** The `pre` names this module reads. */
export const SUPPORTED_PRE: readonly string[] = Object.keys(PRE);

export class PreTokenize {
  readonly ignoreMerges: boolean;
  readonly addBos: boolean;
  private readonly regexes: RegExp[];

  /** `pre` undefined reads as "default", as llama.cpp does (with its "quality will be degraded" warning). */
  constructor(readonly pre: string | undefined) {
    const name = pre ?? 'default';
    if (!Object.hasOwn(PRE, name)) {
      throw new ModelFormatError('UNSUPPORTED_TOKENIZER',
        `GGUF tokenizer.ggml.pre is ${JSON.stringify(pre)}; was-edge splits byte-level BPE text the ways ` +
        `llama.cpp names ${SUPPORTED_PRE.map((p) => `"${p}"`).join(', ')}. Use a model converted with one of those.`);
    }
    const spec = PRE[name]!;
    this.regexes = spec.regexes.map((r) => new RegExp(r, 'gu'));
    this.ignoreMerges = spec.ignoreMerges;
    this.addBos = spec.addBos;
  }

  /** The words of `text`, in order; their concatenation is `text`. */
  split(text: string): string[] {
    let pieces = [text];
    for (const re of this.regexes) {
      const next: string[] = [];
      for (const p of pieces) splitIsolated(p, re, next);
      pieces = next;
    }
    return pieces;
  }
}

/** Matches of `re` in `s` and the unmatched text between them, all non-empty, appended to `out`. */
function splitIsolated(s: string, re: RegExp, out: string[]): void {
  let at = 0;
  for (const m of s.matchAll(re)) {
    if (m[0].length === 0) continue; // none of the expressions can match empty; a guard, not a case
    if (m.index > at) out.push(s.slice(at, m.index));
    out.push(m[0]);
    at = m.index + m[0].length;
  }
  if (at < s.length) out.push(s.slice(at));
}

/**
 * GPT-2's byte↔unicode map: printable Latin-1 bytes stand for themselves, the other 68 bytes take
 * U+0100.. in byte order, so that every byte is one visible character of a vocabulary piece.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const map: string[] = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return map;
})();

/** Inverse of BYTE_TO_CHAR: the byte a piece character stands for, or -1. */
export function charToByte(code: number): number {
  if (code < 0x100) return BYTE_TO_CHAR[code]!.charCodeAt(0) === code ? code : -1;
  return CHAR_TO_BYTE.get(code) ?? -1;
}

const CHAR_TO_BYTE = new Map<number, number>(
  BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b] as [number, number]).filter(([c]) => c >= 0x100),
);
