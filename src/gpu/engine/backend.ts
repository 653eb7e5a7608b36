// The WebGPU backend: weights (upload.ts), run state (state.ts) and programs (program.ts) are made once
// at load; a token writes its position and id into the step buffers, records its program into one
// command encoder and submits once. Dense and sparse are one weight copy and two decode programs, chosen
// per submit by whether thresholds are set (setThresholds), so switching costs a τ upload.
import { densePrefix, type Backend, type PrefillMode } from '../../backend.js';
import type { LlamaConfig } from '../../model/config.js';
import type { Model } from '../../model/model.js';
import { INPUT_GROUPS, PROJECTION_GROUP, PROJECTIONS, projectionShapes, skippedFraction, type Thresholds } from '../../model/projections.js';
import { DEFAULT_KV_FORMAT, type KVFormat } from '../attention.js';
import { type GpuContext } from '../device.js';
import { GpuDeviceLostError, KernelArgumentError, OptionError } from '../../errors.js';
import type { PreparedOp } from '../pipeline.js';
import { writeStep, type Step } from '../step.js';
import { buildPrograms, type ProgramTuning, type Programs } from './program.js';
import { gpuLimits, planGpuMemory, type GpuMemoryPlan } from './plan.js';
import { createRunState, type GpuMemoryReport, type RunState } from './state.js';
import { ggufWeights, uploadWeights, type ModelWeights, type WeightFormatOption, type WeightSource } from './upload.js';

export type { GpuMemoryReport } from './state.js';
export type { GpuMemoryPlan } from './plan.js';
export type { WeightSource } from './upload.js';

export interface WebGPUBackendOptions {
  /** KV-cache positions (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** How prompts run while thresholds are set (default 'sparse'; see PrefillMode). */
  prefill?: PrefillMode;
  /**
   * KV-cache element format: 'f16' (default; half the memory, pairs packed in u32 with core WGSL's
   * pack2x16float, so any adapter) or 'f32'.
   */
  kvCache?: KVFormat;
  /**
   * Weight storage on the GPU: 'auto' (default) keeps F16 tensors packed f16 and Q8_0/Q4_0/Q4_K/Q5_K/Q6_K tensors
   * quantized, everything else f32; 'f32' or 'f16' store every matrix so (quantized ones dequantised).
   */
  weightFormat?: WeightFormatOption;
  /** dispose() also destroys the device (one acquired for this backend alone, as createBackend does). */
  ownsDevice?: boolean;
  /**
   * GPU bytes this model may take (weights, KV cache, activations and scratch, as planned before
   * anything is allocated); over it, a GpuOutOfMemoryError MODEL_TOO_LARGE_FOR_GPU. Default: no budget
   * (the adapter's buffer limits are checked all the same).
   */
  gpuMemoryBudget?: number;
}

/** fromSource's extras, for benchmarks. */
export interface SourceOptions extends WebGPUBackendOptions {
  /** Tokens per prefill submit (default 32). */
  prefillChunk?: number;
  tuning?: ProgramTuning;
}

/** What bench/ records of a backend (decodeRecorder): no production code path uses it. */
export interface DecodeRecorder {
  readonly ctx: GpuContext;
  /** The decode program that a token now runs (dense or sparse, by the thresholds set). */
  readonly ops: readonly PreparedOp[];
  /** Writes a one-token step at `pos` (token 0) and counts it for skippedWeightFraction. */
  writeStep(pos: number): void;
}
const recorders = new WeakMap<WebGPUBackend, () => DecodeRecorder>();

/** Benchmarks: the backend's decode program, to encode into passes of their own (bench/engine-timing.ts). */
export function decodeRecorder(b: WebGPUBackend): DecodeRecorder {
  return recorders.get(b)!();
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  /** How prompts run while thresholds are set. */
  prefill: PrefillMode;
  private thresholds: Thresholds | null = null;
  /** Tokens since the last skippedWeightFraction: sparse decode steps (in the counters), and dense-prefix ones. */
  private counted = { sparse: 0, dense: 0 };
  private lostError: GpuDeviceLostError | null = null;
  private disposed = false;

  private constructor(
    readonly config: LlamaConfig,
    readonly contextSize: number,
    readonly memory: GpuMemoryReport,
    /** The memory planned before anything was allocated (equal to `memory`: test/gpu/budget.test.ts). */
    readonly plan: GpuMemoryPlan,
    private readonly ctx: GpuContext,
    private readonly weights: ModelWeights,
    private readonly state: RunState,
    private readonly programs: Programs,
    private readonly prefillChunk: number,
    prefill: PrefillMode,
  ) {
    this.prefill = prefill;
    void ctx.lost.then((e) => { this.lostError = e ?? new GpuDeviceLostError('destroyed', 'the device was destroyed'); });
    recorders.set(this, () => ({
      ctx, ops: this.decodeOps(), writeStep: (pos) => { this.check([0], pos); this.write(state.decodeStep, [0], pos, this.decodeOps()); },
    }));
  }

  static async create(ctx: GpuContext, model: Model, opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
    try {
      const b = await WebGPUBackend.fromSource(ctx, ggufWeights(model), opts);
      b.ownsDevice = opts.ownsDevice === true;
      return b;
    } catch (e) {
      if (opts.ownsDevice) ctx.device.destroy();
      throw e;
    }
  }

  private ownsDevice = false;

  /** Builds the backend from any weight source (GGUF; benchmarks use synthetic weights). */
  static async fromSource(ctx: GpuContext, source: WeightSource, opts: SourceOptions = {}): Promise<WebGPUBackend> {
    const c = source.config;
    const contextSize = opts.contextSize ?? Math.min(c.contextLength, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 1 || contextSize > c.contextLength) {
      throw new KernelArgumentError('engine', `contextSize must be in 1..${c.contextLength}, got ${contextSize}`);
    }
    const budget = opts.gpuMemoryBudget;
    if (budget !== undefined && !(typeof budget === 'number' && budget > 0 && Number.isFinite(budget))) {
      throw new OptionError('gpuMemoryBudget', `must be a positive number of bytes, got ${String(budget)}.`);
    }
    const kvCache = opts.kvCache ?? DEFAULT_KV_FORMAT;
    if (kvCache !== 'f16' && kvCache !== 'f32') throw new OptionError('kvCache', `must be 'f16' or 'f32', got ${JSON.stringify(kvCache)}.`);
    const weightFormat = opts.weightFormat ?? 'auto';
    const plan = planGpuMemory(source, contextSize, gpuLimits(ctx, budget), { weightFormat, prefillChunk: opts.prefillChunk ?? 32, kvCache });
    const weights = await uploadWeights(ctx, source, weightFormat);
    let state: RunState | undefined;
    try {
      // Quantized blocks: prompts run token by token (gemm_t reads f32/f16), so one token of activations.
      const chunk = weights.quantized ? 1 : opts.prefillChunk ?? 32;
      state = await createRunState(ctx, c, weights, contextSize, chunk, kvCache);
      const programs = await buildPrograms(ctx, c, weights, state, opts.tuning);
      const scratch = [...programs.all].reduce((a, op) => a + (op.ownedBytes ?? 0), 0);
      const memory = { ...state.memory, activations: state.memory.activations + scratch, total: state.memory.total + scratch };
      return new WebGPUBackend(c, contextSize, memory, plan, ctx, weights, state, programs, chunk, opts.prefill ?? 'sparse');
    } catch (e) {
      state?.destroy();
      weights.destroy();
      throw e;
    }
  }

  /**
   * Sets the thresholds of a sparse run (per layer and projection τ over the input channels; a null or
   * missing entry runs that projection dense), or null: dense. Always allowed; takes effect from the next
   * token.
   */
  setThresholds(t: Thresholds | null): void {
    if (t) this.writeThresholds(t);
    this.thresholds = t;
  }

  private writeThresholds(t: Thresholds): void {
    const c = this.config;
    const cols = projectionShapes(c).map((s) => s.cols);
    const vec = (l: number, p: number) => {
      const v = t[l]?.[p] ?? null;
      if (v && v.length !== cols[p]) throw new KernelArgumentError('engine', `τ of layer ${l} projection ${PROJECTIONS[p]} has ${v.length} entries, expected ${cols[p]}`);
      return v ?? new Float32Array(cols[p]!).fill(-1);
    };
    for (let l = 0; l < c.nLayers; l++) {
      INPUT_GROUPS.forEach((_, g) => {
        const ps = PROJECTIONS.map((_, p) => p).filter((p) => PROJECTION_GROUP[p] === g);
        const out = new Float32Array(ps.reduce((n, p) => n + cols[p]!, 0));
        let at = 0;
        for (const p of ps) { out.set(vec(l, p), at); at += cols[p]!; }
        this.ctx.device.queue.writeBuffer(this.state.tau[l]![g]!, 0, out);
      });
    }
  }

  private decodeOps(): PreparedOp[] {
    return this.thresholds ? this.programs.decodeSparse : this.programs.decodeDense;
  }

  private check(tokens: readonly number[], pos: number): void {
    if (this.disposed) throw new KernelArgumentError('engine', 'the backend was disposed');
    if (this.lostError) throw this.lostError;
    if (pos < 0 || pos + tokens.length > this.contextSize) {
      throw new KernelArgumentError('engine', `positions ${pos}..${pos + tokens.length - 1} exceed the context of ${this.contextSize}`);
    }
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) {
        throw new KernelArgumentError('engine', `token id ${t} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
      }
    }
  }

  private write(step: Step, tokens: readonly number[], pos: number, ops: readonly PreparedOp[]): void {
    writeStep(this.ctx.device, step, pos, tokens);
    if (ops === this.programs.decodeSparse) this.counted.sparse += tokens.length;
  }

  /**
   * Records `ops` (then `extra`) for `tokens` at `pos` into one pass; `copy` bytes of `src` (from
   * `offset`) go to the readback buffer.
   */
  private submit(step: Step, ops: readonly PreparedOp[], tokens: readonly number[], pos: number,
    copy?: { src: GPUBuffer; bytes: number; offset?: number }, extra?: PreparedOp): void {
    this.write(step, tokens, pos, ops);
    const encoder = this.ctx.device.createCommandEncoder({ label: 'token' });
    const pass = encoder.beginComputePass({ label: 'forward' });
    for (const op of ops) op.encode(pass);
    extra?.encode(pass);
    pass.end();
    if (copy) encoder.copyBufferToBuffer(copy.src, copy.offset ?? 0, this.state.readback, 0, copy.bytes);
    this.ctx.device.queue.submit([encoder.finish()]);
  }

  /** Maps `buffer`; a lost device rejects with GpuDeviceLostError instead of hanging. */
  private async read(bytes: number, buffer = this.state.readback): Promise<ArrayBuffer> {
    const asLost = (e: GpuDeviceLostError | null) => e ?? new GpuDeviceLostError('destroyed', 'the device was destroyed');
    const lost = this.ctx.lost.then((e) => { throw asLost(e); });
    try {
      await Promise.race([buffer.mapAsync(GPUMapMode.READ, 0, bytes), lost]);
    } catch (e) {
      // A map aborted by the loss may reject before `lost` resolves: wait a moment for it.
      const cause = await Promise.race([this.ctx.lost.then(asLost), new Promise<null>((r) => setTimeout(() => r(null), 100))]);
      throw cause ?? e;
    }
    const out = buffer.getMappedRange(0, bytes).slice(0);
    buffer.unmap();
    return out;
  }

  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    this.check(tokens, pos);
    const V = this.config.vocabSize;
    const n = tokens.length;
    // Leading positions that run dense: all without thresholds, else the prefill mode's prefix.
    const dense = this.thresholds ? densePrefix(this.prefill, n) : n;
    if (this.thresholds) this.counted.dense += dense; // skipped nothing, as the reference counts them
    let last = new Float32Array(V);
    const chunked = n > 1 && this.programs.prefill !== null;
    for (let i = 0; i < n;) {
      if (chunked && i < dense) {
        const len = Math.min(this.prefillChunk, dense - i);
        const isLast = i + len === n;
        // Only the logits that someone reads cross the bus: all of them for evaluation, else the last row.
        const rows = onLogits ? len : isLast ? 1 : 0;
        const copy = rows ? { src: this.state.logits, bytes: rows * V * 4, offset: (len - rows) * V * 4 } : undefined;
        this.submit(this.state.prefillStep, this.programs.prefill!, tokens.slice(i, i + len), pos + i, copy);
        if (rows) {
          const all = new Float32Array(await this.read(rows * V * 4));
          if (onLogits) for (let k = 0; k < len; k++) onLogits(i + k, all.subarray(k * V, (k + 1) * V));
          if (isLast) last = all.slice((rows - 1) * V);
        }
        i += len;
        continue;
      }
      // One token through a decode program: dense in the prefix, else by the thresholds set.
      const wanted = !!onLogits || i === n - 1;
      const ops = i < dense ? this.programs.decodeDense : this.decodeOps();
      this.submit(this.state.decodeStep, ops, [tokens[i]!], pos + i, wanted ? { src: this.state.logits, bytes: V * 4 } : undefined);
      if (wanted) {
        last = new Float32Array(await this.read(V * 4));
        onLogits?.(i, last);
      }
      i++;
    }
    return last;
  }

  async feedArgmax(token: number, pos: number): Promise<number> {
    this.check([token], pos);
    this.submit(this.state.decodeStep, this.decodeOps(), [token], pos, { src: this.state.argmax, bytes: 4 }, this.programs.argmax);
    return new Uint32Array(await this.read(4))[0]!;
  }

  /**
   * The fraction of projection weights (q k v o gate up down, by parameter count) that the sparse decode
   * steps since the last call skipped, counted on the GPU; null when no thresholds are set or no token
   * ran. Resets the counters.
   */
  async skippedWeightFraction(): Promise<number | null> {
    if (this.disposed) return null;
    const { counters, countersReadback } = this.state;
    const enc = this.ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(counters, 0, countersReadback, 0, counters.size);
    enc.clearBuffer(counters);
    this.ctx.device.queue.submit([enc.finish()]);
    const { sparse, dense } = this.counted;
    this.counted = { sparse: 0, dense: 0 };
    const active = new Uint32Array(await this.read(counters.size, countersReadback));
    if (!this.thresholds || sparse + dense === 0) return null;
    // A dense token reads every input channel of every projection.
    const cols = projectionShapes(this.config).map((s) => s.cols);
    for (let i = 0; i < active.length; i++) active[i]! += dense * cols[i % PROJECTIONS.length]!;
    return skippedFraction(this.config, active, sparse + dense);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const op of this.programs.all) op.destroy();
    this.state.destroy();
    this.weights.destroy();
    if (this.ownsDevice) this.ctx.device.destroy();
  }
}
