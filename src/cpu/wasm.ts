// The CPU decoding module (assembly/cpu.ts): where it lives, its raw exports, and instantiation over
// a memory the caller made (src/cpu/plan.ts sizes it). Raw exports and pointers only (STYLE lesson
// 8): nothing is copied per call.

import { WasEdgeError } from '../errors.js';
import { readAsString } from '../wasm/load.js';

/** `release` (optimised, no asserts), `debug` (asserts on, for tests), `release-mt` (shared memory, threads). */
export type CpuWasmVariant = 'release' | 'debug' | 'release-mt';

/** URL of a build of the CPU module, relative to this file (rollup's wasmAssets rewrites the literals). */
export function cpuWasmUrl(variant: CpuWasmVariant = 'release'): URL {
  // Keep the paths string literals: the plugin finds and rewrites them by pattern.
  switch (variant) {
    case 'debug': return new URL('../../build/was-cpu-debug.wasm', import.meta.url);
    case 'release-mt': return new URL('../../build/was-cpu-mt.wasm', import.meta.url);
    default: return new URL('../../build/was-cpu.wasm', import.meta.url);
  }
}

/** The raw exports; pointers are byte offsets into the imported memory (i32 on the wire). */
export interface CpuExports {
  heapBase(): number;
  gemvRange(fmt: number, w: number, scales: number, np: number, x: number, idx: number, nActive: number, out: number,
    o0: number, o1: number, tmp: number): void;
  attentionRange(q: number, kc: number, vc: number, out: number, pos: number, nHeads: number, nKV: number, headDim: number,
    scores: number, h0: number, h1: number): void;
  rmsnorm(out: number, x: number, w: number, n: number, eps: number): void;
  headRmsnorm(vec: number, nHeads: number, headDim: number, w: number, eps: number): void;
  /** neox: 1 for NEOX pairs (i, i + ropeDim/2), 0 for adjacent pairs; table: (ropeDim/2, 2) f64 cos, sin. */
  rope(vec: number, nHeads: number, headDim: number, ropeDim: number, neox: number, table: number): void;
  swiglu(out: number, gate: number, up: number, n: number): void;
  addInPlace(x: number, y: number, n: number): void;
  argmax(x: number, n: number): number;
  selectActive(x: number, tau: number, n: number, idx: number): number;
  dequantizeRow(out: number, src: number, type: number, row: number, dim: number): number;
  runJob(job: number, i: number, n: number): number;
}

const EXPORTS: (keyof CpuExports)[] = [
  'heapBase', 'gemvRange', 'attentionRange', 'rmsnorm', 'headRmsnorm', 'rope', 'swiglu', 'addInPlace', 'argmax', 'selectActive',
  'dequantizeRow', 'runJob',
];

/** Where static data must end: the planned layout starts at this byte (page 0 is the module's). */
export const HEAP_START = 65536;

/** Compiles the module from its bytes, a URL (fetched), or passes a compiled module through. */
export async function compileCpuWasm(source: WebAssembly.Module | BufferSource | URL): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  let bytes: BufferSource;
  if (source instanceof URL) {
    let response: Response;
    try {
      response = await fetch(source);
    } catch (cause) {
      throw new WasEdgeError('WASM_LOAD_FAILED', `Could not fetch ${source.href}: check the URL (in Node, pass the bytes: cpuWasmNode() from was-edge/node)`, { cause });
    }
    if (!response.ok) throw new WasEdgeError('WASM_LOAD_FAILED', `Fetching ${source.href} failed with HTTP ${response.status}: check the URL`);
    bytes = await response.arrayBuffer();
  } else bytes = source;
  try {
    return await WebAssembly.compile(bytes);
  } catch (cause) {
    throw new WasEdgeError('WASM_LOAD_FAILED',
      'Could not compile the was-edge CPU module (build/was-cpu*.wasm): it needs WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+, Node 16.4+)', { cause });
  }
}

/** Instantiates `module` over `memory` (shared for the -mt build) and checks its exports and static data. */
export async function instantiateCpu(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<CpuExports> {
  const imports = {
    env: {
      memory,
      // AssemblyScript's abort(message, file, line, column): asserts of the debug build land here.
      abort(messagePtr: number, filePtr: number, line: number, column: number): never {
        throw new WasEdgeError('WASM_ABORT', `Wasm aborted: ${readAsString(memory, messagePtr)} (${readAsString(memory, filePtr)}:${line}:${column})`);
      },
    },
  };
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(module, imports);
  } catch (cause) {
    throw new WasEdgeError('WASM_LOAD_FAILED',
      'Could not instantiate the was-edge CPU module: a shared memory needs build/was-cpu-mt.wasm, a plain one build/was-cpu.wasm', { cause });
  }
  const raw = instance.exports as Record<string, unknown>;
  const missing = EXPORTS.filter((name) => typeof raw[name] !== 'function');
  if (missing.length > 0) {
    throw new WasEdgeError('WASM_LOAD_FAILED', `The CPU module lacks exports ${missing.join(', ')}: rebuild it with \`npm run build\``);
  }
  const exports = raw as unknown as CpuExports;
  if (exports.heapBase() >>> 0 > HEAP_START) {
    throw new WasEdgeError('WASM_LOAD_FAILED', `The CPU module's static data end at ${exports.heapBase()}, past ${HEAP_START}: a build error`);
  }
  return exports;
}
