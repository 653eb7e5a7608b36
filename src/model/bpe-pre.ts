// Byte-level BPE pre-tokenization: the regex splits llama.cpp applies before merging, per
// `tokenizer.ggml.pre` (src/llama-vocab.cpp, llm_tokenizer_bpe constructor; unicode.cpp
// unicode_regex_split), and GPT-2's byte↔unicode map (unicode_byte_to_utf8_map).
//
// Each regex of a list splits every piece the previous one left, keeping the text between
// matches as pieces too (Hugging Face's Split "Isolated"; unicode_regex_split_stl). llama.cpp runs
// hand-written scanners for the GPT-2, Llama 3 and Qwen2 expressions; they implement the same
// regexes. Unicode classes: \s is White_Space (llama.cpp's unicode_set_whitespace; JavaScript's
// own \s would also take U+FEFF and miss U+0085), \p{L} and \p{N} are JavaScript's.

import { ModelFormatError } from '../errors.js';

const S = '\\p{White_Space}';
const NS = '\\P{White_Space}';
// (?i:'s|'t|…) of the Hugging Face files, spelled case by case as llama.cpp adapted it (PR 6920).
const CONTRACTIONS_CI = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${S}\\p{L}\\p{N}]+|${S}+(?!${NS})|${S}+`;
const llama3Like = (digits: string): string =>
  `${CONTRACTIONS_CI}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${digits}| ?[^${S}\\p{L}\\p{N}]+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NS})|${S}+`;
const LLAMA3 = llama3Like('\\p{N}{1,3}'); // numbers in groups of up to three digits
const QWEN2 = llama3Like('\\p{N}'); // every digit alone

interface PreTokenizer {
  regexes: string[];
  /** A word that is a whole vocabulary token skips merging (llama.cpp ignore_merges; HF "ignore_merges"). */
  ignoreMerges: boolean;
  /** llama.cpp's add_bos for this pre type when tokenizer.ggml.add_bos_token is absent. */
  addBos: boolean;
}

const gpt2: PreTokenizer = { regexes: [GPT2], ignoreMerges: false, addBos: false };
const smollm: PreTokenizer = { regexes: ['\\p{N}', GPT2], ignoreMerges: false, addBos: false };
const qwen2: PreTokenizer = { regexes: [QWEN2], ignoreMerges: false, addBos: false };
const llama3: PreTokenizer = { regexes: [LLAMA3], ignoreMerges: true, addBos: true };
// LLAMA_VOCAB_PRE_TYPE_DEFAULT: what llama.cpp uses for "default" or a file without `pre`.
const fallback: PreTokenizer = {
  regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'], ignoreMerges: false, addBos: false,
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
