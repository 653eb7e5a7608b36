// What the backend tests share: greedy decoding through feed/feedArgmax, every position's logits,
// and the largest logit difference against another run or a llama.cpp dump.
import type { Backend } from '../../src/backend.js';

type Feeder = Pick<Backend, 'feed' | 'feedArgmax'>;

/** The prompt fed, then n greedy tokens (argmax on the device where the backend has it). */
export async function greedy(b: Feeder, prompt: readonly number[], n: number): Promise<number[]> {
  const out: number[] = [];
  await b.feed(prompt.slice(0, -1), 0);
  let next = await b.feedArgmax(prompt.at(-1)!, prompt.length - 1);
  for (let pos = prompt.length; out.length < n; pos++) {
    out.push(next);
    if (out.length < n) next = await b.feedArgmax(next, pos);
  }
  return out;
}

/** The logits after every position of `ids`, fed from position 0. */
export async function allLogits(b: Pick<Backend, 'feed'>, ids: readonly number[]): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  await b.feed(ids, 0, (_, l) => rows.push(l.slice()));
  return rows;
}

/** max |a − b| over rows of logits; b as rows or as one flat [positions][vocab] dump. */
export function maxDelta(a: Float32Array[], b: Float32Array[] | Float32Array, vocab: number): number {
  let d = 0;
  a.forEach((row, i) => row.forEach((v, j) => {
    const ref = Array.isArray(b) ? b[i]![j]! : b[i * vocab + j]!;
    d = Math.max(d, Math.abs(v - ref));
  }));
  return d;
}
