// The packed package as an npm user gets it: `npm pack`, the tarball's contents and exports, then two
// consumer projects install it offline and run in Chromium: test/package/ type-checks against its
// .d.ts under strict TypeScript and bundles page and its own two-line engine worker with rollup;
// test/package-vite/ uses nothing but defaults and `vite build` (production).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { GenerationResult, LoadProgress } from '../../src/index.js';
import { sharedPath } from '../helpers/shared.js';
import { describeBrowser, startSession, waitForResult, type BrowserSession } from './harness.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8')) as { generated_ids: number[] };
/** The consumer's build tools, linked from this repository's node_modules (no registry needed). */
const TOOLS = ['rollup', '@rollup', 'rollup-plugin-esbuild', 'esbuild', 'typescript', '@webgpu'];

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

/** Files reachable by relative static or dynamic imports from `entry` (paths relative to the repo). */
function reachable(entry: string, seen = new Set<string>()): Set<string> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  const text = readFileSync(join(repo, entry), 'utf8');
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    reachable(join(dirname(entry), m[1]!), seen);
  }
  return seen;
}

describeBrowser('package: the packed tarball in a consumer project', () => {
  let work: string;
  let tarball: string;
  let files: string[];
  let session: BrowserSession | undefined;

  beforeAll(() => {
    if (!existsSync(join(repo, 'dist/worker.js')) || !existsSync(join(repo, 'dist/types/index.d.ts'))) {
      throw new Error('dist/ is not built: run `npm run build` first');
    }
    work = mkdtempSync(join(tmpdir(), 'was-edge-package-'));
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], repo)) as [{ filename: string; files: { path: string }[] }];
    tarball = join(work, packed[0].filename);
    files = packed[0].files.map((f) => f.path);
  });

  afterAll(async () => {
    await session?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the tarball: exports with types first, ./worker and ./schedules/*, sideEffects false, only run-time files', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>; sideEffects: boolean; dependencies?: Record<string, string>;
      peerDependencies?: Record<string, string>; peerDependenciesMeta?: Record<string, { optional?: boolean }>; license: string;
    };
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.dependencies ?? {}).toEqual({}); // comlink is bundled
    expect(Object.keys(pkg.peerDependencies ?? {})).toEqual(['webgpu']); // dawn.node, for WebGPU in Node only
    expect(pkg.peerDependenciesMeta?.webgpu?.optional).toBe(true);
    expect(pkg.license).toBe('MIT');
    expect(files).toContain('LICENSE');
    expect(readFileSync(join(repo, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    // What runs, and the two documents: no source maps, debug Wasm, calibrations, plots or WGSL (inlined in the bundles).
    const allowed = /^(README\.md|LICENSE|package\.json|esm-only\.cjs|bin\/was-edge\.mjs|schedules\/[\w.-]+(?<!\.calib)\.json|dist\/(types\/.+\.d\.ts|[\w-]+\.js|chunks\/[\w-]+\.js|was(-cpu(-mt)?)?\.wasm))$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    // The size the README states (within 10 %), so that it is updated when the package grows.
    const packedKb = statSync(tarball).size / 1000;
    const stated = /tarball is about\s+(\d+) kB/.exec(readFileSync(join(repo, 'README.md'), 'utf8'));
    expect(stated, 'README states "tarball is about N kB"').not.toBeNull();
    expect(Math.abs(packedKb / Number(stated![1]) - 1), `packed ${packedKb.toFixed(0)} kB`).toBeLessThan(0.1);
    for (const entry of ['.', './worker', './node']) {
      const e = pkg.exports[entry] as Record<string, string>;
      expect(Object.keys(e)[0], entry).toBe('types');
      expect(files, entry).toContain(e.types!.replace(/^\.\//, ''));
      expect(files, entry).toContain(e.import!.replace(/^\.\//, ''));
    }
    expect(pkg.exports['./schedules/*']).toBe('./schedules/*');
    for (const f of ['schedules/stories260K.json', 'schedules/llama16m-debtext-F32.json', 'dist/node-worker.js', 'dist/was.wasm']) expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || /dist\/(bench-|make-schedules)/.test(f))).toEqual([]);
    // No Node built-in is reachable from the browser files (rollup's browser-safe check also fails the build).
    for (const entry of ['dist/index.js', 'dist/worker.js']) {
      for (const f of reachable(entry)) expect(readFileSync(join(repo, f), 'utf8'), f).not.toMatch(/(from|import)\s*\(?\s*['"]node:/);
    }
  });

  test('installs offline, type-checks strictly, bundles with rollup and runs in Chromium', async () => {
    const app = join(work, 'consumer');
    cpSync(join(repo, 'test/package'), app, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
    cpSync(tarball, join(app, 'was-edge.tgz'));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
    for (const t of TOOLS) if (!existsSync(join(app, 'node_modules', t))) symlinkSync(join(repo, 'node_modules', t), join(app, 'node_modules', t));
    run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], app);
    run(process.execPath, ['node_modules/rollup/dist/bin/rollup', '-c', '--silent'], app);

    session = await startSession({ webgpu: false }, { '/app': app, '/models': sharedPath('models') });
    const page = await session.openPage('/app/index.html?model=/models/stories260K/stories260K.gguf');
    const r = await waitForResult<{
      progress: LoadProgress[]; schedules: string[]; dense: GenerationResult; streamed: string; sparse: GenerationResult; errorCode: string;
    }>(page, 60_000);
    expect(r.progress.some((p) => p.phase === 'download' && p.loaded === p.total)).toBe(true);
    expect(r.schedules).toEqual(['stories260K']); // found under node_modules/was-edge/schedules/
    expect(r.dense.tokenIds).toEqual(golden.generated_ids);
    expect(r.streamed).toBe(r.dense.text);
    expect(r.sparse.schedule).toEqual({ name: 'stories260K', level: 0.5, method: 'was-bo' });
    expect(r.sparse.skippedWeightFraction).toBeGreaterThan(0.4);
    expect(r.errorCode).toBe('SCHEDULE_LEVEL_MISSING');
  });

  test('require() says the package is ESM-only', () => {
    const app = join(work, 'cjs');
    cpSync(join(repo, 'test/package-vite/package.json'), join(app, 'package.json'));
    cpSync(tarball, join(app, 'was-edge.tgz'));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
    let message = '';
    try {
      execFileSync(process.execPath, ['-e', "require('was-edge/node')"], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      message = (e as { stderr: string }).stderr;
    }
    expect(message).toMatch(/was-edge is ESM-only/);
    expect(message).not.toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  test('vite build (production) with defaults: the package\'s worker, Wasm and prebuilt schedules by name, typed errors', async () => {
    const app = join(work, 'vite');
    cpSync(join(repo, 'test/package-vite'), app, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
    cpSync(tarball, join(app, 'was-edge.tgz'));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
    symlinkSync(join(repo, 'node_modules/vite'), join(app, 'node_modules/vite'));
    run(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--logLevel', 'warn'], app);
    // The build carries the schedules itself: nothing but dist/ is served, and no schedules/ folder is in it.
    expect(readdirSync(join(app, 'dist'))).not.toContain('schedules');

    await session?.close();
    session = await startSession({ webgpu: false }, { '/app': join(app, 'dist'), '/models': sharedPath('models') });
    const page = await session.openPage('/app/index.html?model=/models/stories260K/stories260K.gguf');
    const r = await waitForResult<{
      backend: string; backendNote: string; schedules: { name: string; targets: string[] }[];
      sparse: { schedule: unknown; skipped: number | null; tokens: number }; greedy: { schedule: unknown; skipped: number | null };
      caught: { name: string; code: string; isScheduleError: boolean; isWasEdgeError: boolean }[];
    }>(page, 90_000);
    expect(r.backend).toBe('cpu'); // no WebGPU adapter in this browser: 'auto' runs the Wasm backend
    expect(r.backendNote).toMatch(/adapter|WebGPU/i);
    expect(r.schedules.map((s) => s.name)).toEqual(['stories260K']);
    expect(r.schedules[0]!.targets).toContain('0.5/was-bo');
    expect(r.sparse.schedule).toEqual({ name: 'stories260K', level: 0.5, method: 'was-bo' });
    expect(r.sparse.tokens).toBe(16);
    expect(r.sparse.skipped).toBeGreaterThan(0.3);
    expect(r.greedy.schedule).toEqual({ name: 'stories260K', level: 0.5, method: 'was-greedy' });
    expect(r.caught).toEqual([
      { name: 'ScheduleError', code: 'SCHEDULE_LEVEL_MISSING', isScheduleError: true, isWasEdgeError: true },
      { name: 'ScheduleError', code: 'UNKNOWN_SCHEDULE', isScheduleError: true, isWasEdgeError: true },
    ]);
  });
});
