// The engine's worker thread in Node (dist/node-worker.js), started by createEngine() from
// `was-edge/node`: the same engine as the browser's, with file paths, file: URLs and dawn.node.

import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parentPort } from 'node:worker_threads';
// The extension is left to the resolver: TypeScript finds node-adapter.d.ts, rollup node-adapter.mjs.
import nodeEndpoint from 'comlink/dist/esm/node-adapter';
import { AbortError, ModelLoadError } from './errors.js';
import { nodeCpuOptions } from './cpu/node.js';
import { nodeGPU } from './gpu/node-gpu.js';
import { softwareVulkanOnly } from './gpu/vulkan-drivers.js';
import { loadWasmNode } from './wasm/node.js';
import type { PathOpener, PathReader } from './sdk/loader.js';
import { fileSource, sha256Source } from './node-file.js';
import { yielder } from './event-loop.js';
import { serveEngine } from './sdk/expose.js';

const CHUNK = 4 << 20;

/** Reads a file in 4 MiB chunks, reporting progress and stopping when `signal` aborts. */
const readPath: PathReader = async (path, report, signal) => {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw new ModelLoadError('FILE_NOT_READABLE', `cannot open ${path} (${(cause as Error).message}): check the path.`, { cause });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new ModelLoadError('FILE_NOT_READABLE', `${path} is not a file (a directory or a device): pass the path of a .gguf file.`);
    const size = stat.size;
    let out: Uint8Array;
    try {
      out = new Uint8Array(size);
    } catch (cause) {
      throw new ModelLoadError('FILE_TOO_LARGE', `${path} is ${(size / 2 ** 30).toFixed(1)} GiB, more than this process can hold in one buffer; use a smaller or more quantised model.`, { cause });
    }
    for (let at = 0; at < size;) {
      if (signal?.aborted) throw new AbortError(signal.reason, 'Loading');
      const { bytesRead } = await handle.read(out, at, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
      report(at, size);
    }
    return out;
  } finally {
    await handle.close();
  }
};

/**
 * Opens a model file to be read on demand and hashes it on the way (never whole in memory), reporting
 * progress and stopping when `signal` aborts.
 */
const openPath: PathOpener = async (path, report, signal) => {
  let file;
  try {
    file = fileSource(path);
  } catch (cause) {
    throw new ModelLoadError('FILE_NOT_READABLE', `cannot open ${path} (${(cause as Error).message}): check the path.`, { cause });
  }
  const turn = yielder();
  try {
    const sha256 = await sha256Source(file, async (done) => {
      report(done, file.size);
      await turn();
      if (signal?.aborted) throw new AbortError(signal.reason, 'Loading');
    });
    return { file, sha256 };
  } catch (e) {
    file.close();
    throw e;
  }
};

if (!parentPort) throw new Error('dist/node-worker.js runs as a worker thread: start it with createEngine() from was-edge/node');
const { threads, ...cpu } = nodeCpuOptions();
serveEngine(nodeEndpoint(parentPort), {
  readPath,
  openPath,
  readFileUrl: async (url) => {
    const path = fileURLToPath(url);
    try {
      return new Uint8Array(await readFile(path));
    } catch (cause) {
      throw new ModelLoadError('FILE_NOT_READABLE', `cannot read ${path} (${(cause as Error).message}): check the path.`, { cause });
    }
  },
  gpu: () => nodeGPU(),
  softwareOnly: () => softwareVulkanOnly(),
  cpu,
  threads,
  wasm: () => loadWasmNode('release'),
});
