// Timing a WebGPU backend's decode step, from outside it: the backend hands its current decode program
// to benchmarks through decodeRecorder (src/gpu/engine/backend.ts); these record it into passes of
// their own, with timestamp queries where the device has them.
import { decodeRecorder, type WebGPUBackend } from '../src/gpu/engine/backend.js';

/**
 * One decode step at `pos`, `n` steps submitted back to back (no readback). Returns mean wall
 * milliseconds per step (CPU recording included) and, with timestamp queries, the mean GPU time of the
 * step's compute pass. `only` keeps the dispatches whose label it accepts (e.g. just the GEMVs).
 */
export async function timeDecode(b: WebGPUBackend, n: number, pos = 0, only?: (label: string) => boolean): Promise<{ wallMs: number; gpuMs: number | null }> {
  const rec = decodeRecorder(b);
  const { device } = rec.ctx;
  const ops = only ? rec.ops.filter((op) => only(op.label)) : rec.ops;
  const step = (timestampWrites?: GPUComputePassTimestampWrites) => {
    rec.writeStep(pos);
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : {});
    for (const op of ops) op.encode(pass);
    pass.end();
    device.queue.submit([encoder.finish()]);
  };
  step(); // warm-up
  await device.queue.onSubmittedWorkDone();
  const querySet = rec.ctx.features.timestamp ? device.createQuerySet({ type: 'timestamp', count: 2 * n }) : null;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) step(querySet ? { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } : undefined);
  await device.queue.onSubmittedWorkDone();
  const wallMs = (performance.now() - t0) / n;
  if (!querySet) return { wallMs, gpuMs: null };
  const ts = await readTimestamps(device, querySet);
  let ns = 0;
  for (let i = 0; i < n; i++) ns += Number(ts[2 * i + 1]! - ts[2 * i]!);
  return { wallMs, gpuMs: ns / n / 1e6 };
}

/**
 * GPU milliseconds per decode step by kind of dispatch (label without the layer prefix), each op timed
 * in its own compute pass with timestamp queries; null without them.
 */
export async function profileDecode(b: WebGPUBackend, n: number, pos = 0): Promise<Map<string, number> | null> {
  const rec = decodeRecorder(b);
  if (!rec.ctx.features.timestamp) return null;
  const { device } = rec.ctx;
  const { ops } = rec;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * ops.length * n });
  for (let i = 0; i < n; i++) {
    rec.writeStep(pos);
    const encoder = device.createCommandEncoder();
    ops.forEach((op, j) => {
      const at = 2 * (i * ops.length + j);
      const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: at, endOfPassWriteIndex: at + 1 } });
      op.encode(pass);
      pass.end();
    });
    device.queue.submit([encoder.finish()]);
  }
  const ts = await readTimestamps(device, querySet);
  const byKind = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    ops.forEach((op, j) => {
      const at = 2 * (i * ops.length + j);
      const kind = op.label.replace(/^L\d+\./, '');
      byKind.set(kind, (byKind.get(kind) ?? 0) + Number(ts[at + 1]! - ts[at]!) / 1e6 / n);
    });
  }
  return byKind;
}

/** Resolves every timestamp of `querySet` (nanoseconds) and destroys it. */
async function readTimestamps(device: GPUDevice, querySet: GPUQuerySet): Promise<BigUint64Array> {
  const bytes = 8 * querySet.count;
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.resolveQuerySet(querySet, 0, querySet.count, resolved, 0);
  enc.copyBufferToBuffer(resolved, 0, read, 0, bytes);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const ts = new BigUint64Array(read.getMappedRange().slice(0));
  read.destroy();
  resolved.destroy();
  querySet.destroy();
  return ts;
}
