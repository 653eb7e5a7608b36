// Time to first token of a chat's second turn (CPU backend, or --backend webgpu): with the engine's KV reuse (turn 1
// just ran, so only the new tail of the prompt is fed) against a cold start (the same conversation
// after the cache was invalidated: a generate() call leaves nothing a chat could reuse). Through the
// SDK (dist/node.js: worker_threads, the CPU backend's Wasm), timed on the main thread from chat() to
// the first streamed piece; prefill is the worker's own measure. Greedy, so every repetition feeds the
// same tokens. Median of --reps.
//   npm run build && npx esbuild bench/chat-ttft.ts --bundle --platform=node --format=esm --target=node20 \
//     --packages=external --outfile=dist/bench/chat-ttft.mjs && node dist/bench/chat-ttft.mjs [--reps 5] [--threads 1] [--models a.gguf,b.gguf] [--backend cpu|webgpu]
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type * as Sdk from '../src/node.js';

const root = resolve(import.meta.dirname, '../..');
const { values: args } = parseArgs({ options: { reps: { type: 'string' }, threads: { type: 'string' }, models: { type: 'string' }, reply: { type: 'string' }, backend: { type: 'string' } } });
const backend = (args.backend ?? 'cpu') as 'cpu' | 'webgpu';
const reps = Number(args.reps ?? 5);
const threads = Number(args.threads ?? 1);
const replyTokens = Number(args.reply ?? 64);
const shared = join(root, '../shared/models');
const models = (args.models ?? [
  join(shared, 'llama100m-debtext-bpe/llama100m-debtext-bpe-Q4_K_M.gguf'),
  join(shared, 'llama16m-debtext/llama16m-debtext-Q4_0.gguf'),
].join(',')).split(',');
const dist = join(root, 'dist/node.js');
if (!existsSync(dist)) throw new Error('dist/node.js is missing: run `npm run build` first');
const sdk = (await import(dist)) as typeof Sdk;

const SYSTEM = 'You answer questions about Debian packages. Give the package name, what it does, the files it installs and the ' +
  'commands it provides, then say how it is configured, where its documentation lives and which packages it depends on. ' +
  'Keep answers short, use plain words and say when you are not sure.';
const TURN1: Sdk.ChatMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: 'What does the package coreutils install?' }];
const USER2 = 'And what about util-linux?';

/** Wall time from the call to the first piece (or the end, if none came), and the result. */
async function timed(stream: Sdk.ChatStream): Promise<{ ttftMs: number; r: Sdk.ChatResult }> {
  const t0 = performance.now();
  let ttftMs = -1;
  for await (const _ of stream) if (ttftMs < 0) ttftMs = performance.now() - t0;
  const r = await stream.result;
  return { ttftMs: ttftMs < 0 ? performance.now() - t0 : ttftMs, r };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// ChatML for all: the 100M model stores it, the 16M model (SentencePiece, no template) gets it as text.
const GREEDY = { temperature: 0, template: 'chatml' };

console.log(`| model | turn-2 prompt tokens | cached (warm) | TTFT cold ms | TTFT warm ms | speed-up | prefill cold ms | prefill warm ms |`);
console.log(`|---|---:|---:|---:|---:|---:|---:|---:|`);
for (const file of models) {
  const engine = sdk.createEngine({ backend, threads });
  await engine.load(file);
  const cold: { ttftMs: number; r: Sdk.ChatResult }[] = [];
  const warm: typeof cold = [];
  for (let i = 0; i < reps + 1; i++) {
    await engine.generate('x', { maxTokens: 1 }).result; // invalidates the chat's cache
    const first = await engine.chat(TURN1, { ...GREEDY, maxTokens: replyTokens }).result;
    const turn2: Sdk.ChatMessage[] = [...TURN1, { role: 'assistant', content: first.text }, { role: 'user', content: USER2 }];
    const w = await timed(engine.chat(turn2, { ...GREEDY, maxTokens: 1 }));
    await engine.generate('x', { maxTokens: 1 }).result;
    const c = await timed(engine.chat(turn2, { ...GREEDY, maxTokens: 1 }));
    if (i === 0) continue; // warm-up: first Wasm compilation and allocations
    warm.push(w);
    cold.push(c);
  }
  await engine.dispose();
  const r = warm[0]!.r;
  if (cold.some((c) => c.r.usage.cachedTokens !== 0)) throw new Error('a cold turn reused the cache');
  const tc = median(cold.map((c) => c.ttftMs));
  const tw = median(warm.map((c) => c.ttftMs));
  console.log(`| ${basename(file)} | ${r.usage.promptTokens} | ${r.usage.cachedTokens} | ${tc.toFixed(1)} | ${tw.toFixed(1)} | ${(tc / tw).toFixed(1)}× | ` +
    `${median(cold.map((c) => c.r.prefillMs)).toFixed(1)} | ${median(warm.map((c) => c.r.prefillMs)).toFixed(1)} |`);
}
