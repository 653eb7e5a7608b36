// The worker boundary's transfer handlers over a real MessageChannel with comlink: thrown errors come
// back as their own class with name, code, cause and fields; AbortSignals abort on the other side.
import { expose, proxy, wrap } from 'comlink';
import { afterAll, describe, expect, test } from 'vitest';
import { AbortError, ContextOverflowError, CpuMemoryError, EngineError, GpuDeviceLostError, ModelFormatError, ModelLoadError, OptionError, ScheduleError, WasEdgeError, WebGPUUnavailableError } from '../../src/errors.js';
import { deserializeThrown, installTransferHandlers, releaseSignal, serializeThrown } from '../../src/sdk/transfer.js';

installTransferHandlers();

/** What one side exposes: throws what it is asked to, waits for a signal. */
const ERRORS: Record<string, () => unknown> = {
  option: () => new OptionError('topP', 'must be in (0, 1].'),
  context: () => new ContextOverflowError('PROMPT_TOO_LONG', 'too long'),
  format: () => new ModelFormatError('BAD_MAGIC', 'not a GGUF'),
  schedule: () => new ScheduleError('SCHEDULE_MODEL_MISMATCH', 'other model'),
  load: () => new ModelLoadError('INTEGRITY_MISMATCH', 'hash', { cause: new TypeError('inner') }),
  gpu: () => new WebGPUUnavailableError('no adapter', { cause: new Error('root') }),
  lost: () => new GpuDeviceLostError('unknown', 'driver reset'),
  abort: () => new AbortError(new DOMException('stop', 'AbortError'), 'Loading'),
  engine: () => new EngineError('NO_MODEL', 'load first'),
  wasm: () => new CpuMemoryError('MODEL_TOO_LARGE_FOR_WASM', { total: 5 * 2 ** 30, weights: 4 * 2 ** 30, kvCache: 2 ** 30, contextSize: 4096 }, 2 ** 32, { contextSize: 0, q4Bytes: 2 ** 30 }),
  range: () => new RangeError('plain'),
  dom: () => new DOMException('gone', 'NotFoundError'),
  string: () => 'just a string',
};

const service = {
  fail(kind: string): never {
    throw ERRORS[kind]!();
  },
  async failLater(kind: string): Promise<never> {
    await new Promise((r) => setTimeout(r, 1));
    throw ERRORS[kind]!();
  },
  /** Resolves with the abort reason's description once `signal` aborts. */
  waitForAbort(signal: AbortSignal): Promise<{ name: string; message: string; isAbortError: boolean }> {
    return new Promise((resolve) => {
      const done = () => {
        const r = signal.reason as Error;
        resolve({ name: r.name, message: r.message, isAbortError: r instanceof AbortError });
        releaseSignal(signal);
      };
      if (signal.aborted) done();
      else signal.addEventListener('abort', done);
    });
  },
  call(cb: (x: number) => number): Promise<number> {
    return Promise.resolve(cb(20));
  },
};

const { port1, port2 } = new MessageChannel();
expose(service, port1);
const remote = wrap<typeof service>(port2);
afterAll(() => {
  port1.close();
  port2.close();
});

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('did not reject');
}

describe('errors across the boundary', () => {
  test.each([
    ['option', OptionError, 'OPTION_OUT_OF_RANGE'], ['context', ContextOverflowError, 'PROMPT_TOO_LONG'],
    ['format', ModelFormatError, 'BAD_MAGIC'], ['schedule', ScheduleError, 'SCHEDULE_MODEL_MISMATCH'],
    ['load', ModelLoadError, 'INTEGRITY_MISMATCH'], ['gpu', WebGPUUnavailableError, 'WEBGPU_UNAVAILABLE'],
    ['lost', GpuDeviceLostError, 'GPU_DEVICE_LOST'], ['abort', AbortError, 'ABORTED'], ['engine', EngineError, 'NO_MODEL'],
    ['wasm', CpuMemoryError, 'MODEL_TOO_LARGE_FOR_WASM'],
  ] as const)('%s: same class, name, code, message, stack and fields', async (kind, cls, code) => {
    for (const p of [remote.fail(kind), remote.failLater(kind)]) {
      const e = await caught(p) as WasEdgeError;
      const want = ERRORS[kind]!() as WasEdgeError;
      expect(e).toBeInstanceOf(cls);
      expect(e).toBeInstanceOf(WasEdgeError);
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(cls.name);
      expect(e.code).toBe(code);
      expect(e.message).toBe(want.message);
      expect(e.stack).toContain(cls.name);
      expect({ ...e }).toEqual({ ...want });
    }
  });

  test('causes cross too, recursively, as their own classes', async () => {
    const e = await caught(remote.fail('load')) as ModelLoadError;
    expect(e.cause).toBeInstanceOf(TypeError);
    expect((e.cause as Error).message).toBe('inner');
    const g = await caught(remote.fail('gpu')) as WebGPUUnavailableError;
    expect((g.cause as Error).message).toBe('root');
    const a = await caught(remote.fail('abort')) as AbortError;
    expect(a.message).toBe('Loading was aborted by its AbortSignal.');
    expect(a.cause).toBeInstanceOf(DOMException);
    expect((a.cause as DOMException).name).toBe('AbortError');
  });

  test('built-in errors, DOMExceptions and thrown non-errors', async () => {
    expect(await caught(remote.fail('range'))).toBeInstanceOf(RangeError);
    const d = await caught(remote.fail('dom')) as DOMException;
    expect(d).toBeInstanceOf(DOMException);
    expect(d.name).toBe('NotFoundError');
    expect(await caught(remote.fail('string'))).toBe('just a string');
  });

  test('serialize/deserialize are inverse on fields and do not follow endless cause chains', () => {
    const e = new OptionError('seed', 'bad');
    const back = deserializeThrown(serializeThrown(e)) as OptionError;
    expect(back).toBeInstanceOf(OptionError);
    expect(back.option).toBe('seed');
    const loop = new Error('loop') as Error & { cause?: unknown };
    loop.cause = loop;
    let depth = 0;
    for (let w = serializeThrown(loop); w.error && w.cause; w = w.cause) depth++;
    expect(depth).toBe(8);
  });
});

describe('AbortSignal across the boundary', () => {
  test('an abort after the call reaches the other side with its reason', async () => {
    const c = new AbortController();
    const waiting = remote.waitForAbort(c.signal);
    await new Promise((r) => setTimeout(r, 5));
    c.abort(new AbortError(undefined, 'Generation'));
    expect(await waiting).toEqual({ name: 'AbortError', message: 'Generation was aborted by its AbortSignal.', isAbortError: true });
  });

  test('an already aborted signal arrives aborted', async () => {
    expect((await remote.waitForAbort(AbortSignal.abort())).name).toBe('AbortError');
  });

  test('callbacks still cross as comlink proxies', async () => {
    expect(await remote.call(proxy((x: number) => x + 1))).toBe(21);
  });
});
