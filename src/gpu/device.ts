// One GPUDevice per model, with the adapter's largest buffer limits (weights are big) and the optional
// features the kernels can use. Everything about the device the kernels need is in GpuContext.

import { GpuDeviceLostError, GpuOutOfMemoryError, WebGPUUnavailableError } from '../errors.js';

export interface GpuFeatures {
  /** `shader-f16`: native f16 arithmetic in WGSL (`enable f16;`). */
  f16: boolean;
  subgroups: boolean;
  /** `timestamp-query`, for benchmarks. */
  timestamp: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  features: GpuFeatures;
  /** Largest storage-buffer binding, in bytes (a multiple of 16): weight shards are at most this. */
  maxBindingSize: number;
  limits: GPUSupportedLimits;
  /** Resolves when the device is lost: with an error, or with null after our own `destroy()`. */
  lost: Promise<GpuDeviceLostError | null>;
}

export interface AcquireOptions {
  /** The GPU object: `navigator.gpu` by default; in Node, `await nodeGPU()`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Limits beyond the ones requested by default (each is capped by what the adapter offers). */
  requiredLimits?: Record<string, number>;
  /** Pretend storage bindings are at most this many bytes (tests use it to force weight sharding). */
  forceMaxBindingSize?: number;
  /** Do not request `shader-f16` even if the adapter has it (tests the unpack2x16float path). */
  disableF16?: boolean;
}

// Raised to the adapter's maximum: weights want big bindings, kernels want big workgroups.
const MAXED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function acquireDevice(opts: AcquireOptions = {}): Promise<GpuContext> {
  const gpu = opts.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGPUUnavailableError(
      'WebGPU is not available here (no navigator.gpu): use a browser with WebGPU (Chrome/Edge 113+, ' +
      'Safari 26, Firefox 141+ on Windows), serve the page from https or localhost, or in Node pass ' +
      '{ gpu: await nodeGPU() } from was-edge/node');
  }
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU found no GPU adapter: enable hardware acceleration in the browser (chrome://gpu), update the ' +
      "GPU driver, or in Node on Linux install the GPU's Vulkan driver (without a GPU: Mesa's lavapipe, " +
      'package mesa-vulkan-drivers, version 23 or later)');
  }

  const requiredLimits: Record<string, number> = {};
  const adapterLimits = adapter.limits as unknown as Record<string, number>;
  for (const name of MAXED_LIMITS) requiredLimits[name] = adapterLimits[name]!;
  for (const [name, value] of Object.entries(opts.requiredLimits ?? {})) {
    const offered = adapterLimits[name];
    if (offered === undefined) continue;
    // "min*" limits are better when smaller, all others when larger.
    requiredLimits[name] = name.startsWith('min') ? Math.max(value, offered) : Math.min(value, offered);
  }

  const features: GPUFeatureName[] = [];
  const has = (f: string) => adapter.features.has(f);
  const f16 = has('shader-f16') && !opts.disableF16;
  if (f16) features.push('shader-f16');
  if (has('subgroups')) features.push('subgroups' as GPUFeatureName);
  if (has('timestamp-query')) features.push('timestamp-query');

  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits, label: 'was-edge' });
  } catch (cause) {
    throw new WebGPUUnavailableError(`the GPU adapter refused a device: ${String(cause)}; update the GPU driver or browser`, { cause });
  }

  const lost = device.lost.then((info) =>
    info.reason === 'destroyed' ? null : new GpuDeviceLostError(info.reason, info.message));
  let maxBindingSize = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (opts.forceMaxBindingSize !== undefined) maxBindingSize = Math.min(maxBindingSize, opts.forceMaxBindingSize);
  maxBindingSize -= maxBindingSize % 16;

  return {
    device,
    adapterInfo: adapter.info,
    features: { f16, subgroups: device.features.has('subgroups'), timestamp: device.features.has('timestamp-query') },
    maxBindingSize,
    limits: device.limits,
    lost,
  };
}

/**
 * Creates a buffer inside an 'out-of-memory' error scope, so that a failed allocation is a
 * GpuOutOfMemoryError here rather than an uncaptured error later.
 */
export async function createBufferChecked(device: GPUDevice, desc: GPUBufferDescriptor): Promise<GPUBuffer> {
  device.pushErrorScope('out-of-memory');
  let buffer: GPUBuffer | undefined;
  let thrown: unknown;
  try {
    buffer = device.createBuffer(desc);
  } catch (e) {
    thrown = e; // mappedAtCreation of an impossible size throws a RangeError synchronously
  }
  const error = await device.popErrorScope();
  if (error || thrown !== undefined) {
    buffer?.destroy();
    throw new GpuOutOfMemoryError(desc.label ?? 'a buffer', desc.size, error ?? thrown);
  }
  return buffer!;
}
