// The OpenAI-shaped facade in Chromium, on the bundle (dist/index.js starting dist/worker.js): a
// non-streamed and a streamed engine.chat.completions.create() on stories260K (built-in ChatML
// template: the file has none) return the same reply, chunks in OpenAI's shape, usage on the last one;
// turn 2 reuses turn 1's KV cache, and a stopped stream ends with finish_reason 'abort'.
import type { Page } from 'puppeteer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type * as Sdk from '../../src/index.js';
import { describeBrowser, startSession, waitForResult, type BrowserSession } from './harness.js';

type Win = Window & { wasEdge: typeof Sdk; engine: Sdk.Engine };
const MODEL = '/models/stories260K/stories260K.gguf';
const MESSAGES: Sdk.ChatMessage[] = [{ role: 'system', content: 'Tell stories.' }, { role: 'user', content: 'Once upon a time' }];

describeBrowser('browser: engine.chat.completions.create from dist/index.js', () => {
  let session: BrowserSession | undefined;
  let page: Page;

  beforeAll(async () => {
    session = await startSession({ webgpu: false });
    page = await session.openPage('/pages/sdk.html');
    await waitForResult(page, 30_000);
    await page.evaluate(async (url) => {
      const w = window as unknown as Win;
      w.engine = w.wasEdge.createEngine({ backend: 'cpu' });
      await w.engine.load(url, { cache: false, contextSize: 256 });
    }, MODEL);
  });
  afterAll(async () => {
    await page?.evaluate(() => (window as unknown as Win).engine.dispose());
    await session?.close();
  });

  test('a non-streamed and a streamed completion agree; the streamed one is OpenAI chunks', async () => {
    const r = await page.evaluate(async (messages) => {
      const w = window as unknown as Win;
      const params = { messages, max_tokens: 16, seed: 7, template: 'chatml' };
      const whole = await w.engine.chat.completions.create(params);
      const chunks: Sdk.ChatCompletionChunk[] = [];
      for await (const c of await w.engine.chat.completions.create({ ...params, stream: true })) chunks.push(c);
      return { whole, chunks };
    }, MESSAGES);
    expect(r.whole).toMatchObject({ object: 'chat.completion', model: 'stories260K', choices: [{ index: 0, message: { role: 'assistant' } }] });
    expect(r.whole.usage.completion_tokens).toBeGreaterThan(0);
    expect(r.whole.usage.total_tokens).toBe(r.whole.usage.prompt_tokens + r.whole.usage.completion_tokens);
    expect(r.chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === r.chunks[0]!.id)).toBe(true);
    expect(r.chunks[0]!.choices[0].delta).toEqual({ role: 'assistant' });
    expect(r.chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(r.whole.choices[0].message.content);
    expect(r.chunks.at(-1)!.choices[0].finish_reason).toBe(r.whole.choices[0].finish_reason);
    expect(r.chunks.at(-1)!.usage).toMatchObject({ completion_tokens: r.whole.usage.completion_tokens, prompt_tokens: r.whole.usage.prompt_tokens });
    // The streamed call repeats the whole one's prompt: all of it but the last token comes from the cache.
    expect(r.chunks.at(-1)!.usage!.cached_tokens).toBe(r.whole.usage.prompt_tokens - 1);
    console.log(`chat.completions: ${JSON.stringify(r.whole.choices[0].message.content)}, ${r.chunks.length} chunks`);
  });

  test('turn 2 reuses the KV cache; a stream stopped by its signal ends with finish_reason abort', async () => {
    const r = await page.evaluate(async (messages) => {
      const w = window as unknown as Win;
      const first = await w.engine.chat.completions.create({ messages, max_tokens: 8, seed: 1, template: 'chatml' });
      const turn2 = [...messages, first.choices[0].message, { role: 'user' as const, content: 'And then?' }];
      const c = new AbortController();
      const chunks: Sdk.ChatCompletionChunk[] = [];
      for await (const ch of await w.engine.chat.completions.create({ messages: turn2, max_tokens: 200, seed: 1, template: 'chatml', stream: true, signal: c.signal })) {
        chunks.push(ch);
        if (chunks.length === 3) c.abort();
      }
      return { first: first.usage, last: chunks.at(-1)! };
    }, MESSAGES);
    expect(r.last.usage!.cached_tokens).toBeGreaterThan(r.first.prompt_tokens);
    expect(r.last.choices[0].finish_reason).toBe('abort');
  });
});
