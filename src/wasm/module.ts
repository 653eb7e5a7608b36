// Typed wrapper over the raw AssemblyScript module (assembly/index.ts, built without bindings): the
// generated glue would copy typed arrays in and out on every call (STYLE lesson 8), so hot paths
// keep regions alive in Wasm memory and pass pointers; the copying methods are for one-off work.

import { WasEdgeError } from '../errors.js';

/** The raw exports of build/was*.wasm; pointers are wasm32 addresses (i32 on the wire). */
export interface WasExports {
  readonly memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  reset(): void;
  columnL1Norms(w: number, rows: number, cols: number, out: number): void;
}

const EXPORTS = ['memory', 'alloc', 'free', 'reset', 'columnL1Norms'] as const;

/**
 * Instantiates the Wasm module from its bytes or a URL (fetched; browsers, or Node for http(s)).
 * In Node, `loadWasmNode()` from `was-edge/node` finds and reads the shipped file for you.
 */
export async function loadWasm(bytes: BufferSource | URL): Promise<WasModule> {
  const source = bytes instanceof URL ? await fetchBytes(bytes) : bytes;
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      // AssemblyScript's abort(message, fileName, line, column): asserts in the debug build land here.
      abort(messagePtr: number, filePtr: number, line: number, column: number): never {
        const where = memory ? `${readAsString(memory, filePtr)}:${line}:${column}` : `${line}:${column}`;
        const message = memory ? readAsString(memory, messagePtr) : 'abort';
        throw new WasEdgeError('WASM_ABORT', `Wasm aborted: ${message} (${where})`);
      },
    },
  };
  let instance: WebAssembly.Instance;
  try {
    ({ instance } = await WebAssembly.instantiate(source, imports));
  } catch (cause) {
    throw new WasEdgeError(
      'WASM_LOAD_FAILED',
      'Could not instantiate the was-edge Wasm module: pass the bytes of build/was.wasm (or dist/was.wasm); ' +
        'it needs WebAssembly SIMD (Node 16.4+, Chrome 91+, Firefox 89+, Safari 16.4+)',
      { cause },
    );
  }
  const exports = instance.exports as Record<string, unknown>;
  const missing = EXPORTS.filter((name) => !(name in exports));
  if (missing.length > 0) {
    throw new WasEdgeError(
      'WASM_LOAD_FAILED',
      `The Wasm module lacks exports ${missing.join(', ')}: it is not a was-edge build, or an old one; rebuild with \`npm run build\``,
    );
  }
  const raw = exports as unknown as WasExports;
  memory = raw.memory;
  return new WasModule(raw);
}

async function fetchBytes(url: URL): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new WasEdgeError('WASM_LOAD_FAILED', `Could not fetch ${url.href}: check the URL (in Node, use loadWasmNode())`, {
      cause,
    });
  }
  if (!response.ok) {
    throw new WasEdgeError('WASM_LOAD_FAILED', `Fetching ${url.href} failed with HTTP ${response.status}: check the URL`);
  }
  return response.arrayBuffer();
}

/** An AssemblyScript string: UTF-16LE code units, byte length in the 4 bytes before `ptr`. */
function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  ptr >>>= 0;
  const size = memory.buffer.byteLength;
  if (ptr < 4 || ptr > size) return '?';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (ptr + bytes > size) return '?';
  return new TextDecoder('utf-16le').decode(new Uint8Array(memory.buffer, ptr, bytes));
}

/**
 * One instance of the Wasm module. Pointer-level methods (`alloc`, `f32View`, `…Into`) are for hot
 * paths that keep regions alive; array-level methods copy in and out once and free what they took.
 */
export class WasModule {
  readonly #raw: WasExports;
  /** Whole-memory view, re-made when memory grows (growth detaches the old ArrayBuffer). */
  #heapF32: Float32Array;

  constructor(raw: WasExports) {
    this.#raw = raw;
    this.#heapF32 = new Float32Array(raw.memory.buffer);
  }

  /** The module's linear memory; its `buffer` changes whenever memory grows. */
  get memory(): WebAssembly.Memory {
    return this.#raw.memory;
  }

  /**
   * A 16-byte-aligned region of `bytes` bytes. May grow memory: views made before this call may be
   * detached, so make them again with `f32View` afterwards.
   */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > 0xffff_0000) {
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `alloc: bytes must be an integer in [0, 2^32 - 2^16], got ${bytes}`);
    }
    return this.#raw.alloc(bytes) >>> 0; // >>> 0: addresses past 2 GiB come back as negative i32
  }

  /** Releases a region; the bump allocator reclaims it only if it is the most recent one (free LIFO). */
  free(ptr: number): void {
    this.#raw.free(ptr);
  }

  /** Drops every region at once: all pointers and views from earlier become invalid. */
  reset(): void {
    this.#raw.reset();
  }

  /** A Float32Array over `len` floats at `ptr`; valid until the next call that may grow memory. */
  f32View(ptr: number, len: number): Float32Array {
    if (ptr % 4 !== 0) {
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `f32View: ptr ${ptr} is not 4-byte aligned; use a pointer from alloc()`);
    }
    if (this.#heapF32.buffer !== this.#raw.memory.buffer) {
      this.#heapF32 = new Float32Array(this.#raw.memory.buffer);
    }
    const start = ptr / 4;
    if (!Number.isInteger(len) || len < 0 || start + len > this.#heapF32.length) {
      throw new WasEdgeError(
        'WASM_BAD_ARGUMENT',
        `f32View: [${ptr}, ${ptr + 4 * len}) is outside Wasm memory (${this.#heapF32.byteLength} bytes)`,
      );
    }
    return this.#heapF32.subarray(start, start + len);
  }

  /** ‖W[:,j]‖₁ for each column j of row-major W (rows, cols), both regions already in Wasm memory. */
  columnL1NormsInto(wPtr: number, rows: number, cols: number, outPtr: number): void {
    checkShape('columnL1Norms', rows, cols);
    this.#raw.columnL1Norms(wPtr, rows, cols, outPtr);
  }

  /** ‖W[:,j]‖₁ for each column j of row-major W (rows, cols): the weight half of the WAS score. */
  columnL1Norms(w: Float32Array, rows: number, cols: number): Float32Array {
    checkShape('columnL1Norms', rows, cols);
    if (w.length !== rows * cols) {
      throw new WasEdgeError(
        'SHAPE_MISMATCH',
        `columnL1Norms: W has ${w.length} elements but rows × cols = ${rows} × ${cols} = ${rows * cols}`,
      );
    }
    const wPtr = this.alloc(w.byteLength);
    const outPtr = this.alloc(cols * 4);
    try {
      this.f32View(wPtr, w.length).set(w);
      this.#raw.columnL1Norms(wPtr, rows, cols, outPtr);
      return this.f32View(outPtr, cols).slice();
    } finally {
      this.free(outPtr); // reverse order, so the bump allocator takes both back
      this.free(wPtr);
    }
  }
}

function checkShape(fn: string, rows: number, cols: number): void {
  for (const [name, value] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fff_ffff) {
      throw new WasEdgeError('SHAPE_MISMATCH', `${fn}: ${name} must be an integer in [0, 2^31), got ${value}`);
    }
  }
}
