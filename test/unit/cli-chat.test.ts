// `was-edge chat --messages-file F --json`: the prompt is the rendered template's tokens, the reply
// equals the SDK's path (generateTokens on the same ids), and bad files are typed errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { BUILTIN_TEMPLATES, renderChat } from '../../src/chat.js';
import { openModel } from '../../src/model/model.js';
import { runCli } from '../helpers/cli.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const MODEL = sharedPath('models/stories260K/stories260K.gguf');
const dir = mkdtempSync(join(tmpdir(), 'was-edge-chat-'));
const messages = [{ role: 'user', content: 'Once upon a time' }];
writeFileSync(join(dir, 'ok.json'), JSON.stringify(messages));
writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ role: 'robot', content: 'x' }]));

test('chat --json: prompt ids of the rendered template, a reply and its finish reason', async () => {
  const r = await runCli('chat', '--model', MODEL, '--backend', 'reference', '--messages-file', join(dir, 'ok.json'), '--template', 'chatml', '--max-tokens', '6', '--json');
  expect(r.code, r.err).toBe(0);
  const j = JSON.parse(r.out) as { prompt_ids: number[]; generated_ids: number[]; text: string; finish_reason: string };
  const model = openModel(readShared('models/stories260K/stories260K.gguf'));
  expect(j.prompt_ids).toEqual(model.tokenizer.encode(renderChat(BUILTIN_TEMPLATES.chatml, messages as never, { bos_token: '<s>', eos_token: '</s>' }), { parseSpecial: true }));
  expect(j.generated_ids.length).toBeLessThanOrEqual(6);
  expect(['eog', 'length', 'stop', 'context']).toContain(j.finish_reason);
  expect(model.tokenizer.decode(j.generated_ids)).toContain(j.text.trim());
});

test('chat with a malformed messages file exits 2 with a typed error', async () => {
  const r = await runCli('chat', '--model', MODEL, '--backend', 'reference', '--messages-file', join(dir, 'bad.json'), '--template', 'chatml');
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/OptionError \[OPTION_OUT_OF_RANGE\]: messages\[0\]/);
});
