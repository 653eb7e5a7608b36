// GGUF reader: round trips through the test writer, the real models, and every kind of bad input
// (each must be a ModelFormatError with a specific code).
import { describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { llamaConfig } from '../../src/model/config.js';
import { parseGGUF, tensorBytes, type GGUFFile } from '../../src/model/gguf.js';
import { dequantizeTensor, loadWeightsF32, modelTensors } from '../../src/model/weights.js';
import {
  f32Bytes, kv, setU32, setU64, tinyLlamaSpec, TYPE, without, withMeta, writeGGUF,
  type GGUFSpec, type Meta,
} from '../helpers/gguf-writer.js';
import { readShared } from '../helpers/shared.js';

/** The code of the ModelFormatError `fn` throws; anything else (or nothing) fails the test. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ModelFormatError)) throw new Error(`expected a ModelFormatError, got ${String(e)}`, { cause: e });
    return e.code;
  }
  throw new Error('expected a ModelFormatError, nothing was thrown');
}

const parse = (spec: GGUFSpec): GGUFFile => parseGGUF(writeGGUF(spec).bytes);
const config = (spec: GGUFSpec) => llamaConfig(parse(spec));

/** Every metadata kind, scalar and array, with the value the reader must give back. */
const EVERY_KIND: [string, Meta, unknown][] = [
  ['u8', kv.u8(255), 255],
  ['i8', kv.i8(-128), -128],
  ['u16', kv.u16(65535), 65535],
  ['i16', kv.i16(-32768), -32768],
  ['u32', kv.u32(4294967295), 4294967295],
  ['i32', kv.i32(-2147483648), -2147483648],
  ['f32', kv.f32(1.5), 1.5],
  ['f32.inexact', kv.f32(0.1), Math.fround(0.1)],
  ['bool.true', kv.bool(true), true],
  ['bool.false', kv.bool(false), false],
  ['string', kv.str('héllo, wörld ✓'), 'héllo, wörld ✓'],
  ['string.empty', kv.str(''), ''],
  ['u64.small', kv.u64(42), 42], // exact 64-bit integers come back as numbers...
  ['u64.max', kv.u64(2n ** 64n - 1n), 18446744073709551615n], // ...the others as bigints
  ['u64.2^53', kv.u64(2n ** 53n), 9007199254740992n],
  ['i64.neg', kv.i64(-5), -5],
  ['i64.min', kv.i64(-(2n ** 63n)), -9223372036854775808n],
  ['f64', kv.f64(Math.PI), Math.PI],
  ['a.u8', kv.arr('u8', [0, 1, 255]), Uint8Array.from([0, 1, 255])],
  ['a.i8', kv.arr('i8', [-128, 0, 127]), Int8Array.from([-128, 0, 127])],
  ['a.u16', kv.arr('u16', [0, 65535]), Uint16Array.from([0, 65535])],
  ['a.i16', kv.arr('i16', [-32768, 32767]), Int16Array.from([-32768, 32767])],
  ['a.u32', kv.arr('u32', [0, 4294967295]), Uint32Array.from([0, 4294967295])],
  ['a.i32', kv.arr('i32', [-1, 2147483647]), Int32Array.from([-1, 2147483647])],
  ['a.f32', kv.arr('f32', [0.5, -2, 0.1]), Float32Array.from([0.5, -2, 0.1])],
  ['a.f64', kv.arr('f64', [Math.E, -0.1]), Float64Array.from([Math.E, -0.1])],
  ['a.u64', kv.arr('u64', [0n, 2n ** 64n - 1n]), BigUint64Array.from([0n, 2n ** 64n - 1n])],
  ['a.i64', kv.arr('i64', [-(2n ** 63n), 7n]), BigInt64Array.from([-(2n ** 63n), 7n])],
  ['a.bool', kv.arr('bool', [true, false, true]), [true, false, true]],
  ['a.string', kv.arr('string', ['a', '', 'ü✓']), ['a', '', 'ü✓']],
  ['a.empty', kv.arr('u32', []), new Uint32Array(0)],
  ['a.string.empty', kv.arr('string', []), []],
  ['a.nested', kv.arr('array', [
    kv.arr('u8', [1, 2]),
    kv.arr('string', ['x', 'y']),
    kv.arr('array', [kv.arr('i32', [-1]), kv.arr('bool', [])]),
    kv.arr('f64', []),
  ]), [Uint8Array.from([1, 2]), ['x', 'y'], [Int32Array.from([-1]), []], new Float64Array(0)]],
];

function f16Bytes(halves: number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(halves).buffer);
}

describe('GGUF round trip through the writer', () => {
  for (const version of [2, 3]) {
    test(`v${version}: every metadata kind, nested arrays included`, () => {
      const file = parse({ version, metadata: EVERY_KIND.map(([k, m]) => [k, m]) });
      expect(file.version).toBe(version);
      expect([...file.metadata.keys()]).toEqual(EVERY_KIND.map(([k]) => k));
      for (const [key, , want] of EVERY_KIND) {
        // toStrictEqual also tells Uint8Array from Int8Array and 42 from 42n.
        expect(file.metadata.get(key), key).toStrictEqual(want);
      }
    });

    test(`v${version}: tensor infos, data views and the default alignment of 32`, () => {
      const f32 = f32Bytes([1, -2, 3.5]);
      const q8 = new Uint8Array(3 * 34).map((_, i) => i);
      const { bytes, layout } = writeGGUF({
        version,
        metadata: [['general.name', kv.str('t')]],
        tensors: [
          { name: 'a', dims: [3], type: TYPE.F32, data: f32 }, // 12 bytes: the next starts at 32
          { name: 'b', dims: [32, 3], type: TYPE.Q8_0, data: q8 }, // 102 bytes: next at 32 + 128
          { name: 'c', dims: [2, 1, 1, 1], type: TYPE.F16, data: f16Bytes([0x3c00, 0xc000]) },
          { name: 'd', dims: [64], type: TYPE.Q4_0 },
        ],
      });
      const file = parseGGUF(bytes);
      expect(file.alignment).toBe(32);
      expect(file.dataOffset).toBe(layout.dataOffset);
      expect(file.dataOffset % 32).toBe(0);
      expect(file.dataOffset).toBeGreaterThanOrEqual(layout.infosEnd);
      expect([...file.tensors.keys()]).toEqual(['a', 'b', 'c', 'd']);
      const info = (n: string) => file.tensors.get(n)!;
      expect(info('a')).toMatchObject({ dims: [3], type: TYPE.F32, offset: file.dataOffset, nbytes: 12, nelements: 3 });
      expect(info('b')).toMatchObject({ dims: [32, 3], type: TYPE.Q8_0, offset: file.dataOffset + 32, nbytes: 102, nelements: 96 });
      expect(info('c')).toMatchObject({ dims: [2, 1, 1, 1], type: TYPE.F16, offset: file.dataOffset + 160, nbytes: 4, nelements: 2 });
      expect(info('d')).toMatchObject({ dims: [64], type: TYPE.Q4_0, offset: file.dataOffset + 192, nbytes: 36, nelements: 64 });
      expect(tensorBytes(file, info('a'))).toEqual(f32);
      expect(tensorBytes(file, info('b'))).toEqual(q8);
      expect(tensorBytes(file, info('a')).buffer).toBe(bytes.buffer); // a view, not a copy
      expect([...dequantizeTensor(file, info('a'))]).toEqual([1, -2, 3.5]);
      expect([...dequantizeTensor(file, info('c'))]).toEqual([1, -2]);
    });
  }

  test('general.alignment 64 moves the data section and every tensor to multiples of 64', () => {
    const { bytes, layout } = writeGGUF({
      metadata: [['general.alignment', kv.u32(64)]],
      tensors: [
        { name: 'a', dims: [3], type: TYPE.F32 },
        { name: 'b', dims: [20], type: TYPE.F32 },
        { name: 'c', dims: [1], type: TYPE.F32, data: f32Bytes([7]) },
      ],
    });
    const file = parseGGUF(bytes);
    expect(file.alignment).toBe(64);
    expect(file.dataOffset % 64).toBe(0);
    expect(file.dataOffset).toBe(layout.dataOffset);
    expect([...file.tensors.values()].map((t) => t.offset - file.dataOffset)).toEqual([0, 64, 192]);
    expect([...dequantizeTensor(file, file.tensors.get('c')!)]).toEqual([7]);
  });

  test('a file of only the 24-byte header (no tensors, no metadata) parses', () => {
    const { bytes } = writeGGUF({});
    expect(bytes.length).toBe(32); // the writer pads the (empty) info section to 32
    for (const input of [bytes, bytes.slice(0, 24), bytes.slice(0, 24).buffer]) { // an ArrayBuffer too
      const file = parseGGUF(input);
      expect(file.tensors.size).toBe(0);
      expect(file.metadata.size).toBe(0);
    }
  });

  test('arrays nested 8 deep parse; 9 deep is ABSURD_VALUE', () => {
    const nest = (depth: number): Meta => (depth === 1 ? kv.arr('u8', [depth]) : kv.arr('array', [nest(depth - 1)]));
    let want: unknown = Uint8Array.from([1]);
    for (let d = 2; d <= 8; d++) want = [want];
    expect(parse({ metadata: [['deep', nest(8)]] }).metadata.get('deep')).toStrictEqual(want);
    expect(codeOf(() => parse({ metadata: [['deep', nest(9)]] }))).toBe('ABSURD_VALUE');
  });
});

describe('real models', () => {
  const LLAMA16M = ['F32', 'F16', 'Q8_0', 'Q4_0'] as const;
  const MATRIX_TYPE = { F32: TYPE.F32, F16: TYPE.F16, Q8_0: TYPE.Q8_0, Q4_0: TYPE.Q4_0 };

  for (const q of LLAMA16M) {
    test(`llama16m-debtext-${q}: config and every tensor`, () => {
      const file = parseGGUF(readShared('models/llama16m-debtext', `llama16m-debtext-${q}.gguf`));
      expect(file.version).toBe(3);
      expect(file.tensors.size).toBe(3 + 8 * 9);
      const c = llamaConfig(file);
      expect(c).toMatchObject({
        architecture: 'llama', dim: 384, nLayers: 8, nHeads: 8, nKVHeads: 4, headDim: 48, hiddenDim: 1024,
        vocabSize: 4096, ropeBase: 10000, contextLength: 512, tiedOutput: false,
      });
      expect(c.rmsEps).toBeCloseTo(1e-5, 10);
      const tensors = modelTensors(file, c);
      expect(tensors.size).toBe(3 + 8 * 9);
      expect(tensors.get('blk.0.attn_k.weight')!.dims).toEqual([384, 192]);
      expect(tensors.get('blk.7.ffn_down.weight')!.dims).toEqual([1024, 384]);
      for (const [name, t] of tensors) {
        // Norms stay F32; llama-quantize makes output.weight Q8_0 in Q4_0 files (384 % 256 != 0).
        const want = t.dims.length === 1 ? TYPE.F32 : q === 'Q4_0' && name === 'output.weight' ? TYPE.Q8_0 : MATRIX_TYPE[q];
        expect(t.type, name).toBe(want);
        expect(t.offset % file.alignment, name).toBe(0);
      }
    });
  }

  test('stories260K: config (rope base defaults to 10000 when the key is absent)', () => {
    const file = parseGGUF(readShared('models/stories260K/stories260K.gguf'));
    expect(file.tensors.size).toBe(48);
    expect(file.metadata.has('llama.rope.freq_base')).toBe(false);
    expect(file.metadata.has('llama.vocab_size')).toBe(false); // taken from the token list
    const c = llamaConfig(file);
    expect(c).toMatchObject({
      dim: 64, nLayers: 5, hiddenDim: 172, nHeads: 8, nKVHeads: 4, headDim: 8, vocabSize: 512,
      ropeBase: 10000, tiedOutput: false,
    });
    expect(c.rmsEps).toBeCloseTo(1e-5, 10);
    const w = loadWeightsF32(file, c);
    expect(w.layers).toHaveLength(5);
    expect(w.layers[4]!.wDown).toHaveLength(64 * 172);
  });

  test('stories260K-F16 parses to the same config', () => {
    const f16 = llamaConfig(parseGGUF(readShared('models/stories260K/stories260K-F16.gguf')));
    const f32 = llamaConfig(parseGGUF(readShared('models/stories260K/stories260K.gguf')));
    expect({ ...f16, name: '' }).toEqual({ ...f32, name: '' });
  });
});

describe('llama config and tensors of synthetic models', () => {
  test('the tiny model is complete', () => {
    const file = parse(tinyLlamaSpec({ layers: 2 }));
    const c = llamaConfig(file);
    expect(c).toMatchObject({ dim: 8, hiddenDim: 16, nLayers: 2, nHeads: 2, nKVHeads: 1, headDim: 4, vocabSize: 4, tiedOutput: false });
    expect(modelTensors(file, c).size).toBe(3 + 2 * 9);
  });

  test('no output.weight: tiedOutput, and the output is the embedding', () => {
    const file = parse(tinyLlamaSpec({ tied: true }));
    const c = llamaConfig(file);
    expect(c.tiedOutput).toBe(true);
    const tensors = modelTensors(file, c);
    expect(tensors.get('output.weight')).toBe(tensors.get('token_embd.weight'));
    const w = loadWeightsF32(file, c);
    expect(w.output).toBe(w.tokenEmbedding);
  });

  test('no head_count_kv: as many key/value heads as query heads', () => {
    const c = config(tinyLlamaSpec({ kvHeads: null }));
    expect(c.nKVHeads).toBe(c.nHeads);
    expect(config(tinyLlamaSpec({ heads: 4, kvHeads: 2 })).nKVHeads).toBe(2);
  });

  test('rope dimension defaults to the head size; vocab size falls back to the token list', () => {
    expect(config(tinyLlamaSpec()).ropeDim).toBe(4);
    expect(config(withMeta(tinyLlamaSpec(), { 'llama.rope.freq_base': kv.f32(500000) })).ropeBase).toBe(500000);
    expect(config(without(tinyLlamaSpec(), 'llama.vocab_size')).vocabSize).toBe(4);
  });

  test.each([
    'general.architecture', 'llama.embedding_length', 'llama.attention.head_count',
    'llama.attention.layer_norm_rms_epsilon', 'llama.feed_forward_length', 'llama.block_count',
    'llama.context_length',
  ])('missing %s is MISSING_METADATA', (key) => {
    const file = parse(without(tinyLlamaSpec(), key));
    expect(codeOf(() => llamaConfig(file))).toBe('MISSING_METADATA');
    expect(() => llamaConfig(file)).toThrow(key);
  });

  test('no vocab size and no token list is MISSING_METADATA', () => {
    expect(codeOf(() => config(without(tinyLlamaSpec(), 'llama.vocab_size', 'tokenizer.ggml.tokens')))).toBe('MISSING_METADATA');
  });

  test('another architecture is UNSUPPORTED_ARCHITECTURE', () => {
    expect(codeOf(() => config(withMeta(tinyLlamaSpec(), { 'general.architecture': kv.str('gpt2') })))).toBe('UNSUPPORTED_ARCHITECTURE');
  });

  test.each<[string, Meta, string]>([
    ['general.architecture', kv.u32(1), 'BAD_VALUE'],
    ['llama.embedding_length', kv.str('384'), 'BAD_VALUE'],
    ['llama.embedding_length', kv.u64(2n ** 60n), 'BAD_VALUE'], // a bigint is not a number
    ['llama.embedding_length', kv.u32(0), 'ABSURD_VALUE'],
    ['llama.embedding_length', kv.f32(8.5), 'ABSURD_VALUE'],
    ['llama.embedding_length', kv.u32(9), 'BAD_VALUE'], // 9 % 2 heads != 0
    ['llama.attention.head_count', kv.u32(3), 'BAD_VALUE'], // 8 % 3 != 0
    ['llama.attention.head_count_kv', kv.u32(3), 'ABSURD_VALUE'], // more than head_count
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(0), 'BAD_VALUE'],
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(NaN), 'BAD_VALUE'],
    ['llama.rope.freq_base', kv.f32(-1), 'BAD_VALUE'],
    ['llama.block_count', kv.u32(1e6), 'ABSURD_VALUE'],
  ])('%s = %o is %s', (key, value, code) => {
    const file = parse(withMeta(tinyLlamaSpec(), { [key]: value }));
    expect(codeOf(() => modelTensors(file, llamaConfig(file)))).toBe(code);
  });

  test('a missing tensor is MISSING_TENSOR', () => {
    for (const name of ['token_embd.weight', 'output_norm.weight', 'blk.0.ffn_up.weight', 'blk.1.attn_q.weight']) {
      const file = parse(without(tinyLlamaSpec({ layers: 2 }), name));
      expect(codeOf(() => modelTensors(file, llamaConfig(file))), name).toBe('MISSING_TENSOR');
    }
  });

  test('a misshapen tensor is BAD_SHAPE', () => {
    const reshape = (name: string, dims: number[]) => {
      const spec = tinyLlamaSpec();
      const t = spec.tensors!.find((x) => x.name === name)!;
      const n = dims.reduce((a, d) => a * d, 1);
      Object.assign(t, { dims, data: f32Bytes(new Float32Array(n)) });
      const file = parse(spec);
      return codeOf(() => modelTensors(file, llamaConfig(file)));
    };
    expect(reshape('blk.0.attn_k.weight', [8, 8])).toBe('BAD_SHAPE'); // kv dim is 4, not 8
    expect(reshape('blk.0.ffn_down.weight', [8, 16])).toBe('BAD_SHAPE'); // transposed
    expect(reshape('output_norm.weight', [8, 1])).toBe('BAD_SHAPE'); // 2-D
    expect(reshape('token_embd.weight', [8, 5])).toBe('BAD_SHAPE'); // vocab 4
  });
});

describe('bad input is a ModelFormatError with a specific code', () => {
  const small = () => writeGGUF({
    metadata: [
      ['general.architecture', kv.str('llama')],
      ['n', kv.u32(7)],
      ['nested', kv.arr('array', [kv.arr('string', ['ab', 'c']), kv.arr('i16', [1, 2, 3])])],
      ['big', kv.u64(2n ** 63n)],
      ['flag', kv.bool(true)],
    ],
    tensors: [
      { name: 'w', dims: [32, 2], type: TYPE.Q8_0 },
      { name: 'v', dims: [5], type: TYPE.F32 },
    ],
  });

  test('wrong magic is BAD_MAGIC', () => {
    const { bytes } = writeGGUF({});
    for (const magic of ['GGML', 'ggjt', 'GGUG', 'FUGG']) {
      const b = bytes.slice();
      b.set(new TextEncoder().encode(magic));
      expect(codeOf(() => parseGGUF(b)), magic).toBe('BAD_MAGIC');
    }
    expect(codeOf(() => parseGGUF(new TextEncoder().encode('{"not": "gguf"}')))).toBe('BAD_MAGIC');
    expect(codeOf(() => parseGGUF(Uint8Array.from([0x50, 0x4b])))).toBe('BAD_MAGIC'); // short, not "GG"
  });

  test('versions 0, 1, 4 and big-endian ones are UNSUPPORTED_VERSION', () => {
    for (const version of [0, 1, 4, 0x02000000, 0x03000000]) {
      expect(codeOf(() => parse({ version })), String(version)).toBe('UNSUPPORTED_VERSION');
    }
    expect(() => parse({ version: 0x03000000 })).toThrow(/big-endian/);
  });

  test('truncation at every byte: TRUNCATED before the tensor data, TENSOR_OUT_OF_BOUNDS inside it', () => {
    const { bytes, layout } = small();
    const last = layout.tensorData.at(-1)!;
    const end = last.at + last.nbytes; // then padding, which the reader does not need
    expect(end).toBeLessThan(bytes.length);
    for (let n = 0; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      if (n >= end) {
        expect(parseGGUF(cut).tensors.size).toBe(2);
        continue;
      }
      const want = n < layout.infosEnd ? 'TRUNCATED' : 'TENSOR_OUT_OF_BOUNDS';
      expect(codeOf(() => parseGGUF(cut)), `cut at ${n} of ${bytes.length}`).toBe(want);
    }
  });

  test('truncation of a real file inside its tensor data is TENSOR_OUT_OF_BOUNDS', () => {
    const bytes = readShared('models/llama16m-debtext/llama16m-debtext-Q4_0.gguf');
    const { dataOffset, tensors } = parseGGUF(bytes);
    const end = Math.max(...[...tensors.values()].map((t) => t.offset + t.nbytes));
    for (const n of [dataOffset, dataOffset + 1, dataOffset + 4096, end >> 1, end - 32, end - 1]) {
      expect(codeOf(() => parseGGUF(bytes.subarray(0, n))), `cut at ${n}`).toBe('TENSOR_OUT_OF_BOUNDS');
    }
    for (const n of [3, 12, 23, 100, 5000, 50_000]) {
      expect(codeOf(() => parseGGUF(bytes.subarray(0, n))), `cut at ${n}`).toBe('TRUNCATED');
    }
  });

  test('tensor data out of bounds is TENSOR_OUT_OF_BOUNDS', () => {
    const data = f32Bytes([1, 2]);
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims: [2], type: TYPE.F32, data, offset: 4096 }] }))).toBe('TENSOR_OUT_OF_BOUNDS');
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims: [1024, 1024], type: TYPE.F32, data }] }))).toBe('TENSOR_OUT_OF_BOUNDS');
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims: [2], type: TYPE.F32, data, offset: 2n ** 60n }] }))).toBe('ABSURD_VALUE');
  });

  test('unknown and known-but-unsupported tensor types are UNSUPPORTED_TENSOR_TYPE', () => {
    for (const type of [TYPE.Q2_K, 20 /* IQ4_NL */, 30 /* BF16 */, 99, 0xffffffff]) {
      const spec = { tensors: [{ name: 'w', dims: [256], type, data: new Uint8Array(256) }] };
      expect(codeOf(() => parse(spec)), String(type)).toBe('UNSUPPORTED_TENSOR_TYPE');
    }
    // The message names the type and every type that is read, K-quants included.
    expect(() => parse({ tensors: [{ name: 'w', dims: [256], type: TYPE.Q2_K }] }))
      .toThrow(/type Q2_K; was-edge reads F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K and Q8_K\./);
  });

  // Refused before anything of that size is allocated or looped over (a slow refusal would time out).
  test('absurd counts, lengths and dimensions are ABSURD_VALUE', () => {
    const patched = (patch: (b: Uint8Array, l: ReturnType<typeof small>['layout']) => void) => {
      const { bytes, layout } = small();
      patch(bytes, layout);
      return codeOf(() => parseGGUF(bytes));
    };
    const kvAt = (l: ReturnType<typeof small>['layout'], key: string) => l.kvs.find((k) => k.key === key)!;
    expect(patched((b, l) => setU64(b, l.tensorCountAt, 2n ** 62n))).toBe('ABSURD_VALUE');
    expect(patched((b, l) => setU64(b, l.kvCountAt, 2n ** 64n - 1n))).toBe('ABSURD_VALUE');
    // nested: u32 element type, then the u64 count
    expect(patched((b, l) => setU64(b, kvAt(l, 'nested').valueAt + 4, 2n ** 40n))).toBe('ABSURD_VALUE');
    // the inner string array's count, after the outer header (4 + 8) and its own type (4)
    expect(patched((b, l) => setU64(b, kvAt(l, 'nested').valueAt + 16, 2n ** 40n))).toBe('ABSURD_VALUE');
    expect(patched((b, l) => setU64(b, kvAt(l, 'general.architecture').valueAt, 2n ** 50n))).toBe('ABSURD_VALUE');
    expect(patched((b, l) => setU64(b, kvAt(l, 'n').at, 2n ** 50n))).toBe('ABSURD_VALUE'); // key length
    expect(patched((b, l) => setU64(b, l.tensorInfos[0]!.at, 2n ** 50n))).toBe('ABSURD_VALUE'); // name length
    expect(patched((b, l) => setU32(b, l.tensorInfos[0]!.nDimsAt, 99))).toBe('ABSURD_VALUE');
    expect(patched((b, l) => setU32(b, l.tensorInfos[0]!.nDimsAt, 0))).toBe('ABSURD_VALUE');
    expect(patched((b, l) => setU64(b, l.tensorInfos[0]!.dimsAt + 8, 2n ** 40n))).toBe('ABSURD_VALUE');
    expect(patched((b, l) => setU64(b, l.tensorInfos[1]!.dimsAt, 0n))).toBe('ABSURD_VALUE');
    // Each dimension below 2^32, but their product beyond 2^53.
    const dims = [2 ** 31, 2 ** 31, 2 ** 31, 32];
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims, type: TYPE.F32, data: new Uint8Array(4) }] }))).toBe('ABSURD_VALUE');
  });

  test('counts a few bytes too large are TRUNCATED, before anything is allocated', () => {
    const { bytes, layout } = small();
    const b = bytes.slice();
    setU64(b, layout.kvs.find((k) => k.key === 'nested')!.valueAt + 4, 2n ** 32n); // 2^32 arrays
    expect(codeOf(() => parseGGUF(b))).toBe('TRUNCATED');
    const c = bytes.slice();
    setU64(c, layout.tensorCountAt, 1000n);
    expect(codeOf(() => parseGGUF(c))).toBe('TRUNCATED');
  });

  test('bad alignment', () => {
    const tensors = [{ name: 'w', dims: [4], type: TYPE.F32 }];
    for (const a of [kv.u32(0), kv.u32(3), kv.u32(48), kv.u32(1 << 17), kv.str('32'), kv.f32(32.5), kv.i32(-32)]) {
      expect(codeOf(() => parse({ metadata: [['general.alignment', a]], tensors, alignment: 32 })), JSON.stringify(a)).toBe('BAD_VALUE');
    }
    // A tensor offset that is not a multiple of the alignment.
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims: [4], type: TYPE.F32, offset: 16 }] }))).toBe('BAD_OFFSET');
    expect(codeOf(() => parse({ metadata: [['general.alignment', kv.u32(64)]], tensors: [{ name: 'w', dims: [4], type: TYPE.F32, offset: 32 }] }))).toBe('BAD_OFFSET');
  });

  test('a row that is not whole blocks is BAD_SHAPE', () => {
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims: [33, 2], type: TYPE.Q8_0, data: new Uint8Array(136) }] }))).toBe('BAD_SHAPE');
    expect(codeOf(() => parse({ tensors: [{ name: 'w', dims: [16], type: TYPE.Q4_0, data: new Uint8Array(18) }] }))).toBe('BAD_SHAPE');
  });

  test('bad metadata values: unknown type, bool not 0/1, repeated key, repeated tensor', () => {
    expect(codeOf(() => parse({ metadata: [['x', kv.raw(13, [0, 0, 0, 0])]] }))).toBe('BAD_VALUE_TYPE');
    expect(codeOf(() => parse({ metadata: [['x', kv.raw(0xffffffff, [])]] }))).toBe('BAD_VALUE_TYPE');
    // An array of an unknown element type, even an empty one.
    expect(codeOf(() => parse({ metadata: [['x', kv.raw(9, [13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]] }))).toBe('BAD_VALUE_TYPE');
    expect(codeOf(() => parse({ metadata: [['x', kv.raw(7, [2])]] }))).toBe('BAD_VALUE');
    expect(codeOf(() => parse({ metadata: [['x', kv.u8(1)], ['x', kv.u8(2)]] }))).toBe('DUPLICATE_KEY');
    const t = { name: 'w', dims: [4], type: TYPE.F32 };
    expect(codeOf(() => parse({ tensors: [t, t] }))).toBe('DUPLICATE_TENSOR');
  });
});
