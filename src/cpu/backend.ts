// The CPU backend: the llama-family forward pass (llama, qwen2, qwen3: src/reference/llama.ts) in
// WebAssembly (assembly/cpu/, v128 SIMD) behind the Backend seam. Weights are packed once into Wasm
// memory (src/cpu/program.ts) in the input-channel-major layout (src/cpu/layout.ts) that serves dense
// and activation-sparse GEMV alike, so one backend runs every mode and switching costs only a
// threshold write. Every region is planned before anything is allocated (src/cpu/plan.ts); per token
// only job words (position, active-channel counts) and the rope angles change.
// With threads > 1 the memory is shared and GEMV outputs / attention heads are split between worker
// threads (src/cpu/threads.ts).

import { densePrefix, type Backend, type PrefillMode } from '../backend.js';
import type { LlamaConfig } from '../model/config.js';
import type { Thresholds } from '../model/projections.js';
import type { Model } from '../model/model.js';
import type { RopeSpec } from '../reference/ops.js';
import { CpuMemoryError, KernelArgumentError, OptionError } from '../errors.js';
import { paddedOutputs } from './layout.js';
import { GEMV_HEADER_WORDS, MATRIX_WORDS, planMemory, type CpuPlan, type LayerPlan } from './plan.js';
import { loadProgram } from './program.js';
import { ropeAngles } from './rope.js';
import { canShareMemory, ThreadPool, webWorkerSpawner, type ThreadSpawner } from './threads.js';
import { compileCpuWasm, cpuWasmUrl, instantiateCpu, type CpuExports } from './wasm.js';

/** Wasm32 addresses 4 GiB (65536 pages of 64 KiB). */
export const WASM32_MAX_BYTES = 2 ** 32;

export interface CpuBackendOptions {
  /** KV-cache positions (default: the model's context length, at most 4096). */
  contextSize?: number;
  /** Activation sparsity from the start (see setThresholds); default dense. */
  thresholds?: Thresholds | null;
  /** How prompts run while thresholds are set (default 'sparse', see PrefillMode). */
  prefill?: PrefillMode;
  /**
   * Threads (default 1). More than one needs SharedArrayBuffer (browsers: a cross-origin-isolated
   * page); where it is missing the backend runs single-threaded.
   */
  threads?: number;
  /** How worker threads start (default: Web Workers from a Blob URL; Node: nodeThreadSpawner from was-edge/node). */
  spawn?: ThreadSpawner;
  /**
   * The CPU module: compiled, its bytes, or a URL (default: the shipped file next to the bundle,
   * fetched). Must be the -mt build when threads > 1 (pass a function to get the right one).
   */
  wasm?: WebAssembly.Module | BufferSource | URL | ((threaded: boolean) => Promise<WebAssembly.Module | BufferSource | URL>);
  /** Largest Wasm memory to ask for, bytes (default 4 GiB; browsers that allow 2 GiB need 2 ** 31). */
  memoryLimit?: number;
}

/** Counters of the weights a sparse run skipped, in the reference's units (src/reference/llama.ts SparseRun). */
interface SparseCount {
  skipped: number;
  total: number;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** Compiled once per URL (every backend of a page shares the module). */
function compileUrl(url: URL): Promise<WebAssembly.Module> {
  let m = compiled.get(url.href);
  if (!m) {
    m = compileCpuWasm(url);
    compiled.set(url.href, m);
    m.catch(() => compiled.delete(url.href));
  }
  return m;
}

/** Bytes the model takes in Wasm memory as CpuBackend stores it (for budgeting before a load). */
export function cpuMemoryBytes(model: Model, contextSize: number, threads = 1): number {
  return planMemory(model.file, model.config, contextSize, threads).bytes;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  private readonly i32: Int32Array;
  private readonly f32: Float32Array;
  /** The current position's rotation (plan.rope): (ropeDim/2, 2) f64 cos, sin. */
  private readonly angles: Float64Array;
  private tauSet: boolean[][] | null = null;
  prefill: PrefillMode = 'sparse';
  private count: SparseCount | null = null;
  private disposed = false;

  private constructor(
    readonly config: LlamaConfig,
    readonly contextSize: number,
    readonly plan: CpuPlan,
    private readonly e: CpuExports,
    readonly memory: WebAssembly.Memory,
    private readonly pool: ThreadPool | null,
    /** The model's rotation (style, base, frequency factors). */
    private readonly rotation: RopeSpec,
  ) {
    this.i32 = new Int32Array(memory.buffer);
    this.f32 = new Float32Array(memory.buffer);
    this.angles = new Float64Array(memory.buffer, plan.rope, config.ropeDim);
  }

  /** Threads running this backend (1 when shared memory or threads are unavailable). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  static async create(model: Model, opts: CpuBackendOptions = {}): Promise<CpuBackend> {
    const c = model.config;
    const contextSize = opts.contextSize ?? Math.min(c.contextLength, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 1 || contextSize > c.contextLength) {
      throw new OptionError('contextSize', `must be an integer in 1..${c.contextLength} (the model's context length), got ${String(contextSize)}.`);
    }
    const asked = opts.threads ?? 1;
    if (!Number.isInteger(asked) || asked < 1 || asked > 256) throw new OptionError('threads', `must be an integer in 1..256, got ${String(asked)}.`);
    // Threads need shared memory and a way to start workers; without either, one thread.
    const threads = asked > 1 && canShareMemory() && (opts.spawn !== undefined || typeof Worker !== 'undefined') ? asked : 1;
    const limit = opts.memoryLimit ?? WASM32_MAX_BYTES;
    if (!(limit > 0 && limit <= WASM32_MAX_BYTES)) throw new OptionError('memoryLimit', `must be in (0, 2^32] bytes, got ${String(limit)}.`);

    const plan = planMemory(model.file, c, contextSize, threads);
    const need = { total: plan.bytes, weights: plan.weightBytes, kvCache: plan.kvCacheBytes, contextSize };
    const fits = () => {
      const params = plan.layers.reduce((a, L) => a + L.proj.reduce((b, m) => b + m.inputs * m.outputs, 0), 0) + plan.output.inputs * plan.output.outputs;
      // the largest context whose plan fits (plans are arithmetic: bisect)
      let lo = 0;
      let hi = contextSize;
      while (lo < hi) {
        const mid = Math.ceil((lo + hi) / 2);
        if (planMemory(model.file, c, mid, threads).bytes <= limit) lo = mid;
        else hi = mid - 1;
      }
      return { contextSize: lo, q4Bytes: params * (0.5 + 2 / 32) }; // 4-bit codes and an f16 scale per 32
    };
    if (plan.bytes > limit) throw new CpuMemoryError('MODEL_TOO_LARGE_FOR_WASM', need, limit, fits());

    const source = typeof opts.wasm === 'function' ? await opts.wasm(threads > 1) : opts.wasm;
    const module = source === undefined ? await compileUrl(cpuWasmUrl(threads > 1 ? 'release-mt' : 'release')) : await compileCpuWasm(source);
    const pages = Math.ceil(plan.bytes / 65536);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: threads > 1 });
    } catch (cause) {
      throw new CpuMemoryError('WASM_MEMORY_UNAVAILABLE', need, limit, fits(), cause);
    }
    const e = await instantiateCpu(module, memory);
    const rotation = loadProgram(model, plan, memory);
    const pool = threads > 1 ? await ThreadPool.start(e, module, memory, plan.ctl, threads, opts.spawn ?? webWorkerSpawner) : null;
    const backend = new CpuBackend(c, contextSize, plan, e, memory, pool, rotation);
    try {
      backend.prefill = opts.prefill ?? 'sparse';
      if (opts.thresholds) backend.setThresholds(opts.thresholds);
    } catch (err) {
      backend.dispose();
      throw err;
    }
    return backend;
  }

  /**
   * Sets the thresholds of every later token: per layer and projection τ (input channels), or null
   * for a dense projection; `tau` null makes the backend dense. Counting of skipped weights restarts.
   */
  setThresholds(tau: Thresholds | null): void {
    const c = this.config;
    if (!tau) {
      this.tauSet = null;
      this.count = null;
      this.denseJobs();
      return;
    }
    if (tau.length !== c.nLayers) throw new OptionError('thresholds', `needs ${c.nLayers} layers, got ${tau.length}.`);
    this.tauSet = this.plan.layers.map((L, l) => L.proj.map((m, j) => {
      const t = tau[l]?.[j] ?? null;
      if (t === null) return false;
      if (t.length !== m.inputs) throw new OptionError('thresholds', `layer ${l} projection ${j}: needs ${m.inputs} thresholds, got ${t.length}.`);
      this.f32.set(t, L.tau[j]! / 4);
      return true;
    }));
    this.count = { skipped: 0, total: 0 };
  }

  /** Every projection of every job back to dense: all channels, no list. */
  private denseJobs(): void {
    for (const L of this.plan.layers) {
      for (const [job, first] of [[L.jobs.qkv, 0], [L.jobs.o, 3], [L.jobs.gateUp, 4], [L.jobs.down, 6]] as const) {
        for (let j = 0; j < this.i32[job / 4 + 1]!; j++) {
          const at = job / 4 + GEMV_HEADER_WORDS + j * MATRIX_WORDS;
          this.i32[at + 5] = 0;
          this.i32[at + 6] = L.proj[first + j]!.inputs;
        }
      }
    }
  }

  /** Writes each projection's active channels (or dense) into its job; counts skipped weights. */
  private setActive(l: number, job: number, first: number, x: number, dense: boolean): void {
    const L = this.plan.layers[l]!;
    const m = this.i32[job / 4 + 1]!;
    for (let j = 0; j < m; j++) {
      const p = first + j;
      const at = job / 4 + GEMV_HEADER_WORDS + j * MATRIX_WORDS;
      const M = L.proj[p]!;
      let active = M.inputs;
      if (!dense && this.tauSet![l]![p]) {
        active = this.e.selectActive(x, L.tau[p]!, M.inputs, this.plan.idx[p]!);
        this.i32[at + 5] = this.plan.idx[p]!;
      } else this.i32[at + 5] = 0;
      this.i32[at + 6] = active;
      this.count!.total += M.inputs * M.outputs;
      this.count!.skipped += (M.inputs - active) * M.outputs;
    }
  }

  private run(job: number): void {
    if (this.pool) this.pool.run(job);
    else if (this.e.runJob(job, 0, 1) !== 0) throw new Error(`CPU job at ${job} failed`);
  }

  /** One token at `pos`: leaves the logits at plan.logits. `dense`: run a sparse backend dense (prefix). */
  private forward(token: number, pos: number, dense: boolean): void {
    const { e, plan: p, config: c } = this;
    const kvDim = c.nKVHeads * c.headDim;
    const sparse = this.tauSet !== null;
    e.dequantizeRow(p.x, p.embedding.ptr, p.embedding.type, token, c.dim);
    ropeAngles(this.angles, this.rotation, pos);
    for (let l = 0; l < c.nLayers; l++) {
      const L = p.layers[l]!;
      // attention: x += Wo · attn(rope(q), rope(k), v), q|k|v = W·n (+ bias) (headwise RMSNorm of q, k), n = rmsnorm(x)
      e.rmsnorm(p.xb, p.x, L.attnNorm, c.dim, c.rmsEps);
      if (sparse) this.setActive(l, L.jobs.qkv, 0, p.xb, dense);
      this.run(L.jobs.qkv);
      this.finishQKV(L);
      this.f32.copyWithin((L.keyCache >> 2) + pos * kvDim, p.k >> 2, (p.k >> 2) + kvDim);
      this.f32.copyWithin((L.valueCache >> 2) + pos * kvDim, p.v >> 2, (p.v >> 2) + kvDim);
      this.i32[L.jobs.attention / 4 + 5] = pos;
      this.run(L.jobs.attention);
      if (sparse) this.setActive(l, L.jobs.o, 3, p.att, dense);
      this.run(L.jobs.o);
      e.addInPlace(p.x, p.xb2, c.dim + (-c.dim & 31));
      // feed-forward: x += W_down · (silu(W_gate·n) ⊙ W_up·n), n = rmsnorm(x)
      e.rmsnorm(p.xb, p.x, L.ffnNorm, c.dim, c.rmsEps);
      if (sparse) this.setActive(l, L.jobs.gateUp, 4, p.xb, dense);
      this.run(L.jobs.gateUp);
      e.swiglu(p.hb, p.hb, p.hb2, c.hiddenDim);
      if (sparse) this.setActive(l, L.jobs.down, 6, p.hb, dense);
      this.run(L.jobs.down);
      e.addInPlace(p.x, p.xb2, c.dim + (-c.dim & 31));
    }
    e.rmsnorm(p.x, p.x, p.outputNorm, c.dim, c.rmsEps);
    this.run(p.outputJob);
  }

  /**
   * q, k, v after their projections, as the reference's block: + biases (qwen2), RMSNorm of each q and
   * k head (qwen3), then rope at the position whose angles forward() wrote.
   */
  private finishQKV(L: LayerPlan): void {
    const { e, plan: p, config: c } = this;
    const kvDim = c.nKVHeads * c.headDim;
    if (c.qkvBias) {
      // padded lengths: both sides are zero past their end, and addInPlace takes whole SIMD lanes
      e.addInPlace(p.q, L.bq, paddedOutputs(c.qDim));
      e.addInPlace(p.k, L.bk, paddedOutputs(kvDim));
      e.addInPlace(p.v, L.bv, paddedOutputs(kvDim));
    }
    if (c.qkNorm) {
      e.headRmsnorm(p.q, c.nHeads, c.headDim, L.qNorm, c.rmsEps);
      e.headRmsnorm(p.k, c.nKVHeads, c.headDim, L.kNorm, c.rmsEps);
    }
    const neox = c.ropeStyle === 'neox' ? 1 : 0;
    e.rope(p.q, c.nHeads, c.headDim, c.ropeDim, neox, p.rope);
    e.rope(p.k, c.nKVHeads, c.headDim, c.ropeDim, neox, p.rope);
  }

  private check(tokens: readonly number[], pos: number): void {
    if (this.disposed) throw new KernelArgumentError('cpu', 'the backend was disposed');
    if (!Number.isInteger(pos) || pos < 0 || pos + tokens.length > this.contextSize) {
      throw new KernelArgumentError('cpu', `positions ${pos}..${pos + tokens.length - 1} exceed the context of ${this.contextSize}`);
    }
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) {
        throw new KernelArgumentError('cpu', `token ${t} is outside the vocabulary (0..${this.config.vocabSize - 1})`);
      }
    }
  }

  private logitsView(): Float32Array {
    return this.f32.subarray(this.plan.logits / 4, this.plan.logits / 4 + this.config.vocabSize);
  }

  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    this.check(tokens, pos);
    const dense = this.tauSet ? densePrefix(this.prefill, tokens.length) : 0;
    for (let i = 0; i < tokens.length; i++) {
      this.forward(tokens[i]!, pos + i, i < dense);
      onLogits?.(i, this.logitsView());
    }
    return this.logitsView().slice();
  }

  async feedArgmax(token: number, pos: number): Promise<number> {
    this.check([token], pos);
    this.forward(token, pos, false);
    return this.e.argmax(this.plan.logits, this.config.vocabSize);
  }

  async skippedWeightFraction(): Promise<number | null> {
    const n = this.count;
    if (!n || n.total === 0) return null;
    const f = n.skipped / n.total;
    n.skipped = 0;
    n.total = 0;
    return f;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool?.dispose();
  }
}
