// The CPU decoding module (build/was-cpu*.wasm): raw exports over an imported memory whose layout
// src/cpu/ plans (weights, caches, activations, job descriptors), so that no call allocates and
// worker threads can share it. Static data must stay below `heapBase()` (checked by the loader).
export { gemvRange } from "./cpu/gemv";
export { attentionRange } from "./cpu/attention";
export { rmsnorm, headRmsnorm, rope, swiglu, addInPlace, argmax, selectActive, dequantizeRow } from "./cpu/ops";
export { runJob } from "./cpu/jobs";

/** First byte past the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}
