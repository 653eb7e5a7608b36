// scripts/build-stamp.mjs: `npm run generate` builds only when the build's inputs changed (by
// content), silently unless the build fails. Run on a small fake project with its own `build`.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const tmp = mkdtempSync(join(tmpdir(), 'was-edge-stamp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const OUTPUTS = ['dist/index.js', 'dist/node.js', 'dist/cli.js', 'dist/worker.js', 'dist/node-worker.js', 'dist/types/index.d.ts'];

function project(build: string): string {
  const dir = mkdtempSync(join(tmp, 'p-'));
  mkdirSync(join(dir, 'scripts'));
  mkdirSync(join(dir, 'src'));
  copyFileSync(new URL('../../scripts/build-stamp.mjs', import.meta.url), join(dir, 'scripts/build-stamp.mjs'));
  writeFileSync(join(dir, 'src/a.ts'), 'export const a = 1;\n');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fake', private: true, scripts: { build } }));
  return dir;
}
const stamp = (dir: string, ...args: string[]) => spawnSync(process.execPath, ['scripts/build-stamp.mjs', ...args], { cwd: dir, encoding: 'utf8' });
const makeOutputs = `node -e "const fs=require('fs');fs.mkdirSync('dist/types',{recursive:true});for(const f of ${JSON.stringify(OUTPUTS).replaceAll('"', "'")})fs.writeFileSync(f,'');fs.appendFileSync('builds.log','built\\\\n')" && node scripts/build-stamp.mjs --write`;

test('stale until built; then silent and no rebuild; a changed source builds again', () => {
  const dir = project(makeOutputs);
  expect(stamp(dir, '--check').status).toBe(1);
  const first = stamp(dir);
  expect(first.status, first.stderr).toBe(0);
  expect(first.stdout + first.stderr).toBe(''); // not a terminal: nothing at all
  expect(readFileSync(join(dir, 'builds.log'), 'utf8')).toBe('built\n');
  expect(stamp(dir, '--check').status).toBe(0);
  expect(stamp(dir).status).toBe(0);
  expect(readFileSync(join(dir, 'builds.log'), 'utf8')).toBe('built\n'); // up to date: not built again
  writeFileSync(join(dir, 'src/a.ts'), 'export const a = 2;\n');
  expect(stamp(dir, '--check').status).toBe(1);
  expect(stamp(dir).status).toBe(0);
  expect(readFileSync(join(dir, 'builds.log'), 'utf8')).toBe('built\nbuilt\n');
  rmSync(join(dir, 'dist/cli.js'));
  expect(stamp(dir, '--check').status).toBe(1); // an output missing is stale too
});

test('a failing build shows its output and exits with its status', () => {
  const dir = project('echo "compile error in src/a.ts" && exit 3');
  const r = stamp(dir);
  expect(r.status).toBe(3);
  expect(r.stderr).toContain('compile error in src/a.ts');
  expect(r.stderr).toMatch(/the build failed/);
  expect(existsSync(join(dir, 'dist/.build-stamp'))).toBe(false);
});
