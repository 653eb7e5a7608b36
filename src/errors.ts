// Every error the SDK throws on bad input is one of these: a stable `name` and `code` survive the
// worker boundary and let callers branch without parsing messages.

/** Base class: `code` is stable across releases; `message` says what to do. */
export class WasEdgeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
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
