// Browser-safe entry (`was-edge`): no Node built-ins here or below; Node helpers live in ./node.ts.
export * from './errors.js';
export { WasModule } from './wasm/module.js';
export { loadWasm } from './wasm/load.js';
export type { WasExports } from './wasm/exports.js';
export { wasmUrl, type WasmVariant } from './wasm/location.js';
export { parseGGUF, tensorBytes, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './model/gguf.js';
export { llamaConfig, type LlamaConfig } from './model/config.js';
export { openModel, type Model } from './model/model.js';
export { loadWeightsF32, type LlamaWeights } from './model/weights.js';
export { Tokenizer, type EncodeOptions } from './model/tokenizer.js';
export { StreamDecoder } from './model/stream-decoder.js';
export { dequantize, f16ToF32, f32ToF16, GGMLType } from './model/tensor.js';
export { densePrefix, PREFILL_MODES, type Backend, type BackendKind, type PrefillMode } from './backend.js';
export { ReferenceBackend } from './reference/backend.js';
export { generate, normalizeGenerate, type GenerateOptions, type GenerateResult } from './generate.js';
export { Sampler, normalizeSampling, type SamplingOptions } from './sampler.js';
export { perplexity, type PerplexityResult } from './eval.js';
export { acquireDevice, type GpuContext, type AcquireOptions } from './gpu/device.js';
export { WebGPUBackend, type WebGPUBackendOptions, type GpuMemoryReport } from './gpu/engine/backend.js';
export { CpuBackend, cpuMemoryBytes, WASM32_MAX_BYTES, type CpuBackendOptions } from './cpu/backend.js';
export { cpuWasmUrl, type CpuWasmVariant } from './cpu/wasm.js';
export { webWorkerSpawner, type ThreadSpawner, type ThreadHandle } from './cpu/threads.js';
export { createEngine, type CreateEngineOptions } from './client.js';
export type {
  ChatFinishReason, ChatFunction, ChatMessage, ChatOptions, ChatResult, ChatRole, ChatStream,
  CachedModel, CacheStoreKind, Engine, EngineOptions, GenerateOptions as EngineGenerateOptions, GenerationResult,
  GenerationStream, LoadOptions, LoadProgress, MessageEndpoint, ModelInfo, ModelSource, ScheduleInfo, ScheduleQuality,
  CalibrateOptions, CalibrateProgress, SearchScheduleOptions, ScheduleProgress, ScheduleSearchOptions, SearchProgress,
} from './sdk/api.js';
export { parseSchedule, scheduleTau, scheduleLevel, defaultMethod, scheduleTargets, scheduleFromCalibration, formatSchedule, type ScheduleValidation, type TargetValidation, type ValidationPoint, type Schedule, type ScheduleLevel, type ScheduleModel, type ScheduleMethod, type ScheduleExpectation, type ScheduleSearch, type LossKind } from './sparsity/schedule.js';
export { parseCalibration, buildTau, type Calibration, type SparsityMode } from './sparsity/plan.js';
export {
  PROJECTIONS, PROJECTION_TENSORS, projectionShapes, projectionNorms, columnL1Norms, type Projection, type Thresholds, type ProjectionNorms,
} from './model/projections.js';
export { resolveSchedule, type ScheduleSelection, type ScheduleLabel } from './sparsity/resolve.js';
export { createBackend, isSoftwareAdapter, type BackendChoice, type BackendPlatform, type CreateBackendOptions } from './create-backend.js';
export { BUILTIN_TEMPLATES, renderChat, type BuiltinTemplate } from './chat.js';
export type { ChatCompletion, ChatCompletionChunk, ChatCompletionParams, ChatCompletions, ChatCompletionUsage } from './sdk/openai.js';
export { generateTokens, type KvState } from './generate.js';
