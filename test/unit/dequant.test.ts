// Half floats and Q8_0/Q4_0 dequantisation: hand-written blocks with hand-computed values, then
// the real llama16m files against their F32 original.
import { describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { parseGGUF, type GGUFFile } from '../../src/model/gguf.js';
import { dequantize, f16ToF32, f32ToF16, GGMLType } from '../../src/model/tensor.js';
import { dequantizeTensor } from '../../src/model/weights.js';
import { TYPE, writeGGUF } from '../helpers/gguf-writer.js';
import { readShared } from '../helpers/shared.js';

const isNaNHalf = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x03ff) !== 0;

describe('f16ToF32', () => {
  test.each<[number, number]>([
    [0x0000, 0],
    [0x3c00, 1],
    [0xc000, -2],
    [0x3800, 0.5],
    [0x3555, 0.333251953125],
    [0x7bff, 65504], // largest finite
    [0x0400, 2 ** -14], // smallest normal
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x8001, -(2 ** -24)],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ])('half %i is %s', (h, want) => {
    expect(f16ToF32(h)).toBe(want);
  });

  test('negative zero and NaNs', () => {
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    for (const h of [0x7c01, 0x7e00, 0x7fff, 0xfe00, 0xfc01]) expect(f16ToF32(h)).toBeNaN();
  });
});

describe('f32ToF16', () => {
  test.each<[number, number]>([
    [0, 0x0000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [2 ** -14, 0x0400],
    [1023 * 2 ** -24, 0x03ff],
    [2 ** -24, 0x0001],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [1e10, 0x7c00], // overflow
    [-1e10, 0xfc00],
    [1e-10, 0x0000], // underflow
    [-1e-10, 0x8000],
    [2 ** -126, 0x0000], // f32 normal far below half range
    [2 ** -149, 0x0000], // f32 subnormal
  ])('%s becomes half %i', (f, want) => {
    expect(f32ToF16(f)).toBe(want);
  });

  test('rounding: to nearest, ties to even (normal, subnormal, at the overflow edge)', () => {
    // Halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): down to the even one.
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    // Halfway between 0x3c01 and 0x3c02 (even): up.
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -23)).toBe(0x3c01); // just above the tie
    expect(f32ToF16(1 + 2 ** -11 - 2 ** -23)).toBe(0x3c00); // just below
    // A carry out of the mantissa bumps the exponent: 2 - 2^-12 → 2.
    expect(f32ToF16(2 - 2 ** -12)).toBe(0x4000);
    // 65520 is halfway between 65504 (0x7bff, odd) and 65536 (not a half): to infinity.
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(65519)).toBe(0x7bff);
    // Subnormals: 2^-25 is halfway between 0 and 2^-24: down to 0; 3·2^-25 up to 2·2^-24.
    expect(f32ToF16(2 ** -25)).toBe(0x0000);
    expect(f32ToF16(-(2 ** -25))).toBe(0x8000);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002);
    expect(f32ToF16(2 ** -25 * (1 + 2 ** -15))).toBe(0x0001); // just above the tie
    expect(f32ToF16(2 ** -26)).toBe(0x0000);
    // 1023.5·2^-24 is halfway between the largest subnormal (odd) and the smallest normal.
    expect(f32ToF16(1023.5 * 2 ** -24)).toBe(0x0400);
    expect(f32ToF16(1022.5 * 2 ** -24)).toBe(0x03fe);
  });

  test('negative zero and NaN', () => {
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(isNaNHalf(f32ToF16(NaN))).toBe(true);
  });

  test('every half round-trips through f32 (NaNs stay NaN, payload aside)', () => {
    let checked = 0;
    for (let h = 0; h < 65536; h++) {
      const back = f32ToF16(f16ToF32(h));
      if (isNaNHalf(h)) {
        if (!isNaNHalf(back)) throw new Error(`NaN 0x${h.toString(16)} came back as 0x${back.toString(16)}`);
        continue;
      }
      if (back !== h) throw new Error(`0x${h.toString(16)} came back as 0x${back.toString(16)}`);
      checked++;
    }
    expect(checked).toBe(65536 - 2 * 1023);
  });
});

/** One Q8_0 block as ggml stores it: f16 scale (little-endian), then 32 int8 codes. */
function q8Block(scale: number, codes: number[]): number[] {
  expect(codes).toHaveLength(32);
  return [scale & 0xff, scale >> 8, ...codes.map((c) => c & 0xff)];
}

// Block 0: scale 0.5 (f16 0x3800); x = 0.5·q.
const Q8_CODES_0 = [0, 1, -1, 2, -2, 3, -3, 4, -4, 10, -10, 16, -16, 32, -32, 64,
  -64, 100, -100, 126, -126, 127, -127, -128, 5, 6, 7, 8, 9, 11, 12, 13];
const Q8_WANT_0 = [0, 0.5, -0.5, 1, -1, 1.5, -1.5, 2, -2, 5, -5, 8, -8, 16, -16, 32,
  -32, 50, -50, 63, -63, 63.5, -63.5, -64, 2.5, 3, 3.5, 4, 4.5, 5.5, 6, 6.5];
// Block 1: scale -2 (f16 0xc000).
const Q8_CODES_1 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
  -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16];
const Q8_WANT_1 = [-2, -4, -6, -8, -10, -12, -14, -16, -18, -20, -22, -24, -26, -28, -30, -32,
  2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32];
// Block 2: the smallest subnormal scale, 2^-24 (f16 0x0001).
const Q8_CODES_2 = [1, -1, 127, -128, ...new Array<number>(28).fill(0)];
const Q8_WANT_2 = [2 ** -24, -(2 ** -24), 127 * 2 ** -24, -128 * 2 ** -24, ...new Array<number>(28).fill(0)];
const Q8_BYTES = Uint8Array.from([
  ...q8Block(0x3800, Q8_CODES_0), ...q8Block(0xc000, Q8_CODES_1), ...q8Block(0x0001, Q8_CODES_2)]);
const Q8_WANT = [...Q8_WANT_0, ...Q8_WANT_1, ...Q8_WANT_2];

// Q4_0: f16 scale then 16 bytes; byte j holds element j in its low nibble and element j + 16 in
// its high nibble; x = d·(q − 8).
// Block 0: scale 0.5 (0x3800), byte j = j | (15 − j) << 4.
const Q4_BYTES_0 = [0x00, 0x38,
  0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f];
const Q4_WANT_0 = [
  -4, -3.5, -3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, // low nibbles 0..15
  3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5, -2, -2.5, -3, -3.5, -4, // high nibbles 15..0
];
// Block 1: scale 3 (0x4200), irregular codes so that a swapped or interleaved layout shows.
const Q4_BYTES_1 = [0x00, 0x42,
  0x80, 0x08, 0xff, 0x00, 0x19, 0x91, 0x7f, 0xf7, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88];
const Q4_WANT_1 = [
  -24, 0, 21, -24, 3, -21, 21, -3, 0, 0, 0, 0, 0, 0, 0, 0, // low nibbles 0,8,f,0,9,1,f,7,8…
  0, -24, 21, -24, -21, 3, -3, 21, 0, 0, 0, 0, 0, 0, 0, 0, // high nibbles 8,0,f,0,1,9,7,f,8…
];
const Q4_BYTES = Uint8Array.from([...Q4_BYTES_0, ...Q4_BYTES_1]);
const Q4_WANT = [...Q4_WANT_0, ...Q4_WANT_1];

describe('dequantize', () => {
  test('Q8_0 hand-written blocks', () => {
    expect(Q8_BYTES).toHaveLength(3 * 34);
    expect([...dequantize(GGMLType.Q8_0, Q8_BYTES, 96)]).toEqual(Q8_WANT);
  });

  test('Q4_0 hand-written blocks', () => {
    expect(Q4_BYTES).toHaveLength(2 * 18);
    expect([...dequantize(GGMLType.Q4_0, Q4_BYTES, 64)]).toEqual(Q4_WANT);
  });

  test('the same blocks as tensors of a GGUF file, at unaligned offsets inside a bigger buffer', () => {
    const { bytes } = writeGGUF({
      tensors: [
        { name: 'q8', dims: [32, 3], type: TYPE.Q8_0, data: Q8_BYTES },
        { name: 'q4', dims: [64], type: TYPE.Q4_0, data: Q4_BYTES },
      ],
    });
    // An odd byteOffset: the file is a view into a larger buffer, as when read from a stream.
    const host = new Uint8Array(bytes.length + 1);
    host.set(bytes, 1);
    const file = parseGGUF(host.subarray(1));
    expect([...dequantizeTensor(file, file.tensors.get('q8')!)]).toEqual(Q8_WANT);
    expect([...dequantizeTensor(file, file.tensors.get('q4')!)]).toEqual(Q4_WANT);
  });

  test('F16 and F32, aligned and not', () => {
    const f16 = Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c]);
    expect([...dequantize(GGMLType.F16, f16, 4)]).toEqual([1, -2, 2 ** -24, Infinity]);
    const f32 = new Uint8Array(13);
    new DataView(f32.buffer).setFloat32(1, 1.5, true);
    new DataView(f32.buffer).setFloat32(5, -0.25, true);
    new DataView(f32.buffer).setFloat32(9, 3e38, true);
    expect([...dequantize(GGMLType.F32, f32.subarray(1), 3)]).toEqual([1.5, -0.25, Math.fround(3e38)]);
    const aligned = new Uint8Array(new Float32Array([7, 8]).buffer);
    expect([...dequantize(GGMLType.F32, aligned, 2)]).toEqual([7, 8]);
  });

  test('into a caller-given buffer', () => {
    const out = new Float32Array(96);
    expect(dequantize(GGMLType.Q8_0, Q8_BYTES, 96, out)).toBe(out);
    expect([...out]).toEqual(Q8_WANT);
  });

  test('a partial block, a short source, a short output or another type is a ModelFormatError', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(ModelFormatError);
        return (e as ModelFormatError).code;
      }
      return 'no error';
    };
    expect(code(() => dequantize(GGMLType.Q8_0, Q8_BYTES, 40))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(GGMLType.Q8_0, Q8_BYTES, 128))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(GGMLType.Q4_0, Q4_BYTES.subarray(0, 20), 64))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(GGMLType.F32, new Uint8Array(7), 2))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(GGMLType.F32, new Uint8Array(8), -1))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(GGMLType.F32, new Uint8Array(8), 2 ** 40))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(GGMLType.Q8_0, Q8_BYTES, 96, new Float32Array(64)))).toBe('BAD_SHAPE');
    expect(code(() => dequantize(10 as GGMLType, new Uint8Array(84), 256))).toBe('UNSUPPORTED_TENSOR_TYPE'); // Q2_K
  });
});

describe('llama16m-debtext: quantised files against the F32 original', () => {
  const load = (q: string) => parseGGUF(readShared('models/llama16m-debtext', `llama16m-debtext-${q}.gguf`));
  const f32 = load('F32');

  /** ‖a − b‖ / ‖a‖ */
  function relRMS(a: Float32Array, b: Float32Array): number {
    let err = 0, norm = 0;
    for (let i = 0; i < a.length; i++) {
      err += (a[i]! - b[i]!) ** 2;
      norm += a[i]! ** 2;
    }
    return Math.sqrt(err / norm);
  }
  function errors(file: GGUFFile): Map<string, [type: number, err: number]> {
    const out = new Map<string, [number, number]>();
    for (const [name, t] of file.tensors) {
      const ref = f32.tensors.get(name)!;
      expect(t.dims, name).toEqual(ref.dims);
      out.set(name, [t.type, relRMS(dequantizeTensor(f32, ref), dequantizeTensor(file, t))]);
    }
    return out;
  }
  const BOUND: Record<number, number> = { [TYPE.F32]: 0, [TYPE.F16]: 1e-3, [TYPE.Q8_0]: 0.01, [TYPE.Q4_0]: 0.15 };

  for (const [q, attnQ] of [['F16', TYPE.F16], ['Q8_0', TYPE.Q8_0], ['Q4_0', TYPE.Q4_0]] as const) {
    test(`${q}: blk.0.attn_q.weight and every other tensor within the bound of its type`, () => {
      const errs = errors(load(q));
      expect(errs.size).toBe(75);
      const [type, err] = errs.get('blk.0.attn_q.weight')!;
      expect(type).toBe(attnQ);
      expect(err).toBeLessThan(BOUND[attnQ]!);
      if (attnQ !== TYPE.F16) expect(err).toBeGreaterThan(BOUND[attnQ]! / 100); // really quantised
      for (const [name, [t, e]] of errs) expect(e, `${name} (type ${t}): relative RMS error`).toBeLessThanOrEqual(BOUND[t]!);
    });
  }
});
