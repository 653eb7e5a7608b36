// The model's tokenizer, chosen by tokenizer.ggml.model: "llama" is the SentencePiece tokenizer
// below, "gpt2" the byte-level BPE of bpe.ts; both implement the Tokenizer interface of vocab.ts.
//
// Llama SentencePiece tokenizer built from GGUF vocabulary metadata, token for token what
// llama.cpp does for LLAMA_VOCAB_TYPE_SPM (src/llama-vocab.cpp: llama_vocab::impl::tokenize,
// llm_tokenizer_spm_session, token_to_piece, detokenize; checked against commit c392e509).
//
// Encoding: user-defined tokens are cut out first (tokenizer_st_partition with parse_special off
// unless EncodeOptions.parseSpecial: control and unknown texts stay plain text); each remaining
// fragment gets the dummy-prefix space when it starts the input or follows a cut-out token, spaces
// become '▁' (U+2581), and the fragment is merged bottom-up from code points: always the adjacent
// pair whose concatenation is a vocabulary piece of the highest score, the leftmost on ties (a
// linked list of symbols and a binary heap of bigrams, as llm_tokenizer_spm). A final symbol that
// is no piece becomes byte tokens <0xXX>.
//
// Decoding: '▁' becomes ' ', byte tokens are raw bytes joined into UTF-8 (invalid bytes become
// U+FFFD), control and unused tokens are '', unknown and user-defined tokens are their text.
// Leading space: when a sequence starts with BOS (and the vocabulary adds the dummy prefix), the
// first non-control token after it loses one leading space, as sentencepiece's decoder does, so
// decode(encode(x)) === x. A sequence that does not start with BOS keeps every space: it is a
// continuation (generated tokens after a prompt), whose first space is real. llama.cpp differs in
// both places (its detokenize strips only when the first token is not BOS); we follow sentencepiece.

import { ModelFormatError } from '../errors.js';
import { BigramQueue } from './bigram-queue.js';
import { BpeTokenizer } from './bpe.js';
import type { GGUFFile } from './gguf.js';
import { DummyPrefix } from './stream-decoder.js';
import {
  bad, checkTokenId, eogIds, flag, LONE_SURROGATE, missing, partition, readPieces, readTypes, specialId, specialsOf, TokenType, utf8Text,
  type EncodeOptions, type Metadata, type Special, type Tokenizer as TokenizerShape,
} from './vocab.js';

export { TokenType, type EncodeOptions } from './vocab.js';

/** The tokenizer of a model: SentencePiece or byte-level BPE, behind one interface (vocab.ts). */
export type Tokenizer = TokenizerShape;

export const Tokenizer = {
  /** Reads the vocabulary from `tokenizer.ggml.*` metadata, choosing the implementation by tokenizer.ggml.model. */
  fromGGUF(file: GGUFFile): Tokenizer {
    return Tokenizer.fromMetadata(file.metadata);
  },
  fromMetadata(meta: Metadata): Tokenizer {
    const model = meta.get('tokenizer.ggml.model');
    if (model === undefined) missing('tokenizer.ggml.model');
    if (model === 'llama') return SpmTokenizer.fromMetadata(meta);
    if (model === 'gpt2') return BpeTokenizer.fromMetadata(meta);
    throw new ModelFormatError('UNSUPPORTED_TOKENIZER',
      `GGUF tokenizer.ggml.model is ${JSON.stringify(model)}; was-edge reads SentencePiece ("llama") and ` +
      `byte-level BPE ("gpt2") vocabularies.`);
  },
};

const SPACE = '\u2581'; // '▁', sentencepiece's visible space
const HEX = '0123456789ABCDEF';
const utf8Encoder = new TextEncoder();

export class SpmTokenizer implements Tokenizer {
  readonly model = 'llama' as const;
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly eogIds: ReadonlySet<number>;
  readonly addEos: boolean;
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
  private readonly userDefined: Special[]; // longest first
  private readonly specials: Special[]; // control, user-defined and unknown, for parseSpecial
  /** UTF-16 units of the longest piece: no token covers more of a text. */
  readonly maxPieceLength: number;

  private constructor(
    pieces: string[], scores: Float32Array, types: Uint8Array,
    special: { bos: number; eos: number; unk: number; addBos: boolean; addEos: boolean; addSpacePrefix: boolean; eogIds: ReadonlySet<number> },
  ) {
    this.pieces = pieces;
    this.scores = scores;
    this.types = types;
    this.vocabSize = pieces.length;
    this.bos = special.bos;
    this.eos = special.eos;
    this.unk = special.unk;
    this.addBos = special.addBos;
    this.addEos = special.addEos;
    this.addSpacePrefix = special.addSpacePrefix;
    this.eogIds = special.eogIds;

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

    this.userDefined = specialsOf(pieces, types, (t) => t === TokenType.USER_DEFINED);
    this.specials = specialsOf(pieces, types, (t) =>
      t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN);
  }

  /** Reads the vocabulary from `tokenizer.ggml.*` metadata; throws ModelFormatError when it is missing or inconsistent. */
  static fromGGUF(file: GGUFFile): SpmTokenizer {
    return SpmTokenizer.fromMetadata(file.metadata);
  }

  static fromMetadata(meta: Metadata): SpmTokenizer {
    const model = meta.get('tokenizer.ggml.model');
    if (model !== 'llama') bad('tokenizer.ggml.model', `is ${JSON.stringify(model)}; a SentencePiece vocabulary says "llama"`);
    const pieces = readPieces(meta);
    const n = pieces.length;

    const scoresValue = meta.get('tokenizer.ggml.scores');
    if (scoresValue === undefined) missing('tokenizer.ggml.scores');
    if (!(scoresValue instanceof Float32Array || scoresValue instanceof Float64Array)) {
      bad('tokenizer.ggml.scores', 'should be an array of floats');
    }
    if (scoresValue.length !== n) bad('tokenizer.ggml.scores', `has ${scoresValue.length} entries for ${n} tokens`);
    const scores = Float32Array.from(scoresValue);

    const types = readTypes(meta, n, false);

    // llama.cpp's defaults for SPM vocabularies when the keys are absent.
    const bos = specialId(meta, 'tokenizer.ggml.bos_token_id', 1, n, false);
    const eos = specialId(meta, 'tokenizer.ggml.eos_token_id', 2, n, false);
    const unk = specialId(meta, 'tokenizer.ggml.unknown_token_id', 0, n, true);
    const addBos = flag(meta, 'tokenizer.ggml.add_bos_token', true);
    const addEos = flag(meta, 'tokenizer.ggml.add_eos_token', false);
    const addSpacePrefix = flag(meta, 'tokenizer.ggml.add_space_prefix', true);
    return new SpmTokenizer(pieces, scores, types,
      { bos, eos, unk, addBos, addEos, addSpacePrefix, eogIds: eogIds(meta, pieces, eos) });
  }

  /**
   * Token ids of `text`; BOS first when `opts.bos` (default `addBos`), EOS last when `opts.eos`
   * (default `addEos`). Empty text gives [BOS] or []. Control texts stay plain text unless
   * `opts.parseSpecial` (this tokenizer's goldens were made with llama.cpp's parse_special off).
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (opts.bos ?? this.addBos) out.push(this.bos);
    if (text.length > 0) this.encodeText(text, opts.parseSpecial ?? false, out);
    if (opts.eos ?? this.addEos) out.push(this.eos);
    return out;
  }

  private encodeText(text: string, parseSpecial: boolean, out: number[]): void {
    // A UTF-8 encoder would write a lone surrogate as U+FFFD; do the same before tokenising.
    text = text.replace(LONE_SURROGATE, '\uFFFD');
    let afterSpecial = true; // the dummy prefix goes on the first fragment and after each cut-out token
    for (const fragment of partition(text, parseSpecial ? this.specials : this.userDefined)) {
      if (typeof fragment === 'number') {
        out.push(fragment);
        afterSpecial = true;
        continue;
      }
      const prefixed = this.addSpacePrefix && afterSpecial ? ' ' + fragment : fragment;
      this.encodeFragment(prefixed.replaceAll(' ', SPACE), out);
      afterSpecial = false;
    }
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
    return utf8Text(ids.map((id) => prefix.apply(id, this.pieceBytes(id))));
  }

  isControl(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize && this.types[id] === TokenType.CONTROL;
  }

  private check(id: number): number {
    return checkTokenId(id, this.vocabSize);
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
