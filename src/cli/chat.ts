// `was-edge chat`: a conversation from a JSON file (or typed at a terminal), rendered with the model's
// chat template as the SDK's engine.chat() renders it, on the backend every command builds.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { chatPromptIds, checkMessages, type ChatMessage } from '../chat.js';
import { generateTokens, type KvState } from '../generate.js';
import type { Model } from '../model/model.js';
import { loadModelFile } from '../node.js';
import type { Backend } from '../backend.js';
import { cliBackend, intOption, joinNegativeValues, numOption, usage } from './args.js';
import { resolveDefaultModel } from './default-model.js';
import { finishReason } from './inspect.js';

export async function cmdChat(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      model: { type: 'string' }, 'messages-file': { type: 'string' }, template: { type: 'string' }, 'max-tokens': { type: 'string' },
      temperature: { type: 'string' }, seed: { type: 'string' }, 'repeat-penalty': { type: 'string' }, ctx: { type: 'string' },
      backend: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' },
    },
    strict: true,
  });
  const options = {
    maxTokens: intOption('max-tokens', v['max-tokens'], 256)!, temperature: numOption('temperature', v.temperature),
    seed: intOption('seed', v.seed), repeatPenalty: numOption('repeat-penalty', v['repeat-penalty']),
  };
  if (!v['messages-file'] && !process.stdin.isTTY) throw usage('chat needs --messages-file F.json (a JSON array of { role, content }), or a terminal to type in.');
  const model = await loadModelFile(v.model ?? (await resolveDefaultModel(err)));
  const backend = await cliBackend(model, v, intOption('ctx', v.ctx), err);
  try {
    if (v['messages-file']) {
      const messages = checkMessages(JSON.parse(readFileSync(v['messages-file'], 'utf8')));
      const ids = chatPromptIds(model, messages, v.template);
      const r = await generateTokens(backend, model.tokenizer, ids, options, v.json ? undefined : out);
      const finish = finishReason(r.finishReason);
      if (v.json) out(JSON.stringify({ prompt_ids: ids, generated_ids: r.generatedIds, text: r.text, finish_reason: finish }) + '\n');
      else out('\n');
    } else {
      await repl(model, backend, v.template, options, out);
    }
  } finally {
    backend.dispose();
  }
}

/**
 * Turn after turn at a terminal: the KV cache of the conversation so far is reused. Ctrl-C during a
 * reply stops it (what was written stays in the conversation); at the prompt it ends the chat.
 */
async function repl(model: Model, backend: Backend, template: string | undefined, options: object, out: (s: string) => void): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const messages: ChatMessage[] = [];
  const kv: KvState = { ids: [] };
  let reply: AbortController | null = null;
  let closed = false;
  rl.on('SIGINT', () => (reply ? reply.abort() : rl.close()));
  rl.on('close', () => { closed = true; });
  try {
    for (;;) {
      const line = closed ? null : await rl.question('> ').catch(() => null);
      if (line === null || line === '/exit') return;
      messages.push({ role: 'user', content: line });
      reply = new AbortController();
      const ids = chatPromptIds(model, messages, template);
      const r = await generateTokens(backend, model.tokenizer, ids, { ...options, signal: reply.signal }, out, kv, 'finish');
      reply = null;
      out(r.finishReason === 'abort' ? ' [stopped]\n' : '\n');
      messages.push({ role: 'assistant', content: r.text });
    }
  } finally {
    rl.close();
  }
}
