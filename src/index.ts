// Browser-safe entry (`was-edge`): no Node built-ins here or below; Node helpers live in ./node.ts.
export * from './errors.js';
export { loadWasm, WasModule, type WasExports } from './wasm/module.js';
export { wasmUrl, type WasmVariant } from './wasm/location.js';
export { parseGGUF, tensorBytes, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './model/gguf.js';
export { llamaConfig, type LlamaConfig } from './model/config.js';
export { openModel, type Model } from './model/model.js';
export { loadWeightsF32, type LlamaWeights } from './model/weights.js';
export { Tokenizer, StreamDecoder } from './model/tokenizer.js';
export { dequantize, f16ToF32, f32ToF16, GGMLType } from './model/tensor.js';
export type { Backend } from './backend.js';
export { ReferenceBackend } from './reference/backend.js';
export { generate, normalizeGenerate, AbortError, type GenerateOptions, type GenerateResult } from './generate.js';
export { Sampler, normalizeSampling, type SamplingOptions } from './sampler.js';
export { perplexity, type PerplexityResult } from './eval.js';
export { acquireDevice, type GpuContext, type AcquireOptions } from './gpu/device.js';
export { WebGPUUnavailableError, GpuDeviceLostError, GpuOutOfMemoryError, KernelArgumentError } from './gpu/errors.js';
export { WebGPUBackend, type WebGPUBackendOptions, type GpuMemoryReport } from './gpu/engine.js';
export { CpuBackend, cpuMemoryBytes, WASM32_MAX_BYTES, type CpuBackendOptions } from './cpu/backend.js';
export { CpuMemoryError, CpuThreadError } from './cpu/errors.js';
export { cpuWasmUrl, type CpuWasmVariant } from './cpu/wasm.js';
export { webWorkerSpawner, type ThreadSpawner, type ThreadHandle } from './cpu/threads.js';
export { createEngine, type CreateEngineOptions } from './client.js';
export type {
  BackendChoice, BackendKind, CachedModel, CacheStoreKind, Engine, EngineOptions, GenerateOptions as EngineGenerateOptions, GenerationResult,
  GenerationStream, LoadOptions, LoadProgress, MessageEndpoint, ModelInfo, ModelSource, ScheduleInfo, ScheduleSelection,
} from './sdk/api.js';
export {
  parseSchedule, scheduleTau, scheduleLevel, defaultMethod, scheduleTargets, scheduleFromCalibration, formatSchedule, columnL1Norms, modelProjectionNorms,
  ScheduleError, type Schedule, type ScheduleLevel, type ScheduleModel, type ScheduleMethod, type ScheduleExpectation, type ScheduleSearch, type LossKind,
  type ScheduleValidation, type TargetValidation, type ValidationPoint,
} from './sparsity/schedule.js';
export { parseCalibration, buildTau, CalibrationError, type Calibration, type ProjectionNorms, type SparsityMode } from './sparsity/plan.js';
