// Every architecture family was-edge runs, in every format people download, against independent
// references: llama.cpp c392e509 (llama3, smollm, qwen2) and transformers (qwen3, which that snapshot
// predates), dumped by bench/llama-cpp/family-refs.ts into test/fixtures/families/. The files are
// the suite's own tiny seeded models (test/helpers/families.ts); each fixture names the sha256 it was
// made from. llama.cpp quantizes activations to 8 bits on its CPU path, so quantized files are held to
// it loosely; transformers read the same weights through gguf-py's exact dequantization, so qwen3 is
// held tightly in every format.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { FAMILIES, FORMATS, familyGGUF, familySpec, ODD_WIDTH, sha256, type Family, type Format } from '../helpers/families.js';
import { createBackend } from '../../src/create-backend.js';
import { cpuWasmNode } from '../../src/cpu/node.js';
import { kv, withMeta, writeGGUF } from '../helpers/gguf-writer.js';

interface Fixture {
  sha256: string;
  source: string;
  cases: { prompt: string; prompt_ids: number[]; logits: number[]; greedy_ids: number[] }[];
}
const fixture = (f: Family, fmt: Format): Fixture =>
  JSON.parse(readFileSync(new URL(`../fixtures/families/${f}-${fmt}.json`, import.meta.url), 'utf8'));

/** Largest |a−b| over the logit range of b, and whether the argmaxes agree. */
function compare(got: ArrayLike<number>, want: ArrayLike<number>): { rel: number; sameArgmax: boolean } {
  let d = 0, lo = Infinity, hi = -Infinity, ga = 0, wa = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i]! - want[i]!));
    lo = Math.min(lo, want[i]!);
    hi = Math.max(hi, want[i]!);
    if (got[i]! > got[ga]!) ga = i;
    if (want[i]! > want[wa]!) wa = i;
  }
  return { rel: d / (hi - lo), sameArgmax: ga === wa };
}

/** Greedy ids and, per step, the gap between the best and second-best logit over the logit range. */
async function greedy(b: ReferenceBackend, ids: number[], n: number): Promise<{ ids: number[]; margins: number[] }> {
  let logits = await b.feed(ids, 0);
  const out: number[] = [], margins: number[] = [];
  for (let i = 0; i < n; i++) {
    const sorted = Float32Array.from(logits).sort();
    margins.push((sorted.at(-1)! - sorted.at(-2)!) / (sorted.at(-1)! - sorted[0]!));
    let t = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[t]!) t = j;
    out.push(t);
    logits = await b.feed([t], ids.length + i);
  }
  return { ids: out, margins };
}

const CASES: [Family, Format][] = [...FAMILIES.flatMap((f) => FORMATS.map((fmt): [Family, Format] => [f, fmt])),
  [ODD_WIDTH, 'Q4_K_M'], [ODD_WIDTH, 'Q5_K_M']];

describe.each(CASES)('%s %s', (family, format) => {
  test('prompt ids, last-position logits and 32 greedy tokens equal the independent reference', async () => {
    const bytes = familyGGUF(family, format);
    const ref = fixture(family, format);
    expect(sha256(bytes), 'the generated file is the one the fixture was made from').toBe(ref.sha256);
    const m = openModel(bytes);
    const b = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 128);
    // Exact weights (F16; any format through transformers) agree to rounding; llama.cpp's 8-bit activations cost ~1-2 %.
    const exact = format === 'F16' || family === 'qwen3';
    const tol = exact ? 1e-3 : 3e-2;
    for (const [k, c] of ref.cases.entries()) {
      const ids = m.tokenizer.encode(c.prompt, { bos: m.tokenizer.addBos });
      expect(ids, c.prompt).toEqual(c.prompt_ids);
      const logits = await b.feed(ids, 0);
      const { rel, sameArgmax } = compare(logits, c.logits);
      expect(rel, `${c.prompt}: max |Δlogit| / range`).toBeLessThan(tol);
      if (exact) expect(sameArgmax, c.prompt).toBe(true);
      if (k > 0) continue;
      // Greedy: equal up to the first step whose top-2 gap is within what the reference's error can flip.
      const g = await greedy(b, ids, 32);
      const first = g.ids.findIndex((t, i) => t !== c.greedy_ids[i]);
      if (first >= 0) expect(g.margins[first], `greedy step ${first}: ours ${g.ids[first]}, reference ${c.greedy_ids[first]}`).toBeLessThan(2 * tol);
      if (exact) expect(first, 'greedy tokens of an exact reference').toBe(-1);
    }
  });
});

describe(`${ODD_WIDTH}: rows of 576 take llama-quantize's fallback types`, () => {
  test.each(['Q4_K_M', 'Q5_K_M'] as const)('%s holds Q5_0/Q5_1 and Q8_0 beside K-quants; the CPU backend equals the reference on it', async (format) => {
    const m = openModel(familyGGUF(ODD_WIDTH, format));
    const types = new Set([...m.file.tensors.values()].map((t) => t.type));
    expect([...types].sort((a, b) => a - b)).toEqual(format === 'Q4_K_M' ? [0, 6, 8, 12, 14] : [0, 7, 8, 13, 14]);
    const ids = m.tokenizer.encode('Once upon a time there was', { bos: m.tokenizer.addBos });
    const want = await new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 64).feed(ids, 0);
    const cpu = await createBackend('cpu', m, { contextSize: 64, threads: 1, platform: { cpu: { wasm: await cpuWasmNode('debug') } } });
    const got = await cpu.feed(ids, 0);
    cpu.dispose();
    const { rel, sameArgmax } = compare(got, want);
    expect(rel).toBeLessThan(1e-5);
    expect(sameArgmax).toBe(true);
  });
});

describe('what other files get', () => {
  const config = (spec: Parameters<typeof writeGGUF>[0]) => () => openModel(writeGGUF(spec).bytes);
  test('another architecture is a ModelFormatError that lists the supported ones', () => {
    const spec = withMeta(familySpec('qwen2', 'Q8_0'), { 'general.architecture': kv.str('gemma3') });
    expect(config(spec)).toThrow(ModelFormatError);
    expect(config(spec)).toThrow(/"gemma3" is not supported; was-edge runs llama, qwen2, qwen3/);
  });
  test('rope scaling other than Llama 3 factors (yarn) is refused, not run wrong', () => {
    const spec = withMeta(familySpec('qwen2', 'Q8_0'), { 'qwen2.rope.scaling.type': kv.str('yarn'), 'qwen2.rope.scaling.factor': kv.f32(4) });
    expect(config(spec)).toThrow(/rope scaling "yarn" is not supported/);
  });
  test('a bias the engine would not add (attn_output.bias) is refused', () => {
    const base = familySpec('qwen2', 'Q8_0');
    const spec = { ...base, tensors: [...base.tensors!, { name: 'blk.0.attn_output.bias', dims: [256], type: 0, data: new Uint8Array(1024) }] };
    expect(config(spec)).toThrow(/"blk.0.attn_output.bias" is not supported/);
  });
});
