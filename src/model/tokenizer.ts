// Llama SentencePiece tokenizer built from GGUF vocabulary metadata, token for token what
// llama.cpp does for LLAMA_VOCAB_TYPE_SPM (src/llama-vocab.cpp: llama_vocab::impl::tokenize,
// llm_tokenizer_spm_session, token_to_piece, detokenize; checked against commit c392e509).
//
// Encoding: user-defined tokens are cut out first (tokenizer_st_partition with parse_special off:
// control and unknown texts stay plain text); each remaining fragment gets the dummy-prefix space
// when it starts the input or follows a cut-out token, spaces become '▁' (U+2581), and the fragment
// is merged bottom-up from code points: always the adjacent pair whose concatenation is a vocabulary
// piece of the highest score, the leftmost on ties (a linked list of symbols and a binary heap of
// bigrams, as llm_tokenizer_spm). A final symbol that is no piece becomes byte tokens <0xXX>.
//
// Decoding: '▁' becomes ' ', byte tokens are raw bytes joined into UTF-8 (invalid bytes become
// U+FFFD), control and unused tokens are '', unknown and user-defined tokens are their text.
// Leading space: when a sequence starts with BOS (and the vocabulary adds the dummy prefix), the
// first non-control token after it loses one leading space, as sentencepiece's decoder does, so
// decode(encode(x)) === x. A sequence that does not start with BOS keeps every space: it is a
// continuation (generated tokens after a prompt), whose first space is real. llama.cpp differs in
// both places (its detokenize strips only when the first token is not BOS); we follow sentencepiece.

import { ModelFormatError, OptionError } from '../errors.js';
import { BigramQueue } from './bigram-queue.js';
import type { GGUFFile, GGUFValue } from './gguf.js';
import { DummyPrefix } from './stream-decoder.js';

/** llama.cpp's llama_token_type, as stored in tokenizer.ggml.token_type. */
export const enum TokenType {
  UNDEFINED = 0, NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6,
}

const SPACE = '\u2581'; // '▁', sentencepiece's visible space
const NONE = 0xffffffff; // a u32 special-token id that GGUF writers use for "no such token"
const HEX = '0123456789ABCDEF';
const utf8Encoder = new TextEncoder();

export interface EncodeOptions {
  /** Prepend BOS; defaults to the model's tokenizer.ggml.add_bos_token (true when absent). */
  bos?: boolean;
}

export class Tokenizer {
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  /** Unknown-token id, or -1 when the vocabulary has none. */
  readonly unk: number;
  readonly addBos: boolean;
  /** Whether encode prepends a space (sentencepiece's add_dummy_prefix). */
  readonly addSpacePrefix: boolean;

  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly types: Uint8Array;
  private readonly ids = new Map<string, number>();
  private readonly byteIds = new Int32Array(256);
  private readonly bytes: Uint8Array[]; // (vocab) what each token contributes to decoded text
  private readonly userDefined: { text: string; id: number }[]; // longest first
  /** UTF-16 units of the longest piece: no token covers more of a text. */
  readonly maxPieceLength: number;

  private constructor(
    pieces: string[], scores: Float32Array, types: Uint8Array,
    special: { bos: number; eos: number; unk: number; addBos: boolean; addSpacePrefix: boolean },
  ) {
    this.pieces = pieces;
    this.scores = scores;
    this.types = types;
    this.vocabSize = pieces.length;
    this.bos = special.bos;
    this.eos = special.eos;
    this.unk = special.unk;
    this.addBos = special.addBos;
    this.addSpacePrefix = special.addSpacePrefix;

    let maxLen = 0;
    // Later duplicates win, as in llama.cpp's token_to_id.
    for (let i = 0; i < pieces.length; i++) {
      this.ids.set(pieces[i]!, i);
      maxLen = Math.max(maxLen, pieces[i]!.length);
    }
    this.maxPieceLength = maxLen;

    // llama.cpp byte_to_token: "<0xXX>", else the byte itself as a one-character piece.
    for (let b = 0; b < 256; b++) {
      const id = this.ids.get(`<0x${HEX[b >> 4]}${HEX[b & 15]}>`) ?? (b < 0x80 ? this.ids.get(String.fromCharCode(b)) : undefined);
      if (id === undefined && this.unk < 0) {
        throw new ModelFormatError('UNSUPPORTED_TOKENIZER',
          `The vocabulary has no token for byte 0x${HEX[b >> 4]}${HEX[b & 15]} and no unknown token; ` +
          `was-edge needs a SentencePiece vocabulary with byte fallback.`);
      }
      // Without byte fallback, sentencepiece maps what it cannot spell to the unknown token.
      this.byteIds[b] = id ?? this.unk;
    }

    this.bytes = pieces.map((p, id) => {
      switch (types[id]) {
        case TokenType.NORMAL: return utf8Encoder.encode(p.replaceAll(SPACE, ' '));
        case TokenType.BYTE: {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
          if (!m) throw new ModelFormatError('BAD_VALUE', `GGUF byte token ${id} is "${p}"; byte tokens must read <0xXX>.`);
          return Uint8Array.of(parseInt(m[1]!, 16));
        }
        case TokenType.UNKNOWN: case TokenType.USER_DEFINED: return utf8Encoder.encode(p);
        default: return new Uint8Array(0); // control, unused, undefined: invisible
      }
    });

    this.userDefined = [];
    for (let id = 0; id < pieces.length; id++) {
      if (types[id] === TokenType.USER_DEFINED) this.userDefined.push({ text: pieces[id]!, id });
    }
    this.userDefined.sort((a, b) => b.text.length - a.text.length || a.id - b.id);
  }

  /** Reads the vocabulary from `tokenizer.ggml.*` metadata; throws ModelFormatError when it is missing or inconsistent. */
  static fromGGUF(file: GGUFFile): Tokenizer {
    const meta = file.metadata;
    const model = meta.get('tokenizer.ggml.model');
    if (model === undefined) missing('tokenizer.ggml.model');
    if (model !== 'llama') {
      throw new ModelFormatError('UNSUPPORTED_TOKENIZER',
        `GGUF tokenizer.ggml.model is ${JSON.stringify(model)}; was-edge reads SentencePiece vocabularies ("llama") only.`);
    }

    const tokens = meta.get('tokenizer.ggml.tokens');
    if (tokens === undefined) missing('tokenizer.ggml.tokens');
    if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === 'string')) {
      bad('tokenizer.ggml.tokens', 'should be a non-empty array of strings');
    }
    // llama.cpp names empty pieces so that no empty string can ever match.
    const pieces = (tokens as string[]).map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
    const n = pieces.length;

    const scoresValue = meta.get('tokenizer.ggml.scores');
    if (scoresValue === undefined) missing('tokenizer.ggml.scores');
    if (!(scoresValue instanceof Float32Array || scoresValue instanceof Float64Array)) {
      bad('tokenizer.ggml.scores', 'should be an array of floats');
    }
    if (scoresValue.length !== n) bad('tokenizer.ggml.scores', `has ${scoresValue.length} entries for ${n} tokens`);
    const scores = Float32Array.from(scoresValue);

    const typesValue = meta.get('tokenizer.ggml.token_type');
    if (typesValue === undefined) missing('tokenizer.ggml.token_type');
    if (!isIntArray(typesValue)) bad('tokenizer.ggml.token_type', 'should be an array of integers');
    if (typesValue.length !== n) bad('tokenizer.ggml.token_type', `has ${typesValue.length} entries for ${n} tokens`);
    const types = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const t = typesValue[i]!;
      if (!(t >= TokenType.UNDEFINED && t <= TokenType.BYTE)) bad('tokenizer.ggml.token_type', `token ${i} has type ${t} (0..6 allowed)`);
      types[i] = t;
    }

    // llama.cpp's defaults for SPM vocabularies when the keys are absent.
    const bos = specialId(meta, 'tokenizer.ggml.bos_token_id', 1, n, false);
    const eos = specialId(meta, 'tokenizer.ggml.eos_token_id', 2, n, false);
    const unk = specialId(meta, 'tokenizer.ggml.unknown_token_id', 0, n, true);
    const addBos = flag(meta, 'tokenizer.ggml.add_bos_token', true);
    const addSpacePrefix = flag(meta, 'tokenizer.ggml.add_space_prefix', true);
    return new Tokenizer(pieces, scores, types, { bos, eos, unk, addBos, addSpacePrefix });
  }

  /** Token ids of `text`; BOS first when `opts.bos` (default `addBos`). Empty text gives [BOS] or []. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.bos ?? this.addBos) out.push(this.bos);
    if (text.length === 0) return out;
    // A UTF-8 encoder would write a lone surrogate as U+FFFD; do the same before tokenising.
    text = text.replace(LONE_SURROGATE, '\uFFFD');
    let afterSpecial = true; // the dummy prefix goes on the first fragment and after each cut-out token
    for (const fragment of this.partition(text)) {
      if (typeof fragment === 'number') {
        out.push(fragment);
        afterSpecial = true;
        continue;
      }
      const prefixed = this.addSpacePrefix && afterSpecial ? ' ' + fragment : fragment;
      this.encodeFragment(prefixed.replaceAll(' ', SPACE), out);
      afterSpecial = false;
    }
    return out;
  }

  /** The piece as stored in the vocabulary ('▁' for spaces, "<0x0A>" for bytes), for display and debugging. */
  piece(id: number): string {
    return this.pieces[this.check(id)]!;
  }

  /** The UTF-8 bytes token `id` adds to decoded text (no leading-space rule applied). */
  pieceBytes(id: number): Uint8Array {
    return this.bytes[this.check(id)]!;
  }

  /** Text of `ids`; see the file comment for the leading-space rule after BOS. */
  decode(ids: number[]): string {
    const prefix = new DummyPrefix(this);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      const b = prefix.apply(id, this.pieceBytes(id));
      parts.push(b);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const b of parts) {
      all.set(b, at);
      at += b.length;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
  }

  isControl(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.types[id] === TokenType.CONTROL;
  }

  private check(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new OptionError('id', `token id ${id} is outside the vocabulary (0..${this.vocabSize - 1}).`);
    }
    return id;
  }

  /** Cuts user-defined tokens out of `text`, longest first (llama.cpp tokenizer_st_partition). */
  private partition(text: string): (string | number)[] {
    let fragments: (string | number)[] = [text];
    for (const { text: special, id } of this.userDefined) {
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

  /** llm_tokenizer_spm_session::tokenize over one escaped fragment, appending to `out`. */
  private encodeFragment(s: string, out: number[]): void {
    // Symbols: one per code point, in a doubly linked list; `len` 0 marks a symbol merged away.
    const cap = s.length;
    const start = new Int32Array(cap);
    const len = new Int32Array(cap);
    const prev = new Int32Array(cap);
    const next = new Int32Array(cap);
    let n = 0;
    for (let i = 0; i < s.length; n++) {
      const c = s.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1; // well-formed: a high surrogate has its pair
      start[n] = i;
      len[n] = w;
      prev[n] = n - 1;
      i += w;
      next[n] = i === s.length ? -1 : n + 1;
    }

    const queue = new BigramQueue(n);
    const tryAdd = (left: number, right: number): void => {
      if (left < 0 || right < 0) return;
      const size = len[left]! + len[right]!;
      if (size > this.maxPieceLength) return;
      const id = this.ids.get(s.slice(start[left]!, start[left]! + size));
      if (id === undefined) return;
      queue.push(this.scores[id]!, left, right, size);
    };

    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    while (queue.length > 0) {
      const left = queue.topLeft();
      const right = queue.topRight();
      const size = queue.topSize();
      queue.pop();
      // Stale: one side was merged away or grew since this bigram was queued.
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
      len[left] = size;
      len[right] = 0;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryAdd(prev[left]!, left);
      tryAdd(left, next[left]!);
    }

    for (let i = n > 0 ? 0 : -1; i !== -1; i = next[i]!) {
      const text = s.slice(start[i]!, start[i]! + len[i]!);
      const id = this.ids.get(text);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Only a single code point can miss the vocabulary (every merge makes a piece): spell its bytes.
      for (const b of utf8Encoder.encode(text)) out.push(this.byteIds[b]!);
    }
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function missing(key: string): never {
  throw new ModelFormatError('MISSING_METADATA',
    `GGUF metadata "${key}" is missing; the file has no usable tokenizer. Re-convert the model with llama.cpp.`);
}

function bad(key: string, what: string): never {
  throw new ModelFormatError('BAD_VALUE', `GGUF metadata "${key}" ${what}. Re-convert the model with llama.cpp.`);
}

function isIntArray(v: GGUFValue): v is Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array {
  return v instanceof Int32Array || v instanceof Uint32Array || v instanceof Int16Array ||
    v instanceof Uint16Array || v instanceof Int8Array || v instanceof Uint8Array;
}

function specialId(meta: Map<string, GGUFValue>, key: string, fallback: number, n: number, optional: boolean): number {
  const v = meta.get(key);
  if (v === undefined) {
    if (fallback < n) return fallback;
    if (optional) return -1;
    missing(key);
  }
  if (optional && (v === NONE || v === -1)) return -1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) {
    bad(key, `is ${String(v)}; it must be a token id in 0..${n - 1}`);
  }
  return v;
}

function flag(meta: Map<string, GGUFValue>, key: string, fallback: boolean): boolean {
  const v = meta.get(key);
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') bad(key, `should be a bool, found ${typeof v}`);
  return v;
}
