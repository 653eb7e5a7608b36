// The Wasm module's whole export surface: raw exports, no generated bindings (src/wasm/module.ts
// wraps them and passes pointers, STYLE lesson 8).
export { alloc, free, reset } from "./memory";
export { columnL1Norms } from "./score/norms";
export { histogramSlots, histogramAccumulate, histogramQuantile, thresholdsToTau } from "./score/histogram";
