// Instantiating the was-edge Wasm module (browsers, or Node through was-edge/node) and reading its
// strings (asserts of the debug build arrive as AssemblyScript strings).

import { WasEdgeError } from '../errors.js';
import { EXPORTS, type WasExports } from './exports.js';
import { WasModule } from './module.js';

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

/**
 * An AssemblyScript string: UTF-16LE code units, byte length in the 4 bytes before `ptr`. Copied out
 * first, as TextDecoder refuses views of a shared memory (the threaded CPU module's).
 */
export function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  ptr >>>= 0;
  const size = memory.buffer.byteLength;
  if (ptr < 4 || ptr > size) return '?';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (ptr + bytes > size) return '?';
  return new TextDecoder('utf-16le').decode(new Uint8Array(memory.buffer, ptr, bytes).slice());
}
