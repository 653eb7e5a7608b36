// Greedy generation with the reference backend from the built bundle, as a user's page would run it.
// Plain ES module, no bundling: the test serves dist/ at /dist/ and the shared models at /models/.
import { acquireDevice, generate, loadWeightsF32, openModel, ReferenceBackend, WebGPUBackend } from '/dist/index.js';

const MODEL_URL = '/models/stories260K/stories260K.gguf';
const PROMPT = 'Once upon a time';
const MAX_TOKENS = 32;
const CONTEXT_SIZE = 512;
/** ?backend=webgpu runs the WebGPU engine; the default is the reference. */
const BACKEND = new URLSearchParams(location.search).get('backend') ?? 'reference';

/** navigator.gpu and the default adapter, for the log: which WebGPU this browser would give us. */
async function gpuInfo() {
  if (!navigator.gpu) return { present: false, adapter: null };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { present: true, adapter: null };
    const { vendor, architecture, description } = adapter.info;
    return {
      present: true,
      adapter: {
        vendor, architecture, description,
        isFallbackAdapter: adapter.info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? null,
        shaderF16: adapter.features.has('shader-f16'),
      },
    };
  } catch (e) {
    return { present: true, adapter: null, error: String(e) };
  }
}

async function main() {
  const gpu = await gpuInfo();
  const t0 = performance.now();
  const response = await fetch(MODEL_URL);
  if (!response.ok) throw Object.assign(new Error(`GET ${MODEL_URL}: HTTP ${response.status}`), { name: 'FetchError' });
  const model = openModel(await response.arrayBuffer());
  const backend = BACKEND === 'webgpu'
    ? await WebGPUBackend.create(await acquireDevice(), model, { contextSize: CONTEXT_SIZE })
    : new ReferenceBackend(model.config, loadWeightsF32(model.file, model.config), CONTEXT_SIZE);
  const loadMs = performance.now() - t0;
  const out = document.getElementById('out');
  const r = await generate(backend, model.tokenizer, PROMPT, { maxTokens: MAX_TOKENS }, (piece) => {
    out.textContent += piece;
  });
  backend.dispose();
  return {
    promptIds: r.promptIds,
    generatedIds: r.generatedIds,
    text: r.text,
    finishReason: r.finishReason,
    loadMs,
    prefillMs: r.prefillMs,
    decodeMs: r.decodeMs,
    tokensPerSecond: r.tokensPerSecond,
    backend: backend.name,
    gpu,
  };
}

main().then(
  (result) => { window.__result = result; },
  (e) => { window.__error = { name: e?.name ?? 'Error', code: e?.code, message: e?.message ?? String(e), stack: e?.stack }; },
);
