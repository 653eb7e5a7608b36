// Sparse decode GEMV on WebGPU: dense gemv (W row-major) against sparse_gemv (Wᵀ, input channels with
// |x_j| ≤ τ_j skipped) at Llama-7B shapes, f32 and packed f16, for a fraction s of channels skipped and
// several tuning variants. Prints µs, the speed-up over dense and its share of the ideal 1/(1−s).
// Timing as bench/decode.ts: GPU timestamps of one pass, weight copies cycling past 600 MB (past the
// L2), a warm-up of 200 repetitions over every copy (the clocks rise and every page is touched; on
// the H200 without it the first numbers are 2× off). τ is the s-quantile of |x|, so exactly a
// fraction s is skipped: counted on the CPU, and each variant's y is checked against dense gemv on
// x with the skipped channels zeroed.
//
// Build and run:  npm run bench:sparse:build && node dist/bench-sparse.mjs [--quick]
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/gpu/device.js';
import * as gemv from '../src/gpu/gemv.js';
import { nodeGPU } from '../src/gpu/node-gpu.js';
import type { PreparedOp } from '../src/gpu/pipeline.js';
import { vectorBytes } from '../src/gpu/pipeline.js';
import * as qgemv from '../src/gpu/qgemv.js';
import { destroyQuant, uploadQuantMatrix, uploadQuantTransposedStack, type QuantFormat, type QuantMatrix, type QuantTransposed } from '../src/gpu/quant.js';
import * as sparseGemv from '../src/gpu/sparse_gemv.js';
import { destroyTransposed, destroyWeights, uploadMatrix, uploadTransposed, type TransposedWeightTensor, type WeightFormat, type WeightTensor } from '../src/gpu/weights.js';
import { randomQuantBlocks, randomWeights, timePass } from './timing.js';

const { values: args } = parseArgs({ options: {
  quick: { type: 'boolean' }, formats: { type: 'string' }, shapes: { type: 'string' }, levels: { type: 'string' },
  variants: { type: 'string' }, qgemv: { type: 'string' },
} });
// --shapes 4096x4096,12288x4096 (out×in); --levels 0,0.6; --variants KC/TILE/UNROLL/WG,... (sparse_gemv
// kChunk, tileChunks, unroll, workgroupSize; KC 'none' = no split); --qgemv R,LANES,WG;... (the dense
// Q4_0/Q8_0 variants to try, default all of QGEMV_VARIANTS).
const formats = (args.formats ?? 'f16,f32,q4_0').split(',');
const quick = !!args.quick; // small shapes: checks the script on a CPU adapter
const ctx = await acquireDevice({ gpu: await nodeGPU() });
const { device } = ctx;
const info = ctx.adapterInfo;
console.log(`# adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}; shader-f16 ${ctx.features.f16}; ` +
  `timestamps ${ctx.features.timestamp}; maxStorageBufferBindingSize ${(ctx.maxBindingSize / 2 ** 20).toFixed(0)} MiB; ${new Date().toISOString()}`);

const table: string[][] = [['shape', 'format', 's', 'variant', 'µs', 'GB/s read', '× dense', '% of ideal']];
const fmt = (x: number, d = 1) => x.toFixed(d);

const time = (encode: (pass: GPUComputePassEncoder) => void, reps: number) => timePass(ctx, encode, reps);

async function readVector(buffer: GPUBuffer, n: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

function runOnce(op: PreparedOp): void {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  op.encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
}

/** max |a − e| / (|e| + rms(e)), as the kernel tests measure it. */
function relError(a: Float32Array, e: Float32Array): number {
  const rms = Math.sqrt(e.reduce((s, v) => s + v * v, 0) / e.length) || 1e-30;
  let worst = 0;
  for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / (Math.abs(e[i]!) + rms));
  return worst;
}


// norm: RMSNorm fused (weights 1; τ scaled by 1/rms(x), so the same channels are skipped and y scales by it).
interface Variant { name: string; opts: Omit<sparseGemv.SparseGemvOptions, 'weights' | 'x' | 'tau' | 'y'>; norm?: 'loop' | 'unrolled' | 'vec4' }
// Both y += W·x (accumulate, as the residual projections o and down run). Measured before and left out
// (BENCHMARKS.md): 'no split' (2–4× slower at these shapes: too few workgroups), compare-and-swap float
// atomics into y, and the reduction by each tile's last workgroup in the same dispatch (both slower).
const variants: Variant[] = args.variants
  ? args.variants.split(',').map((spec) => {
    const [kc, tile, unroll, wg, nm] = spec.split('/');
    const kChunk = kc === 'none' ? 'none' as const : Number(kc);
    const prologue = ({ n: 'loop', nu: 'unrolled', nv: 'vec4' } as const)[nm as 'n' | 'nu' | 'nv'];
    if (nm && !prologue) throw new Error(`--variants: the fifth field is n, nu or nv (RMSNorm fused, prologue loop / unrolled / vec4), got ${nm}`);
    return {
      name: `kc ${kc} tile ${tile ?? 'def'} u ${unroll ?? 4} wg ${wg ?? 256}${prologue ? ` norm ${prologue}` : ''}`,
      opts: { kChunk, ...(tile ? { tileChunks: Number(tile) } : {}), ...(unroll ? { unroll: Number(unroll) } : {}), ...(wg ? { workgroupSize: Number(wg) } : {}) },
      norm: prologue,
    };
  })
  : [{ name: 'split 256', opts: { kChunk: 256 } }, { name: 'split 512', opts: { kChunk: 512 } }];
const sparsities = args.levels ? args.levels.split(',').map(Number) : [0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const shapes: [number, number][] = args.shapes
  ? args.shapes.split(',').map((sh) => sh.split('x').map(Number) as [number, number])
  : quick ? [[512, 512], [1376, 512], [512, 1376]] : [[4096, 4096], [11008, 4096], [4096, 11008]];
const storageUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;

/**
 * Every variant's y += W·x op over each weight copy, one scratch per variant (pushed to `scratches`) as
 * an engine shares it between layers; a variant with `norm` fuses RMSNorm with the weights `normW`.
 */
function prepareVariants(copies: sparseGemv.SparseWeights[], b: { x: GPUBuffer; tau: GPUBuffer; y: GPUBuffer; normW?: GPUBuffer },
  scratches: GPUBuffer[]): Promise<PreparedOp[][]> {
  return Promise.all(variants.map(async (v) => {
    let scratch: GPUBuffer | undefined;
    if (v.opts.kChunk !== 'none') {
      scratch = device.createBuffer({ size: sparseGemv.scratchBytes(copies[0]!, v.opts.kChunk as number), usage: GPUBufferUsage.STORAGE });
      scratches.push(scratch);
    }
    if (v.norm && !b.normW) throw new Error(`${v.name}: no norm weights for this format`);
    const norm = v.norm ? { norm: { weight: b.normW!, eps: 0 }, normPrologue: v.norm } : {};
    return Promise.all(copies.map((weights) => sparseGemv.prepare(ctx, { ...v.opts, ...norm, weights, x: b.x, tau: b.tau, y: b.y, accumulate: true, ...(scratch ? { scratch } : {}) })));
  }));
}

for (const format of formats.filter((f) => f === 'f16' || f === 'f32') as WeightFormat[]) {
  for (const [rows, cols] of shapes) {
    const shape = `${rows}×${cols}`;
    const label = format === 'f16' ? 'packed f16' : 'f32';
    const bytes = rows * cols * (format === 'f32' ? 4 : 2);
    const copies = quick ? 2 : Math.max(2, Math.floor(600e6 / bytes) + 1); // > 600 MB of each layout
    const data = randomWeights(rows * cols, format);
    const xs = Float32Array.from({ length: cols }, () => Math.random() * 2 - 1);
    const x = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    const xMasked = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    const tau = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    const yDense = device.createBuffer({ size: vectorBytes(rows), usage: storageUsage });
    const ySparse = device.createBuffer({ size: vectorBytes(rows), usage: storageUsage });
    device.queue.writeBuffer(x, 0, xs);
    const normW = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    device.queue.writeBuffer(normW, 0, new Float32Array(cols).fill(1));
    const rmsScale = 1 / Math.sqrt(xs.reduce((a, v) => a + v * v, 0) / cols); // the kernel's x' = x · rmsScale

    const dense: WeightTensor[] = [];
    const transposed: TransposedWeightTensor[] = [];
    for (let k = 0; k < copies; k++) {
      dense.push(await uploadMatrix(ctx, data, rows, cols, format));
      transposed.push(await uploadTransposed(ctx, data, rows, cols, format));
    }
    const denseOps = await Promise.all(dense.map((weights) => gemv.prepare(ctx, { weights, x, y: yDense, accumulate: true })));
    const checkOp = await gemv.prepare(ctx, { weights: dense[0]!, x: xMasked, y: yDense });
    await time((p) => { for (const op of denseOps) op.encode(p); }, quick ? 2 : 200); // clocks up, every page touched
    const denseUs = await time((p) => { for (const op of denseOps) op.encode(p); }, quick ? 2 : Math.ceil(400 / copies)) / copies;
    console.log(`# ${shape} ${label} dense gemv ${fmt(denseUs)} µs`);
    table.push([shape, label, '-', 'dense gemv', fmt(denseUs), fmt(bytes / (denseUs * 1e-6) / 1e9, 0), '1.00', '']);

    const scratches: GPUBuffer[] = [];
    const sparseOps = await prepareVariants(transposed, { x, tau, y: ySparse, normW }, scratches);
    device.queue.writeBuffer(tau, 0, new Float32Array(cols).fill(-1)); // dense: the warm-up reads every page of every Wᵀ copy
    await time((p) => { for (const op of sparseOps[0]!) op.encode(p); }, quick ? 2 : 200);

    const sorted = Float32Array.from(xs, Math.abs).sort();
    for (const s of sparsities) {
      const k = Math.round(s * cols); // channels to skip
      const t = k === 0 ? -1 : (sorted[k - 1]! + sorted[k]!) / 2;
      device.queue.writeBuffer(tau, 0, new Float32Array(cols).fill(t));
      const active = xs.reduce((n, v) => n + (Math.abs(v) > t ? 1 : 0), 0);
      if (cols - active !== k) throw new Error(`${shape} s=${s}: ${cols - active} channels skipped, wanted ${k}`);
      device.queue.writeBuffer(xMasked, 0, xs.map((v) => (Math.abs(v) > t ? v : 0)));
      runOnce(checkOp);
      const want = await readVector(yDense, rows);
      for (const [i, v] of variants.entries()) {
        const ops = sparseOps[i]!;
        device.queue.writeBuffer(tau, 0, new Float32Array(cols).fill(v.norm && k > 0 ? t * rmsScale : t));
        device.queue.writeBuffer(ySparse, 0, new Float32Array(rows)); // accumulate onto zeros
        runOnce(ops[0]!);
        const err = relError(await readVector(ySparse, rows), v.norm ? want.map((e) => e * rmsScale) : want);
        if (!(err < 1e-4)) throw new Error(`${shape} ${label} s=${s} ${v.name}: y differs from dense gemv on masked x (relative error ${err})`);
        const us = await time((p) => { for (const op of ops) op.encode(p); }, quick ? 2 : Math.ceil(400 / copies)) / copies;
        const speedup = denseUs / us;
        table.push([shape, label, fmt(s, 1), v.name, fmt(us), fmt(bytes * (1 - s) / (us * 1e-6) / 1e9, 0), fmt(speedup, 2), fmt(100 * speedup * (1 - s), 0)]);
        console.log(`# ${table.at(-1)!.join(' | ')}`); // as it comes, in case the run is cut short
      }
    }
    console.log(`# ${shape} ${label}: ${copies} copies; default kChunk ${sparseGemv.defaultKChunk(transposed[0]!)}`);
    for (const op of [...denseOps, checkOp, ...sparseOps.flat()]) op.destroy();
    for (const w of dense) destroyWeights(w);
    for (const w of transposed) destroyTransposed(w);
    for (const b of [x, xMasked, tau, yDense, ySparse, normW, ...scratches]) b.destroy();
  }
}

// [rows per lane group, lanes per row, workgroup size]: 32 lanes in workgroups of 128 (the default
// for ≥ 8192 rows), then more lane groups in flight (fewer rows each, wider workgroups).
const QGEMV_VARIANTS: [number, number, number][] = args.qgemv
  ? args.qgemv.split(';').map((v) => v.split(',').map(Number) as [number, number, number])
  : [[4, 32, 128], [2, 32, 128], [1, 32, 128], [2, 32, 256], [2, 64, 256], [4, 64, 256], [1, 64, 256], [2, 16, 128]];

const qgemvTotals = new Map<string, number>(); // variant → µs summed over the shapes

// Q4_0 kept quantized: dense qgemv (row-major blocks) against sparse_gemv over the input-channel-major
// codes, same random blocks. "GB/s read" counts the bytes each kernel reads: codes and scales (dense:
// 0.5 + 2/32 bytes a weight; sparse: the active channels' codes and the scales of their groups).
for (const format of formats.filter((f) => f === 'q4_0' || f === 'q8_0') as QuantFormat[]) {
  for (const [rows, cols] of shapes) {
    const shape = `${rows}×${cols}`;
    const codeBytes = format === 'q4_0' ? 0.5 : 1;
    const bytes = rows * cols * (codeBytes + 2 / 32);
    const copies = quick ? 2 : Math.max(2, Math.floor(600e6 / bytes) + 1);
    const src = randomQuantBlocks(format, rows, cols);
    const xs = Float32Array.from({ length: cols }, () => Math.random() * 2 - 1);
    const x = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    const tau = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    const y = device.createBuffer({ size: vectorBytes(rows), usage: storageUsage });
    const yCheck = device.createBuffer({ size: vectorBytes(rows), usage: storageUsage });
    const xMasked = device.createBuffer({ size: vectorBytes(cols), usage: storageUsage });
    device.queue.writeBuffer(x, 0, xs);
    // One upload of each layout, then copies made on the GPU (the JS repacking is the slow part).
    const clone = (b: GPUBuffer) => {
      const out = device.createBuffer({ size: b.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(b, 0, out, 0, b.size);
      device.queue.submit([enc.finish()]);
      return out;
    };
    const dense: QuantMatrix[] = [await uploadQuantMatrix(ctx, src)];
    const transposed: QuantTransposed[] = [await uploadQuantTransposedStack(ctx, [src])];
    for (let k = 1; k < copies; k++) {
      dense.push({ ...dense[0]!, shards: dense[0]!.shards.map((sh) => ({ ...sh, codes: clone(sh.codes), scales: clone(sh.scales) })) });
      transposed.push({ ...transposed[0]!, shards: transposed[0]!.shards.map((sh) => ({ ...sh, codes: clone(sh.codes), scales: clone(sh.scales) })) });
    }
    const label = format === 'q4_0' ? 'Q4_0' : 'Q8_0';
    // qgemv variants (rows per group of lanes R, lanes, workgroup size); the fastest one in this run
    // is the reference for the speed-ups.
    let denseOps: PreparedOp[] = [];
    let denseUs = Infinity;
    let best = '';
    for (const [r, lanes, wg] of QGEMV_VARIANTS) {
      const ops = await Promise.all(dense.map((weights) => qgemv.prepare(ctx, { weights, x, y, accumulate: true, rowsPerGroup: r, lanesPerRow: lanes, workgroupSize: wg })));
      await time((p) => { for (const op of ops) op.encode(p); }, quick ? 2 : 100);
      const us = await time((p) => { for (const op of ops) op.encode(p); }, quick ? 2 : Math.ceil(400 / copies)) / copies;
      const name = `qgemv R ${r} lanes ${lanes} wg ${wg}`;
      console.log(`# ${shape} ${label} ${name}: ${fmt(us)} µs, ${fmt(bytes / (us * 1e-6) / 1e9, 0)} GB/s`);
      table.push([shape, label, '-', name, fmt(us), fmt(bytes / (us * 1e-6) / 1e9, 0), '', '']);
      qgemvTotals.set(`${r},${lanes},${wg}`, (qgemvTotals.get(`${r},${lanes},${wg}`) ?? 0) + us);
      if (us < denseUs) { for (const op of denseOps) op.destroy(); denseOps = ops; denseUs = us; best = name; } else for (const op of ops) op.destroy();
    }
    const checkOp = await qgemv.prepare(ctx, { weights: dense[0]!, x: xMasked, y: yCheck });
    console.log(`# ${shape} ${label} fastest dense: ${best} ${fmt(denseUs)} µs, ${fmt(bytes / (denseUs * 1e-6) / 1e9, 0)} GB/s`);
    table.push([shape, label, '-', `fastest dense: ${best}`, fmt(denseUs), fmt(bytes / (denseUs * 1e-6) / 1e9, 0), '1.00', '']);
    const qScratches: GPUBuffer[] = [];
    const qSparseOps = await prepareVariants(transposed, { x, tau, y }, qScratches);
    device.queue.writeBuffer(tau, 0, new Float32Array(cols).fill(-1));
    await time((p) => { for (const op of qSparseOps[0]!) op.encode(p); }, quick ? 2 : 100);
    const sorted = Float32Array.from(xs, Math.abs).sort();
    for (const s of quick || args.levels ? sparsities : [0, 0.5, 0.6, 0.7, 0.8]) {
      const k = Math.round(s * cols);
      const t = k === 0 ? -1 : (sorted[k - 1]! + sorted[k]!) / 2;
      device.queue.writeBuffer(tau, 0, new Float32Array(cols).fill(t));
      device.queue.writeBuffer(xMasked, 0, xs.map((v) => (Math.abs(v) > t ? v : 0)));
      runOnce(checkOp);
      const want = await readVector(yCheck, rows);
      // Bytes read: active channels' codes, plus the scales of groups with an active channel.
      let groups = 0;
      for (let g = 0; g < cols / 32; g++) if (xs.subarray(32 * g, 32 * g + 32).some((v) => Math.abs(v) > t)) groups++;
      const read = (cols - k) * rows * codeBytes + groups * rows * 2;
      for (const [i, v] of variants.entries()) {
        const sparseOps = qSparseOps[i]!;
        device.queue.writeBuffer(y, 0, new Float32Array(rows));
        runOnce(sparseOps[0]!);
        const err = relError(await readVector(y, rows), want);
        if (!(err < 1e-4)) throw new Error(`${shape} ${label} s=${s} ${v.name}: sparse y differs from dense qgemv on masked x (relative error ${err})`);
        const us = await time((p) => { for (const op of sparseOps) op.encode(p); }, quick ? 2 : Math.ceil(400 / copies)) / copies;
        const speedup = denseUs / us;
        table.push([shape, label, fmt(s, 1), v.name, fmt(us), fmt(read / (us * 1e-6) / 1e9, 0), fmt(speedup, 2), fmt(100 * speedup * (1 - s), 0)]);
        console.log(`# ${table.at(-1)!.join(' | ')}`);
      }
    }
    for (const op of [...denseOps, checkOp, ...qSparseOps.flat()]) op.destroy();
    for (const w of [...dense, ...transposed]) destroyQuant(w);
    for (const b of [x, tau, y, yCheck, xMasked, ...qScratches]) b.destroy();
  }
}

if (qgemvTotals.size) {
  const [bestVariant] = [...qgemvTotals].sort((a, b) => a[1] - b[1])[0]!;
  console.log(`# best qgemv over the shapes (R,lanes,wg; bench-decode --qgemv): ${bestVariant}`);
}

const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
for (const [i, r] of table.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |`);
  if (i === 0) console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
}
process.exit(0);
