// Byte-level BPE tokenizer (GGUF tokenizer.ggml.model = "gpt2": Llama 3, Qwen2.5/3, SmolLM2, GPT-2),
// token for token what llama.cpp does for LLAMA_VOCAB_TYPE_BPE (src/llama-vocab.cpp:
// llm_tokenizer_bpe_session::tokenize, tokenizer_st_partition, token_to_piece).
//
// Encoding: special tokens are cut out first (control and user-defined texts with parseSpecial, the
// default; user-defined only without); each remaining fragment is split into words by the
// pre-tokenizer regexes of tokenizer.ggml.pre (bpe-pre.ts); each word's UTF-8 bytes become GPT-2's
// byte characters, one symbol per byte, and are merged bottom-up: always the adjacent pair whose
// merge has the lowest rank (its index in tokenizer.ggml.merges), the leftmost on ties (a linked
// list and a heap, as llm_tokenizer_bpe_session; words are cached, so repeated words cost a lookup).
// With ignore_merges (Llama 3), a word that is itself a token is that token.
//
// Decoding: normal pieces map back through the byte table to raw bytes, joined into UTF-8 (a
// character split over tokens is whole once its last byte arrives; invalid bytes become U+FFFD);
// user-defined tokens are their text; control, unknown and unused tokens are ''. llama.cpp also
// "cleans up" spaces before punctuation when detokenizing Llama 3 or GPT-2 text; we do not, so that
// decode(encode(x)) === x and streamed text equals a whole decode.

import { BigramQueue } from './bigram-queue.js';
import { BYTE_TO_CHAR, charToByte, PreTokenize } from './bpe-pre.js';
import type { GGUFFile } from './gguf.js';
import {
  bad, checkTokenId, eogIds, flag, LONE_SURROGATE, missing, partition, readPieces, readTypes, specialId, specialsOf, TokenType, utf8Text,
  type EncodeOptions, type Metadata, type Special, type Tokenizer,
} from './vocab.js';

const utf8Encoder = new TextEncoder();
const WORD_CACHE_LIMIT = 1 << 14; // distinct words kept; the cache is dropped whole when full
const WORD_CACHE_MAX_LENGTH = 64; // longer words (rare, and costly to hold) are merged each time

export class BpeTokenizer implements Tokenizer {
  readonly model = 'gpt2' as const;
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly unk: number;
  readonly eogIds: ReadonlySet<number>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix = false;
  readonly maxPieceLength: number;
  /** The pre-tokenizer name (tokenizer.ggml.pre), "default" when the file has none. */
  readonly pre: string;

  private readonly pieces: string[];
  private readonly types: Uint8Array;
  private readonly ids = new Map<string, number>();
  private readonly split: PreTokenize;
  /** (left id · vocabSize + right id) → merge rank; only merges of three vocabulary tokens. */
  private readonly ranks = new Map<number, number>();
  private readonly mergedId: Int32Array; // (merges) the token a merge makes
  private readonly byteIds = new Int32Array(256); // token of each byte's character, -1 if none
  private readonly specials: Special[]; // control, user-defined, unknown: matched with parseSpecial
  private readonly userDefined: Special[]; // matched always
  private readonly bytes: (Uint8Array | undefined)[]; // (vocab) decoded bytes, filled on first use
  private cache = new Map<string, number[]>();

  private constructor(meta: Metadata, pieces: string[], types: Uint8Array, merges: string[], split: PreTokenize) {
    const n = pieces.length;
    this.pieces = pieces;
    this.types = types;
    this.vocabSize = n;
    this.split = split;
    this.pre = split.pre ?? 'default';
    let maxLen = 0;
    for (let i = 0; i < n; i++) {
      this.ids.set(pieces[i]!, i); // later duplicates win, as llama.cpp's token_to_id at c392e509
      maxLen = Math.max(maxLen, pieces[i]!.length); // a piece never decodes to more UTF-16 units than it has
    }
    this.maxPieceLength = maxLen;
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.ids.get(BYTE_TO_CHAR[b]!) ?? -1;
    this.mergedId = new Int32Array(merges.length).fill(-1);
    this.readMerges(merges);
    this.bytes = new Array<Uint8Array | undefined>(n);

    // llama.cpp's BPE defaults: BOS and EOS 11 when the file names none; add_bos per pre type.
    this.bos = specialId(meta, 'tokenizer.ggml.bos_token_id', 11, n, false);
    this.eos = specialId(meta, 'tokenizer.ggml.eos_token_id', 11, n, false);
    this.unk = specialId(meta, 'tokenizer.ggml.unknown_token_id', -1, n, true);
    this.addBos = flag(meta, 'tokenizer.ggml.add_bos_token', split.addBos);
    this.addEos = flag(meta, 'tokenizer.ggml.add_eos_token', false);
    this.eogIds = eogIds(meta, pieces, this.eos);
    this.specials = specialsOf(pieces, types, (t) =>
      t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN);
    this.userDefined = specialsOf(pieces, types, (t) => t === TokenType.USER_DEFINED);
  }

  /** Reads a byte-level BPE vocabulary from GGUF metadata; throws ModelFormatError when it is missing or inconsistent. */
  static fromGGUF(file: GGUFFile): BpeTokenizer {
    return BpeTokenizer.fromMetadata(file.metadata);
  }

  static fromMetadata(meta: Metadata): BpeTokenizer {
    const model = meta.get('tokenizer.ggml.model');
    if (model !== 'gpt2') bad('tokenizer.ggml.model', `is ${JSON.stringify(model)}; a byte-level BPE vocabulary says "gpt2"`);
    const pre = meta.get('tokenizer.ggml.pre');
    if (pre !== undefined && typeof pre !== 'string') bad('tokenizer.ggml.pre', 'should be a string');
    const split = new PreTokenize(pre); // first: an unsupported pre-tokenizer is the error worth reporting
    const pieces = readPieces(meta);
    const types = readTypes(meta, pieces.length, true);
    const merges = meta.get('tokenizer.ggml.merges');
    if (merges === undefined) missing('tokenizer.ggml.merges');
    if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string')) {
      bad('tokenizer.ggml.merges', 'should be an array of strings');
    }
    return new BpeTokenizer(meta, pieces, types, merges as string[], split);
  }

  /** Token ids of `text`; BOS first when `opts.bos` (default `addBos`), EOS last when `opts.eos` (default `addEos`). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.bos ?? this.addBos) out.push(this.bos);
    if (text.length > 0) {
      // A UTF-8 encoder would write a lone surrogate as U+FFFD; do the same before tokenising.
      text = text.replace(LONE_SURROGATE, '\uFFFD');
      const specials = opts.parseSpecial ?? true ? this.specials : this.userDefined;
      for (const fragment of partition(text, specials)) {
        if (typeof fragment === 'number') out.push(fragment);
        else for (const word of this.split.split(fragment)) this.encodeWord(word, out);
      }
    }
    if (opts.eos ?? this.addEos) out.push(this.eos);
    return out;
  }

  /** The piece as stored: byte characters ("Ġthe" for " the"), or a special token's text. */
  piece(id: number): string {
    return this.pieces[this.check(id)]!;
  }

  /** The UTF-8 bytes token `id` adds to decoded text; may be part of a character. */
  pieceBytes(id: number): Uint8Array {
    return (this.bytes[this.check(id)] ??= this.decodePiece(id));
  }

  decode(ids: number[]): string {
    return utf8Text(ids.map((id) => this.pieceBytes(id)));
  }

  isControl(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.types[id] === TokenType.CONTROL;
  }

  private check(id: number): number {
    return checkTokenId(id, this.vocabSize);
  }

  /** Ranks of "left right" merges; a merge whose parts or result are not tokens can never apply to token ids. */
  private readMerges(merges: string[]): void {
    const n = this.vocabSize;
    merges.forEach((m, rank) => {
      const at = m.indexOf(' ', 1); // llama.cpp: the first space after the first character
      if (at < 0) return;
      const left = this.ids.get(m.slice(0, at));
      const right = this.ids.get(m.slice(at + 1));
      const made = this.ids.get(m.slice(0, at) + m.slice(at + 1));
      if (left === undefined || right === undefined || made === undefined) return;
      const key = left * n + right;
      if (this.ranks.has(key)) return; // the first listing wins (llama.cpp bpe_ranks.emplace)
      this.ranks.set(key, rank);
      this.mergedId[rank] = made;
    });
  }

  private encodeWord(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.mergeWord(utf8Encoder.encode(word));
      if (word.length <= WORD_CACHE_MAX_LENGTH) {
        if (this.cache.size >= WORD_CACHE_LIMIT) this.cache = new Map();
        this.cache.set(word, ids);
      }
    }
    for (const id of ids) out.push(id);
  }

  /** llm_tokenizer_bpe_session::tokenize for one word, from its UTF-8 bytes. */
  private mergeWord(bytes: Uint8Array): number[] {
    const n = bytes.length;
    if (this.split.ignoreMerges) {
      let s = '';
      for (const b of bytes) s += BYTE_TO_CHAR[b]!;
      const whole = this.ids.get(s);
      if (whole !== undefined) return [whole];
    }
    // Symbols: one per byte in a doubly linked list; `len` (bytes) 0 marks a symbol merged away.
    const sym = new Int32Array(n);
    const len = new Int32Array(n).fill(1);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sym[i] = this.byteIds[bytes[i]!]!;
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const queue = new BigramQueue(n);
    const V = this.vocabSize;
    const tryAdd = (left: number, right: number): void => {
      if (left < 0 || right < 0 || sym[left]! < 0 || sym[right]! < 0) return;
      const rank = this.ranks.get(sym[left]! * V + sym[right]!);
      if (rank !== undefined) queue.push(-rank, left, right, len[left]! + len[right]!); // lowest rank first
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (queue.length > 0) {
      const left = queue.topLeft(), right = queue.topRight(), size = queue.topSize();
      queue.pop();
      // Stale: symbols only grow, so an unchanged total length means neither side changed.
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
      sym[left] = this.mergedId[this.ranks.get(sym[left]! * V + sym[right]!)!]!;
      len[left] = size;
      len[right] = 0;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryAdd(prev[left]!, left);
      tryAdd(left, next[left]!);
    }
    const ids: number[] = [];
    // A byte whose character is no token is dropped, as llama.cpp's fallback finds no token for it either.
    for (let i = n > 0 ? 0 : -1; i !== -1; i = next[i]!) if (sym[i]! >= 0) ids.push(sym[i]!);
    return ids;
  }

  /** llama.cpp token_to_piece with special = false. */
  private decodePiece(id: number): Uint8Array {
    const p = this.pieces[id]!;
    switch (this.types[id]) {
      case TokenType.NORMAL: {
        const out = new Uint8Array(p.length * 4);
        let at = 0;
        for (const ch of p) {
          const b = charToByte(ch.codePointAt(0)!);
          if (b >= 0) out[at++] = b;
          else at += utf8Encoder.encodeInto(ch, out.subarray(at)).written; // not a byte character: itself
        }
        return out.slice(0, at);
      }
      case TokenType.USER_DEFINED: return utf8Encoder.encode(p);
      case TokenType.BYTE: {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
        if (!m) bad('tokenizer.ggml.tokens', `has byte token ${id} "${p}"; byte tokens must read <0xXX>`);
        return Uint8Array.of(parseInt(m[1]!, 16));
      }
      default: return new Uint8Array(0); // control, unknown, unused, undefined: invisible
    }
  }
}
