// engine.chat() and its OpenAI-shaped facade over worker_threads (reference backend, stories260K with
// the built-in ChatML template: the file has none): the prompt is the rendered template, the reply
// streams, the KV cache of turn 1 serves turn 2, and usage adds up.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type * as Sdk from '../../src/node.js';
import { BUILTIN_TEMPLATES, renderChat } from '../../src/chat.js';
import { openModel } from '../../src/model/model.js';
import { readShared, sharedPath } from '../helpers/shared.js';

const dist = new URL('../../dist/node.js', import.meta.url);
if (!existsSync(new URL('node-worker.js', dist))) throw new Error('dist/node-worker.js is missing: run `npm run build` first');
const sdk = (await import(dist.href)) as typeof Sdk;
const MODEL = sharedPath('models/stories260K/stories260K.gguf');
const model = openModel(readShared('models/stories260K/stories260K.gguf'));

describe('chat over worker_threads', () => {
  let engine: Sdk.Engine;
  beforeAll(async () => {
    engine = sdk.createEngine({ backend: 'reference' });
    await engine.load(MODEL, { contextSize: 512 });
  });
  afterAll(() => engine.dispose());

  const turn1: Sdk.ChatMessage[] = [{ role: 'system', content: 'Tell stories.' }, { role: 'user', content: 'Once upon a time' }];

  test('a model without a template: NO template is an OptionError; with chatml the prompt is the rendered template', async () => {
    await expect(engine.chat(turn1).result).rejects.toMatchObject({ name: 'OptionError', option: 'template' });
    const pieces: string[] = [];
    const stream = engine.chat(turn1, { template: 'chatml', maxTokens: 12 });
    for await (const p of stream) pieces.push(p);
    const r = await stream.result;
    const rendered = renderChat(BUILTIN_TEMPLATES.chatml, turn1, { bos_token: '<s>', eos_token: '</s>' });
    expect(r.promptIds).toEqual(model.tokenizer.encode(rendered, { parseSpecial: true }));
    expect(pieces.join('')).toBe(r.text);
    expect(r.usage).toEqual({ promptTokens: r.promptIds.length, completionTokens: r.tokenIds.length, cachedTokens: r.cachedTokens });
    expect(['eog', 'length', 'stop', 'context']).toContain(r.finishReason); // never 'abort' unasked
    expect(await engine.countTokens(turn1, { template: 'chatml' })).toBe(r.promptIds.length);
  });

  test('turn 2 resumes after the cached prefix of turn 1, with a cold run\'s reply', async () => {
    const first = await engine.chat(turn1, { template: 'chatml', maxTokens: 8 }).result;
    const turn2: Sdk.ChatMessage[] = [...turn1, { role: 'assistant', content: first.text }, { role: 'user', content: 'And then?' }];
    const warm = await engine.chat(turn2, { template: 'chatml', maxTokens: 8 }).result;
    expect(warm.usage.cachedTokens).toBeGreaterThan(first.promptIds.length / 2);
    const fresh = sdk.createEngine({ backend: 'reference' });
    await fresh.load(MODEL, { contextSize: 512 });
    const cold = await fresh.chat(turn2, { template: 'chatml', maxTokens: 8 }).result;
    await fresh.dispose();
    expect(cold.usage.cachedTokens).toBe(0);
    expect(warm.tokenIds).toEqual(cold.tokenIds);
  });

  test('the OpenAI facade: a non-streamed and a streamed completion agree', async () => {
    const params = { messages: turn1, max_tokens: 10, template: 'chatml' };
    const whole = await engine.chat.completions.create(params);
    expect(whole.object).toBe('chat.completion');
    expect(whole.model).toBe('stories260K');
    expect(whole.choices[0].message.role).toBe('assistant');
    expect(whole.usage.completion_tokens).toBeGreaterThan(0);
    const chunks: Sdk.ChatCompletionChunk[] = [];
    for await (const c of await engine.chat.completions.create({ ...params, stream: true })) chunks.push(c);
    expect(chunks[0]!.choices[0].delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(whole.choices[0].message.content);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe(whole.choices[0].finish_reason);
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(whole.usage.completion_tokens);
  });

  test('an abort ends the reply: the stream ends, result has finishReason abort and the text so far; the next turn reuses it', async () => {
    const c = new AbortController();
    const stream = engine.chat(turn1, { template: 'chatml', maxTokens: 400, seed: 1, signal: c.signal });
    const pieces: string[] = [];
    for await (const p of stream) {
      pieces.push(p);
      if (pieces.length === 3) c.abort();
    }
    const r = await stream.result;
    expect(r.finishReason).toBe('abort');
    expect(r.text).toBe(pieces.join(''));
    expect(r.tokenIds.length).toBeLessThan(100);
    const turn2: Sdk.ChatMessage[] = [...turn1, { role: 'assistant', content: r.text }, { role: 'user', content: 'More.' }];
    const next = await engine.chat(turn2, { template: 'chatml', maxTokens: 4 }).result;
    expect(next.usage.cachedTokens).toBeGreaterThanOrEqual(r.promptIds.length);
  });

  test('breaking out of the loop ends the reply with abort; a signal aborted before the call rejects', async () => {
    const stream = engine.chat(turn1, { template: 'chatml', maxTokens: 400, seed: 1 });
    for await (const _ of stream) break;
    expect((await stream.result).finishReason).toBe('abort');
    await expect(engine.chat(turn1, { template: 'chatml', signal: AbortSignal.abort() }).result).rejects.toBeInstanceOf(sdk.AbortError);
  });

  test('the OpenAI facade reports a stopped reply as finish_reason abort', async () => {
    const c = new AbortController();
    const chunks: Sdk.ChatCompletionChunk[] = [];
    for await (const ch of await engine.chat.completions.create({ messages: turn1, max_tokens: 400, seed: 1, template: 'chatml', stream: true, signal: c.signal })) {
      chunks.push(ch);
      if (chunks.length === 3) c.abort();
    }
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('abort');
  });

  test('tokenize gives the ids a prompt gets, without BOS', async () => {
    expect(await engine.tokenize('Once upon a time</s>')).toEqual(model.tokenizer.encode('Once upon a time</s>', { bos: false, parseSpecial: true }));
  });
});
