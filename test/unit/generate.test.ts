// The decode loop: abort, stop strings across token boundaries, limits; the backend stays usable.
import { describe, expect, test } from 'vitest';
import { generate } from '../../src/generate.js';
import { openModel } from '../../src/model/model.js';
import { loadWeightsF32 } from '../../src/model/weights.js';
import { ReferenceBackend } from '../../src/reference/backend.js';
import { readShared } from '../helpers/shared.js';
import { AbortError } from '../../src/errors.js';

const model = openModel(readShared('models/stories260K/stories260K.gguf'));
const backend = () => new ReferenceBackend(model.config, loadWeightsF32(model.file, model.config), 64);

describe('generate', () => {
  test('an AbortSignal stops generation with AbortError; the backend works afterwards', async () => {
    const b = backend();
    const controller = new AbortController();
    let pieces = 0;
    const run = generate(b, model.tokenizer, 'Once upon a time', { maxTokens: 32, signal: controller.signal }, () => {
      if (++pieces === 3) controller.abort();
    });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    const again = await generate(b, model.tokenizer, 'Once upon a time', { maxTokens: 4 });
    expect(again.generatedIds).toEqual([432, 383, 286, 261]);
  });

  test('streamed pieces concatenate to the final text; a stop string spanning tokens is cut', async () => {
    let streamed = '';
    const r = await generate(backend(), model.tokenizer, 'Once upon a time', { maxTokens: 32, stop: ['girl named'] }, (t) => { streamed += t; });
    expect(r.text).toBe(', there was a little ');
    expect(streamed).toBe(r.text);
    expect(r.finishReason).toBe('stop');
  });

  test('any end-of-generation id ends generation (an eot like <|im_end|>, not only eos)', async () => {
    // The second greedy token (383) made an end-of-turn id of this vocabulary.
    const tok = Object.create(model.tokenizer, { eogIds: { value: new Set([model.tokenizer.eos, 383]) } }) as typeof model.tokenizer;
    const r = await generate(backend(), tok, 'Once upon a time', { maxTokens: 8 });
    expect(r.generatedIds).toEqual([432]);
    expect(r.finishReason).toBe('eos');
  });

  test('maxTokens 0 generates nothing; the context limit ends generation with finishReason "context"', async () => {
    expect((await generate(backend(), model.tokenizer, 'Once', { maxTokens: 0 })).generatedIds).toEqual([]);
    const small = new ReferenceBackend(model.config, loadWeightsF32(model.file, model.config), 8);
    const r = await generate(small, model.tokenizer, 'Once upon a time', { maxTokens: 100 });
    expect(r.finishReason).toBe('context');
    expect(r.promptIds.length + r.generatedIds.length).toBe(9); // the last sampled token needs no cache slot
  });
});
