// Helpers for kernel tests: a seeded generator (seed printed in every failure), buffers in and out,
// and the error measure the assertions print.
import { f16ToF32, f32ToF16 } from '../../src/model/tensor.js';
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/device.js';
import type { PreparedOp } from '../../src/gpu/pipeline.js';
import { vectorBytes } from '../../src/gpu/pipeline.js';

/** A fresh seed per run (Date.now()), overridable with WAS_EDGE_SEED to replay a failure. */
export const SEED = Number(process.env.WAS_EDGE_SEED ?? Date.now()) >>> 0;

export { mulberry32 as rng } from '../helpers/random.js';

/** n values uniform in [-scale, scale). */
export function randomArray(next: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (next() * 2 - 1) * scale;
  return a;
}

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A storage buffer (padded to 16 bytes) holding `data`, or zeros of `data` f32 elements. */
export function storage(ctx: GpuContext, data: Float32Array | Uint32Array | number, label = 'test'): GPUBuffer {
  const n = typeof data === 'number' ? data : data.length;
  const buffer = ctx.device.createBuffer({ label, size: vectorBytes(n), usage: STORAGE });
  if (typeof data !== 'number') ctx.device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  return buffer;
}

export async function readBuffer(ctx: GpuContext, buffer: GPUBuffer, n: number, offset = 0): Promise<Float32Array> {
  const { device } = ctx;
  const size = Math.ceil((n * 4) / 4) * 4;
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, offset * 4, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

export async function readU32(ctx: GpuContext, buffer: GPUBuffer, n: number): Promise<Uint32Array> {
  return new Uint32Array((await readBuffer(ctx, buffer, n)).buffer);
}

/** Records the ops into one compute pass and submits once, as the engine does per token. */
export async function run(ctx: GpuContext, ...ops: PreparedOp[]): Promise<void> {
  const { device } = ctx;
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const op of ops) op.encode(pass);
  pass.end();
  device.queue.submit([enc.finish()]);
  const error = await device.popErrorScope();
  if (error) throw new Error(`WebGPU validation: ${error.message}`);
  await device.queue.onSubmittedWorkDone();
}

/**
 * max_i |a_i − e_i| / (|e_i| + rms(e)): relative where values are large, and measured against the
 * vector's own scale where a value is near zero by cancellation. With `scale` (e.g. Σ_j |W_ij·x_j|
 * of a dot product, the size its rounding error is proportional to), the denominator is at least
 * scale_i: a single output that cancels is judged by its terms, not by its tiny sum.
 */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>, scale?: ArrayLike<number>): number {
  let ss = 0;
  for (let i = 0; i < expected.length; i++) ss += expected[i]! * expected[i]!;
  const rms = Math.sqrt(ss / Math.max(expected.length, 1)) || 1e-30;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e) / Math.max(Math.abs(e) + rms, scale?.[i] ?? 0);
    if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : err;
  }
  return worst;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5, scale?: ArrayLike<number>): void {
  expect(actual.length, `${what}: length`).toBeGreaterThanOrEqual(expected.length);
  const err = maxRelError(actual, expected, scale);
  expect(err, `${what}: max relative error ${err.toExponential(2)} > ${tol} (seed ${SEED}; replay with WAS_EDGE_SEED=${SEED})`).toBeLessThanOrEqual(tol);
}

// f16 conversions: src/model/tensor.ts's (round to nearest even, as WGSL's pack2x16float).

/** x rounded to f16 and back. */
export function f16Round(a: Float32Array): Float32Array {
  return a.map((x) => f16ToF32(f32ToF16(x)));
}

/** Elements (2j, 2j+1) of a as one u32 of f16s each (the f16 KV cache's layout: low half = 2j). */
export function packF16(a: Float32Array): Uint32Array {
  return Uint32Array.from({ length: a.length / 2 }, (_, j) => (f32ToF16(a[2 * j]!) | (f32ToF16(a[2 * j + 1]!) << 16)) >>> 0);
}

/** The inverse of packF16. */
export function unpackF16(u: Uint32Array): Float32Array {
  const out = new Float32Array(2 * u.length);
  u.forEach((w, j) => { out[2 * j] = f16ToF32(w & 0xffff); out[2 * j + 1] = f16ToF32(w >>> 16); });
  return out;
}
