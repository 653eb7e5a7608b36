// The OpenAI-shaped facade over engine.chat(): `engine.chat.completions.create({ messages, stream, … })`
// for apps written against that API. Parameters keep OpenAI's snake_case names and map onto ChatOptions.

import type { ChatMessage } from '../chat.js';
import { OptionError } from '../errors.js';
import type { ScheduleSelection } from '../sparsity/resolve.js';
import type { ChatFinishReason, ChatOptions, ChatResult, ChatStream } from './api.js';

export interface ChatCompletionParams {
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | string[];
  presence_penalty?: number;
  frequency_penalty?: number;
  logit_bias?: Record<number, number>;
  /** Not OpenAI's: llama.cpp-style extras and ours. */
  min_p?: number;
  repeat_penalty?: number;
  schedule?: ScheduleSelection;
  template?: string;
  signal?: AbortSignal;
}

/** OpenAI's reasons, and web-llm's 'abort' for a reply the caller stopped. */
type OpenAIFinish = 'stop' | 'length' | 'abort';
export interface ChatCompletionUsage { prompt_tokens: number; completion_tokens: number; total_tokens: number; cached_tokens: number }

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: 'assistant'; content: string }; finish_reason: OpenAIFinish }];
  usage: ChatCompletionUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: [{ index: 0; delta: { role?: 'assistant'; content?: string }; finish_reason: OpenAIFinish | null }];
  /** On the last chunk only. */
  usage?: ChatCompletionUsage;
}

export interface ChatCompletions {
  create(params: ChatCompletionParams & { stream: true }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(params: ChatCompletionParams & { stream?: false }): Promise<ChatCompletion>;
  create(params: ChatCompletionParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

/** A full context is 'length' and the model's end of turn 'stop', as OpenAI says them. */
const finish = (r: ChatFinishReason): OpenAIFinish => (r === 'abort' ? 'abort' : r === 'length' || r === 'context' ? 'length' : 'stop');
const usage = (r: ChatResult): ChatCompletionUsage => ({
  prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens,
  total_tokens: r.usage.promptTokens + r.usage.completionTokens, cached_tokens: r.usage.cachedTokens,
});

function chatOptions(p: ChatCompletionParams): ChatOptions {
  if (typeof p !== 'object' || p === null) throw new OptionError('params', 'must be an object with messages.');
  const o: ChatOptions = {};
  const set = <K extends keyof ChatOptions>(k: K, v: ChatOptions[K] | undefined) => { if (v !== undefined) o[k] = v; };
  set('maxTokens', p.max_tokens);
  set('temperature', p.temperature);
  set('topP', p.top_p);
  set('seed', p.seed);
  set('stop', typeof p.stop === 'string' ? [p.stop] : p.stop);
  set('presencePenalty', p.presence_penalty);
  set('frequencyPenalty', p.frequency_penalty);
  set('logitBias', p.logit_bias);
  set('minP', p.min_p);
  set('repeatPenalty', p.repeat_penalty);
  set('schedule', p.schedule);
  set('template', p.template);
  set('signal', p.signal);
  return o;
}

/** The facade over a chat function and the loaded model's name. */
export function chatCompletions(chat: (m: ChatMessage[], o: ChatOptions) => ChatStream, model: () => string): ChatCompletions {
  let n = 0;
  async function create(params: ChatCompletionParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    const stream = chat(params?.messages, chatOptions(params));
    const id = `chatcmpl-${Date.now().toString(36)}-${n++}`;
    const created = Math.floor(Date.now() / 1000);
    if (!params.stream) {
      const r = await stream.result;
      return {
        id, object: 'chat.completion', created, model: model(),
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: finish(r.finishReason) }], usage: usage(r),
      };
    }
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finish_reason: OpenAIFinish | null): ChatCompletionChunk =>
      ({ id, object: 'chat.completion.chunk', created, model: model(), choices: [{ index: 0, delta, finish_reason }] });
    return (async function* chunks() {
      yield chunk({ role: 'assistant' }, null);
      for await (const content of stream) yield chunk({ content }, null);
      const r = await stream.result;
      yield { ...chunk({}, finish(r.finishReason)), usage: usage(r) };
    })();
  }
  return { create } as ChatCompletions;
}
