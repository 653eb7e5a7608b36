// Hostile and careless input (issue: hardening): files that parse but must not load, broken weights
// that would stream garbage, and library calls that must fail with a typed error, not a raw one.
import { describe, expect, test } from 'vitest';
import { ContextOverflowError, ModelFormatError, OptionError, ScheduleError, WasEdgeError } from '../../src/errors.js';
import { generate } from '../../src/generate.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { scheduleFileUrl } from '../../src/sdk/schedules.js';
import { parseSchedule } from '../../src/sparsity/schedule.js';
import { f32Bytes, kv, tinyLlamaSpec, withMeta, writeGGUF, type GGUFSpec, type TinyLlama } from '../helpers/gguf-writer.js';
import { readFileSync } from 'node:fs';

/** A tiny llama with a SentencePiece vocabulary: <unk>, <s>, </s> and `vocab − 3` plain pieces. */
function loadable(o: TinyLlama & { tokens?: number } = {}): GGUFSpec {
  const vocab = o.vocab ?? 8;
  const n = o.tokens ?? vocab;
  const pieces = Array.from({ length: n }, (_, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : `▁w${i}`));
  return withMeta(tinyLlamaSpec({ ...o, vocab }), {
    'tokenizer.ggml.model': kv.str('llama'),
    'tokenizer.ggml.tokens': kv.arr('string', pieces),
    'tokenizer.ggml.scores': kv.arr('f32', pieces.map(() => 0)),
    'tokenizer.ggml.token_type': kv.arr('i32', pieces.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : 1))),
  });
}

const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelFormatError);
    return (e as ModelFormatError).code;
  }
  return 'loaded';
};

describe('model files that parse but must not load', () => {
  test('a well-formed tiny model loads (the fixtures below differ from it in one thing)', () => {
    expect(codeOf(() => openModel(writeGGUF(loadable()).bytes))).toBe('loaded');
  });

  test('aliased tensors: every block pointing at the same bytes is TENSOR_OVERLAP, not a model 1024× the file', () => {
    const spec = loadable({ layers: 4 });
    // blk.N.* of every layer at blk.0's offsets: the writer packs in order, so give later layers blk.0's data offsets.
    const { layout } = writeGGUF(spec);
    const offsetOf = new Map(layout.tensorInfos.map((t) => [t.name, t]));
    const first = writeGGUF(spec);
    const rel = (name: string) => new DataView(first.bytes.buffer).getBigUint64(offsetOf.get(name)!.offsetAt, true);
    const aliased: GGUFSpec = { ...spec, tensors: spec.tensors!.map((t) => {
      const m = /^blk\.(\d+)\.(.*)$/.exec(t.name);
      return m && m[1] !== '0' ? { ...t, offset: rel(`blk.0.${m[2]}`) } : t;
    }) };
    expect(codeOf(() => openModel(writeGGUF(aliased).bytes))).toBe('TENSOR_OVERLAP');
  });

  test('a vocabulary longer or shorter than the embedding table is a ModelFormatError at load', () => {
    expect(codeOf(() => openModel(writeGGUF(loadable({ vocab: 8, tokens: 12 })).bytes))).toBe('VOCAB_MISMATCH');
    expect(codeOf(() => openModel(writeGGUF(loadable({ vocab: 8, tokens: 5 })).bytes))).toBe('VOCAB_MISMATCH');
    // Without llama.vocab_size the token list sets the size, and the table's shape disagrees.
    const spec = loadable({ vocab: 8, tokens: 12 });
    expect(codeOf(() => openModel(writeGGUF({ ...spec, metadata: spec.metadata!.filter(([k]) => k !== 'llama.vocab_size') }).bytes))).toBe('BAD_SHAPE');
  });

  test('an odd head or rope dimension is refused at load', () => {
    expect(codeOf(() => openModel(writeGGUF(loadable({ dim: 6, heads: 2, kvHeads: 2 })).bytes))).toBe('BAD_VALUE');
    expect(codeOf(() => openModel(writeGGUF(withMeta(loadable(), { 'llama.rope.dimension_count': kv.u32(3) })).bytes))).toBe('BAD_VALUE');
  });
});

describe('broken weights are reported, not streamed', () => {
  const nanModel = () => {
    const spec = loadable();
    const tensors = spec.tensors!.map((t) => (t.name === 'output.weight' ? { ...t, data: f32Bytes(new Array(8 * 8).fill(NaN)) } : t));
    return openModel(writeGGUF({ ...spec, tensors }).bytes);
  };
  test.each([['greedy', {}], ['sampled', { temperature: 0.8, seed: 1 }]])('%s: NaN logits are NON_FINITE_LOGITS naming the model', async (_, o) => {
    const m = nanModel();
    const b = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 16);
    for (const prompt of ['', 'w3 w4']) {
      const e = await generate(b, m.tokenizer, prompt, { maxTokens: 4, ...o }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ModelFormatError);
      expect((e as ModelFormatError).code).toBe('NON_FINITE_LOGITS');
      expect((e as Error).message).toContain('tiny');
    }
    // and the backend still works for a good call afterwards (a finite model on the same seam)
    const good = openModel(writeGGUF(loadable()).bytes);
    const r = await generate(new ReferenceBackend(good.config, loadWeightsF32(good.file, good.config), 16), good.tokenizer, '', { maxTokens: 2 });
    expect(r.generatedIds.length).toBeGreaterThan(0);
  });
});

describe('bounded work', () => {
  test('a prompt far longer than the context fails before tokenising, as ContextOverflowError', async () => {
    const m = openModel(writeGGUF(loadable()).bytes);
    const b = new ReferenceBackend(m.config, loadWeightsF32(m.file, m.config), 16);
    const e = await generate(b, m.tokenizer, 'w3 '.repeat(400_000), { maxTokens: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ContextOverflowError);
  });

  test('a schedule with 20,000 levels is BAD_SCHEDULE, refused before its levels are checked', () => {
    const file = JSON.parse(readFileSync(new URL('../../schedules/stories260K.json', import.meta.url), 'utf8')) as { levels: unknown[] };
    const many = { ...file, levels: Array.from({ length: 20_000 }, (_, i) => ({ ...(file.levels[0] as object), target: (i % 1000) / 1000 })) };
    const e = (() => { try { parseSchedule(many); } catch (x) { return x; } return null; })();
    expect(e).toBeInstanceOf(ScheduleError);
    expect((e as ScheduleError).code).toBe('BAD_SCHEDULE');
  });
});

describe('schedule names never leave the schedules folder', () => {
  const folder = new URL('https://cdn.example/app/schedules/');
  test.each(['../x', '..%2F..%2Fx', '%2F%2Fevil.example%2Fx', 'a/b', '', '.hidden', 'x..y'])('%j finds no file', (name) => {
    expect(scheduleFileUrl(folder, name)).toBeNull();
  });
  test('a plain id is <folder>/<id>.json', () => {
    expect(scheduleFileUrl(folder, 'stories260K')?.href).toBe('https://cdn.example/app/schedules/stories260K.json');
  });
});

test('every error class has a stable name and code, also as a base-class instance', () => {
  const e = new OptionError('x', 'bad');
  expect(e.name).toBe('OptionError');
  expect(e).toBeInstanceOf(WasEdgeError);
  expect(Object.keys(e)).toContain('name');
});
