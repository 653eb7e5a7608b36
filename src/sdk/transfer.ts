// What comlink lacks at our worker boundary (STYLE lesson 5): thrown errors that keep their class,
// `name`, `code`, `cause` and own fields (comlink's own handler keeps only name, message and stack),
// and AbortSignals (not cloneable), carried as a MessagePort that delivers the abort.
// installTransferHandlers() is called by both ends (createEngine, exposeEngine) rather than at import,
// since the package is sideEffects-free and a bundler may drop an import kept only for its effects.

import { transferHandlers, type TransferHandler } from 'comlink';
import { ERROR_CLASSES as PACKAGE_ERRORS } from '../errors.js';

/** Every error class of the package by its stable name, and the built-ins: a thrown one comes back as itself. */
const ERROR_CLASSES: Record<string, new (...args: never[]) => Error> = {
  ...PACKAGE_ERRORS, Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

/** An error as it crosses: its class by name, the standard fields, and its own cloneable fields. */
export interface WireError {
  error: true;
  /** Class name, looked up in ERROR_CLASSES ('DOMException' is rebuilt as one). */
  ctor: string;
  name: string;
  message: string;
  stack?: string;
  cause?: WireThrown;
  /** Own enumerable fields other than the above (`code`, `option`, `reason`, …), primitives only. */
  fields: Record<string, string | number | boolean | null>;
}

/** Anything thrown: an error, or a value that is not one (sent as is when cloneable, else as text). */
export type WireThrown = WireError | { error: false; value: unknown };

const MAX_CAUSE_DEPTH = 8;

export function serializeThrown(value: unknown, depth = 0): WireThrown {
  if (!(value instanceof Error) && !isDOMException(value)) {
    const plain = value === null || ['string', 'number', 'boolean', 'undefined', 'bigint'].includes(typeof value);
    return { error: false, value: plain ? value : String(value) };
  }
  const e = value as Error & { cause?: unknown };
  const fields: WireError['fields'] = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'name' || k === 'message' || k === 'stack' || k === 'cause') continue;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) fields[k] = v as string | number | boolean | null;
  }
  // `code` may be a getter (DOMException) rather than an own field.
  const code = (e as { code?: unknown }).code;
  if (!('code' in fields) && typeof code === 'string') fields.code = code;
  // Our classes by their stable `name` (constructor names do not survive minification); built-ins by constructor.
  const ctor = isDOMException(value) ? 'DOMException'
    : Object.hasOwn(PACKAGE_ERRORS, e.name) && e instanceof PACKAGE_ERRORS[e.name as keyof typeof PACKAGE_ERRORS] ? e.name
      : e.constructor?.name ?? 'Error';
  const wire: WireError = { error: true, ctor, name: e.name, message: e.message, fields };
  if (typeof e.stack === 'string') wire.stack = e.stack;
  if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) wire.cause = serializeThrown(e.cause, depth + 1);
  return wire;
}

export function deserializeThrown(wire: WireThrown): unknown {
  if (!wire.error) return wire.value;
  const cause = wire.cause === undefined ? undefined : deserializeThrown(wire.cause);
  let e: Error;
  if (wire.ctor === 'DOMException' && typeof DOMException !== 'undefined') {
    e = new DOMException(wire.message, wire.name);
  } else {
    // A real Error object (stack, [[ErrorData]]) with the class's prototype, without running its
    // constructor (whose parameters differ from class to class).
    const ctor = Object.hasOwn(ERROR_CLASSES, wire.ctor) ? ERROR_CLASSES[wire.ctor]! : Error;
    e = Reflect.construct(Error, [wire.message], ctor) as Error;
    define(e, 'name', wire.name);
  }
  // DOMException's `code` is a read-only getter of its own: leave it.
  for (const [k, v] of Object.entries(wire.fields)) if (!(k === 'code' && isDOMException(e))) define(e, k, v);
  if (cause !== undefined) define(e, 'cause', cause);
  if (wire.stack !== undefined) define(e, 'stack', wire.stack);
  return e;
}

function define(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, writable: true, configurable: true, enumerable: key !== 'stack' && key !== 'cause' && key !== 'message' });
}

function isDOMException(v: unknown): v is DOMException {
  return typeof DOMException !== 'undefined' && v instanceof DOMException;
}

// ---------------------------------------------------------------------------------------------
// Handlers

/** comlink's wrapper around a thrown value: `{ value, [throwMarker]: 0 }`. */
type Thrown = { value: unknown };

export interface WireSignal {
  aborted: boolean;
  reason?: WireThrown;
  port: MessagePort;
}

/** The port behind each deserialised (worker side) or serialised (main side) signal, for release. */
const signalPorts = new WeakMap<AbortSignal, { port: MessagePort; detach?: () => void }>();

const abortSignalHandler: TransferHandler<AbortSignal, WireSignal> = {
  canHandle: (v): v is AbortSignal => typeof AbortSignal !== 'undefined' && v instanceof AbortSignal,
  serialize(signal) {
    const { port1, port2 } = new MessageChannel();
    if (signal.aborted) return [{ aborted: true, reason: serializeThrown(signal.reason), port: port2 }, [port2]];
    const onAbort = () => {
      port1.postMessage(serializeThrown(signal.reason));
      port1.close();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    signalPorts.set(signal, { port: port1, detach: () => signal.removeEventListener('abort', onAbort) });
    return [{ aborted: false, port: port2 }, [port2]];
  },
  deserialize({ aborted, reason, port }) {
    const controller = new AbortController();
    if (aborted) {
      controller.abort(deserializeThrown(reason!));
      port.close();
      return controller.signal;
    }
    port.addEventListener('message', (ev: MessageEvent<WireThrown>) => {
      controller.abort(deserializeThrown(ev.data));
      port.close();
    });
    port.start();
    signalPorts.set(controller.signal, { port });
    return controller.signal;
  },
};

/**
 * Closes the port a signal crossed with (either end), once the call it was passed to has settled:
 * a long-lived signal passed to many calls must not keep a port per call.
 */
export function releaseSignal(signal: AbortSignal | undefined): void {
  if (!signal) return;
  const entry = signalPorts.get(signal);
  if (!entry) return;
  signalPorts.delete(signal);
  entry.detach?.();
  entry.port.close();
}

let installed = false;

/** Registers the error and AbortSignal handlers with comlink (idempotent; both ends call it). */
export function installTransferHandlers(): void {
  if (installed) return;
  installed = true;
  const builtin = transferHandlers.get('throw')!;
  const throwHandler: TransferHandler<Thrown, WireThrown> = {
    canHandle: (v): v is Thrown => builtin.canHandle(v),
    serialize: ({ value }) => [serializeThrown(value), []],
    deserialize: (wire) => {
      throw deserializeThrown(wire);
    },
  };
  transferHandlers.set('throw', throwHandler as TransferHandler<unknown, unknown>);
  transferHandlers.set('abort-signal', abortSignalHandler as TransferHandler<unknown, unknown>);
}
