// The merge queue of the SentencePiece tokenizer (src/model/tokenizer.ts).

/**
 * Max-heap of candidate merges ordered like llama.cpp's llm_bigram_spm::comparator: higher score
 * first, then lower left index. Parallel typed arrays, grown by doubling.
 */
export class BigramQueue {
  private score: Float64Array;
  private left: Int32Array;
  private right: Int32Array;
  private size: Int32Array;
  length = 0;

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.score = new Float64Array(c);
    this.left = new Int32Array(c);
    this.right = new Int32Array(c);
    this.size = new Int32Array(c);
  }

  topLeft(): number { return this.left[0]!; }
  topRight(): number { return this.right[0]!; }
  topSize(): number { return this.size[0]!; }

  push(score: number, left: number, right: number, size: number): void {
    if (this.length === this.score.length) this.grow();
    let i = this.length++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = this.score[p]!;
      if (ps > score || (ps === score && this.left[p]! < left)) break;
      this.move(p, i);
      i = p;
    }
    this.set(i, score, left, right, size);
  }

  pop(): void {
    const last = --this.length;
    if (last === 0) return;
    const s = this.score[last]!, l = this.left[last]!, r = this.right[last]!, z = this.size[last]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= last) break;
      if (c + 1 < last && this.before(c + 1, c)) c++;
      const cs = this.score[c]!;
      if (s > cs || (s === cs && l < this.left[c]!)) break;
      this.move(c, i);
      i = c;
    }
    this.set(i, s, l, r, z);
  }

  private before(a: number, b: number): boolean {
    const sa = this.score[a]!, sb = this.score[b]!;
    return sa > sb || (sa === sb && this.left[a]! < this.left[b]!);
  }

  private move(from: number, to: number): void {
    this.score[to] = this.score[from]!;
    this.left[to] = this.left[from]!;
    this.right[to] = this.right[from]!;
    this.size[to] = this.size[from]!;
  }

  private set(i: number, score: number, left: number, right: number, size: number): void {
    this.score[i] = score;
    this.left[i] = left;
    this.right[i] = right;
    this.size[i] = size;
  }

  private grow(): void {
    const c = this.score.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (k: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.score = grow(this.score, (k) => new Float64Array(k));
    this.left = grow(this.left, (k) => new Int32Array(k));
    this.right = grow(this.right, (k) => new Int32Array(k));
    this.size = grow(this.size, (k) => new Int32Array(k));
  }
}
