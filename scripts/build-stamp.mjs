#!/usr/bin/env node
// Builds only when the sources changed since the last build, so that `npm run generate` (and demo,
// schedules) do not spend 30 s rebuilding on every run. The stamp is a sha256 over the build's inputs
// (contents, not times: a fresh clone's files all have new times), kept in dist/.build-stamp.
//   node scripts/build-stamp.mjs           build if stale (output shown only if the build fails)
//   node scripts/build-stamp.mjs --write   record the current inputs (the end of `npm run build`)
//   node scripts/build-stamp.mjs --check   exit 1 if a build is needed, 0 if not; builds nothing
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const STAMP = join(root, 'dist/.build-stamp');
const INPUT_DIRS = ['src', 'assembly', 'shaders', 'schedules'];
const INPUT_FILES = ['package.json', 'package-lock.json', 'rollup.config.mjs', 'asconfig.json', 'asconfig.cpu.json', 'tsconfig.json', 'tsconfig.types.json'];
const OUTPUTS = ['dist/index.js', 'dist/node.js', 'dist/cli.js', 'dist/worker.js', 'dist/node-worker.js', 'dist/types/index.d.ts'];

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : []));
}

export function inputsHash() {
  const hash = createHash('sha256');
  const all = [...INPUT_DIRS.flatMap((d) => files(join(root, d))), ...INPUT_FILES.map((f) => join(root, f)).filter((f) => existsSync(f))];
  for (const f of all.map((p) => relative(root, p)).sort()) hash.update(`${f}\0`).update(readFileSync(join(root, f))).update('\0');
  return hash.digest('hex');
}

const stale = () => OUTPUTS.some((f) => !existsSync(join(root, f))) || !existsSync(STAMP) || readFileSync(STAMP, 'utf8').trim() !== inputsHash();

const mode = process.argv[2];
if (mode === '--write') {
  writeFileSync(STAMP, inputsHash() + '\n');
} else if (mode === '--check') {
  process.exit(stale() ? 1 : 0);
} else if (mode === undefined) {
  if (stale()) {
    // A note only where it can be erased again (a terminal): piped stderr stays the program's own.
    const tty = process.stderr.isTTY === true;
    if (tty) process.stderr.write('was-edge: building (first run, or the sources changed)…');
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (tty) process.stderr.write('\r\x1b[K');
    if (r.status !== 0) {
      process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}was-edge: the build failed (npm run build, exit ${r.status}); the output is above\n`);
      process.exit(r.status || 1);
    }
  }
} else {
  process.stderr.write(`usage: node scripts/build-stamp.mjs [--write|--check]\n`);
  process.exit(2);
}
