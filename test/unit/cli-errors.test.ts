// The CLI as a new user meets it: help and version, one error format (`was-edge: Name [CODE]: …`,
// exit 2) for usage and every file problem, nothing printed before a refused prompt, progress
// without `\r` off a terminal, and the default model's download (cause shown, stalls time out,
// the cached copy re-verified).
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveDefaultModel } from '../../src/cli/default-model.js';
import { progress } from '../../src/cli/progress.js';
import { FileError, ModelDownloadError } from '../../src/errors.js';
import { runCli as run } from '../helpers/cli.js';
import { serveRoutes } from '../helpers/http.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const DEV = sharedPath('data/tinystories_dev.txt');
/** One error line in the one format, and nothing else on stderr. */
const ONE_ERROR = /^was-edge: [A-Za-z]+Error \[[A-Z_0-9]+\]: [^\n]+\n$/;

let tmp: string;
beforeAll(() => { tmp = mkdtempSync(join(tmpdir(), 'was-edge-cli-')); });
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('help, version, usage errors', () => {
  test('COMMAND --help prints that command\'s options on stdout, exit 0', async () => {
    for (const cmd of ['generate', 'eval', 'calibrate', 'schedule']) {
      const r = await run(cmd, '--help');
      expect(r.code, cmd).toBe(0);
      expect(r.out, cmd).toMatch(new RegExp(`^usage: was-edge ${cmd}`));
      expect(r.err, cmd).toBe('');
    }
    expect((await run('generate', '--help')).out).toContain('--max-tokens');
    expect((await run('help', 'eval')).out).toMatch(/^usage: was-edge eval/);
    expect((await run('--help')).out).toMatch(/was-edge COMMAND --help/);
  });

  test('--version prints the package.json version', async () => {
    const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    const r = await run('--version');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`was-edge ${version}\n`);
  });

  test('unknown options, commands and missing arguments: one line, UsageError [USAGE], pointing at --help', async () => {
    for (const [argv, help] of [
      [['generate', '--frobnicate'], 'was-edge generate --help'],
      [['bogus'], 'was-edge --help'],
      [['eval', '--model', STORIES], 'was-edge eval --help'],
      [['generate', '--max-tokens'], 'was-edge generate --help'],
    ] as const) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(ONE_ERROR);
      expect(r.err).toMatch(/^was-edge: UsageError \[USAGE\]: /);
      expect(r.err).toContain(help);
    }
    expect((await run('generate', '--frobnicate')).err).toContain('--frobnicate');
  });

  test('a prompt longer than the context is refused before anything is printed', async () => {
    const prompt = 'Once upon a time '.repeat(10);
    const r = await run('generate', '--model', STORIES, '--ctx', '16', '--prompt', prompt, '--backend', 'reference');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(ONE_ERROR);
    expect(r.err).toMatch(/ContextOverflowError \[PROMPT_TOO_LONG\]/);
  });
});

describe('file errors are FileError [CODE], exit 2, no stack', () => {
  test('missing, a folder, through a file, a too-long name; a 3 GB file is read, not refused', async () => {
    const big = join(tmp, 'big.gguf');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, 3 * 2 ** 30); // sparse: 3 GB that take no disk
    closeSync(fd);
    const cases: [string, string][] = [
      [join(tmp, 'missing.gguf'), 'ENOENT'],
      [tmp, 'EISDIR'],
      [join(DEV, 'model.gguf'), 'ENOTDIR'],
      [join(tmp, 'x'.repeat(300) + '.gguf'), 'ENAMETOOLONG'],
    ];
    for (const [path, code] of cases) {
      const r = await run('generate', '--model', path, '--backend', 'reference');
      expect(r.code, code).toBe(2);
      expect(r.err, code).toMatch(ONE_ERROR);
      expect(r.err, code).toContain(`was-edge: FileError [${code}]: `);
    }
    // Model files are read on demand, not whole (src/node-file.ts): past Node's 2 GiB buffer limit, the header is what decides.
    const huge = await run('generate', '--model', big, '--backend', 'reference');
    expect(huge.code).toBe(2);
    expect(huge.err).toMatch(/^was-edge: ModelFormatError \[BAD_MAGIC\]: /);
    const text = await run('eval', '--model', STORIES, '--text', join(tmp, 'nope.txt'), '--ctx', '64', '--backend', 'reference');
    expect(text.err).toMatch(/^was-edge: FileError \[ENOENT\]: .*nope\.txt does not exist/);
  });

  test('the library throws the same class: loadModelFile', async () => {
    const { loadModelFile } = await import('../../src/node.js');
    const e = await loadModelFile(join(tmp, 'missing.gguf')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FileError);
    expect((e as FileError).code).toBe('ENOENT');
    expect((e as FileError).path).toBe(join(tmp, 'missing.gguf'));
  });

  test('--out into a missing folder fails before the run', async () => {
    const out = join(tmp, 'no', 'such', 'folder', 'cal.json');
    const r = await run('calibrate', '--model', STORIES, '--text', DEV, '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(ONE_ERROR);
    expect(r.err).toContain('FileError [ENOENT]');
    expect(r.err).not.toContain('[calibrate]'); // no progress: refused before the work
    const s = await run('schedule', '--model', STORIES, '--out', out, '--budget', '2');
    expect(s.err).toContain('FileError [ENOENT]');
    expect(s.err).not.toContain('[schedule]');
  });
});

describe('progress off a terminal', () => {
  test('eval into a pipe: whole lines, no carriage returns', async () => {
    const r = await run('eval', '--model', STORIES, '--text', DEV, '--ctx', '128', '--max-chunks', '8', '--backend', 'reference');
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toContain('\r');
    expect(r.err).toMatch(/\[eval\] chunk 8\/8/);
    expect(r.err.split('\n').filter(Boolean).length).toBeLessThanOrEqual(5);
  });

  test('on a terminal the line is redrawn in place and ends once', () => {
    let s = '';
    const p = progress((x) => { s += x; }, true);
    for (let i = 1; i <= 4; i++) p.update(`step ${i}/4`, i / 4);
    expect(s).toBe('\rstep 1/4\rstep 2/4\rstep 3/4\rstep 4/4\n');
  });
});

describe('the default model', () => {
  const model = readShared('models/stories260K/stories260K.gguf');
  const sha256 = createHash('sha256').update(model).digest('hex');

  test('offline: the cause (ECONNREFUSED here) is in the error, on its own line after the progress line', async () => {
    // A port that was just free: nothing listens there.
    const server = createServer();
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((ok) => server.close(() => ok()));
    let log = '';
    const e = await resolveDefaultModel((s) => { log += s; }, {
      candidates: [], cacheDir: join(tmp, 'cache-offline'), url: `http://127.0.0.1:${port}/stories260K.gguf`, sha256,
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ModelDownloadError);
    expect((e as Error).message).toMatch(/ECONNREFUSED/);
    expect((e as Error).message).not.toMatch(/^could not download the default model: fetch failed/);
    expect(log.endsWith('\n')).toBe(true);
  });

  test('a stalled download times out', async () => {
    const server = await serveRoutes({ '/m.gguf': { body: model, slices: 2, pauseMs: 5_000 } });
    try {
      const e = await resolveDefaultModel(() => undefined, {
        candidates: [], cacheDir: join(tmp, 'cache-stall'), url: `${server.origin}/m.gguf`, sha256, stallMs: 300,
      }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ModelDownloadError);
      expect((e as Error).message).toMatch(/stalled/); // without the timeout it would succeed after the server's 5 s pause
    } finally {
      await server.close();
    }
  });

  test('the cached copy is re-checked: a damaged one is downloaded again and replaced', async () => {
    const server = await serveRoutes({ '/m.gguf': { body: model } });
    const dir = join(tmp, 'cache-damaged');
    mkdirSync(dir, { recursive: true });
    const cached = join(dir, 'stories260K.gguf');
    const damaged = Uint8Array.from(model);
    damaged[damaged.length - 1]! ^= 0xff;
    writeFileSync(cached, damaged);
    try {
      let log = '';
      const opts = { candidates: [], cacheDir: dir, url: `${server.origin}/m.gguf`, sha256 };
      expect(await resolveDefaultModel((s) => { log += s; }, opts)).toBe(cached);
      expect(log).toMatch(/not the verified model/);
      expect(server.hits.get('/m.gguf')).toBe(1);
      expect(createHash('sha256').update(readFileSync(cached)).digest('hex')).toBe(sha256);
      // Now intact: used without a download.
      expect(await resolveDefaultModel(() => undefined, opts)).toBe(cached);
      expect(server.hits.get('/m.gguf')).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('the no-adapter hint', () => {
  test('names what to install, not a script of this repository', async () => {
    const { acquireDevice } = await import('../../src/gpu/device.js');
    const e = await acquireDevice({ gpu: { requestAdapter: async () => null } as unknown as GPU }).catch((x: unknown) => x);
    expect((e as Error).name).toBe('WebGPUUnavailableError');
    expect((e as Error).message).not.toMatch(/scripts\//);
    expect((e as Error).message).toMatch(/Vulkan driver/);
  });
});
