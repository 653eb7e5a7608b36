// scripts/setup-webgpu.sh says before it runs apt-get as root, and WAS_EDGE_NO_APT=1 stops it there.
// Run against a fake root file system view: the script only checks one path for libvulkan, so the
// test points it at a machine without it by running a copy with that path changed.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';

const tmp = mkdtempSync(join(tmpdir(), 'was-edge-setup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test('without libvulkan1: the apt-get step is announced first, and WAS_EDGE_NO_APT=1 refuses it', () => {
  const original = readFileSync(new URL('../../scripts/setup-webgpu.sh', import.meta.url), 'utf8');
  expect(original).toContain('/usr/lib/x86_64-linux-gnu/libvulkan.so.1');
  const script = join(tmp, 'setup-webgpu.sh');
  writeFileSync(script, original.replaceAll('/usr/lib/x86_64-linux-gnu/libvulkan.so.1', join(tmp, 'no-libvulkan.so.1')));
  chmodSync(script, 0o755);
  // A PATH whose apt-get and sudo only record that they ran.
  const bin = join(tmp, 'bin');
  spawnSync('mkdir', ['-p', bin]);
  for (const tool of ['apt-get', 'sudo']) {
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} ran: $*" >> ${join(tmp, 'ran.log')}\necho "${tool} ran" >&2\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, WAS_EDGE_NO_APT: '1' };
  const refused = spawnSync('bash', [script, join(tmp, 'lvp')], { env, encoding: 'utf8' });
  expect(refused.status).toBe(1);
  expect(refused.stderr).toMatch(/libvulkan1 .* is missing and WAS_EDGE_NO_APT=1/);
  expect(refused.stdout).toBe('');
  expect(() => readFileSync(join(tmp, 'ran.log'), 'utf8')).toThrow(); // nothing ran

  // Allowed: the announcement comes before the first apt-get.
  delete env.WAS_EDGE_NO_APT;
  const ran = spawnSync('bash', [script, join(tmp, 'lvp')], { env, encoding: 'utf8' });
  const said = ran.stderr.indexOf('installing it now with');
  expect(said, ran.stderr).toBeGreaterThanOrEqual(0);
  expect(ran.stderr.indexOf('apt-get ran')).toBeGreaterThan(said);
  expect(readFileSync(join(tmp, 'ran.log'), 'utf8')).toMatch(/apt-get ran: install -y --no-install-recommends libvulkan1/);
});
