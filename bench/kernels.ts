// Kernel speed on the WebGPU device: decode GEMV at llama-7B shapes (f32 and packed f16) over several
// workgroup shapes, prefill GEMM, decode attention. Prints read bandwidth and its share of a roofline.
// Weights cycle through enough copies to exceed the L2 cache, so every dispatch reads memory.
// Build and run: npx esbuild bench/kernels.ts --bundle --platform=node --format=esm --external:webgpu
//   --loader:.wgsl=text --outfile=dist/bench-kernels.mjs && node dist/bench-kernels.mjs [roofline TB/s] [quick]
import { acquireDevice } from '../src/gpu/device.js';
import { createStep, kernels, uploadMatrix, vectorBytes, writeStep, type PreparedOp, type WeightFormat } from '../src/gpu/kernels.js';
import { nodeGPU } from '../src/gpu/node-gpu.js';

const roofline = Number(process.argv[2] ?? 4.19) * 1e12; // bytes/s; 4.19 TB/s measured on the H200 with vec4 loads
const quick = process.argv[3] === 'quick'; // small shapes, to check the script on a CPU adapter
const ctx = await acquireDevice({ gpu: await nodeGPU() });
console.log(`adapter: ${ctx.adapterInfo.vendor} ${ctx.adapterInfo.architecture} ${ctx.adapterInfo.device} ${ctx.adapterInfo.description}; f16 ${ctx.features.f16}; maxBinding ${ctx.maxBindingSize / 2 ** 20} MiB`);

const rows: string[][] = [['kernel', 'shape', 'format', 'variant', 'µs', 'TB/s', '% roof']];

/** Wall time per op, records `reps` rounds of `ops` into one pass and one submit; best of 3. */
async function time(ops: PreparedOp[], reps: number): Promise<number> {
  let best = Infinity;
  for (let trial = 0; trial < 4; trial++) {
    const enc = ctx.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let r = 0; r < reps; r++) for (const op of ops) op.encode(pass);
    pass.end();
    const t = performance.now();
    ctx.device.queue.submit([enc.finish()]);
    await ctx.device.queue.onSubmittedWorkDone();
    const dt = (performance.now() - t) / (reps * ops.length);
    if (trial > 0) best = Math.min(best, dt); // trial 0 warms up
  }
  return best * 1e3;
}

function randomWeights(n: number, format: WeightFormat): Float32Array | Uint16Array {
  if (format === 'f32') {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
    return a;
  }
  const a = new Uint16Array(n);
  for (let i = 0; i < n; i++) a[i] = 0x3000 + ((Math.random() * 0x0fff) | 0) + (Math.random() < 0.5 ? 0x8000 : 0); // |w| in [2^-3, 2^0)
  return a;
}

const buf = (n: number) => ctx.device.createBuffer({ size: vectorBytes(n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });

async function benchGemv(R: number, C: number, format: WeightFormat, variants: [number, number, number, boolean][]): Promise<void> {
  const bytes = R * C * (format === 'f32' ? 4 : 2);
  const copies = quick ? 2 : Math.max(2, Math.ceil(600e6 / bytes));
  const data = randomWeights(R * C, format);
  const Ws = [];
  for (let i = 0; i < copies; i++) Ws.push(await uploadMatrix(ctx, data, R, C, format));
  const x = buf(C);
  const y = buf(R);
  for (const variant of variants) {
    const [wg, lanes, unroll, twoRows] = variant;
    const ops = await Promise.all(Ws.map((weights) => kernels.gemv.prepare(ctx, { weights, x, y, workgroupSize: wg, lanesPerRow: lanes, unroll, twoRows })));
    if (variants[0] === variant) await time(ops, 200); // the first variant of a shape also warms the clocks and pages
  const us = await time(ops, quick ? 2 : Math.ceil(400 / copies));
    rows.push(['gemv', `${R}×${C}`, format, `wg ${wg} lanes ${lanes} unroll ${unroll}${twoRows ? ' 2 rows' : ''}`, us.toFixed(1), (bytes / us / 1e6).toFixed(2), ((100 * bytes) / (us * 1e-6) / roofline).toFixed(0)]);
  }
  for (const W of Ws) for (const s of W.shards) s.buffer.destroy();
}

async function benchGemm(R: number, C: number, format: WeightFormat, T: number, tile: number): Promise<void> {
  const bytes = R * C * (format === 'f32' ? 4 : 2);
  const W = await uploadMatrix(ctx, randomWeights(R * C, format), R, C, format);
  const step = createStep(ctx, T);
  writeStep(ctx.device, step, 0, new Array(T).fill(0));
  const op = await kernels.gemm.prepare(ctx, { weights: W, step, x: buf(C * T), y: buf(R * T), tile });
  const us = await time([op], quick ? 2 : 20);
  rows.push(['gemm', `${R}×${C} T=${T}`, format, `tile ${tile}`, us.toFixed(1), (bytes / us / 1e6).toFixed(2), `${((2 * R * C * T) / us / 1e6).toFixed(1)} TFLOP/s`]);
  for (const s of W.shards) s.buffer.destroy();
}

async function benchAttention(pos: number, workgroupSize: number, team: number, splitLength: number): Promise<void> {
  const [nHeads, nKVHeads, headDim, contextLength] = [32, 32, 128, 4096];
  const step = createStep(ctx, 1);
  writeStep(ctx.device, step, pos, [0]);
  const kvDim = nKVHeads * headDim;
  const op = await kernels.attention.prepare(ctx, {
    step, nHeads, nKVHeads, headDim, contextLength, workgroupSize, team, splitLength, q: buf(nHeads * headDim), keyCache: buf(contextLength * kvDim), valueCache: buf(contextLength * kvDim), out: buf(nHeads * headDim),
  });
  const us = await time([op], quick ? 2 : 50);
  const bytes = 2 * (pos + 1) * kvDim * 4;
  rows.push(['attention', `32 heads × 128, pos ${pos}`, 'f32', `wg ${workgroupSize} team ${team} split ${splitLength}`, us.toFixed(1), (bytes / us / 1e6).toFixed(2), ((100 * bytes) / (us * 1e-6) / roofline).toFixed(0)]);
}

// [workgroup size, lanes per row, unroll, two rows]; the first (the default) is measured again last,
// as a check on order effects.
const variants: [number, number, number, boolean][] = [
  [128, 64, 2, true], [128, 64, 2, false], [128, 64, 1, true], [64, 64, 2, true], [256, 64, 2, true], [128, 32, 2, true],
  [64, 64, 2, false], [128, 64, 2, true],
];
const shapes: [number, number][] = quick ? [[512, 256]] : [[4096, 4096], [11008, 4096], [4096, 11008]];
for (const format of ['f32', 'f16'] as const) {
  for (const [R, C] of shapes) await benchGemv(R, C, format, quick ? variants.slice(0, 2) : variants);
}
const [gR, gC] = quick ? [512, 256] : [4096, 4096];
for (const T of [8, 64]) for (const tile of [8, 16]) await benchGemm(gR, gC, 'f16', T, tile);
await benchGemm(gR, gC, 'f32', 64, 8);
const attVariants: [number, number, number][] = [[256, 8, 128], [256, 8, 64]];
for (const pos of [511, 2047]) for (const [wg, team, split] of attVariants) await benchAttention(pos, wg, team, split);

const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
process.exit(0);
