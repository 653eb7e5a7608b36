// The WebGPU engine on every architecture family was-edge runs (llama3: rope frequency factors; smollm:
// tied output; qwen2: q/k/v biases, NEOX rope; qwen3: per-head q/k RMSNorm, NEOX, q 512 wide on a
// 256-wide model), each in five formats (F16 and Q8_0 kept as stored, K-quants dequantised at load),
// against the reference forward over the same weights, dense and WAS-sparse.
//
// Greedy rule: both backends are teacher-forced on the reference's greedy tokens (one near-tie must not
// derail the rest), and at each of the 32 steps the GPU's argmax must equal the reference's token unless
// the reference's top-2 margin there is ≤ 2ε, ε the logit tolerance × the logit range (a difference of
// at most ε per logit cannot swap two logits further apart than 2ε).
import { afterAll, expect, test } from 'vitest';
import type { Backend } from '../../src/backend.js';
import { createBackend } from '../../src/create-backend.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';
import { openModel, type Model } from '../../src/model/model.js';
import { INPUT_GROUPS, PROJECTION_GROUP, PROJECTIONS, projectionNorms, type Thresholds } from '../../src/model/projections.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { argmaxOf } from '../../src/sampler.js';
import { wasTau } from '../../src/sparsity/plan.js';
import { FAMILIES, FAMILY_PROMPTS, FORMATS, familyGGUF, ODD_WIDTH, type Family, type Format } from '../helpers/families.js';
import { describeGpu, gpu } from './context.js';

const STEPS = 32;
const CONTEXT = 64;

/** max |a − b| over the range of b (max − min). */
function rangeError(a: Float32Array, b: Float32Array): number {
  let d = 0, lo = Infinity, hi = -Infinity;
  b.forEach((v, i) => { d = Math.max(d, Math.abs(a[i]! - v)); lo = Math.min(lo, v); hi = Math.max(hi, v); });
  return d / (hi - lo);
}

function range(x: Float32Array): number {
  return Math.max(...x) - Math.min(...x);
}

/** The top-2 margin of logits: the largest minus the second largest. */
function margin(x: Float32Array): number {
  const best = argmaxOf(x);
  let second = -Infinity;
  x.forEach((v, i) => { if (i !== best && v > second) second = v; });
  return x[best]! - second;
}

/** The reference's greedy run: logits after the prompt, then STEPS tokens with each step's logits. */
async function referenceRun(ref: Backend, prompt: number[]) {
  const last = (await ref.feed(prompt, 0)).slice();
  const tokens = [argmaxOf(last)];
  const margins = [margin(last)];
  for (let i = 0; tokens.length < STEPS; i++) {
    const l = await ref.feed([tokens[i]!], prompt.length + i);
    tokens.push(argmaxOf(l));
    margins.push(margin(l));
  }
  return { last, tokens, margins };
}

/**
 * The GPU teacher-forced on the reference's tokens (feed for the prompt, then feedArgmax, the device's
 * argmax): its logits after the prompt, and how many of its STEPS predictions the margin rule compares,
 * and which differ there.
 */
async function gpuRun(b: Backend, prompt: number[], want: Awaited<ReturnType<typeof referenceRun>>, eps: number) {
  const last = (await b.feed(prompt, 0)).slice();
  const got = [argmaxOf(last)];
  for (let i = 0; got.length < STEPS; i++) got.push(await b.feedArgmax(want.tokens[i]!, prompt.length + i));
  const compared = got.map((_, i) => i).filter((i) => want.margins[i]! > 2 * eps);
  return { last, got, compared: compared.length, mismatched: compared.filter((i) => got[i] !== want.tokens[i]) };
}

/**
 * WAS thresholds that skip about half of every projection's weights: per projection, t = the median over
 * the prompt's tokens and channels of the score |x_j|·‖W[:,j]‖₁, τ = wasTau(t, norms). Then kept off the
 * knife edge: while some decision of the reference's sparse run (prompt and greedy tokens) has |x_j| within
 * 1e-5 relative of τ_j, that projection's t moves up by 0.1 % (the backends' activations differ by ~1e-6
 * relative: such a channel could flip, and the comparison would measure the edge, not the engine).
 * Returns τ and the rounds that took.
 */
async function halfThresholds(m: Model, prompt: number[]): Promise<{ tau: Thresholds; rounds: number }> {
  const norms = projectionNorms(m);
  const scores = norms.map((layer) => layer.map(() => [] as number[]));
  let tau: Thresholds | null = null;
  const edge = norms.map((layer) => layer.map(() => false));
  const rec = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), CONTEXT, {
    record: (l, group, x) => {
      const g = INPUT_GROUPS.indexOf(group);
      PROJECTIONS.forEach((_, p) => {
        if (PROJECTION_GROUP[p] !== g) return;
        if (!tau) { x.forEach((v, j) => scores[l]![p]!.push(Math.abs(v) * norms[l]![p]![j]!)); return; }
        const t = tau[l]![p]!;
        x.forEach((v, j) => { if (Math.abs(Math.abs(v) - t[j]!) <= 1e-5 * t[j]!) edge[l]![p] = true; });
      });
    },
  });
  await rec.feed(prompt, 0);
  const t = scores.map((layer) => layer.map((s) => Float64Array.from(s).sort()[s.length >> 1]!));
  for (let rounds = 0; ; rounds++) {
    tau = norms.map((layer, l) => layer.map((n, p) => wasTau(t[l]![p]!, n)));
    rec.setThresholds(tau);
    edge.forEach((layer) => layer.fill(false));
    await referenceRun(rec, prompt);
    const near = edge.flatMap((layer, l) => layer.flatMap((e, p) => (e ? [[l, p] as const] : [])));
    if (!near.length) return { tau, rounds };
    if (rounds === 20) throw new Error(`thresholds still on the edge after ${rounds} rounds: ${JSON.stringify(near)}`);
    for (const [l, p] of near) t[l]![p]! *= 1.001;
  }
}

describeGpu('WebGPU engine: every family × format against the reference', () => {
  afterAll(() => gpu.device.destroy());

  // Every family × format, and the SmolLM2-135M-wide files whose 576-wide rows take Q5_0/Q5_1/Q8_0.
  const cases: [Family, Format, number][] = [...FAMILIES.flatMap((family, fi) => FORMATS.map((format, ki): [Family, Format, number] => [family, format, fi + ki])),
    [ODD_WIDTH, 'Q4_K_M', 0], [ODD_WIDTH, 'Q5_K_M', 1]];
  cases.forEach(([family, format, which]) => {
    test(`${family} ${format}: dense and WAS-sparse logits, 32 greedy tokens, skipped fraction`, async () => {
      const m = openModel(familyGGUF(family, format));
      const prompt = m.tokenizer.encode(FAMILY_PROMPTS[which % FAMILY_PROMPTS.length]!);
      const ref = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), CONTEXT);
      const b = await createBackend('webgpu', m, { contextSize: CONTEXT, kvCache: 'f32', platform: { gpu: nodeGPU } }); // the f32 reference's KV; f16 KV: kv-f16.test.ts
      try {
        // Dense: logits within 1e-3 of the logit range.
        const dense = await referenceRun(ref, prompt);
        const denseEps = 1e-3 * range(dense.last);
        const d = await gpuRun(b, prompt, dense, denseEps);
        const dErr = rangeError(d.last, dense.last);

        // WAS-sparse, same thresholds on both: logits within 1e-4 of the range, the same skipped fraction.
        const { tau, rounds } = await halfThresholds(m, prompt);
        ref.setThresholds(tau);
        b.setThresholds(tau);
        const sparse = await referenceRun(ref, prompt);
        const sparseEps = 1e-4 * range(sparse.last);
        const s = await gpuRun(b, prompt, sparse, sparseEps);
        const sErr = rangeError(s.last, sparse.last);
        const [fGpu, fRef] = [await b.skippedWeightFraction(), await ref.skippedWeightFraction()];

        console.log(`${family} ${format} (${prompt.length}-token prompt): dense |Δ|/range ${dErr.toExponential(2)}, ` +
          `tokens ${d.compared}/${STEPS} compared; sparse |Δ|/range ${sErr.toExponential(2)}, tokens ${s.compared}/${STEPS} compared, ` +
          `skipped ${fGpu?.toFixed(6)} (reference ${fRef?.toFixed(6)}; thresholds moved off the edge in ${rounds} rounds)`);
        expect(dErr, 'dense logits').toBeLessThanOrEqual(1e-3);
        expect(argmaxOf(d.last), 'dense argmax').toBe(argmaxOf(dense.last));
        expect(d.mismatched, 'dense greedy steps that differ where the margin allows').toEqual([]);
        expect(sErr, 'sparse logits').toBeLessThanOrEqual(1e-4);
        expect(argmaxOf(s.last), 'sparse argmax').toBe(argmaxOf(sparse.last));
        expect(s.mismatched, 'sparse greedy steps that differ where the margin allows').toEqual([]);
        expect(fRef!, 'reference skipped fraction').toBeGreaterThan(0.3);
        expect(fGpu, 'skipped fraction').toBe(fRef);
      } finally {
        b.dispose();
      }
    }, 60_000);
  });
});
