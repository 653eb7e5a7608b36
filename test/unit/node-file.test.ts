// Model files read on demand in Node (src/node-file.ts): the same model as the bytes in memory, a
// header longer than the first read (a large vocabulary), a cut file, and a file cut while in use.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { parseGGUF, tensorBytes } from '../../src/model/gguf.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { fileSource, sha256Source } from '../../src/node-file.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { familyGGUF, sha256 } from '../helpers/families.js';
import { kv, tinyLlamaSpec, withMeta, writeGGUF } from '../helpers/gguf-writer.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'was-edge-node-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fileSource', () => {
  test('stories260K read on demand: the same tensors, logits and sha256 as the file in memory', async () => {
    const path = sharedPath('models/stories260K/stories260K.gguf');
    const bytes = readShared('models/stories260K/stories260K.gguf');
    const source = fileSource(path);
    const lazy = openModel(source);
    const whole = openModel(bytes);
    for (const t of whole.file.tensors.values()) expect(tensorBytes(lazy.file, t)).toEqual(tensorBytes(whole.file, t));
    const ids = whole.tokenizer.encode('Once upon a time', { bos: true });
    const a = await new ReferenceBackend(lazy.config, loadWeightsF32(lazy.file, lazy.config), 32).feed(ids, 0);
    const b = await new ReferenceBackend(whole.config, loadWeightsF32(whole.file, whole.config), 32).feed(ids, 0);
    expect(a).toEqual(b);
    const steps: number[] = [];
    expect(await sha256Source(source, (done) => { steps.push(done); })).toBe(sha256(bytes));
    expect(steps.at(-1)).toBe(bytes.length);
    source.close();
  });

  test('a header longer than the first 8 MiB read is read again, longer', () => {
    // 200,000 tokens of 60 characters: a 12 MB vocabulary, as long as the largest real ones.
    const tokens = Array.from({ length: 200_000 }, (_, i) => `${i}`.padEnd(60, 'x'));
    const spec = withMeta(tinyLlamaSpec({ vocab: 4 }), { 'tokenizer.extra_strings': kv.arr('string', tokens) });
    const path = join(dir, 'long-header.gguf');
    const bytes = writeGGUF(spec).bytes;
    writeFileSync(path, bytes);
    expect(bytes.length).toBeGreaterThan(12e6);
    const source = fileSource(path);
    const lazy = parseGGUF(source);
    expect(lazy.metadata.get('tokenizer.extra_strings')).toEqual(tokens);
    expect(lazy.dataOffset).toBe(parseGGUF(bytes).dataOffset);
    source.close();
  });

  test('a cut file is TRUNCATED as in memory; a file cut while open fails its next read by name', () => {
    const bytes = familyGGUF('qwen3', 'Q8_0');
    const cut = join(dir, 'cut.gguf');
    writeFileSync(cut, bytes.subarray(0, 1000));
    const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as ModelFormatError).code; } return 'none'; };
    expect(code(() => parseGGUF(fileSource(cut)))).toBe(code(() => parseGGUF(bytes.subarray(0, 1000))));
    const path = join(dir, 'qwen3.gguf');
    writeFileSync(path, bytes);
    const source = fileSource(path);
    const m = openModel(source);
    truncateSync(path, bytes.length - 4096);
    const last = [...m.file.tensors.values()].sort((x, y) => y.offset - x.offset)[0]!;
    expect(() => tensorBytes(m.file, last)).toThrow(ModelFormatError);
    expect(() => tensorBytes(m.file, last)).toThrow(/was changed or cut while in use/);
    source.close();
  });
});
