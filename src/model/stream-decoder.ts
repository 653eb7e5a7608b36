// Decoding token by token as text streams out (generation), equal to a whole decode.

import type { Tokenizer } from './tokenizer.js';

/**
 * Streaming detokenizer: `push(id)` returns the text that became complete, holding back the bytes
 * of a UTF-8 character split over several tokens (SentencePiece <0xXX> byte tokens, or byte-level
 * BPE pieces, which may end mid-character: pieceBytes gives raw bytes for both). Pushes followed by `flush()` concatenate to
 * exactly `tok.decode(ids)`, including the leading-space rule when the stream starts with BOS (push
 * the prompt too, so that the first generated token keeps or drops its space as a full decode would).
 */
export class StreamDecoder {
  private utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  private prefix: DummyPrefix;

  constructor(private readonly tok: Tokenizer) {
    this.prefix = new DummyPrefix(tok);
  }

  push(id: number): string {
    return this.utf8.decode(this.prefix.apply(id, this.tok.pieceBytes(id)), { stream: true });
  }

  /** Emits what is held back (an incomplete character becomes U+FFFD) and starts a new stream. */
  flush(): string {
    const rest = this.utf8.decode();
    this.prefix = new DummyPrefix(this.tok);
    return rest;
  }
}

/** The sentencepiece decoder rule: after a leading BOS, the first visible token drops one leading space. */
export class DummyPrefix {
  private seen = 0;
  private pending = false;
  constructor(private readonly tok: Tokenizer) {}

  apply(id: number, bytes: Uint8Array): Uint8Array {
    if (this.seen++ === 0) {
      this.pending = id === this.tok.bos && this.tok.addSpacePrefix;
      if (this.pending) return bytes; // BOS itself: a control token, empty
    }
    if (!this.pending || this.tok.isControl(id)) return bytes;
    this.pending = false;
    return bytes.length > 0 && bytes[0] === 0x20 ? bytes.subarray(1) : bytes;
  }
}
