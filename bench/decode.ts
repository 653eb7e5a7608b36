// Dense decode on WebGPU, in one run: (a) the read roofline (a large vec4<f32> read), (b) GEMV at
// Llama-7B shapes in f32 and packed f16, (c) one decode step of a Llama-7B-shaped model with random
// weights, split into GEMV time and everything else. Prints a table of GB/s and % of the roofline.
//
// (c) uses the one input-major weight copy: dense mode (no thresholds), then the sparse levels on the
// same backend. The row-major dense engine it replaced is measured by building this script at commit
// 1862956 (see BENCHMARKS.md, 2026-12-05).
//
// Build and run (see BENCHMARKS.md):  npm run bench:build && node dist/bench-decode.mjs [--quick] [--layers N]
//   [--formats f16,q4_0,f32] [--levels 0,0.6] [--dense-tuning 8/256,4/256] [--no-gemv] [--no-dense]
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/gpu/device.js';
import { WebGPUBackend, type WeightSource } from '../src/gpu/engine/backend.js';
import * as gemv from '../src/gpu/gemv.js';
import { nodeGPU } from '../src/gpu/node-gpu.js';
import type { PreparedOp } from '../src/gpu/pipeline.js';
import { vectorBytes } from '../src/gpu/pipeline.js';
import { uploadMatrix, type WeightFormat } from '../src/gpu/weights.js';
import type { LlamaConfig } from '../src/model/config.js';
import type { QuantFormat, QuantSource } from '../src/gpu/quant.js';
import { profileDecode, timeDecode } from './engine-timing.js';
import { randomQuantBlocks, randomWeights, timePass } from './timing.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' }, layers: { type: 'string' }, formats: { type: 'string' }, 'no-gemv': { type: 'boolean' }, levels: { type: 'string' }, 'no-dense': { type: 'boolean' }, 'trace-pipelines': { type: 'string' }, 'dense-tuning': { type: 'string' } } });
// --dense-tuning 8/256,4/256,8/512: stored rows in flight / K-chunk of the dense decode GEMVs, one backend
// each (the first also runs the levels); default the backend's.
const denseTunings = (args['dense-tuning'] ?? '').split(',').map((v) => {
  const [u, kc] = v.split('/').map(Number);
  return { ...(u ? { denseUnroll: u } : {}), ...(kc ? { denseKChunk: kc } : {}) };
});
// --levels 0,0.5,0.6: the WAS levels of the sparse half; --no-dense: the sparse half only (its ratios then need a dense run).
const t0Run = performance.now();
/** Seconds since start, for the progress lines (a cut-short run still shows where its time went). */
const stamp = () => `[${((performance.now() - t0Run) / 1e3).toFixed(1)} s]`;
const quick = !!args.quick; // small shapes: checks the script on a CPU adapter
const ctx = await acquireDevice({ gpu: await nodeGPU() });
const { device } = ctx;
if (args['trace-pipelines']) {
  // --trace-pipelines DIR: log each pipeline compile as it starts and ends, and keep its WGSL in DIR
  // (a compile that never ends names its shader).
  const dir = args['trace-pipelines'];
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  const codes = new WeakMap<GPUShaderModule, string>();
  const createShaderModule = device.createShaderModule.bind(device);
  device.createShaderModule = (d) => { const m = createShaderModule(d); codes.set(m, d.code); return m; };
  const createAsync = device.createComputePipelineAsync.bind(device);
  let n = 0;
  device.createComputePipelineAsync = async (d) => {
    const id = `${n++}-${d.label ?? 'pipeline'}-${d.compute.entryPoint ?? 'main'}`;
    writeFileSync(`${dir}/${id}.wgsl`, codes.get(d.compute.module) ?? '');
    console.log(`# ${stamp()} compiling ${id}`);
    const t = performance.now();
    const pipe = await createAsync(d);
    console.log(`# ${stamp()} compiled ${id} in ${(performance.now() - t).toFixed(0)} ms`);
    return pipe;
  };
}
const info = ctx.adapterInfo;
console.log(`# adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}; shader-f16 ${ctx.features.f16}; ` +
  `maxStorageBufferBindingSize ${(ctx.maxBindingSize / 2 ** 20).toFixed(0)} MiB; ${new Date().toISOString()}`);

const table: string[][] = [['what', 'shape', 'format', 'µs', 'GB/s', '% of roofline']];
const fmt = (x: number, d = 1) => x.toFixed(d);

const time = (encode: (pass: GPUComputePassEncoder) => void, reps: number) => timePass(ctx, encode, reps);

// (a) Read roofline: every invocation sums a strided run of vec4<f32>; one store per workgroup.
const ROOF_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let threads = nwg.x * 256u;
  var acc = vec4<f32>(0.0);
  for (var i = gid.x; i < arrayLength(&src); i += threads) { acc += src[i]; }
  // The stored value depends on every load, so no compiler may drop them; one store per thread is
  // 1/4096 of the bytes read.
  if (gid.x % 64u == 0u) { dst[gid.x / 64u] = acc.x + acc.y + acc.z + acc.w; }
}`;
const roofBytes = quick ? 64 << 20 : Math.min(1 << 30, ctx.maxBindingSize);
const roofSrc = device.createBuffer({ size: roofBytes, usage: GPUBufferUsage.STORAGE });
const roofDst = device.createBuffer({ size: 4 << 20, usage: GPUBufferUsage.STORAGE });
const roofPipe = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: ROOF_WGSL }), entryPoint: 'main' } });
const roofBind = device.createBindGroup({ layout: roofPipe.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: roofSrc } }, { binding: 1, resource: { buffer: roofDst } }] });
let roofUs = Infinity;
for (const groups of [1024, 2048, 4096, 8192]) {
  roofUs = Math.min(roofUs, await time((p) => { p.setPipeline(roofPipe); p.setBindGroup(0, roofBind); p.dispatchWorkgroups(groups); }, quick ? 2 : 40));
}
const roofline = roofBytes / (roofUs * 1e-6); // bytes/s
table.push(['read roofline', `${roofBytes >> 20} MiB`, 'vec4<f32>', fmt(roofUs), fmt(roofline / 1e9, 0), '100']);
roofSrc.destroy();

// (b) GEMV at 7B shapes. Weight copies rotate so their total exceeds the last-level cache.
const shapes: [number, number][] = quick ? [[512, 512], [1376, 512], [512, 1376]] : [[4096, 4096], [11008, 4096], [4096, 11008]];
const formats = (args.formats ?? 'f32,f16').split(',') as (WeightFormat | QuantFormat)[];
for (const format of args['no-gemv'] ? [] : formats.filter((f): f is WeightFormat => f === 'f32' || f === 'f16')) {
  for (const [rows, cols] of shapes) {
    const bytes = rows * cols * (format === 'f32' ? 4 : 2);
    const copies = quick ? 2 : Math.max(2, Math.ceil(600e6 / bytes));
    const data = randomWeights(rows * cols, format);
    const x = device.createBuffer({ size: vectorBytes(cols), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(x, 0, Float32Array.from({ length: cols }, () => Math.random()));
    const y = device.createBuffer({ size: vectorBytes(rows), usage: GPUBufferUsage.STORAGE });
    const ops: PreparedOp[] = [];
    const weights = [];
    for (let k = 0; k < copies; k++) {
      const w = await uploadMatrix(ctx, data, rows, cols, format);
      weights.push(w);
      ops.push(await gemv.prepare(ctx, { weights: w, x, y }));
    }
    await time((p) => { for (const op of ops) op.encode(p); }, quick ? 2 : 200); // raise the GPU clocks, touch every page
    const us = await time((p) => { for (const op of ops) op.encode(p); }, quick ? 2 : Math.ceil(400 / copies)) / copies;
    const bw = bytes / (us * 1e-6);
    table.push(['gemv', `${rows}×${cols}`, format === 'f16' ? 'packed f16' : 'f32', fmt(us), fmt(bw / 1e9, 0), fmt((100 * bw) / roofline)]);
    for (const op of ops) op.destroy();
    for (const w of weights) for (const s of w.shards) s.buffer.destroy();
    x.destroy();
    y.destroy();
  }
}

// (c) One decode step of a Llama-7B-shaped model with random weights. Every layer holds the same
// random data (generated once per shape) in its own buffers, so all weight bytes are distinct reads.
function syntheticSource(c: LlamaConfig, quant?: QuantFormat): WeightSource {
  const cache = new Map<string, Float32Array | Uint16Array>();
  const quantCache = new Map<string, QuantSource>();
  const kvDim = c.nKVHeads * c.headDim;
  const shapeOf = (name: string): [number, number] => {
    const s = name.replace(/^blk\.\d+\./, '').replace('.weight', '');
    switch (s) {
      case 'attn_q': case 'attn_output': return [c.dim, c.dim];
      case 'attn_k': case 'attn_v': return [kvDim, c.dim];
      case 'ffn_gate': case 'ffn_up': return [c.hiddenDim, c.dim];
      case 'ffn_down': return [c.dim, c.hiddenDim];
      case 'token_embd': case 'output': return [c.vocabSize, c.dim];
      default: throw new Error(`no synthetic tensor ${name}`);
    }
  };
  return {
    config: c,
    naturalFormat: () => 'f32',
    matrix(names, format) {
      const cols = shapeOf(names[0]!)[1];
      const rows = names.reduce((a, n) => a + shapeOf(n)[0], 0);
      const key = `${rows}x${cols}/${format}`;
      if (!cache.has(key)) cache.set(key, randomWeights(rows * cols, format));
      return { data: cache.get(key)!, rows, cols };
    },
    vector: () => Float32Array.from({ length: c.dim }, () => 1),
    // Random Q8_0/Q4_0 blocks for the block matrices and the output (the embedding stays f32).
    quant: quant ? (names) => {
      if (names[0] === 'token_embd.weight') return null;
      return names.map((n) => {
        const [rows, cols] = shapeOf(n);
        const key = `${rows}x${cols}`;
        if (!quantCache.has(key)) quantCache.set(key, randomQuantBlocks(quant, rows, cols));
        return quantCache.get(key)!;
      });
    } : undefined,
  };
}
const layers = Number(args.layers ?? (quick ? 2 : 32));
const config7b: LlamaConfig = quick
  ? { architecture: 'llama', name: 'synthetic', dim: 512, hiddenDim: 1376, nLayers: layers, nHeads: 8, nKVHeads: 8, headDim: 64, ropeDim: 64, vocabSize: 4000, contextLength: 512, ropeBase: 10000, rmsEps: 1e-5, tiedOutput: false, qDim: 512, ropeStyle: 'normal', qkvBias: false, qkNorm: false, ropeFreqFactors: false }
  : { architecture: 'llama', name: 'llama-7b-shaped', dim: 4096, hiddenDim: 11008, nLayers: layers, nHeads: 32, nKVHeads: 32, headDim: 128, ropeDim: 128, vocabSize: 32000, contextLength: 512, ropeBase: 10000, rmsEps: 1e-5, tiedOutput: false, qDim: 4096, ropeStyle: 'normal', qkvBias: false, qkNorm: false, ropeFreqFactors: false };
const isGemv = (label: string) => /\.(qkv|o|gate_up|gate|up|down)$|^output$/.test(label);
const print = (row: string[]) => { table.push(row); console.log(`# ${stamp()} ${row.join(' | ')}`); };
for (const weightFormat of formats) {
  const quant = weightFormat === 'q4_0' || weightFormat === 'q8_0' ? weightFormat : undefined;
  const source = syntheticSource(config7b, quant);
  const engineFormat: 'auto' | WeightFormat = quant ? 'auto' : (weightFormat as WeightFormat);
  const label = weightFormat === 'f16' ? 'packed f16' : weightFormat === 'f32' ? 'f32' : weightFormat.toUpperCase();
  for (const [k, tuning] of denseTunings.entries()) {
    const t0Load = performance.now();
    const tuned = args['dense-tuning'] ? `, dense unroll/kChunk ${tuning.denseUnroll ?? 'default'}/${tuning.denseKChunk ?? 'default'}` : '';
    console.log(`# ${stamp()} backend (${label}${tuned}) loading`);
    const engine = await WebGPUBackend.fromSource(ctx, source, { weightFormat: engineFormat, contextSize: 512, prefillChunk: 8, tuning });
    console.log(`# backend (${label}) loaded in ${((performance.now() - t0Load) / 1e3).toFixed(1)} s; ${(engine.memory.weights / 2 ** 30).toFixed(2)} GiB weights, one input-major copy`);
    const dense = args['no-dense'] ? null : await measureDense(engine, `${label}${tuned}`);
    if (k === 0) await measureLevels(engine, label, dense);
    engine.dispose();
  }
}

/** Dense decode (no thresholds): step, GEMVs only, prefill against token by token, per-dispatch profile. */
async function measureDense(engine: WebGPUBackend, label: string): Promise<{ stepMs: number; gemvMs: number; wallMs: number }> {
  engine.setThresholds(null);
  const pos = 255; // attention over 256 cached positions
  const n = quick ? 3 : 20;
  const shape = `${layers} layers, pos ${pos}`;
  await timeDecode(engine, quick ? 2 : 100, pos); // raise the GPU clocks before measuring
  const step = await timeDecode(engine, n, pos);
  const gemvs = await timeDecode(engine, n, pos, isGemv);
  // GPU time from timestamp queries where the device has them (the wall time adds CPU recording).
  const stepMs = step.gpuMs ?? step.wallMs;
  const gemvMs = gemvs.gpuMs ?? gemvs.wallMs;
  const weightBytes = engine.memory.weights;
  const row = (what: string, ms: number) => [what, shape, label, fmt(ms * 1e3), fmt(weightBytes / (ms * 1e-3) / 1e9, 0), fmt((100 * weightBytes / (ms * 1e-3)) / roofline)];
  print(row(`decode step (${step.gpuMs === null ? 'wall' : 'GPU'})`, stepMs));
  print(row('  GEMVs only', gemvMs));
  print(['  non-GEMV', shape, label, fmt((stepMs - gemvMs) * 1e3), '', `${fmt((100 * (stepMs - gemvMs)) / stepMs)} % of step`]);
  print(row('decode step (wall, with CPU recording)', step.wallMs));
  // Prefill (gemm_t, 8 tokens a submit; token by token for quantized blocks) against feedArgmax one at a time.
  const prompt = Array.from({ length: 64 }, (_, i) => (i * 7919) % config7b.vocabSize);
  await engine.feed(prompt, 0);
  let t0 = performance.now();
  await engine.feed(prompt, 0);
  const prefillMs = (performance.now() - t0) / prompt.length;
  t0 = performance.now();
  for (let i = 0; i < prompt.length; i++) await engine.feedArgmax(prompt[i]!, i);
  const tokenByTokenMs = (performance.now() - t0) / prompt.length;
  print(['prefill, per token', `${layers} layers, 64 tokens`, label, fmt(prefillMs * 1e3), '', `${fmt(tokenByTokenMs / prefillMs, 2)}× faster than token by token (${fmt(tokenByTokenMs * 1e3)} µs)`]);
  const profile = await profileDecode(engine, quick ? 2 : 5, pos);
  if (profile) {
    const total = [...profile.values()].reduce((a, b) => a + b, 0);
    console.log(`# ${label} per-dispatch GPU ms per step (one pass each): ` +
      [...profile].map(([k, ms]) => `${k} ${ms.toFixed(3)} (${(100 * ms / total).toFixed(1)}%)`).join(', '));
  }
  console.log(`# decode ${label}: ${(weightBytes / 2 ** 30).toFixed(2)} GiB weights, ${(engine.memory.kvCache / 2 ** 20).toFixed(0)} MiB KV cache; ${(1000 / step.wallMs).toFixed(1)} tokens/s (wall)`);
  return { stepMs, gemvMs, wallMs: step.wallMs };
}

/**
 * WAS decode on the same backend: a fraction s of every projection's input channels skipped (a random
 * subset per projection: τ = +∞ there, −1 elsewhere, which is what thresholding random activations at
 * their s-quantile does to the kernels), thresholds swapped with setThresholds. s = 0 is the sparse
 * program with nothing skipped.
 */
async function measureLevels(engine: WebGPUBackend, label: string, dense: { stepMs: number; gemvMs: number; wallMs: number } | null): Promise<void> {
  const pos = 255;
  const n = quick ? 3 : 20;
  const shape = `${layers} layers, pos ${pos}`;
  for (const s of (args.levels ?? '0,0.5,0.6,0.7').split(',').filter((v) => v !== '').map(Number)) {
    const mask = (len: number) => {
      const t = new Float32Array(len).fill(-1);
      const idx = Array.from({ length: len }, (_, i) => i);
      for (let i = len - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
      for (let i = 0; i < Math.round(s * len); i++) t[idx[i]!] = Infinity;
      return t;
    };
    engine.setThresholds(Array.from({ length: layers }, () => [0, 1, 2, 3, 4, 5, 6].map((p) => mask(p === 6 ? config7b.hiddenDim : config7b.dim))));
    console.log(`# ${stamp()} s=${s}: warm-up`);
    await timeDecode(engine, quick ? 2 : 100, pos);
    await engine.skippedWeightFraction(); // reset the counters
    const st = await timeDecode(engine, n, pos);
    const skipped = await engine.skippedWeightFraction();
    const ms = st.gpuMs ?? st.wallMs;
    const vsDense = dense ? `${fmt(dense.stepMs / ms, 2)}× dense (ideal ${fmt(dense.stepMs / (dense.stepMs - dense.gemvMs + dense.gemvMs * (1 - s)), 2)}×, ` +
      `GEMV-only ideal ${fmt(1 / (1 - s), 2)}×); wall ${fmt(dense.wallMs / st.wallMs, 2)}×; ` : '';
    print([`WAS decode step s=${s}`, shape, label, fmt(ms * 1e3), '', `${vsDense}skipped ${fmt(100 * skipped!, 1)} % of weights (GPU count)`]);
    const profile = await profileDecode(engine, quick ? 2 : 5, pos);
    if (profile) console.log(`# ${label} WAS ${s} per-dispatch GPU ms: ` + [...profile].map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', '));
  }
}

const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
for (const [i, r] of table.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
process.exit(0);
