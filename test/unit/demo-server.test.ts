// `npm run demo`'s server: a malformed request cannot end it, it lists the models it serves, and it
// follows symbolic links only where they resolve inside the models folder.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startDemoServer, type DemoServer } from '../helpers/demo-server.js';
import { sharedPath } from '../helpers/shared.js';

let tmp: string;
let server: DemoServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'was-edge-demo-'));
  const models = join(tmp, 'models');
  mkdirSync(join(models, 'stories'), { recursive: true });
  mkdirSync(join(models, 'links'));
  copyFileSync(sharedPath('models/stories260K/stories260K.gguf'), join(models, 'stories/stories260K.gguf'));
  writeFileSync(join(tmp, 'secret.gguf'), 'outside the models folder');
  symlinkSync('../stories/stories260K.gguf', join(models, 'links/inside.gguf'));
  symlinkSync(join(tmp, 'secret.gguf'), join(models, 'links/outside.gguf'));
  writeFileSync(join(models, 'stories/notes.txt'), 'not a model');
  server = await startDemoServer(models);
});
afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('a malformed escape is 400 and the server keeps serving', async () => {
  for (const bad of ['/%E0%A4%A', '/models/%', '/demo/%C0']) {
    const r = await fetch(server.origin + bad);
    expect(r.status, bad).toBe(400);
  }
  expect(server.process.exitCode).toBeNull();
  expect((await fetch(`${server.origin}/demo/`)).status).toBe(200);
});

test('/models/index.json lists the .gguf files, links inside the folder included, links out of it not', async () => {
  const r = await fetch(`${server.origin}/models/index.json`);
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual(['links/inside.gguf', 'stories/stories260K.gguf']);
});

test('a link inside the folder is followed; one out of it is 403', async () => {
  const inside = await fetch(`${server.origin}/models/links/inside.gguf`);
  expect(inside.status).toBe(200);
  expect((await inside.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  const outside = await fetch(`${server.origin}/models/links/outside.gguf`);
  expect(outside.status).toBe(403);
  expect(await outside.text()).not.toContain('outside the models folder');
  expect((await fetch(`${server.origin}/models/..%2F..%2Fsecret.gguf`)).status).not.toBe(200);
});
