// K-quants (Q4_K, Q5_K, Q6_K, Q8_K): src/model/kquant.ts against a per-element decoder written
// separately (test/helpers/kquant.ts), bit for bit, on blocks of a test quantizer and on hand-made
// blocks with known values; the round trip within the quantizer's bound; the parser's K-types and
// row rule; the real llama100m-debtext-bpe Q4_K_M file.
import { describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { parseGGUF } from '../../src/model/gguf.js';
import { dequantize, GGMLType } from '../../src/model/tensor.js';
import { dequantizeTensor } from '../../src/model/weights.js';
import { TYPE, writeGGUF } from '../helpers/gguf-writer.js';
import { halfBits, K_BYTES, kWeights, packScales, quantizeK, QK, toHalf } from '../helpers/kquant.js';
import { mulberry32 } from '../helpers/random.js';
import { hasShared, readShared } from '../helpers/shared.js';

const K_TYPES = [[GGMLType.Q4_K, 'Q4_K'], [GGMLType.Q5_K, 'Q5_K'], [GGMLType.Q6_K, 'Q6_K']] as const;

/** Random weights of a realistic spread, with an outlier and an all-positive block to exercise mins. */
function randomWeights(seed: number, n: number): Float32Array {
  const rnd = mulberry32(seed);
  const x = Float32Array.from({ length: n }, () => (rnd() + rnd() + rnd() - 1.5) * 0.05);
  x[7] = 0.9; // an outlier: its sub-block's scale is large, the others' small relative to d
  for (let e = QK; e < Math.min(n, 2 * QK); e++) x[e] = Math.abs(x[e]!) + 0.01; // no negatives: min 0
  return x;
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('K-quant dequantisation', () => {
  test.each(K_TYPES)('type %i (%s): random blocks equal the per-element decoder bit for bit, and round-trip within the bound', (type, name) => {
    for (const seed of [1, 2, 3]) {
      const n = 8 * QK;
      const x = randomWeights(seed, n);
      const q = quantizeK(type, x);
      expect(q.length).toBe((n / QK) * K_BYTES[type]!);
      const got = dequantize(type, q, n);
      const want = kWeights(type, q, n);
      expect(bits(got)).toEqual(bits(want));
      // Round trip: the rounding of each code (half a step) plus the rounding of the 6/8-bit
      // sub-block scale and min (half a step of d or dmin, times the largest code) bounds the error.
      let maxErr = 0, err2 = 0, norm2 = 0;
      for (let b = 0; b < n / QK; b++) {
        const blk = q.subarray(b * K_BYTES[type]!, (b + 1) * K_BYTES[type]!);
        const d = halfBits(type === GGMLType.Q6_K ? blk[208]! | (blk[209]! << 8) : blk[0]! | (blk[1]! << 8));
        const dmin = type === GGMLType.Q6_K ? 0 : halfBits(blk[2]! | (blk[3]! << 8));
        const top = type === GGMLType.Q4_K ? 15 : 31;
        for (let e = b * QK; e < (b + 1) * QK; e++) {
          const err = Math.abs(got[e]! - x[e]!);
          const sub = type === GGMLType.Q6_K ? 16 : 32;
          const s0 = Math.floor(e / sub) * sub;
          const range = Math.max(...x.subarray(s0, s0 + sub)) - Math.min(0, ...x.subarray(s0, s0 + sub));
          const bound = range / top / 2 + (top + 1) * d / 2 + dmin / 2 + 1e-7;
          expect(err, `${name} seed ${seed} weight ${e}`).toBeLessThanOrEqual(bound);
          maxErr = Math.max(maxErr, err);
          err2 += err * err;
          norm2 += x[e]! ** 2;
        }
      }
      if (seed === 1) console.log(`${name}: round trip max |error| ${maxErr.toExponential(2)}, relative RMS ${Math.sqrt(err2 / norm2).toExponential(2)}`);
      expect(Math.sqrt(err2 / norm2)).toBeLessThan(type === GGMLType.Q4_K ? 0.12 : type === GGMLType.Q5_K ? 0.06 : 0.04);
    }
  });

  test('a destination view and an unaligned source give the same values', () => {
    const x = randomWeights(9, 2 * QK);
    for (const [type] of K_TYPES) {
      const q = quantizeK(type, x);
      const shifted = new Uint8Array(q.length + 3);
      shifted.set(q, 3);
      const out = new Float32Array(3 * QK).fill(NaN);
      dequantize(type, shifted.subarray(3), 2 * QK, out.subarray(QK));
      expect(bits(out.subarray(QK))).toEqual(bits(dequantize(type, q, 2 * QK)));
      expect(out[QK - 1]).toBeNaN(); // untouched
    }
  });
});

/** A Q4_K or Q5_K block: f16 d and dmin, sub-block scales ls[8], mins lm[8], codes q[256] (< 16, or < 32 for Q5_K). */
function q45Block(type: 12 | 13, dh: number, mh: number, ls: number[], lm: number[], q: number[]): Uint8Array {
  const blk = new Uint8Array(K_BYTES[type]!);
  blk.set([dh & 255, dh >> 8, mh & 255, mh >> 8], 0);
  blk.set(packScales(ls, lm), 4);
  const qs = type === 12 ? 16 : 48;
  q.forEach((v, e) => {
    blk[qs + 32 * (e >> 6) + (e & 31)]! |= (v & 15) << (4 * ((e >> 5) & 1));
    if (v > 15) blk[16 + (e & 31)]! |= 1 << (e >> 5);
  });
  return blk;
}

describe('K-quant hand-made blocks', () => {
  const codes = (top: number) => Array.from({ length: QK }, (_, e) => (e * 7 + 3) % (top + 1));

  test('all-zero scales and mins give zeros whatever d, dmin and the codes are', () => {
    const zero = Array(8).fill(0);
    for (const type of [12, 13] as const) {
      const out = dequantize(type, q45Block(type, 0x3c00, 0x3c00, zero, zero, codes(type === 12 ? 15 : 31)), QK);
      expect([...out].every((v) => Object.is(v, 0))).toBe(true); // +0: ggml's 0·q − 0
    }
    const q6 = new Uint8Array(210).fill(0xff);
    q6.fill(0, 192, 208); // int8 scales 0
    q6.set([0x00, 0x3c], 208); // d = 1
    expect([...dequantize(GGMLType.Q6_K, q6, QK)].every((v) => v === 0)).toBe(true);
  });

  test('Q4_K/Q5_K: every 6-bit scale and min (both halves of the packing) scales its own sub-block; negative dmin adds', () => {
    // Sub-block j has scale 8j + 7 (needs the top two bits for j ≥ 2) and min 63 − 8j.
    const ls = Array.from({ length: 8 }, (_, j) => 8 * j + 7);
    const lm = Array.from({ length: 8 }, (_, j) => 63 - 8 * j);
    for (const [type, dmin] of [[12, 0.5], [13, 0.5], [12, -0.25], [13, -0.25]] as const) {
      const q = codes(type === 12 ? 15 : 31);
      const out = dequantize(type, q45Block(type, 0x3400 /* 0.25 */, toHalf(dmin), ls, lm, q), QK);
      for (let e = 0; e < QK; e++) {
        const j = e >> 5;
        expect(out[e], `type ${type} weight ${e}`).toBe(0.25 * ls[j]! * q[e]! - dmin * lm[j]!); // exact in f32
      }
    }
  });

  test('Q4_K/Q5_K: all scale bits set is 63 for every scale and min; the largest codes', () => {
    for (const type of [12, 13] as const) {
      const top = type === 12 ? 15 : 31;
      const blk = q45Block(type, 0x3c00, 0x3800, Array(8).fill(0), Array(8).fill(0), Array(QK).fill(top));
      blk.fill(0xff, 4, 16);
      const out = dequantize(type, blk, QK);
      expect([...new Set(out)]).toEqual([63 * top - 0.5 * 63]);
    }
  });

  test('Q6_K: int8 scales from −128 to 127, codes −32..31 from the four nibble/2-bit positions', () => {
    const blk = new Uint8Array(210);
    const sc = [-128, 127, -1, 1, 0, 64, -64, 5, -5, 100, -100, 3, 2, -2, 17, -17];
    const q = Array.from({ length: QK }, (_, e) => ((e * 11 + 5) % 64) - 32);
    sc.forEach((s, g) => { blk[192 + g] = s & 255; });
    blk[208] = 0x00; blk[209] = 0x34; // d = 0.25
    q.forEach((v, e) => {
      const u = v + 32, n = e >> 7, i = (e >> 5) & 3, l = e & 31;
      blk[64 * n + l + 32 * (i & 1)]! |= (u & 15) << (i < 2 ? 0 : 4);
      blk[128 + 32 * n + l]! |= (u >> 4) << (2 * i);
    });
    const out = dequantize(GGMLType.Q6_K, blk, QK);
    for (let e = 0; e < QK; e++) expect(out[e], `weight ${e}`).toBe(0.25 * sc[e >> 4]! * q[e]!);
  });

  test('Q8_K: f32 d times int8 codes', () => {
    const blk = new Uint8Array(292);
    new DataView(blk.buffer).setFloat32(0, -0.125, true);
    for (let e = 0; e < QK; e++) blk[4 + e] = (e - 128) & 255;
    const out = dequantize(GGMLType.Q8_K, blk, QK);
    for (let e = 0; e < QK; e++) expect(out[e]).toBe(-0.125 * (e - 128));
  });

  test('short buffers and partial super-blocks are BAD_SHAPE', () => {
    const code = (f: () => unknown) => {
      try { f(); } catch (e) { expect(e).toBeInstanceOf(ModelFormatError); return (e as ModelFormatError).code; }
      return 'no error';
    };
    for (const [type] of K_TYPES) {
      expect(code(() => dequantize(type, new Uint8Array(K_BYTES[type]!), 128))).toBe('BAD_SHAPE');
      expect(code(() => dequantize(type, new Uint8Array(K_BYTES[type]! - 1), QK))).toBe('BAD_SHAPE');
    }
  });
});

describe('GGUF with K-quant tensors', () => {
  test('K-types parse with their byte sizes and dequantise through dequantizeTensor', () => {
    const x = randomWeights(4, 2 * QK);
    const tensors = ([TYPE.Q4_K, TYPE.Q5_K, TYPE.Q6_K] as const).map((type) =>
      ({ name: `w${type}`, dims: [QK, 2], type, data: quantizeK(type, x) }));
    const file = parseGGUF(writeGGUF({ tensors: [...tensors, { name: 'q8k', dims: [QK], type: TYPE.Q8_K }] }).bytes);
    for (const t of tensors) {
      const info = file.tensors.get(t.name)!;
      expect(info.nbytes).toBe(2 * K_BYTES[t.type]!);
      expect(bits(dequantizeTensor(file, info))).toEqual(bits(kWeights(t.type, t.data, 2 * QK)));
    }
    expect(file.tensors.get('q8k')!.nbytes).toBe(292);
  });

  test('a K-quant row whose length is not a multiple of 256 is BAD_SHAPE (ggml requires whole super-blocks)', () => {
    for (const type of [TYPE.Q4_K, TYPE.Q5_K, TYPE.Q6_K, TYPE.Q8_K]) {
      const spec = { tensors: [{ name: 'w', dims: [128, 4], type, data: new Uint8Array(1024) }] };
      expect(() => parseGGUF(writeGGUF(spec).bytes)).toThrow(expect.objectContaining({ code: 'BAD_SHAPE' }));
      expect(() => parseGGUF(writeGGUF(spec).bytes)).toThrow(/row length 128 is not a multiple of the Q\d_K block size 256/);
    }
  });
});

describe.skipIf(!hasShared('models/llama100m-debtext-bpe'))('llama100m-debtext-bpe Q4_K_M (a real llama.cpp K-quant file)', () => {
  const file = parseGGUF(readShared('models/llama100m-debtext-bpe', 'llama100m-debtext-bpe-Q4_K_M.gguf'));

  test('the header parses; its tensors are Q4_K, Q6_K and F32 norms', () => {
    expect(file.tensors.size).toBe(2 + 1 + 12 * 9);
    const types = new Map<number, number>();
    for (const t of file.tensors.values()) types.set(t.type, (types.get(t.type) ?? 0) + 1);
    expect([...types.keys()].sort((a, b) => a - b)).toEqual([GGMLType.F32, GGMLType.Q4_K, GGMLType.Q6_K]);
    console.log(`Q4_K_M tensor types: ${[...types].map(([t, n]) => `type ${t} ×${n}`).join(', ')}`);
  });

  test('every tensor dequantises to finite values of a plausible scale', () => {
    for (const t of file.tensors.values()) {
      const w = dequantizeTensor(file, t);
      let sum2 = 0, max = 0;
      for (const v of w) {
        if (!Number.isFinite(v)) throw new Error(`${t.name}: non-finite weight ${v}`);
        sum2 += v * v;
        max = Math.max(max, Math.abs(v));
      }
      const rms = Math.sqrt(sum2 / w.length);
      if (t.dims.length === 1) {
        expect(rms, t.name).toBeGreaterThan(0.05); // RMSNorm gains are around 1
        expect(rms, t.name).toBeLessThan(20);
      } else {
        // Trained matrices of width 768/2048: entries around 1/√width, nowhere near a garbled scale.
        expect(rms, t.name).toBeGreaterThan(1e-3);
        expect(rms, t.name).toBeLessThan(0.5);
        expect(max, t.name).toBeLessThan(50);
      }
    }
  });

  test('the first rows of blk.0.attn_q (Q4_K) and output (Q6_K) equal the per-element decoder', () => {
    for (const name of ['blk.0.attn_q.weight', 'output.weight']) {
      const t = file.tensors.get(name)!;
      const n = 4 * t.dims[0]!;
      const bytes = file.source.read(t.offset, (n / QK) * K_BYTES[t.type]!);
      expect(bits(dequantize(t.type, bytes, n))).toEqual(bits(kWeights(t.type, bytes, n)));
    }
  });
});
