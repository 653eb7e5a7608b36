// Chat prompts: messages rendered with the model's own chat template (GGUF tokenizer.chat_template)
// by @huggingface/jinja, as transformers' apply_chat_template renders them, then tokenised with
// special tokens parsed. Built-in templates serve files that carry none.

import { Template } from '@huggingface/jinja';
import { OptionError } from './errors.js';
import type { GGUFFile } from './model/gguf.js';
import type { Model } from './model/model.js';

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** Templates for files without one, by name (transformers' and llama.cpp's well-known formats). */
export const BUILTIN_TEMPLATES = {
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // Meta's template, with the system test written as a role test: `'' != false` is true in Python's
  // jinja2 and false in @huggingface/jinja, so an empty system prompt rendered differently.
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
    "{% else %}{% set loop_messages = messages %}{% endif %}" +
    "{% for message in loop_messages %}{% if loop.index0 == 0 and messages[0]['role'] == 'system' %}" +
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}" +
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
  llama3:
    "{% set loop_messages = messages %}{% for message in loop_messages %}" +
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' %}" +
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
} as const;
export type BuiltinTemplate = keyof typeof BUILTIN_TEMPLATES;

const ROLES: readonly string[] = ['system', 'user', 'assistant'];

/** Checks messages at the edge: a non-empty array of {role, content} with known roles and string content. */
export function checkMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new OptionError('messages', 'must be a non-empty array of { role, content }.');
  return messages.map((m, i) => {
    const msg = m as Partial<ChatMessage> | null;
    if (typeof msg !== 'object' || msg === null || !ROLES.includes(msg.role as string) || typeof msg.content !== 'string') {
      throw new OptionError(`messages[${i}]`, `must be { role: 'system' | 'user' | 'assistant', content: string }, got ${JSON.stringify(m)?.slice(0, 80)}.`);
    }
    return { role: msg.role!, content: msg.content };
  });
}

/** The template to render with: an override (a built-in name or template text), else the file's. */
export function chatTemplate(file: GGUFFile, override?: string): string {
  if (override !== undefined) {
    if (typeof override !== 'string' || override === '') throw new OptionError('template', `must be a template string or one of ${Object.keys(BUILTIN_TEMPLATES).join(', ')}.`);
    return (BUILTIN_TEMPLATES as Record<string, string>)[override] ?? override;
  }
  const own = file.metadata.get('tokenizer.chat_template');
  if (typeof own === 'string' && own !== '') return own;
  throw new OptionError('template',
    `the model has no chat template (tokenizer.chat_template); pass { template: 'chatml' | 'llama2' | 'llama3' } or a template string.`);
}

/** Renders `messages` as transformers' apply_chat_template(add_generation_prompt=True) does. */
export function renderChat(template: string, messages: ChatMessage[], vars: { bos_token: string; eos_token: string }): string {
  let parsed: Template;
  try {
    parsed = new Template(template);
  } catch (cause) {
    throw new OptionError('template', `cannot be parsed: ${(cause as Error).message}.`);
  }
  try {
    // @huggingface/jinja defines raise_exception itself (as transformers does).
    return parsed.render({ messages, add_generation_prompt: true, ...vars });
  } catch (cause) {
    // Templates raise errors on purpose (raise_exception: "roles must alternate").
    throw new OptionError('messages', `the chat template refused them: ${(cause as Error).message}.`);
  }
}

/** The prompt tokens of a conversation: the chat template rendered, then tokenised (one BOS at most). */
export function chatPromptIds(model: Model, messages: ChatMessage[], template: string | undefined): number[] {
  const tok = model.tokenizer;
  const rendered = renderChat(chatTemplate(model.file, template), messages, { bos_token: tok.piece(tok.bos), eos_token: tok.piece(tok.eos) });
  // The template writes control tokens as text (<|im_start|>, <s>): they must come back as those tokens.
  const ids = tok.encode(rendered, { parseSpecial: true });
  // A template that writes bos_token itself, on a vocabulary that adds BOS too: one BOS, as llama.cpp warns.
  if (ids.length > 1 && ids[0] === tok.bos && ids[1] === tok.bos) ids.shift();
  return ids;
}
