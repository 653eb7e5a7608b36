// What every benchmark shares: timing a recorded pass, random weights, the printed table.
import type { GpuContext } from '../src/gpu/device.js';
import type { QuantFormat, QuantSource } from '../src/gpu/quant.js';
import type { WeightFormat } from '../src/gpu/weights.js';
import { f32ToF16 } from '../src/model/tensor.js';

/**
 * Best time per repetition of `encode` (one pass, one submit, `reps` repetitions), in µs: GPU time
 * of the pass from timestamp queries where the device has them (wall time otherwise, which adds
 * the submit and completion-callback latency). Trial 0 warms up; the best of the next 3 counts.
 */
export async function timePass(ctx: GpuContext, encode: (pass: GPUComputePassEncoder) => void, reps: number): Promise<number> {
  const { device } = ctx;
  const qs = ctx.features.timestamp ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  let best = Infinity;
  for (let trial = 0; trial < 4; trial++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass(qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    for (let r = 0; r < reps; r++) encode(pass);
    pass.end();
    if (qs) {
      enc.resolveQuerySet(qs, 0, 2, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, read, 0, 16);
    }
    const t = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    let ms = performance.now() - t;
    if (qs) {
      await read.mapAsync(GPUMapMode.READ);
      const [a, b] = new BigUint64Array(read.getMappedRange());
      ms = Number(b! - a!) / 1e6;
      read.unmap();
    }
    if (trial > 0) best = Math.min(best, ms / reps);
  }
  qs?.destroy();
  resolved.destroy();
  read.destroy();
  return best * 1e3;
}

/** Random weights: f32 in [−0.5, 0.5), or f16 bit patterns with |w| in [2^−3, 2^0). */
export function randomWeights(n: number, format: WeightFormat): Float32Array | Uint16Array {
  if (format === 'f32') return Float32Array.from({ length: n }, () => Math.random() - 0.5);
  return Uint16Array.from({ length: n }, () => 0x3000 + ((Math.random() * 0x0fff) | 0) + (Math.random() < 0.5 ? 0x8000 : 0));
}

/** Random GGUF Q8_0/Q4_0 blocks of a rows × cols matrix: f16 scales ±2^[−8, −4), random code bytes. */
export function randomQuantBlocks(format: QuantFormat, rows: number, cols: number): QuantSource {
  const B = format === 'q4_0' ? 18 : 34;
  const bytes = new Uint8Array(rows * (cols / 32) * B);
  for (let b = 0; b < bytes.length / B; b++) {
    const d = f32ToF16(2 ** (-8 + 4 * Math.random()) * (Math.random() < 0.5 ? -1 : 1));
    bytes[b * B] = d & 0xff;
    bytes[b * B + 1] = d >> 8;
    for (let i = 2; i < B; i++) bytes[b * B + i] = (Math.random() * 256) | 0;
  }
  return { format, bytes, rows, cols };
}
