// The page side of bench/cpu.ts: decode speed of our CPU backend (dist/index.js) and of wllama
// (llama.cpp in Wasm) on the same GGUF bytes and thread count, in one tab. Plain JS, served as is.
import * as was from '/dist/index.js';
import { Wllama } from '/wllama/index.js';

/** Best of `runs` (after one warm-up) of tokens/s from `once()`. */
async function best(once, runs = 2) {
  await once();
  let top = 0;
  for (let i = 0; i < runs; i++) top = Math.max(top, await once());
  return top;
}

window.runBench = async ({ model, calibration, threads, tokens, prompt, levels }) => {
  const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
  const m = was.openModel(bytes);
  const ids = m.tokenizer.encode(prompt);
  const out = { threads, isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency, sparse: {} };

  // ours: prompt, then `tokens` greedy decode steps timed on the wall clock (argmax in Wasm)
  const b = await was.CpuBackend.create(m, { contextSize: 512, threads });
  out.ourThreads = b.threads;
  const decode = async () => {
    await b.feed(ids.slice(0, -1), 0);
    let t = await b.feedArgmax(ids.at(-1), ids.length - 1);
    const t0 = performance.now();
    for (let i = 0; i < tokens; i++) t = await b.feedArgmax(t, ids.length + i);
    return tokens / ((performance.now() - t0) / 1000);
  };
  out.dense = await best(decode);
  const cal = calibration ? was.parseCalibration(await (await fetch(calibration)).json(), m.config) : null;
  const norms = cal ? was.modelProjectionNorms(m) : null;
  for (const s of levels) {
    b.setThresholds(was.buildTau(cal, 'was', s, norms));
    const rate = await best(decode);
    out.sparse[s] = { rate, skipped: await b.skippedWeightFraction() };
  }
  b.dispose();

  // wllama: llama.cpp's own decode timing (predicted_per_second) and the wall clock of the call
  const w = new Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
  // Large files by URL: Chromium failed to read a 765 MB Blob made from the bytes (NotReadableError).
  const params = { n_threads: threads, n_ctx: 512, n_batch: 128, n_gpu_layers: 0 };
  if (bytes.length > 256 << 20) await w.loadModelFromUrl(new URL(model, location.href).href, { ...params, useCache: false });
  else await w.loadModel([new Blob([bytes])], params);
  let predicted = 0;
  out.wllama = await best(async () => {
    const r = await w.createCompletion({ prompt, max_tokens: tokens, temperature: 0 });
    predicted = r.timings?.predicted_n ?? r.usage?.completion_tokens ?? 0;
    return r.timings?.predicted_per_second ?? NaN;
  });
  out.wllamaTokens = predicted;
  await w.exit();
  return out;
};
window.__ready = true;
