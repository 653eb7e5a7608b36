// Errors of the WebGPU layer. Each has a stable `code` (WasEdgeError) and a message that says what
// to do; the engine maps them to user-facing failures without parsing text.
import { WasEdgeError } from '../errors.js';

/** No `navigator.gpu`, or no adapter behind it. */
export class WebGPUUnavailableError extends WasEdgeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WEBGPU_UNAVAILABLE', message, options);
  }
}

/** The device was lost (driver reset, tab backgrounded too long, `destroy()` elsewhere). */
export class GpuDeviceLostError extends WasEdgeError {
  /** GPUDeviceLostReason: 'destroyed' or 'unknown'. */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('GPU_DEVICE_LOST', `the GPU device was lost (${reason}): ${message || 'no details'}; acquire a new device and reload the model`);
    this.reason = reason;
  }
}

/** An allocation failed inside an 'out-of-memory' error scope. */
export class GpuOutOfMemoryError extends WasEdgeError {
  constructor(what: string, bytes: number, cause?: unknown) {
    super('GPU_OUT_OF_MEMORY',
      `out of GPU memory allocating ${what} (${(bytes / 2 ** 20).toFixed(1)} MiB): use a smaller or more quantised model, or close other GPU work`,
      { cause });
  }
}

/** A kernel was prepared with arguments that do not fit (sizes, formats, buffer lengths). A bug in the caller. */
export class KernelArgumentError extends WasEdgeError {
  constructor(kernel: string, message: string) {
    super('KERNEL_ARGUMENT', `${kernel}: ${message}`);
  }
}
