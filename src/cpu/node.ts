// Node-only helpers of the CPU backend (exported from `was-edge/node`): the shipped Wasm read from
// disk (fetch() cannot read file: URLs in Node 20) and worker threads from node:worker_threads.

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { WasEdgeError } from '../errors.js';
import type { CpuBackendOptions } from './backend.js';
import type { ThreadSpawner } from './threads.js';
import { compileCpuWasm, cpuWasmUrl, type CpuWasmVariant } from './wasm.js';

const modules = new Map<CpuWasmVariant, Promise<WebAssembly.Module>>();

/** The shipped CPU module, read and compiled once per process. */
export function cpuWasmNode(variant: CpuWasmVariant = 'release'): Promise<WebAssembly.Module> {
  let m = modules.get(variant);
  if (!m) {
    const url = cpuWasmUrl(variant);
    m = readFile(url).then((b) => compileCpuWasm(new Uint8Array(b)), (cause: NodeJS.ErrnoException) => {
      throw new WasEdgeError(cause.code === 'ENOENT' ? 'WASM_NOT_FOUND' : 'WASM_LOAD_FAILED',
        `${fileURLToPath(url)} could not be read (${cause.message}): run \`npm run build\` first`, { cause });
    });
    modules.set(variant, m);
    m.catch(() => modules.delete(variant));
  }
  return m;
}

/** Worker threads that never keep the process alive on their own. */
export const nodeThreadSpawner: ThreadSpawner = (source) => {
  const worker = new Worker(source, { eval: true, name: 'was-edge-cpu-thread' });
  worker.unref();
  return {
    postMessage: (m) => worker.postMessage(m),
    terminate: () => worker.terminate(),
    listen(onMessage, onError) {
      worker.on('message', onMessage);
      worker.on('error', onError);
    },
  };
};

/**
 * CpuBackend options for Node: the shipped module (the -mt build when threaded), node:worker_threads,
 * and by default as many threads as the machine has cores.
 */
export function nodeCpuOptions(threads: number = availableParallelism()): Pick<CpuBackendOptions, 'wasm' | 'spawn' | 'threads'> {
  return { threads, spawn: nodeThreadSpawner, wasm: (threaded) => cpuWasmNode(threaded ? 'release-mt' : 'release') };
}
