// The one place a backend is chosen and built, for the SDK's worker and the CLI alike. 'auto' takes
// WebGPU on a hardware adapter; with none, or a software one (SwiftShader, lavapipe/llvmpipe: slower
// than the Wasm CPU backend by 50× or more on the models people run here), the CPU backend.

import { BACKEND_KINDS, type Backend, type BackendKind, type PrefillMode } from './backend.js';
import { CpuBackend, type CpuBackendOptions } from './cpu/backend.js';
import { GpuOutOfMemoryError, OptionError, WebGPUUnavailableError } from './errors.js';
import { DEFAULT_KV_FORMAT } from './gpu/attention.js';
import { acquireDevice, type GpuContext } from './gpu/device.js';
import { WebGPUBackend } from './gpu/engine/backend.js';
import type { Model } from './model/model.js';
import { loadWeightsF32, type LlamaWeights } from './model/weights.js';
import { ReferenceBackend } from './reference/backend.js';

/** A backend, or 'auto': WebGPU on a hardware adapter, else the CPU. */
export type BackendChoice = 'auto' | BackendKind;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', ...BACKEND_KINDS];

/** What differs between a browser, a Node worker thread and the CLI. */
export interface BackendPlatform {
  /** The WebGPU entry point: `navigator.gpu` in browsers, dawn.node in Node. */
  gpu?: () => Promise<GPU | undefined>;
  /** CPU backend: its module and how worker threads start. */
  cpu?: Pick<CpuBackendOptions, 'wasm' | 'spawn'>;
  /**
   * The software drivers' names when they are all WebGPU could run on here, known without starting
   * it (Node: the Vulkan driver manifests), so that 'auto' need not start it (Dawn warns on stderr).
   */
  softwareOnly?: () => string | null;
}

export interface CreateBackendOptions {
  /** KV-cache positions (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** How prompts run while thresholds are set (default 'sparse'). */
  prefill?: PrefillMode;
  /** The WebGPU backend's KV-cache format (default 'f16': half the memory; see WebGPUBackendOptions). */
  kvCache?: 'f16' | 'f32';
  /** Worker threads of the CPU backend (default 1). */
  threads?: number;
  platform?: BackendPlatform;
  /** Told, in one line, why 'auto' chose what it chose. */
  onNote?: (note: string) => void;
  /** Reference backend: f32 weights already dequantised (else they are, here). */
  weights?: LlamaWeights;
  /**
   * GPU bytes the WebGPU backend may take (planned before allocating; see WebGPUBackendOptions). Over
   * it, 'webgpu' throws GpuOutOfMemoryError MODEL_TOO_LARGE_FOR_GPU and 'auto' takes the CPU backend.
   */
  gpuMemoryBudget?: number;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Adapter names of software rasterisers that report themselves as ordinary adapters. */
const SOFTWARE_ADAPTER = /swiftshader|lavapipe|llvmpipe|softpipe/i;

/** Whether WebGPU here is a CPU emulation (isFallbackAdapter, or a known software driver's name). */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  return info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

export function adapterName(info: GPUAdapterInfo): string {
  return info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'unknown adapter';
}

export async function createBackend(choice: BackendChoice, model: Model, o: CreateBackendOptions = {}): Promise<Backend> {
  if (!BACKEND_CHOICES.includes(choice)) throw new OptionError('backend', `must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(choice)}.`);
  const c = model.config;
  const contextSize = o.contextSize ?? Math.min(c.contextLength, 4096);
  if (!Number.isInteger(contextSize) || contextSize < 1 || contextSize > c.contextLength) {
    throw new OptionError('contextSize', `must be an integer in 1..${c.contextLength} (the model's context length), got ${String(contextSize)}.`);
  }
  const prefill = o.prefill ?? 'sparse';
  const cpu = () => CpuBackend.create(model, { contextSize, prefill, threads: o.threads ?? 1, ...o.platform?.cpu });
  const budget = o.gpuMemoryBudget;
  if (budget !== undefined && !(typeof budget === 'number' && budget > 0 && Number.isFinite(budget))) {
    throw new OptionError('gpuMemoryBudget', `must be a positive number of bytes, got ${String(budget)}.`);
  }
  const kvCache = o.kvCache ?? DEFAULT_KV_FORMAT;
  if (kvCache !== 'f16' && kvCache !== 'f32') throw new OptionError('kvCache', `must be 'f16' or 'f32', got ${JSON.stringify(kvCache)}.`);
  const webgpu = (gpu: GpuContext) => WebGPUBackend.create(gpu, model, { contextSize, prefill, kvCache, ownsDevice: true, ...(budget !== undefined ? { gpuMemoryBudget: budget } : {}) });
  switch (choice) {
    case 'reference':
      return new ReferenceBackend(c, o.weights ?? loadWeightsF32(model.file, c), contextSize, { prefill });
    case 'cpu':
      return cpu();
    case 'webgpu':
      return webgpu(await device(o.platform));
    case 'auto': {
      const software = o.platform?.softwareOnly?.();
      if (software) {
        o.onNote?.(`the only WebGPU adapter here would be a software one (${software}); using the CPU backend (backend 'webgpu' insists)`);
        return cpu();
      }
      let gpu: GpuContext;
      try {
        gpu = await device(o.platform);
      } catch (e) {
        if (!(e instanceof WebGPUUnavailableError)) throw e;
        o.onNote?.(`no WebGPU adapter (${e.message.split(/[:(]/)[0]!.trim()}); using the CPU backend`);
        return cpu();
      }
      if (isSoftwareAdapter(gpu.adapterInfo)) {
        gpu.device.destroy();
        o.onNote?.(`the WebGPU adapter is a software one (${adapterName(gpu.adapterInfo)}); using the CPU backend (backend 'webgpu' insists)`);
        return cpu();
      }
      const name = adapterName(gpu.adapterInfo);
      try {
        const backend = await webgpu(gpu); // on failure it has destroyed the device
        o.onNote?.(`WebGPU on ${name}`);
        return backend;
      } catch (e) {
        // Refused by the memory plan, before anything was allocated: the CPU backend may hold it.
        if (!(e instanceof GpuOutOfMemoryError && e.code === 'MODEL_TOO_LARGE_FOR_GPU')) throw e;
        const over = e.limitName === 'gpuMemoryBudget' ? `the gpuMemoryBudget of ${mib(e.limitBytes!)}` : `the adapter's ${e.limitName}`;
        o.onNote?.(`the model's GPU memory plan (${mib(e.neededBytes)}) is over ${over} on ${name}; using the CPU backend`);
        return cpu();
      }
    }
  }
}

async function device(platform?: BackendPlatform): Promise<GpuContext> {
  const gpu = await platform?.gpu?.();
  try {
    return await acquireDevice(gpu ? { gpu } : {});
  } catch (e) {
    if (!(e instanceof WebGPUUnavailableError)) throw e;
    throw new WebGPUUnavailableError(`${e.message}. Or pass { backend: 'cpu' } (WebAssembly; 'auto' picks it when WebGPU is missing) to createEngine() or load().`, { cause: e });
  }
}
