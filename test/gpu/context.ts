// The GPU test context: one device per test file through dawn.node. Without an adapter, GPU suites
// are skipped with the reason in their name, unless WAS_EDGE_REQUIRE_GPU=1 (CI), where it is an error.
import { describe } from 'vitest';
import { acquireDevice, type AcquireOptions, type GpuContext } from '../../src/gpu/device.js';
import { nodeGPU } from '../../src/gpu/node-gpu.js';

export async function tryGpu(opts: Omit<AcquireOptions, 'gpu'> = {}): Promise<{ ctx?: GpuContext; reason?: string }> {
  try {
    const ctx = await acquireDevice({ ...opts, gpu: await nodeGPU() });
    ctx.device.addEventListener('uncapturederror', (e) => {
      console.error('uncaptured WebGPU error:', (e as GPUUncapturedErrorEvent).error.message);
    });
    return { ctx };
  } catch (e) {
    if (process.env.WAS_EDGE_REQUIRE_GPU === '1') throw e;
    return { reason: `no WebGPU adapter (${(e as Error).message.split(':')[0]}); run eval "$(bash scripts/setup-webgpu.sh)" first` };
  }
}

const probe = await tryGpu();

/** The device for this file; only touch it inside a `describeGpu` body. */
export const gpu = probe.ctx as GpuContext;

/** describe() that is skipped, with the reason in its name, when there is no adapter. */
export function describeGpu(name: string, fn: () => void): void {
  describe.skipIf(!probe.ctx)(probe.ctx ? name : `${name} [skipped: ${probe.reason}]`, fn);
}
