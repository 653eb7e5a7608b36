// Errors of the CPU (Wasm) backend, each with a stable `code` and a message that says what to do.

import { WasEdgeError } from '../errors.js';

const GiB = 2 ** 30;
const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;

/**
 * The model does not fit Wasm32 memory (MODEL_TOO_LARGE_FOR_WASM, thrown before anything is
 * allocated), or the browser refused a memory of that size (WASM_MEMORY_UNAVAILABLE).
 */
export class CpuMemoryError extends WasEdgeError {
  /** Bytes the model needs in Wasm memory in the CPU layout (weights, KV cache, activations). */
  readonly neededBytes: number;
  /** The limit it was checked against. */
  readonly limitBytes: number;
  constructor(code: 'MODEL_TOO_LARGE_FOR_WASM' | 'WASM_MEMORY_UNAVAILABLE', need: { total: number; weights: number; kvCache: number; contextSize: number },
    limit: number, fits: { contextSize: number; q4Bytes: number }, cause?: unknown) {
    const what = `the model needs ${gib(need.total)} of Wasm memory in the CPU layout (weights ${gib(need.weights)}, ` +
      `KV cache ${gib(need.kvCache)} for ${need.contextSize} positions)`;
    const hint = [
      fits.contextSize >= 1 && fits.contextSize < need.contextSize ? `a contextSize of at most ${fits.contextSize}` : null,
      `a smaller or more quantised model (as Q4_0 this one would take about ${gib(fits.q4Bytes)} of weights)`,
      `the WebGPU backend`,
    ].filter(Boolean).join(', or ');
    super(code, code === 'MODEL_TOO_LARGE_FOR_WASM'
      ? `${what}, more than the ${gib(limit)} a Wasm32 memory can hold here (4 GiB at most; 2 GiB in some browsers). What fits: ${hint}.`
      : `${what}, and this browser could not reserve that much (its Wasm memory limit may be 2 GiB or less). Try ${hint}.`, { cause });
    this.neededBytes = need.total;
    this.limitBytes = limit;
  }
}

/** Worker threads of the CPU backend failed to start, stalled, or a job failed in one. */
export class CpuThreadError extends WasEdgeError {}
