// The Wasm module's whole export surface: raw exports, no generated bindings (src/wasm/module.ts
// wraps them and passes pointers, STYLE lesson 8).
export { alloc, free, reset } from "./memory";
export { columnL1Norms } from "./score/norms";
export { histogramSlots, histogramAccumulate, histogramQuantile, thresholdsToTau } from "./score/histogram";
export { gpCreate, gpSetData, gpFit, gpGrad, gpPredict, gpJitter } from "./bo/gp";
export { hyperCreate, hyperOptimize } from "./bo/hyper";
export { rngCreate } from "./bo/rng";
export { erfc, erfcx, logh, dlogh } from "./bo/special";
export {
  boCreate,
  boInputs,
  boSetup,
  boObserve,
  boSuggest,
  boBest,
  boSample,
  boProject,
  boPredict,
  boLogEI,
  boCount,
  boObservations,
  boValues,
  boTheta,
  boInfo,
} from "./bo/optimizer";
