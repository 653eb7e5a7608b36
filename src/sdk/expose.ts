// The worker end of the boundary: an Engine exposed with comlink on one endpoint, with our transfer
// handlers, and each call's signal port and callback proxies released once the call has settled.

import { expose, releaseProxy } from 'comlink';
import { Engine, type EnginePlatform } from './engine.js';
import { WORKER_READY, type EngineWorkerApi, type MessageEndpoint } from './api.js';
import { installTransferHandlers, releaseSignal } from './transfer.js';

const exposed = new WeakSet<object>();

/** Closes the port of a callback proxy the main thread passed (comlink's RELEASE). */
function release(callback: unknown): void {
  (callback as Partial<Record<typeof releaseProxy, () => void>> | undefined)?.[releaseProxy]?.();
}

/** Serves one Engine on `endpoint` and posts WORKER_READY; a second call on the same endpoint does nothing. */
export function serveEngine(endpoint: MessageEndpoint, platform: EnginePlatform): void {
  if (exposed.has(endpoint)) return;
  exposed.add(endpoint);
  installTransferHandlers();
  const engine = new Engine(platform);
  const api: EngineWorkerApi = {
    load: (source, options, signal, onProgress) =>
      engine.load(source, options, signal, onProgress).finally(() => { releaseSignal(signal); release(onProgress); }),
    generate: (prompt, options, signal, onText) =>
      engine.generate(prompt, options, signal, onText).finally(() => { releaseSignal(signal); release(onText); }),
    chat: (messages, options, signal, onText) =>
      engine.chat(messages, options, signal, onText).finally(() => { releaseSignal(signal); release(onText); }),
    tokenize: (text) => engine.tokenize(text),
    countTokens: (messages, template) => engine.countTokens(messages, template),
    schedules: () => engine.schedules(),
    calibrate: (text, options, signal, onProgress) =>
      engine.calibrate(text, options, signal, onProgress).finally(() => { releaseSignal(signal); release(onProgress); }),
    searchSchedule: (options, signal, onProgress) =>
      engine.searchSchedule(options, signal, onProgress).finally(() => { releaseSignal(signal); release(onProgress); }),
    cachedModels: () => engine.cachedModels(),
    deleteCachedModel: (url) => engine.deleteCachedModel(url),
    dispose: () => engine.dispose(),
  };
  expose(api, endpoint);
  endpoint.postMessage(WORKER_READY);
}
