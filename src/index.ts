// Browser-safe entry (`was-edge`): no Node built-ins here or below; Node helpers live in ./node.ts.
export * from './errors.js';
export { loadWasm, WasModule, type WasExports } from './wasm/module.js';
export { wasmUrl, type WasmVariant } from './wasm/location.js';
