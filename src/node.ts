// Node-only entry (`was-edge/node`): everything that needs Node built-ins lives behind it, so the
// browser bundle (src/index.ts) never imports them (STYLE lesson 11).
export { loadWasmNode } from './wasm/node.js';
export type { WasmVariant } from './wasm/location.js';
