// Constrained Bayesian optimisation (assembly/bo/ in Wasm): the driver, the GP workspace, the oracle.
export { ConstrainedBO, weightedMean } from './constrained.js';
export type { ConstrainedBOOptions, MinimizeOptions, Observation, SuggestionSource } from './constrained.js';
export { WasmGp } from './gp.js';
