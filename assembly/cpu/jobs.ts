// Parallel jobs: a job is a descriptor of i32 words in memory, made once when the model loads
// (src/cpu/program.ts writes them; per-token words such as the position are updated in place), and
// `runJob(job, i, n)` does thread i's share of n. The calling thread runs share 0; worker threads
// (src/cpu/threads.ts) run the others on the same shared memory. One thread: runJob(job, 0, 1).

import { attentionRange } from "./attention";
import { gemvRange } from "./gemv";

/**
 * GEMV job: [KIND_GEMV, m, tmp, tmpStride, then m matrices of MATRIX_WORDS words:
 *   fmt, w, scales, np, x, idx, nActive, out]. Each matrix's outputs are split in units of 32.
 */
export const KIND_GEMV: i32 = 1;
/**
 * Attention job: [KIND_ATTENTION, q, kc, vc, out, pos, nHeads, nKV, headDim, scores, scoresStride];
 * heads are split between threads.
 */
export const KIND_ATTENTION: i32 = 2;
export const MATRIX_WORDS: i32 = 8;
export const GEMV_HEADER_WORDS: i32 = 4;

// @ts-ignore: decorator
@inline function word(job: usize, i: i32): i32 {
  return load<i32>(job + (<usize>i << 2));
}

/** Share i of n: [floor(units·i/n), floor(units·(i+1)/n)). */
// @ts-ignore: decorator
@inline function share(units: i32, i: i32, n: i32): i32 {
  return <i32>(<i64>units * <i64>i / <i64>n);
}

/** Runs thread i's share (0 ≤ i < n) of the job at `job`; returns 0, or −1 for an unknown kind. */
export function runJob(job: usize, i: i32, n: i32): i32 {
  const kind = word(job, 0);
  if (kind == KIND_GEMV) {
    const m = word(job, 1);
    const tmp = <usize>word(job, 2) + <usize>i * <usize>word(job, 3);
    for (let j = 0; j < m; j++) {
      const at = GEMV_HEADER_WORDS + j * MATRIX_WORDS;
      const np = word(job, at + 3);
      const units = np >> 5;
      const o0 = share(units, i, n) << 5;
      const o1 = share(units, i + 1, n) << 5;
      if (o0 < o1) {
        gemvRange(word(job, at), <usize>word(job, at + 1), <usize>word(job, at + 2), np, <usize>word(job, at + 4),
          <usize>word(job, at + 5), word(job, at + 6), <usize>word(job, at + 7), o0, o1, tmp);
      }
    }
    return 0;
  }
  if (kind == KIND_ATTENTION) {
    const nHeads = word(job, 6);
    const h0 = share(nHeads, i, n);
    const h1 = share(nHeads, i + 1, n);
    if (h0 < h1) {
      const scores = <usize>word(job, 9) + <usize>i * <usize>word(job, 10);
      attentionRange(<usize>word(job, 1), <usize>word(job, 2), <usize>word(job, 3), <usize>word(job, 4), word(job, 5),
        nHeads, word(job, 7), word(job, 8), scores, h0, h1);
    }
    return 0;
  }
  return -1;
}
