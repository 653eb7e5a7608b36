// End to end in Chromium: the built bundle (dist/index.js) loads stories260K over HTTP and its
// greedy text equals llama2.c's golden, as the Node reference test checks the same numbers.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sharedPath } from '../helpers/shared.js';
import { DEFAULT_ROOTS, describeBrowser, startSession, waitForResult, type BrowserSession } from './harness.js';

/** What pages/generate.js stores in window.__result. */
interface GeneratePageResult {
  promptIds: number[];
  generatedIds: number[];
  text: string;
  finishReason: string;
  loadMs: number;
  prefillMs: number;
  decodeMs: number;
  tokensPerSecond: number;
  backend: string;
  gpu: {
    present: boolean;
    adapter: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean | null; shaderF16: boolean } | null;
    error?: string;
  };
}

const golden = JSON.parse(readFileSync(sharedPath('reference/stories260K/greedy_once_upon_a_time.json'), 'utf8')) as {
  prompt: string;
  prompt_ids: number[];
  generated_ids: number[];
  text_llama2c: string;
};

describeBrowser('browser: reference generate from dist/index.js', () => {
  let session: BrowserSession | undefined;

  beforeAll(async () => {
    if (!existsSync(`${DEFAULT_ROOTS['/dist']}/index.js`)) throw new Error('dist/index.js is missing: run `npm run build` first');
    session = await startSession({ webgpu: true });
  });

  afterAll(async () => {
    await session?.close();
  });

  test.each(['reference', 'webgpu'])('stories260K on the %s backend: 32 greedy tokens equal the llama2.c golden', async (backend) => {
    const page = await session!.openPage(`/pages/generate.html?backend=${backend}`);
    const r = await waitForResult<GeneratePageResult>(page, 60_000);
    const a = r.gpu.adapter;
    console.log(
      `navigator.gpu: ${r.gpu.present ? 'present' : 'absent'}; adapter: ` +
        (a ? `${a.vendor} / ${a.architecture} / ${a.description || '(no description)'}, fallback ${a.isFallbackAdapter}, shader-f16 ${a.shaderF16}` : `none${r.gpu.error ? ` (${r.gpu.error})` : ''}`),
    );
    console.log(`load ${r.loadMs.toFixed(0)} ms, prefill ${r.prefillMs.toFixed(1)} ms, decode ${r.tokensPerSecond.toFixed(0)} tok/s`);
    expect(r.promptIds).toEqual(golden.prompt_ids);
    expect(r.generatedIds).toEqual(golden.generated_ids);
    expect(r.text).toBe(golden.text_llama2c.slice(golden.prompt.length));
    expect(r.finishReason).toBe('length');
    expect(r.backend).toBe(backend);
  });
});
