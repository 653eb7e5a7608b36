// What every tokenizer shares: the Tokenizer interface the rest of the code uses, llama.cpp's token
// types, the end-of-generation set, cutting special tokens out of a prompt, and checked reads of
// `tokenizer.ggml.*` metadata. SentencePiece lives in tokenizer.ts, byte-level BPE in bpe.ts.

import { ModelFormatError, OptionError } from '../errors.js';
import type { GGUFValue } from './gguf.js';

/** llama.cpp's llama_token_type, as stored in tokenizer.ggml.token_type. */
export const enum TokenType {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
}

export type Metadata = ReadonlyMap<string, GGUFValue>;

export interface EncodeOptions {
  /** Prepend BOS; defaults to the model's tokenizer.ggml.add_bos_token. */
  bos?: boolean;
  /** Append EOS; defaults to the model's tokenizer.ggml.add_eos_token (false when absent). */
  eos?: boolean;
  /**
   * Read control-token texts in the prompt ("<|im_start|>", "<|eot_id|>") as those single tokens,
   * as llama.cpp does when it tokenizes a prompt. User-defined tokens are always matched. Default:
   * true for byte-level BPE; false for SentencePiece, whose goldens were made that way.
   */
  parseSpecial?: boolean;
}

/** The one tokenizer shape the engine, the stream decoder and generation use. */
export interface Tokenizer {
  /** `tokenizer.ggml.model`: "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
  readonly model: 'llama' | 'gpt2';
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  /** Unknown-token id, or -1 when the vocabulary has none (byte-level BPE never needs one). */
  readonly unk: number;
  /** Every id that ends generation: eos, eot, eom and end-like control texts (llama.cpp special_eog_ids). */
  readonly eogIds: ReadonlySet<number>;
  readonly addBos: boolean;
  /** Whether text gets sentencepiece's leading space (always false for BPE); StreamDecoder needs it. */
  readonly addSpacePrefix: boolean;
  /** UTF-16 units of the longest piece: no token covers more of a text. */
  readonly maxPieceLength: number;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: number[]): string;
  /** The piece as stored in the vocabulary, for display and debugging. */
  piece(id: number): string;
  /** The UTF-8 bytes token `id` adds to decoded text (control tokens add none). */
  pieceBytes(id: number): Uint8Array;
  isControl(id: number): boolean;
}

/** A GGUF writer's u32 "no such token". */
export const NONE = 0xffffffff;

// llama.cpp llama_vocab::impl::load: texts that end a turn, whatever the ids the file declares.
const EOG_TEXTS = new Set([
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|eom_id|>', '<EOT>',
  '_<EOT>', '<|end_of_text|>', '<end_of_utterance>',
]);

/** eos, eot and eom from the metadata plus every token whose text is in llama.cpp's end-of-turn list. */
export function eogIds(meta: Metadata, pieces: readonly string[], eos: number): ReadonlySet<number> {
  const ids = new Set<number>([eos]);
  for (const key of ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) {
    const id = specialId(meta, key, -1, pieces.length, true);
    if (id >= 0) ids.add(id);
  }
  pieces.forEach((p, id) => {
    if (EOG_TEXTS.has(p)) ids.add(id);
  });
  return ids;
}

export interface Special { text: string; id: number }

/** Special tokens in llama.cpp's matching order: longest text first (ties: lower id). */
export function specialsOf(pieces: readonly string[], types: Uint8Array, accept: (type: number) => boolean): Special[] {
  const out: Special[] = [];
  for (let id = 0; id < pieces.length; id++) {
    if (accept(types[id]!)) out.push({ text: pieces[id]!, id });
  }
  return out.sort((a, b) => b.text.length - a.text.length || a.id - b.id);
}

/**
 * Cuts special-token texts out of `text`, each special in turn over every remaining fragment
 * (llama.cpp tokenizer_st_partition). Returns plain-text fragments and token ids in order.
 */
export function partition(text: string, specials: readonly Special[]): (string | number)[] {
  let fragments: (string | number)[] = [text];
  for (const { text: special, id } of specials) {
    if (!text.includes(special)) continue; // one native scan spares the per-fragment work
    const next: (string | number)[] = [];
    for (const f of fragments) {
      if (typeof f === 'number' || !f.includes(special)) {
        next.push(f);
        continue;
      }
      f.split(special).forEach((part, i) => {
        if (i > 0) next.push(id);
        if (part.length > 0) next.push(part);
      });
    }
    fragments = next;
  }
  return fragments;
}

/** A UTF-8 encoder writes a lone surrogate as U+FFFD; tokenizers do the same before splitting. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function missing(key: string): never {
  throw new ModelFormatError('MISSING_METADATA',
    `GGUF metadata "${key}" is missing; the file has no usable tokenizer. Re-convert the model with llama.cpp.`);
}

export function bad(key: string, what: string): never {
  throw new ModelFormatError('BAD_VALUE', `GGUF metadata "${key}" ${what}. Re-convert the model with llama.cpp.`);
}

/** tokenizer.ggml.tokens, with empty pieces renamed as llama.cpp does so that no empty string can match. */
export function readPieces(meta: Metadata): string[] {
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (tokens === undefined) missing('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === 'string')) {
    bad('tokenizer.ggml.tokens', 'should be a non-empty array of strings');
  }
  return (tokens as string[]).map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
}

/** tokenizer.ggml.token_type, checked to hold n values in 0..6; absent means all NORMAL when `optional`. */
export function readTypes(meta: Metadata, n: number, optional: boolean): Uint8Array {
  const typesValue = meta.get('tokenizer.ggml.token_type');
  if (typesValue === undefined) {
    if (optional) return new Uint8Array(n).fill(TokenType.NORMAL);
    missing('tokenizer.ggml.token_type');
  }
  if (!isIntArray(typesValue)) bad('tokenizer.ggml.token_type', 'should be an array of integers');
  if (typesValue.length !== n) bad('tokenizer.ggml.token_type', `has ${typesValue.length} entries for ${n} tokens`);
  const types = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const t = typesValue[i]!;
    if (!(t >= TokenType.UNDEFINED && t <= TokenType.BYTE)) bad('tokenizer.ggml.token_type', `token ${i} has type ${t} (0..6 allowed)`);
    types[i] = t;
  }
  return types;
}

export function isIntArray(v: GGUFValue): v is Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array {
  return v instanceof Int32Array || v instanceof Uint32Array || v instanceof Int16Array ||
    v instanceof Uint16Array || v instanceof Int8Array || v instanceof Uint8Array;
}

/** A special-token id: `fallback` when absent (-1 if that is outside the vocabulary and `optional`). */
export function specialId(meta: Metadata, key: string, fallback: number, n: number, optional: boolean): number {
  const v = meta.get(key);
  if (v === undefined) {
    if (fallback >= 0 && fallback < n) return fallback;
    if (optional) return -1;
    missing(key);
  }
  if (optional && (v === NONE || v === -1)) return -1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) {
    bad(key, `is ${String(v)}; it must be a token id in 0..${n - 1}`);
  }
  return v;
}

export function flag(meta: Metadata, key: string, fallback: boolean): boolean {
  const v = meta.get(key);
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') bad(key, `should be a bool, found ${typeof v}`);
  return v;
}

/** Token bytes joined and decoded as UTF-8 (invalid bytes become U+FFFD), for both tokenizers' decode(). */
export function utf8Text(parts: readonly Uint8Array[]): string {
  const all = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    all.set(b, at);
    at += b.length;
  }
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
}

/** `id` when it is a token of a vocabulary of `size`, else an OptionError naming it. */
export function checkTokenId(id: number, size: number): number {
  if (!Number.isInteger(id) || id < 0 || id >= size) {
    throw new OptionError('id', `token id ${id} is outside the vocabulary (0..${size - 1}).`);
  }
  return id;
}
