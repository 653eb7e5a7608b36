// The SDK's contract under misuse (issue: hardening, items 5–8): every failure is a WasEdgeError
// subclass with a code, never a raw TypeError/EISDIR/DataCloneError, and the engine keeps working.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type * as Sdk from '../../src/node.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const dist = new URL('../../dist/node.js', import.meta.url);
if (!existsSync(new URL('node-worker.js', dist))) throw new Error('dist/node-worker.js is missing: run `npm run build` first');
const sdk = (await import(dist.href)) as typeof Sdk;
const MODEL = sharedPath('models/stories260K/stories260K.gguf');

async function failure(p: Promise<unknown> | (() => unknown)): Promise<Error & { code?: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

describe('SDK misuse gives typed errors; the engine stays usable', () => {
  let engine: Sdk.Engine;
  beforeAll(() => {
    engine = sdk.createEngine({ backend: 'reference' });
  });
  afterAll(() => engine.dispose());

  const cases: [string, () => Promise<unknown>, string][] = [
    ['a directory as the model', () => engine.load(tmpdir()), 'FILE_NOT_READABLE'],
    ['a missing file', () => engine.load(join(tmpdir(), 'no-such-model.gguf')), 'FILE_NOT_READABLE'],
    ['schedulesUrl that is no URL', () => engine.load(MODEL, { schedulesUrl: 'http://' }), 'OPTION_OUT_OF_RANGE'],
    ['null options to generate', () => engine.generate('x', null as unknown as Sdk.EngineGenerateOptions).result, 'OPTION_OUT_OF_RANGE'],
    ['a non-string prompt', () => engine.generate({ text: 'x' } as unknown as string).result, 'OPTION_OUT_OF_RANGE'],
    ['a function as prompt', () => engine.generate((() => 'x') as unknown as string).result, 'OPTION_OUT_OF_RANGE'],
    ['an unknown schedule method', () => engine.generate('x', { schedule: { name: 'stories260K', level: 0.6, method: 'fast' as 'was-bo' } }).result, 'OPTION_OUT_OF_RANGE'],
  ];
  test.each(cases)('%s', async (_, call, code) => {
    if (code !== 'FILE_NOT_READABLE') await engine.load(MODEL);
    const e = await failure(call());
    expect(e, `${e.name}: ${e.message}`).toBeInstanceOf(sdk.WasEdgeError);
    expect(e.code).toBe(code);
    await engine.load(MODEL);
    const r = await engine.generate('Once', { maxTokens: 2 }).result;
    expect(r.tokenIds.length).toBe(2);
  });

  test('a relative schedulesUrl is a path from the working directory (no prebuilt schedule there), not an error', async () => {
    const info = await engine.load(MODEL, { schedulesUrl: 'no-such-folder' });
    expect(info.schedules).toEqual([]);
  });

  test('bytes over a SharedArrayBuffer load like any bytes', async () => {
    const file = readShared('models/stories260K/stories260K.gguf');
    const shared = new Uint8Array(new SharedArrayBuffer(file.byteLength));
    shared.set(file);
    const info = await engine.load(shared);
    expect(info.bytes).toBe(file.byteLength);
  });

  test('schedulesUrl as an absolute path and as a file: URL finds the prebuilt schedule there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'was-edge-schedules-'));
    const sub = join(dir, 'my schedules');
    mkdirSync(sub);
    writeFileSync(join(sub, 'stories260K.json'), readFileSync(new URL('../../schedules/stories260K.json', import.meta.url)));
    for (const url of [sub, pathToFileURL(sub).href]) {
      const info = await engine.load(MODEL, { schedulesUrl: url });
      expect(info.schedules.map((s) => s.name), String(url)).toEqual(['stories260K']);
    }
  });

  test('a file name that encodes a path finds no prebuilt schedule outside the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'was-edge-evil-'));
    const evil = join(dir, '..%2F..%2Fstories260K.gguf');
    writeFileSync(evil, readShared('models/stories260K/stories260K.gguf'));
    const info = await engine.load(evil);
    expect(info.id).toBeNull();
    expect(info.schedules).toEqual([]);
  });
});
