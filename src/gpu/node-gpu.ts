// WebGPU for Node through Dawn (npm `webgpu`, dawn.node). Node-only: reach it from src/node.ts, never
// from the browser entry.

import { WebGPUUnavailableError } from '../errors.js';
import { missingVulkanDriver } from './vulkan-drivers.js';

const INSTANCE = Symbol.for('was-edge.dawn-gpu');
type Holder = { [INSTANCE]?: Promise<GPU> };

/**
 * The process-wide GPU object of dawn.node, created once. It is kept on globalThis for the life of
 * the process: if Dawn's instance is garbage-collected, the process dies (`std::system_error`) or hangs.
 * Also installs Dawn's WebGPU globals (GPUBufferUsage, GPUShaderStage, …) on globalThis.
 */
export function nodeGPU(): Promise<GPU> {
  const holder = globalThis as Holder;
  const noDriver = holder[INSTANCE] ? null : missingVulkanDriver();
  if (noDriver) {
    return Promise.reject(new WebGPUUnavailableError(
      `${noDriver}: WebGPU in Node (Dawn) runs on Vulkan; install your GPU's Vulkan driver, or Mesa's lavapipe for a CPU one`));
  }
  holder[INSTANCE] ??= (async () => {
    let mod: typeof import('webgpu');
    try {
      mod = await import('webgpu');
    } catch (cause) {
      delete holder[INSTANCE]; // let a later call retry once the package is installed
      throw new WebGPUUnavailableError(
        'WebGPU for Node needs the npm package `webgpu` (Dawn): npm i webgpu@0.6.2', { cause });
    }
    Object.assign(globalThis, mod.globals);
    return mod.create([]);
  })();
  return holder[INSTANCE];
}
