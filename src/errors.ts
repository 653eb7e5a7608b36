// Every error class of the package lives here. Each has a stable `name` (set from ERROR_CLASSES below,
// not from the constructor's name, which a minifier renames) and `code`; both survive the worker
// boundary (src/sdk/transfer.ts) and let callers branch without parsing messages.

/** Base class: `code` is stable across releases; `message` says what to do. */
export class WasEdgeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.prototype.name; // the stable name of ERROR_CLASSES, as an own field
  }
}

/** A model file that is not a GGUF we can read: truncated, hostile, or of an unsupported kind. */
export class ModelFormatError extends WasEdgeError {}

/** An option outside its allowed range (sampling parameters, token limits, context sizes). */
export class OptionError extends WasEdgeError {
  /** The option's name as the caller spelled it, e.g. `topP`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super('OPTION_OUT_OF_RANGE', `${option}: ${message}`);
    this.option = option;
  }
}

/** A prompt (or evaluation chunk) that does not fit the model's context window. */
export class ContextOverflowError extends WasEdgeError {}

/** A model that could not be read: network or HTTP failure, integrity mismatch, a bad source. */
export class ModelLoadError extends WasEdgeError {}

/**
 * The engine (`createEngine()`) cannot take the call: no model loaded (NO_MODEL), disposed
 * (ENGINE_DISPOSED), or its worker failed (WORKER_FAILED).
 */
export class EngineError extends WasEdgeError {}

const GiB = 2 ** 30;
const gib = (b: number) => `${(b / GiB).toFixed(2)} GiB`;

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
  /** `then` says what the caller does next (the SDK's engine recovers by itself on its next call). */
  constructor(reason: string, message: string, options?: { then?: string; cause?: unknown }) {
    super('GPU_DEVICE_LOST', `the GPU device was lost (${reason}): ${message || 'no details'}; ${options?.then ?? 'acquire a new device and reload the model'}`,
      options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
  }
}

/**
 * The GPU device was lost and the engine could not make its backend again (no adapter any more, the
 * weights no longer fit): the model stays loaded, and the next call tries again.
 */
export class GpuRecoveryError extends WasEdgeError {
  /** The lost device's GPUDeviceLostReason. */
  readonly reason: string;
  constructor(reason: string, cause: unknown) {
    const why = (cause instanceof Error ? cause.message : String(cause)).split(/\. /)[0];
    super('GPU_RECOVERY_FAILED',
      `the GPU device was lost (${reason}) and a new one could not take the model (${why}): load the model again with { backend: 'cpu' } to go on without WebGPU, or call again to retry`,
      { cause });
    this.reason = reason;
  }
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** What the WebGPU backend's memory plan asked for, and the first budget or adapter limit it broke. */
export interface GpuMemoryRefusal {
  /** Planned GPU bytes by part, at `contextSize` positions. */
  need: { weights: number; kvCache: number; activations: number; total: number; contextSize: number };
  /**
   * 'gpuMemoryBudget': the total is over it; 'maxStorageBufferBindingSize' or 'maxBufferSize': the one
   * buffer `buffer` (bound whole, or a readback) that cannot be split is over that adapter limit.
   */
  limit: { name: 'gpuMemoryBudget' | 'maxStorageBufferBindingSize' | 'maxBufferSize'; bytes: number; buffer?: { label: string; bytes: number } };
  /** The largest contextSize whose plan fits (0: none; the weights alone do not). */
  fitsContextSize: number;
}

/**
 * An allocation failed inside an 'out-of-memory' error scope (GPU_OUT_OF_MEMORY), or the memory plan
 * of a model is over the `gpuMemoryBudget` or an adapter limit (MODEL_TOO_LARGE_FOR_GPU, thrown before
 * anything is allocated).
 */
export class GpuOutOfMemoryError extends WasEdgeError {
  /** Bytes asked for: of the failed buffer, or the plan's total. */
  readonly neededBytes: number;
  /** MODEL_TOO_LARGE_FOR_GPU: the budget or limit (in bytes) and its name; the largest contextSize that fits (0: none). */
  readonly limitBytes: number | null = null;
  readonly limitName: string | null = null;
  readonly fitsContextSize: number | null = null;
  constructor(what: string, bytes: number, cause?: unknown);
  constructor(refusal: GpuMemoryRefusal);
  constructor(what: string | GpuMemoryRefusal, bytes = 0, cause?: unknown) {
    if (typeof what === 'string') {
      super('GPU_OUT_OF_MEMORY',
        `out of GPU memory allocating ${what} (${(bytes / 2 ** 20).toFixed(1)} MiB): use a smaller or more quantised model, a smaller contextSize, or close other GPU work`,
        { cause });
      this.neededBytes = bytes;
      return;
    }
    const { need, limit, fitsContextSize: fits } = what;
    const plan = `the model's GPU memory plan at contextSize ${need.contextSize} is ${need.total} bytes (${mib(need.total)}: ` +
      `weights ${mib(need.weights)}, KV cache ${mib(need.kvCache)}, activations and scratch ${mib(need.activations)})`;
    const over = limit.buffer
      ? `its buffer ${limit.buffer.label} of ${limit.buffer.bytes} bytes (${mib(limit.buffer.bytes)}) cannot be split and is over the adapter's ${limit.name} of ${limit.bytes} bytes (${mib(limit.bytes)})`
      : `over the gpuMemoryBudget of ${limit.bytes} bytes (${mib(limit.bytes)})`;
    const hint = [
      fits >= 1 && fits < need.contextSize ? `a contextSize of at most ${fits}` : null,
      'a smaller or more quantised model (Q4_0, Q4_K_M)',
      `the CPU backend (backend: 'cpu')`,
    ].filter(Boolean).join(', or ');
    super('MODEL_TOO_LARGE_FOR_GPU', `${plan}; ${over}. Nothing was allocated. What fits: ${hint}.`);
    this.neededBytes = need.total;
    this.limitBytes = limit.bytes;
    this.limitName = limit.name;
    this.fitsContextSize = fits;
  }
}

/** A kernel was prepared with arguments that do not fit (sizes, formats, buffer lengths). A bug in the caller. */
export class KernelArgumentError extends WasEdgeError {
  constructor(kernel: string, message: string) {
    super('KERNEL_ARGUMENT', `${kernel}: ${message}`);
  }
}

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

export class AbortError extends WasEdgeError {
  /** `what` names the work that stopped, e.g. 'Loading' (default 'Generation'). */
  constructor(cause?: unknown, what = 'Generation') {
    super('ABORTED', `${what} was aborted by its AbortSignal.`, { cause });
  }
}

/** A runtime refusal of the optimiser (state full, a point off the set, a non-finite loss). */
export class BayesOptError extends WasEdgeError {}

/** A schedule that cannot be used: malformed, made for another model, or without the level asked for. */
export class ScheduleError extends WasEdgeError {}

export class CalibrationError extends WasEdgeError {}

export class ModelDownloadError extends WasEdgeError {}

/** A command line the CLI cannot run: unknown command or flag, a missing argument. */
export class UsageError extends WasEdgeError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * A file or folder that cannot be read or written. `code` is the system's (ENOENT, EISDIR, ENOTDIR,
 * ENAMETOOLONG, EACCES, ERR_FS_FILE_TOO_LARGE, …); `path` is the one asked for. Made by fileError().
 */
export class FileError extends WasEdgeError {
  readonly path: string;
  constructor(code: string, path: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.path = path;
  }
}

const FILE_PROBLEMS: Record<string, string> = {
  ENOENT: 'does not exist',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'goes through something that is not a folder',
  ENAMETOOLONG: 'is too long a name for this file system',
  EACCES: 'may not be accessed by this user',
  EPERM: 'may not be accessed by this user',
  ELOOP: 'is a loop of symbolic links',
  ERR_FS_FILE_TOO_LARGE: 'is larger than the 2 GiB Node reads at once',
};

/** A Node file-system failure on `path` as a FileError (anything else is returned as it is). */
export function fileError(cause: unknown, path: string, doing: 'read' | 'write' = 'read'): unknown {
  const code = (cause as { code?: unknown } | null)?.code;
  if (cause instanceof WasEdgeError || typeof code !== 'string' || !/^(E[A-Z]+|ERR_FS_\w+)$/.test(code)) return cause;
  const shown = path.length > 120 ? `${path.slice(0, 60)}…${path.slice(-40)} (${path.length} characters)` : path;
  const problem = FILE_PROBLEMS[code] ?? `cannot be ${doing === 'read' ? 'read' : 'written'} (${(cause as Error).message})`;
  return new FileError(code, path, `${shown} ${problem}: check the path.`, { cause });
}

/** Every class by its stable name: the worker boundary rebuilds errors from this table. */
export const ERROR_CLASSES = {
  WasEdgeError, ModelFormatError, OptionError, ContextOverflowError, ModelLoadError, EngineError, AbortError,
  WebGPUUnavailableError, GpuDeviceLostError, GpuRecoveryError, GpuOutOfMemoryError, KernelArgumentError, CpuMemoryError, CpuThreadError,
  BayesOptError, ScheduleError, CalibrationError, ModelDownloadError, UsageError, FileError,
} as const;
for (const [name, cls] of Object.entries(ERROR_CLASSES)) {
  Object.defineProperty(cls.prototype, 'name', { value: name, writable: true, configurable: true });
}
