// The CPU backend on every architecture family (test/helpers/families.ts: llama3 with rope factors,
// smollm tied, qwen2 biases + NEOX, qwen3 per-head q/k RMSNorm + q wider than the model) in every
// download format, against the reference forward over the dequantised weights: dense logits and
// greedy tokens, then a WAS-sparse run with the same thresholds (tokens, logits, skipped fraction).
import { describe, expect, test } from 'vitest';
import type { Backend } from '../../src/backend.js';
import { createBackend } from '../../src/create-backend.js';
import { CpuBackend } from '../../src/cpu/backend.js';
import { cpuWasmNode, nodeCpuOptions } from '../../src/cpu/node.js';
import type { LlamaConfig } from '../../src/model/config.js';
import { openModel, type Model } from '../../src/model/model.js';
import { PROJECTION_GROUP, INPUT_GROUPS, projectionNorms, type Thresholds } from '../../src/model/projections.js';
import { loadWeightsF32, type LlamaWeights } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { argmax } from '../../src/reference/ops.js';
import { wasTau } from '../../src/sparsity/plan.js';
import { allLogits, greedy, maxDelta } from '../helpers/backend.js';
import { FAMILIES, FAMILY_PROMPTS, familyGGUF, FORMATS } from '../helpers/families.js';

const CONTEXT = 64;
const PROMPT = 12;
const STEPS = 32;
/** Dense logits: max |Δ| within this fraction of the reference's logit range (max − min). */
const DENSE_TOL = 1e-3;
/** Sparse logits: the same thresholds make the same active sets, so only summation order differs. */
const SPARSE_TOL = 1e-4;
/**
 * Greedy tokens are compared up to the first step whose reference top-2 margin is at most this
 * fraction of the logit range: there the two backends may rightly pick differently (each logit is off
 * by up to the summation-order error, measured ≤ 6e-7 of the range, so 1e-5 leaves a factor of 8 on
 * both), and after a different pick the continuations are different texts.
 */
const MARGIN = 1e-5;
/** No activation of the sparse run may lie closer than this (relative) to its threshold. */
const BOUNDARY = 1e-4;

/** The first PROMPT tokens of the family prompts, one after another. */
function promptOf(m: Model): number[] {
  return FAMILY_PROMPTS.flatMap((p) => m.tokenizer.encode(p)).slice(0, PROMPT);
}

function range(x: Float32Array): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return hi - lo;
}

function maxAbsDelta(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/**
 * The reference's greedy tokens and, per step, its top-2 margin as a fraction of the logit range (fed
 * as test/helpers/backend.ts greedy() feeds: the same positions, the same weight counts).
 */
async function referenceGreedy(b: ReferenceBackend, prompt: number[], n: number): Promise<{ tokens: number[]; margins: number[] }> {
  const tokens: number[] = [];
  const margins: number[] = [];
  let logits = (await b.feed(prompt, 0)).slice();
  for (let pos = prompt.length; tokens.length < n; pos++) {
    const best = argmax(logits);
    let second = -Infinity;
    logits.forEach((v, i) => { if (i !== best && v > second) second = v; });
    tokens.push(best);
    margins.push((logits[best]! - second) / range(logits));
    if (tokens.length < n) logits = (await b.feed([best], pos)).slice();
  }
  return { tokens, margins };
}

/**
 * WAS thresholds that skip about half of each projection's input channels on this prompt: the
 * reference's dense activations x over the prompt, scored |x_j|·‖W[:,j]‖₁, and t = the midpoint of the
 * two middle scores, τ = t/n. (The median itself would put a channel of the prompt exactly on its
 * threshold, where the backends' rounding decides, and the difference then spreads through later
 * active sets.)
 */
async function halfThresholds(m: Model, w: LlamaWeights, prompt: number[]): Promise<Thresholds> {
  const c = m.config;
  const seen: Float32Array[][][] = Array.from({ length: c.nLayers }, () => INPUT_GROUPS.map(() => []));
  const rec = new ReferenceBackend(c, w, CONTEXT, {
    record: (l, g, x) => seen[l]![INPUT_GROUPS.indexOf(g)]!.push(x.slice()),
  });
  await rec.feed(prompt, 0);
  const norms = projectionNorms(m);
  return norms.map((layer, l) => layer.map((n, p) => {
    const scores = seen[l]![PROJECTION_GROUP[p]!]!.flatMap((x) => Array.from(n, (nj, j) => Math.abs(x[j]!) * nj));
    scores.sort((a, b) => a - b);
    const mid = scores.length >> 1;
    return wasTau((scores[mid - 1]! + scores[mid]!) / 2, n);
  }));
}

/** Steps of a greedy run that must agree: up to the first near-tie of the reference (MARGIN). */
function untilTie(margins: number[]): number {
  const i = margins.findIndex((g) => g <= MARGIN);
  return i < 0 ? margins.length : i; // the token at a near-tie may be either
}

/**
 * Moves each threshold that an activation of the reference's sparse greedy run comes within BOUNDARY
 * of by 10·BOUNDARY, until none does; returns the thresholds moved. The CPU's activations differ from
 * the reference's by summation-order rounding (~1e-6), so a channel that close to its τ may be kept by
 * one backend and skipped by the other, and one such flip changes every later activation (seen:
 * qwen3 Q5_K_M, a layer-1 o channel at 1.2e-7 of τ, a different token 7 steps later). With the margin,
 * both must make the same active sets: equal tokens and skipped fractions are then the test.
 */
async function clearOfBoundaries(c: LlamaConfig, w: LlamaWeights, prompt: number[], tau: Thresholds): Promise<number> {
  let total = 0;
  for (let round = 0; round < 8; round++) {
    let moved = 0;
    const record = (l: number, g: string, x: Float32Array) => PROJECTION_GROUP.forEach((group, p) => {
      const t = tau[l]![p];
      if (INPUT_GROUPS[group] !== g || !t) return;
      for (let j = 0; j < x.length; j++) {
        if (Math.abs(Math.abs(x[j]!) / t[j]! - 1) < BOUNDARY) {
          t[j]! *= 1 + 10 * BOUNDARY;
          moved++;
        }
      }
    });
    await greedy(new ReferenceBackend(c, w, CONTEXT, { thresholds: tau, record }), prompt, STEPS);
    if (moved === 0) return total;
    total += moved;
  }
  throw new Error('thresholds keep landing on activations');
}

/** Dense: the prompt's last logits, then greedy tokens. Returns Δ/range and the steps compared. */
async function checkDense(cpu: Backend, c: LlamaConfig, w: LlamaWeights, prompt: number[]): Promise<{ d: number; steps: number }> {
  const want = (await new ReferenceBackend(c, w, CONTEXT).feed(prompt, 0)).slice();
  const got = await cpu.feed(prompt, 0);
  const d = maxAbsDelta(got, want) / range(want);
  expect(d, `max |Δlogit| / range = ${d}`).toBeLessThanOrEqual(DENSE_TOL);
  expect(argmax(got)).toBe(argmax(want));
  const r = await referenceGreedy(new ReferenceBackend(c, w, CONTEXT), prompt, STEPS);
  const steps = untilTie(r.margins);
  expect((await greedy(cpu, prompt, STEPS)).slice(0, steps)).toEqual(r.tokens.slice(0, steps));
  return { d, steps };
}

/** WAS-sparse with the reference's thresholds: greedy tokens, skipped fraction, the prompt's logits. */
async function checkSparse(cpu: Backend, c: LlamaConfig, w: LlamaWeights, prompt: number[], tau: Thresholds) {
  const ref = new ReferenceBackend(c, w, CONTEXT, { thresholds: tau });
  cpu.setThresholds(tau);
  const r = await referenceGreedy(ref, prompt, STEPS);
  const steps = untilTie(r.margins);
  expect((await greedy(cpu, prompt, STEPS)).slice(0, steps)).toEqual(r.tokens.slice(0, steps));
  const skipped = (await cpu.skippedWeightFraction())!;
  const refSkipped = (await ref.skippedWeightFraction())!;
  expect(skipped).toBeCloseTo(refSkipped, 12);
  const want = (await ref.feed(prompt, 0)).slice();
  const d = maxAbsDelta(await cpu.feed(prompt, 0), want) / range(want);
  expect(d, `sparse max |Δlogit| / range = ${d}`).toBeLessThanOrEqual(SPARSE_TOL);
  expect(await cpu.skippedWeightFraction()).toBeCloseTo((await ref.skippedWeightFraction())!, 12);
  return { d, steps, skipped, refSkipped };
}

describe.each(FAMILIES)('CPU backend, %s family', (family) => {
  test.each(FORMATS)('%s: dense and WAS-sparse logits and greedy tokens as the reference forward', async (format) => {
    const t0 = performance.now();
    const m = openModel(familyGGUF(family, format));
    const c = m.config;
    const w = loadWeightsF32(m.file, c);
    const prompt = promptOf(m);
    expect(prompt.length).toBe(PROMPT);
    const cpu = await createBackend('cpu', m, { contextSize: CONTEXT, platform: { cpu: { wasm: await cpuWasmNode('debug') } } });
    expect(cpu.name).toBe('cpu');
    const dense = await checkDense(cpu, c, w, prompt);
    const tau = await halfThresholds(m, w, prompt);
    const moved = await clearOfBoundaries(c, w, prompt, tau);
    const sparse = await checkSparse(cpu, c, w, prompt, tau);
    cpu.dispose();
    const steps = (n: number) => (n === STEPS ? `all ${STEPS}` : `${n} (near-tie next)`);
    console.log(`${family} ${format}: dense Δ/range ${dense.d.toExponential(2)}, greedy ${steps(dense.steps)} equal; ` +
      `sparse Δ/range ${sparse.d.toExponential(2)}, greedy ${steps(sparse.steps)} equal, skipped ${sparse.skipped.toFixed(4)} ` +
      `(reference ${sparse.refSkipped.toFixed(4)}; ${moved} τ moved off an activation); ${(performance.now() - t0).toFixed(0)} ms`);
  });
});

test('worker threads run qwen3 (q wider than the model, per-head norms, NEOX) as one thread, bit for bit, dense and sparse', async () => {
  const m = openModel(familyGGUF('qwen3', 'Q4_K_M'));
  const w = loadWeightsF32(m.file, m.config);
  const prompt = promptOf(m);
  const tau = await halfThresholds(m, w, prompt);
  const one = await createBackend('cpu', m, { contextSize: CONTEXT, platform: { cpu: { wasm: await cpuWasmNode('release') } } });
  const three = await createBackend('cpu', m, { contextSize: CONTEXT, threads: 3, platform: { cpu: nodeCpuOptions(3) } });
  expect(three instanceof CpuBackend && three.threads).toBe(3);
  for (const t of [null, tau]) {
    one.setThresholds(t);
    three.setThresholds(t);
    expect(maxDelta(await allLogits(three, prompt), await allLogits(one, prompt), m.config.vocabSize)).toBe(0);
    expect(await greedy(three, prompt, 8)).toEqual(await greedy(one, prompt, 8));
  }
  three.dispose();
  one.dispose();
});
