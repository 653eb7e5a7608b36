// rope against the reference ops on random inputs: the finished q|k|v of each token (+ bias → head
// RMSNorm → rotation, normal or NEOX pairs, with frequency factors) in x, k and v in the cache; read
// from x or summed from a split GEMV's partials; one-token and multi-token steps.
import { afterAll, test } from 'vitest';
import * as rope from '../../src/gpu/rope.js';
import { createStep, writeStep } from '../../src/gpu/step.js';
import { addInPlace, headRmsnorm, rope as ropeRef, type RopeSpec } from '../../src/reference/ops.js';
import { describeGpu, gpu } from './context.js';
import { expectClose, f16Round, packF16, randomArray, readBuffer, rng, run, SEED, storage, unpackF16 } from './util.js';

interface Case {
  nHeads: number;
  nKVHeads: number;
  headDim: number;
  ropeDim: number;
  pos: number;
  T: number;
  maxTokens?: number;
  base?: number;
  style?: 'normal' | 'neox';
  freqFactors?: boolean;
  bias?: boolean;
  norm?: boolean;
  noCache?: boolean;
  /** Partial vectors to sum (one-token steps with a cache only). */
  chunks?: number;
  workgroupSize?: number;
  /** An f16 cache (adjacent elements packed in a u32). */
  f16?: boolean;
}

describeGpu('rope', () => {
  afterAll(() => gpu.device.destroy());
  const contextLength = 2048;
  const eps = 1e-6;

  /** Runs one case on the GPU and checks x, the key cache and the value cache against the reference. */
  async function check(next: () => number, c: Case): Promise<void> {
    const base = c.base ?? 10000;
    const half = c.ropeDim / 2;
    // Llama 3's factors are 1 … 8; random ones in that range here.
    const freqFactors = c.freqFactors ? Float32Array.from({ length: half }, () => 1 + 7 * next()) : null;
    const spec: RopeSpec = { headDim: c.headDim, ropeDim: c.ropeDim, base, style: c.style ?? 'normal', freqFactors };
    const table = await rope.createRopeTable(gpu, { contextLength, spec });
    const qDim = c.nHeads * c.headDim;
    const kvDim = c.nKVHeads * c.headDim;
    const stride = qDim + 2 * kvDim + 3; // q | k | v | gap, per token
    const maxTokens = c.maxTokens ?? c.T;
    const step = createStep(gpu, maxTokens);
    writeStep(gpu.device, step, c.pos, new Array(c.T).fill(0));
    const x = randomArray(next, stride * maxTokens);
    // An f16 cache starts from f16 values, so that untouched positions compare exactly.
    const cache0 = () => { const a = randomArray(next, contextLength * kvDim); return c.f16 ? f16Round(a) : a; };
    const kc0 = cache0();
    const vc0 = cache0();
    const bias = c.bias ? randomArray(next, qDim + 2 * kvDim, 0.5) : null;
    const normW = c.norm ? Float32Array.from({ length: 2 * c.headDim }, () => 0.5 + next()) : null;
    // Partials: segments padded as the sparse q|k|v op stores them, plus a gap per partial vector.
    const qAt = 0;
    const kAt = Math.ceil(qDim / 8) * 8;
    const vAt = kAt + Math.ceil(kvDim / 8) * 8;
    const rowElems = vAt + Math.ceil(kvDim / 8) * 8 + 4;
    const part = c.chunks ? randomArray(next, c.chunks * rowElems) : null;
    const owned = [storage(gpu, x), storage(gpu, c.f16 ? packF16(kc0) : kc0), storage(gpu, c.f16 ? packF16(vc0) : vc0)];
    const [xb, kb, vb] = owned as [GPUBuffer, GPUBuffer, GPUBuffer];
    const buf = (a: Float32Array) => { const b = storage(gpu, a); owned.push(b); return b; };
    const op = await rope.prepare(gpu, {
      step, table, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim, x: xb, qOffset: 0, kOffset: qDim, vOffset: qDim + kvDim, stride,
      ...(c.noCache ? {} : { cache: { key: kb, value: vb, format: c.f16 ? 'f16' as const : 'f32' as const } }),
      ...(part ? { partials: { buffer: buf(part), chunks: c.chunks!, rowElems, segmentOffsets: [qAt, kAt, vAt] } } : {}),
      ...(bias ? { bias: buf(bias) } : {}),
      ...(normW ? { headNorm: { weight: buf(normW), eps } } : {}),
      ...(c.workgroupSize ? { workgroupSize: c.workgroupSize } : {}),
    });
    await run(gpu, op);

    const wantX = x.slice();
    const wantK = kc0.slice();
    const wantV = vc0.slice();
    for (let t = 0; t < c.T; t++) {
      const p = c.pos + t;
      const at = t * stride;
      const q = wantX.subarray(at, at + qDim);
      const k = wantX.subarray(at + qDim, at + qDim + kvDim);
      const v = wantX.subarray(at + qDim + kvDim, at + qDim + 2 * kvDim);
      if (part) {
        // The partials summed in chunk order, in f32 (as the kernel adds them).
        const sum = (e: number) => { let s = 0; for (let j = 0; j < c.chunks!; j++) s = Math.fround(s + part[j * rowElems + e]!); return s; };
        q.forEach((_, i) => (q[i] = sum(qAt + i)));
        k.forEach((_, i) => (k[i] = sum(kAt + i)));
        v.forEach((_, i) => (v[i] = sum(vAt + i)));
      }
      if (bias) {
        addInPlace(q, bias.subarray(0, qDim));
        addInPlace(k, bias.subarray(qDim, qDim + kvDim));
        addInPlace(v, bias.subarray(qDim + kvDim));
      }
      if (normW) {
        headRmsnorm(q, c.nHeads, c.headDim, normW.subarray(0, c.headDim), eps);
        headRmsnorm(k, c.nKVHeads, c.headDim, normW.subarray(c.headDim), eps);
      }
      ropeRef(q, c.nHeads, spec, p);
      ropeRef(k, c.nKVHeads, spec, p);
      if (!c.noCache) {
        wantK.set(c.f16 ? f16Round(k) : k, p * kvDim);
        wantV.set(c.f16 ? f16Round(v) : v, p * kvDim);
      }
    }
    const what = `rope ${JSON.stringify(c)}`;
    expectClose(await readBuffer(gpu, xb, x.length), wantX, `${what} x`);
    if (c.f16) {
      // The f16 rounding of the reference's k and v; k within one f16 step where its f32 value was a
      // hair from a rounding boundary (f16's relative step is 2⁻¹⁰ ≈ 9.8e-4).
      const cache = async (b: GPUBuffer) => unpackF16(new Uint32Array((await readBuffer(gpu, b, wantK.length / 2)).buffer));
      expectClose(await cache(kb), wantK, `${what} f16 key cache`, 1e-3);
      expectClose(await cache(vb), wantV, `${what} f16 value cache`, 0);
    } else {
      expectClose(await readBuffer(gpu, kb, wantK.length), wantK, `${what} key cache`);
      // v is only summed and biased: bit-exact.
      expectClose(await readBuffer(gpu, vb, wantV.length), wantV, `${what} value cache`, 0);
    }
    for (const b of [...owned, table.buffer]) b.destroy();
    op.destroy();
  }

  test('q and k in place; k, v into the cache; positions 0 … 2047, prefill tokens', async () => {
    const next = rng(SEED);
    const cases: Case[] = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 0, T: 1 },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 1, T: 1 },
      { nHeads: 8, nKVHeads: 8, headDim: 8, ropeDim: 8, pos: 37, T: 1, base: 500000 },
      { nHeads: 3, nKVHeads: 1, headDim: 6, ropeDim: 4, pos: 511, T: 1 },
      { nHeads: 2, nKVHeads: 2, headDim: 128, ropeDim: 128, pos: 2047, T: 1 },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 30, T: 5, maxTokens: 8 },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 2, T: 3, noCache: true },
    ];
    for (const c of cases) await check(next, c);
  });

  test('partials: q, k, v summed from a split GEMV\'s partial vectors (one token), q and k written to x', async () => {
    const next = rng(SEED + 1);
    const cases: Case[] = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 0, T: 1, chunks: 1 },
      { nHeads: 4, nKVHeads: 4, headDim: 16, ropeDim: 16, pos: 9, T: 1, chunks: 16 },
      { nHeads: 3, nKVHeads: 1, headDim: 6, ropeDim: 4, pos: 511, T: 1, chunks: 5 },
    ];
    for (const c of cases) await check(next, c);
  });

  test('NEOX pairs and frequency factors (Llama 3, Qwen): with and without partials, cache, several tokens, partial rotation', async () => {
    const next = rng(SEED + 2);
    const cases: Case[] = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 5, T: 1, style: 'neox' },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 1999, T: 1, style: 'neox', base: 1e6, chunks: 7 },
      { nHeads: 3, nKVHeads: 1, headDim: 12, ropeDim: 8, pos: 100, T: 4, maxTokens: 6, style: 'neox' },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 3, T: 3, style: 'neox', noCache: true },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 2047, T: 1, base: 500000, freqFactors: true },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 700, T: 1, base: 500000, freqFactors: true, chunks: 3 },
      { nHeads: 2, nKVHeads: 1, headDim: 32, ropeDim: 16, pos: 40, T: 5, freqFactors: true, style: 'neox' },
    ];
    for (const c of cases) await check(next, c);
  });

  test('q/k/v bias and per-head q/k RMSNorm (Qwen2, Qwen3): with and without partials, cache, several tokens', async () => {
    const next = rng(SEED + 3);
    const cases: Case[] = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 7, T: 1, style: 'neox', base: 1e6, bias: true },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 7, T: 1, style: 'neox', base: 1e6, bias: true, chunks: 9 },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 12, T: 4, style: 'neox', bias: true, noCache: true },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 60, T: 6, maxTokens: 8, bias: true },
      { nHeads: 4, nKVHeads: 2, headDim: 128, ropeDim: 128, pos: 300, T: 1, style: 'neox', base: 1e6, norm: true },
      { nHeads: 4, nKVHeads: 2, headDim: 128, ropeDim: 128, pos: 301, T: 1, style: 'neox', base: 1e6, norm: true, chunks: 4 },
      { nHeads: 4, nKVHeads: 2, headDim: 128, ropeDim: 128, pos: 20, T: 3, style: 'neox', norm: true, noCache: true },
      { nHeads: 3, nKVHeads: 1, headDim: 12, ropeDim: 8, pos: 9, T: 5, maxTokens: 5, style: 'neox', norm: true, bias: true },
      // Several pairs per invocation (headDim/2 > workgroup size): the head's reduction spans them.
      { nHeads: 2, nKVHeads: 1, headDim: 256, ropeDim: 256, pos: 33, T: 2, style: 'neox', norm: true, bias: true, workgroupSize: 16 },
      { nHeads: 2, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 1, T: 1, norm: true, bias: true, freqFactors: true, chunks: 2, workgroupSize: 8 },
    ];
    for (const c of cases) await check(next, c);
  });

  test('f16 cache: adjacent elements packed, NEOX pairs staged; the f16 rounding of the reference\'s k and v', async () => {
    const next = rng(SEED + 4);
    const cases: Case[] = [
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 0, T: 1, f16: true },
      { nHeads: 3, nKVHeads: 1, headDim: 6, ropeDim: 4, pos: 511, T: 1, chunks: 5, f16: true },
      { nHeads: 4, nKVHeads: 2, headDim: 16, ropeDim: 16, pos: 30, T: 5, maxTokens: 8, f16: true },
      { nHeads: 4, nKVHeads: 2, headDim: 64, ropeDim: 64, pos: 1999, T: 1, style: 'neox', base: 1e6, chunks: 7, f16: true },
      { nHeads: 3, nKVHeads: 1, headDim: 12, ropeDim: 8, pos: 100, T: 4, maxTokens: 6, style: 'neox', f16: true },
      { nHeads: 4, nKVHeads: 2, headDim: 128, ropeDim: 128, pos: 300, T: 3, style: 'neox', base: 1e6, norm: true, bias: true, f16: true },
      { nHeads: 2, nKVHeads: 1, headDim: 256, ropeDim: 256, pos: 33, T: 2, style: 'neox', norm: true, bias: true, workgroupSize: 16, f16: true },
      { nHeads: 2, nKVHeads: 1, headDim: 32, ropeDim: 16, pos: 40, T: 5, freqFactors: true, style: 'neox', f16: true },
    ];
    for (const c of cases) await check(next, c);
  });
});
