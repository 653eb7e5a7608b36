// The CPU module's kernels (assembly/cpu/, debug build: asserts on) against the reference ops
// (src/reference/ops.ts) on fresh random inputs, with the relative error printed. GEMV: every weight
// format packed by src/cpu/layout.ts from GGUF bytes, odd shapes, dense and sparse at 0, ½ and all
// channels skipped, run whole and cut into slices as threads run it.
import { beforeAll, describe, expect, test } from 'vitest';
import { Format, matrixBytes, packMatrix, paddedOutputs, rowBytes } from '../../src/cpu/layout.js';
import { cpuWasmNode } from '../../src/cpu/node.js';
import { GEMV_HEADER_WORDS, KIND_ATTENTION, KIND_GEMV } from '../../src/cpu/plan.js';
import { ropeAngles } from '../../src/cpu/rope.js';
import { HEAP_START, instantiateCpu, type CpuExports } from '../../src/cpu/wasm.js';
import { inMemory, type GGUFFile, type GGUFTensorInfo } from '../../src/model/gguf.js';
import { dequantize, f32ToF16, GGMLType } from '../../src/model/tensor.js';
import { attention, headRmsnorm, matvec, rmsnorm, rope, sparseMatvec, swiglu, type RopeSpec } from '../../src/reference/ops.js';
import { quantizeK } from '../helpers/kquant.js';
import { mulberry32 } from '../helpers/random.js';

let e: CpuExports;
let memory: WebAssembly.Memory;
let end = HEAP_START;
/** A zeroed region of `bytes` in Wasm memory (bump allocation; the memory is big enough for every test). */
function take(bytes: number): number {
  const at = end;
  end += Math.ceil(bytes / 64) * 64;
  if (end > memory.buffer.byteLength) throw new Error('test memory too small');
  new Uint8Array(memory.buffer, at, bytes).fill(0);
  return at;
}
const f32 = (ptr: number, n: number) => new Float32Array(memory.buffer, ptr, n);
const i32 = (ptr: number, n: number) => new Int32Array(memory.buffer, ptr, n);

beforeAll(async () => {
  memory = new WebAssembly.Memory({ initial: 512, maximum: 512 }); // 32 MiB
  e = await instantiateCpu(await cpuWasmNode('debug'), memory);
});

/** Random GGUF bytes of a (rows, cols) matrix of `type`: weights around ±1 with mixed block scales. */
function randomTensor(type: GGMLType, rows: number, cols: number, next: () => number): Uint8Array {
  const n = rows * cols;
  const half = (v: number) => f32ToF16(v);
  switch (type) {
    case GGMLType.F32: return new Uint8Array(Float32Array.from({ length: n }, () => next() * 2 - 1).buffer);
    case GGMLType.F16: return new Uint8Array(Uint16Array.from({ length: n }, () => half(next() * 2 - 1)).buffer);
    case GGMLType.Q8_0:
    case GGMLType.Q4_0: {
      const q8 = type === GGMLType.Q8_0;
      const bytes = q8 ? 34 : 18;
      const out = new Uint8Array((n / 32) * bytes);
      for (let b = 0; b < n / 32; b++) {
        const d = half((q8 ? 1 / 127 : 1 / 8) * (0.2 + next()) * (next() < 0.5 ? -1 : 1));
        out[b * bytes] = d & 0xff;
        out[b * bytes + 1] = d >> 8;
        for (let j = 2; j < bytes; j++) out[b * bytes + j] = Math.floor(next() * 256);
      }
      return out;
    }
    case GGMLType.Q8_K: {
      const out = new Uint8Array((n / 256) * 292);
      for (let b = 0; b < n / 256; b++) {
        new DataView(out.buffer).setFloat32(b * 292, (0.2 + next()) / 127 * (next() < 0.5 ? -1 : 1), true);
        for (let j = 4; j < 260; j++) out[b * 292 + j] = Math.floor(next() * 256);
      }
      return out;
    }
    default: // K-quants: the test quantizer's blocks of weights around ±1, a few rows ten times larger
      return quantizeK(type, Float32Array.from({ length: n }, (_, i) => (next() * 2 - 1) * (i % 997 === 0 ? 10 : 1)));
  }
}

const FORMATS: [string, GGMLType, Format][] = [
  ['f32', GGMLType.F32, Format.F32], ['f16', GGMLType.F16, Format.F16],
  ['q8_0', GGMLType.Q8_0, Format.Q8_0], ['q4_0', GGMLType.Q4_0, Format.Q4_0],
  ['q4_k', GGMLType.Q4_K, Format.Q4_K], ['q5_k', GGMLType.Q5_K, Format.Q5_K], ['q6_k', GGMLType.Q6_K, Format.Q6_K],
  ['q8_k as q6_k', GGMLType.Q8_K, Format.Q6_K],
];
/** (inputs, outputs): odd outputs everywhere, odd inputs where the format allows, > 1024 outputs (two tiles). */
const SHAPES: Record<string, [number, number][]> = {
  plain: [[1, 1], [45, 37], [77, 100], [300, 1100], [13, 64]],
  quantized: [[32, 1], [96, 37], [64, 173], [1024, 1100], [160, 64]],
  kquant: [[256, 1], [256, 37], [512, 173], [1024, 1100], [768, 64]],
};

describe('gemv over the input-channel-major layout', () => {
  test.each(FORMATS)('%s: dense and sparse, whole and in slices, against the reference matvec', (name, type, fmt) => {
    const shapes = fmt === Format.F32 || fmt === Format.F16 ? SHAPES.plain! : fmt >= Format.Q4_K ? SHAPES.kquant! : SHAPES.quantized!;
    const next = mulberry32(0x5eed + type);
    let worst = 0;
    for (const [K, N] of shapes) {
      const mark = end;
      const bytes = randomTensor(type, N, K, next);
      const info: GGUFTensorInfo = { name: 'w', dims: [K, N], type, offset: 0, nbytes: bytes.byteLength, nelements: K * N };
      const file = { source: inMemory(bytes) } as GGUFFile;
      const W = dequantize(type, bytes, K * N); // (N, K) row-major: the reference's layout
      const np = paddedOutputs(N);
      const w = take(K * rowBytes(fmt, np));
      const tableBytes = matrixBytes(fmt, K, N).scales;
      const scales = tableBytes ? take(tableBytes) : 0;
      packMatrix(file, info, memory.buffer, w, scales);
      const x = take(4 * K);
      const tau = take(4 * K);
      const idx = take(4 * K);
      const out = take(4 * np);
      const tmp = take(4 * 1024 * 3);
      const job = take(4 * (GEMV_HEADER_WORDS + 8));
      const xs = f32(x, K);
      for (let k = 0; k < K; k++) xs[k] = (next() * 2 - 1) * (k % 7 === 0 ? 8 : 1);
      for (const s of [0, 0.5, 1]) {
        // τ: −1 keeps every channel, +∞ drops every one, |x|·(½ or 2) drops about half
        const t = f32(tau, K);
        for (let k = 0; k < K; k++) t[k] = s === 0 ? -1 : s === 1 ? Infinity : Math.abs(xs[k]!) * (next() < 0.5 ? 0.5 : 2);
        const want = new Float32Array(N);
        const skipped = sparseMatvec(want, W, xs, t, N, K);
        const active = e.selectActive(x, tau, K, idx);
        expect(active, 'active count = the reference\'s').toBe(K - skipped);
        if (s === 0) {
          const dense = new Float32Array(N);
          matvec(dense, W, xs, N, K);
          expect(Array.from(dense)).toEqual(Array.from(want));
        }
        // Σ_k |W[o][k]·x_k| over active channels: the scale of each output's rounding error
        const scale = new Float64Array(N);
        for (let o = 0; o < N; o++) for (let k = 0; k < K; k++) if (Math.abs(xs[k]!) > t[k]!) scale[o]! += Math.abs(W[o * K + k]! * xs[k]!);
        const check = (label: string) => {
          const y = f32(out, np);
          for (let o = 0; o < N; o++) {
            const err = Math.abs(y[o]! - want[o]!) / Math.max(scale[o]!, 1e-30);
            worst = Math.max(worst, err);
            if (!(err <= 1e-6)) throw new Error(`${name} ${K}×${N} s=${s} ${label}: output ${o} = ${y[o]}, reference ${want[o]} (relative error ${err})`);
          }
          for (let o = N; o < np; o++) expect(y[o], 'padding outputs stay 0').toBe(0);
        };
        f32(out, np).fill(NaN);
        e.gemvRange(fmt, w, scales, np, x, idx, active, out, 0, np, tmp);
        check('sparse list');
        if (s === 0) {
          f32(out, np).fill(NaN);
          e.gemvRange(fmt, w, scales, np, x, 0, K, out, 0, np, tmp);
          check('dense (no list)');
        }
        // the job descriptor cut into 3 slices, as three threads would take them
        i32(job, GEMV_HEADER_WORDS + 8).set([KIND_GEMV, 1, tmp, 4096, fmt, w, scales, np, x, idx, active, out]);
        f32(out, np).fill(NaN);
        for (let i = 0; i < 3; i++) expect(e.runJob(job, i, 3)).toBe(0);
        check('3 slices');
      }
      end = mark;
    }
    console.log(`gemv ${name}: max error / Σ|w·x| = ${worst.toExponential(2)} over ${shapes.map(([k, n]) => `${k}×${n}`).join(', ')}`);
  });
});

describe('block ops', () => {
  test('rmsnorm, swiglu and residual add equal the reference to the last bit or within 1 ulp', () => {
    const next = mulberry32(7);
    for (const n of [1, 77, 384]) {
      const mark = end;
      const xs = Float32Array.from({ length: n }, () => next() * 4 - 2);
      const ws = Float32Array.from({ length: n }, () => next() * 2);
      const x = take(4 * n), w = take(4 * n), out = take(4 * n);
      f32(x, n).set(xs);
      f32(w, n).set(ws);
      e.rmsnorm(out, x, w, n, 1e-5);
      const want = new Float32Array(n);
      rmsnorm(want, xs, ws, 1e-5);
      expect(Array.from(f32(out, n))).toEqual(Array.from(want));
      const up = Float32Array.from({ length: n }, () => next() * 4 - 2);
      const u = take(4 * n);
      f32(u, n).set(up);
      e.swiglu(out, x, u, n);
      swiglu(want, xs, up);
      let d = 0;
      for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(f32(out, n)[i]! - want[i]!) / Math.max(Math.abs(want[i]!), 1e-30));
      expect(d, `swiglu relative error ${d}`).toBeLessThanOrEqual(2 ** -23);
      end = mark;
    }
    const a = take(64), b = take(64);
    f32(a, 16).set(Array.from({ length: 16 }, (_, i) => i));
    f32(b, 16).fill(0.5);
    e.addInPlace(a, b, 16);
    expect(Array.from(f32(a, 16))).toEqual(Array.from({ length: 16 }, (_, i) => i + 0.5));
  });

  test('rope (normal and NEOX pairs, partial rotary dims, frequency factors) equals the reference bit for bit', () => {
    const next = mulberry32(11);
    const cases: [number, number, number, number, RopeSpec['style'], boolean][] = [
      [8, 48, 48, 17, 'normal', false], [4, 12, 8, 300, 'normal', true], [2, 8, 8, 0, 'normal', false],
      [4, 128, 128, 45, 'neox', false], [3, 12, 8, 1000, 'neox', true],
    ];
    let worst = 0;
    for (const [nHeads, headDim, ropeDim, pos, style, factors] of cases) {
      const mark = end;
      const spec: RopeSpec = {
        headDim, ropeDim, base: factors ? 500000 : 10000, style,
        freqFactors: factors ? Float32Array.from({ length: ropeDim / 2 }, () => 1 + 7 * next()) : null,
      };
      const want = Float32Array.from({ length: nHeads * headDim }, () => next() * 2 - 1);
      const v = take(4 * want.length);
      const table = take(8 * ropeDim);
      f32(v, want.length).set(want);
      ropeAngles(new Float64Array(memory.buffer, table, ropeDim), spec, pos);
      e.rope(v, nHeads, headDim, ropeDim, style === 'neox' ? 1 : 0, table);
      rope(want, nHeads, spec, pos);
      const got = f32(v, want.length);
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      end = mark;
    }
    console.log(`rope: max |Δ| = ${worst.toExponential(2)}`);
    expect(worst).toBe(0);
  });

  test('per-head RMSNorm (Qwen3 q/k norm) equals the reference bit for bit', () => {
    const next = mulberry32(12);
    for (const [nHeads, headDim] of [[4, 128], [2, 12], [1, 64]] as const) {
      const mark = end;
      const want = Float32Array.from({ length: nHeads * headDim }, () => next() * 4 - 2);
      const w = Float32Array.from({ length: headDim }, () => next() + 0.5);
      const v = take(4 * want.length), wp = take(4 * headDim);
      f32(v, want.length).set(want);
      f32(wp, headDim).set(w);
      e.headRmsnorm(v, nHeads, headDim, wp, 1e-6);
      headRmsnorm(want, nHeads, headDim, w, 1e-6);
      expect(Array.from(f32(v, want.length))).toEqual(Array.from(want));
      end = mark;
    }
  });

  test('attention (grouped-query, head sizes with and without a SIMD tail, in slices of heads) within 1e-6', () => {
    const next = mulberry32(13);
    let worst = 0;
    for (const [nHeads, nKV, headDim, pos] of [[8, 4, 48, 40], [6, 2, 6, 0], [4, 4, 13, 9], [8, 8, 8, 63]] as const) {
      const mark = end;
      const kvDim = nKV * headDim;
      const ctx = 64;
      const qs = Float32Array.from({ length: nHeads * headDim }, () => next() * 2 - 1);
      const kc = Float32Array.from({ length: ctx * kvDim }, () => next() * 2 - 1);
      const vc = Float32Array.from({ length: ctx * kvDim }, () => next() * 2 - 1);
      const q = take(4 * qs.length), k = take(4 * kc.length), v = take(4 * vc.length), out = take(4 * qs.length);
      const scores = take(4 * ctx * 3);
      f32(q, qs.length).set(qs);
      f32(k, kc.length).set(kc);
      f32(v, vc.length).set(vc);
      const want = new Float32Array(qs.length);
      attention(want, qs, kc, vc, pos, nHeads, nKV, headDim);
      e.attentionRange(q, k, v, out, pos, nHeads, nKV, headDim, scores, 0, nHeads);
      const got = () => {
        let d = 0;
        const o = f32(out, qs.length);
        // outputs are convex combinations of values in [−1, 1]: absolute error is relative to that scale
        for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(o[i]! - want[i]!));
        return d;
      };
      worst = Math.max(worst, got());
      const job = take(4 * 11);
      i32(job, 11).set([KIND_ATTENTION, q, k, v, out, pos, nHeads, nKV, headDim, scores, 4 * ctx]);
      f32(out, qs.length).fill(NaN);
      for (let i = 0; i < 3; i++) expect(e.runJob(job, i, 3)).toBe(0);
      worst = Math.max(worst, got());
      end = mark;
    }
    console.log(`attention: max |Δ| = ${worst.toExponential(2)} (values in [−1, 1])`);
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  test('embedding rows of every ggml type are dequantised exactly; argmax takes the lowest index of ties', () => {
    const next = mulberry32(17);
    for (const [name, type] of FORMATS.map(([n, t]) => [n, t] as const)) {
      const dim = type >= GGMLType.Q4_K ? 512 : 96; // K-quant rows hold whole super-blocks of 256
      const mark = end;
      const bytes = randomTensor(type, 5, dim, next);
      const src = take(bytes.byteLength + 1) + 1; // the file's bytes need not be aligned
      new Uint8Array(memory.buffer, src, bytes.byteLength).set(bytes);
      const want = dequantize(type, bytes, 5 * dim);
      const out = take(4 * dim);
      for (const row of [0, 3, 4]) {
        expect(e.dequantizeRow(out, src, type, row, dim), name).toBe(0);
        expect(Array.from(f32(out, dim)), `${name} row ${row}`).toEqual(Array.from(want.subarray(row * dim, (row + 1) * dim)));
      }
      end = mark;
    }
    const x = take(4 * 8);
    f32(x, 8).set([1, 5, -2, 5, 0, 4, 5, 3]);
    expect(e.argmax(x, 8)).toBe(1);
    expect(e.argmax(x, 1)).toBe(0);
  });

  test('selectActive keeps |x| > τ in ascending order; NaN activations and τ = +∞ drop, τ = −1 keeps', () => {
    const x = take(4 * 6), tau = take(4 * 6), idx = take(4 * 6);
    f32(x, 6).set([0.5, -0.5, NaN, 0, 2, -3]);
    f32(tau, 6).set([0.4, 0.5, -1, -1, Infinity, 2.9]);
    expect(e.selectActive(x, tau, 6, idx)).toBe(3);
    expect(Array.from(i32(idx, 3))).toEqual([0, 3, 5]);
  });

  test('the debug build asserts on misuse: unaligned GEMV ranges abort with a message', () => {
    expect(() => e.gemvRange(Format.F32, 0, 0, 32, 0, 0, 0, 0, 16, 32, 0)).toThrow(/gemvRange: ranges must be multiples of 32/);
  });
});
