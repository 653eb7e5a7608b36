// Mutation fuzzing of the GGUF reader: flipped bytes, extreme u64 values and truncations of a real
// model (and of synthetic ones: every metadata kind, K-quant blocks). Every outcome must be a model or a
// ModelFormatError with a code: never another exception, a hang or a huge allocation. Real models
// that still load go further: tokenizer, f32 weights (whose planned size must stay in proportion to
// the file) and a few sampled tokens on the reference backend, where non-finite logits must be
// reported as NON_FINITE_LOGITS.
// Replay one case: GGUF_FUZZ_SEED=<seed> GGUF_FUZZ_ONLY=<iteration> npx vitest run test/unit/gguf-fuzz.test.ts
import { describe, expect, test } from 'vitest';
import { WasEdgeError } from '../../src/errors.js';
import { generate } from '../../src/generate.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { llamaConfig } from '../../src/model/config.js';
import { parseGGUF } from '../../src/model/gguf.js';
import { dequantizeTensor, modelTensors } from '../../src/model/weights.js';
import { kv, tinyLlamaSpec, withMeta, writeGGUF } from '../helpers/gguf-writer.js';
import { kquantLlama } from '../helpers/kquant.js';
import { readShared } from '../helpers/shared.js';
import { mulberry32 as prng } from '../helpers/random.js';

const SEED = Number(process.env.GGUF_FUZZ_SEED ?? 0x9e3779b9) >>> 0;
const ONLY = process.env.GGUF_FUZZ_ONLY === undefined ? undefined : Number(process.env.GGUF_FUZZ_ONLY);


/** u64 values that break naive readers: all ones, sign bits, powers of two near type limits, zero. */
const EXTREMES = [
  0xffffffffffffffffn, 0x8000000000000000n, 0x7fffffffffffffffn, 2n ** 62n, 2n ** 53n + 1n, 2n ** 40n,
  2n ** 32n, 2n ** 32n - 1n, 2n ** 31n, 2n ** 31n - 1n, 2n ** 16n, 0n, 1n, 13n,
];

interface Region { from: number; to: number; weight: number }

/**
 * Mutates `bytes` in place (restoring it afterwards) and runs parse → config → tensors →
 * dequantise on the result. `regions` weight where mutations land.
 */
async function fuzz(original: Uint8Array, regions: Region[], iterations: number, seed: number, generateOnLoad = false) {
  const bytes = original.slice();
  const view = new DataView(bytes.buffer);
  const total = regions.reduce((a, r) => a + r.weight, 0);
  const failures: string[] = [];
  const codes = new Map<string, number>();
  let maxMs = 0;

  for (let it = 0; it < iterations; it++) {
    if (ONLY !== undefined && it !== ONLY) continue;
    const rand = prng(seed ^ Math.imul(it + 1, 0x85ebca6b));
    const int = (n: number) => Math.floor(rand() * n);
    const pos = (width = 1) => {
      let w = rand() * total;
      const r = regions.find((x) => (w -= x.weight) < 0) ?? regions.at(-1)!;
      return Math.min(r.from + int(r.to - r.from), bytes.length - width);
    };
    const saved: [number, Uint8Array][] = [];
    const touch = (at: number, width: number) => saved.push([at, bytes.slice(at, at + width)]);
    const steps: string[] = [];
    let length = bytes.length;

    const kind = int(4);
    if (kind === 0 || kind === 3) {
      for (let k = 1 + int(4); k > 0; k--) {
        const at = pos();
        touch(at, 1);
        const v = rand() < 0.5 ? bytes[at]! ^ (1 << int(8)) : int(256);
        bytes[at] = v;
        steps.push(`byte ${at}=${v}`);
      }
    }
    if (kind === 1 || kind === 3) {
      for (let k = 1 + int(2); k > 0; k--) {
        const at = pos(8);
        const v = EXTREMES[int(EXTREMES.length)]!;
        touch(at, 8);
        view.setBigUint64(at, v, true);
        steps.push(`u64 ${at}=${v}`);
      }
    }
    if (kind === 2 || (kind === 3 && rand() < 0.5)) {
      length = rand() < 0.6 ? pos() : int(bytes.length);
      steps.push(`cut ${length}`);
    }

    const input = bytes.subarray(0, length);
    const t0 = performance.now();
    let code: string;
    try {
      const file = parseGGUF(input);
      // What a successful parse promises: every tensor lies inside the file, aligned.
      for (const t of file.tensors.values()) {
        if (t.offset < file.dataOffset || t.offset % file.alignment !== 0 || t.offset + t.nbytes > length ||
          t.nelements !== t.dims.reduce((a, d) => a * d, 1)) {
          throw new Error(`parsed a tensor outside the file: ${JSON.stringify(t)}`);
        }
      }
      const names = [...file.tensors.keys()];
      if (names.length > 0) dequantizeTensor(file, file.tensors.get(names[int(names.length)]!)!);
      const c = llamaConfig(file);
      const tensors = modelTensors(file, c);
      dequantizeTensor(file, tensors.get('output.weight')!);
      if (generateOnLoad) await generateFrom(input);
      code = 'ok';
    } catch (e) {
      if (e instanceof WasEdgeError && typeof e.code === 'string' && e.code.length > 0) {
        code = e.code;
      } else {
        code = 'FAILED';
        failures.push(`seed ${seed} iteration ${it} [${steps.join(', ')}]: ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
    const ms = performance.now() - t0;
    maxMs = Math.max(maxMs, ms);
    codes.set(code, (codes.get(code) ?? 0) + 1);

    for (let k = saved.length - 1; k >= 0; k--) bytes.set(saved[k]![1], saved[k]![0]);
  }
  expect(Buffer.compare(bytes, original), 'the fuzzer restores the file after each iteration').toBe(0);
  return { failures, codes, maxMs };
}

/**
 * A loaded model all the way: disjoint tensors keep the f32 weights within 8× the file (Q4_0 is
 * 4.5 bits a weight), and sampled tokens either come with finite logits or fail with a typed error.
 */
async function generateFrom(input: Uint8Array): Promise<void> {
  const model = openModel(input);
  let elements = 0;
  for (const t of model.file.tensors.values()) elements += t.nelements;
  if (4 * elements > 8 * input.length + (1 << 20)) throw new Error(`planned ${4 * elements} bytes of f32 weights for a ${input.length}-byte file`);
  const backend = new ReferenceBackend(model.config, loadWeightsF32(model.file, model.config), 8);
  const r = await generate(backend, model.tokenizer, 'Once', { maxTokens: 3, temperature: 1, seed: 1 });
  if (r.promptIds.length + r.generatedIds.length > 8) throw new Error('generated past the context');
}

function report(name: string, r: Awaited<ReturnType<typeof fuzz>>, ms: number): void {
  const codes = [...r.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ');
  console.log(`${name}: ${ms.toFixed(0)} ms, slowest case ${r.maxMs.toFixed(1)} ms; ${codes}`);
  if (r.failures.length > 0) {
    throw new Error(`${r.failures.length} cases failed (first 5):\n${r.failures.slice(0, 5).join('\n\n')}`);
  }
  if (ONLY !== undefined) return;
  expect(r.codes.get('ok') ?? 0, 'some mutations leave a loadable model').toBeGreaterThan(0);
  expect(r.codes.size, 'mutations reach several error paths').toBeGreaterThanOrEqual(5);
}

describe('GGUF fuzzing', () => {
  test('stories260K: 4,000 mutations and truncations, a loaded model generates', async () => {
    const original = readShared('models/stories260K/stories260K.gguf');
    const { dataOffset } = parseGGUF(original);
    // The token list fills most of the header; the small llama.* values and the tensor infos
    // follow the key that comes after it, and they matter most.
    const tail = Buffer.from(original.subarray(0, dataOffset)).indexOf('tokenizer.ggml.model') - 8;
    expect(tail).toBeGreaterThan(24);
    const regions: Region[] = [
      { from: 0, to: 64, weight: 0.15 }, // magic, version, counts, first key
      { from: tail, to: dataOffset, weight: 0.45 }, // hyper-parameters and tensor infos
      { from: 0, to: dataOffset, weight: 0.3 }, // anywhere before the data
      { from: 0, to: original.length, weight: 0.1 }, // anywhere
    ];
    const t0 = performance.now();
    const r = await fuzz(original, regions, 4000, SEED, true);
    report('stories260K', r, performance.now() - t0);
  });

  test('llama16m Q4_0: 300 mutations of the header and the weights, a loaded model generates', async () => {
    const original = readShared('models/llama16m-debtext/llama16m-debtext-Q4_0.gguf');
    const { dataOffset } = parseGGUF(original);
    const regions: Region[] = [
      { from: 0, to: dataOffset, weight: 0.6 }, // metadata and tensor infos
      { from: dataOffset, to: original.length, weight: 0.4 }, // quantised weights and their scales
    ];
    const t0 = performance.now();
    const r = await fuzz(original, regions, 300, SEED + 2, true);
    report('llama16m Q4_0', r, performance.now() - t0);
  });

  test('a synthetic K-quant llama (Q4_K, Q5_K, Q6_K): 300 mutations of the header and the blocks, a loaded model generates', async () => {
    const { bytes, layout } = writeGGUF(kquantLlama(3));
    const regions: Region[] = [
      { from: 0, to: layout.dataOffset, weight: 0.5 }, // metadata and tensor infos (types, dims)
      { from: layout.dataOffset, to: bytes.length, weight: 0.5 }, // d, dmin, packed 6-bit scales, codes
    ];
    const t0 = performance.now();
    const r = await fuzz(bytes, regions, 300, SEED + 3, true);
    report('synthetic K-quant', r, performance.now() - t0);
  });

  test('a synthetic model with every metadata kind: 2,000 mutations and truncations', async () => {
    const spec = withMeta(tinyLlamaSpec({ dim: 32, hidden: 64, heads: 4, kvHeads: 2, type: 8 /* Q8_0 */ }), {
      'general.alignment': kv.u32(64),
      'x.nested': kv.arr('array', [kv.arr('string', ['a', 'bc']), kv.arr('u64', [1n, 2n ** 63n]), kv.arr('array', [kv.arr('bool', [true])])]),
      'x.f64': kv.arr('f64', [0.5, -1]),
      'x.i8': kv.i8(-1),
      'x.i64': kv.i64(-(2n ** 63n)),
      'x.f32': kv.f32(0.25),
    });
    const { bytes, layout } = writeGGUF(spec);
    expect(() => modelTensors(parseGGUF(bytes), llamaConfig(parseGGUF(bytes)))).not.toThrow();
    const regions: Region[] = [
      { from: 0, to: layout.dataOffset, weight: 0.9 },
      { from: 0, to: bytes.length, weight: 0.1 },
    ];
    const t0 = performance.now();
    const r = await fuzz(bytes, regions, 2000, SEED + 1);
    report('synthetic', r, performance.now() - t0);
  });
});
