// Where the Wasm module lives: relative to this file, so the URL is right from the TS sources (vitest,
// tsc); rollup's `wasmAssets` plugin (rollup.config.mjs) emits each file into dist/ and rewrites the
// literal to point at that copy, so the same line is right in the bundle, browser or Node.

export type WasmVariant = 'debug' | 'release';

/** URL of the shipped Wasm module: `release` (optimised, no asserts) or `debug` (asserts, names). */
export function wasmUrl(variant: WasmVariant = 'release'): URL {
  // Keep the paths string literals: the plugin finds and rewrites them by pattern.
  return variant === 'debug'
    ? new URL('../../build/was-debug.wasm', import.meta.url)
    : new URL('../../build/was.wasm', import.meta.url);
}
