// The WebGPU backend: weights, caches, pipelines and bind groups are made once at load; a token
// records its dispatches (embedding → per layer: qkv, rope+cache, attention, o, gate-up, down →
// output, argmax) into one command encoder and submits once. Per-token values (position, token ids)
// live in the Step uniform/storage buffers, so the recorded work never changes.
//
// Two programs share the activation buffers: `decode` (one token, GEMV kernels) and `prefill`
// (up to `prefillChunk` tokens, GEMM kernels that read each weight row once per tile of tokens).

import { densePrefix, type Backend, type PrefillMode } from '../backend.js';
import type { LlamaConfig } from '../model/config.js';
import type { Thresholds } from '../model/projections.js';
import { tensorBytes, type GGUFFile, type GGUFTensorInfo } from '../model/gguf.js';
import type { Model } from '../model/model.js';
import { dequantize, GGMLType } from '../model/tensor.js';
import { modelTensors } from '../model/weights.js';
import { createBufferChecked, type GpuContext } from './device.js';
import * as argmax from './argmax.js';
import * as attention from './attention.js';
import * as embedding from './embedding.js';
import * as gemm from './gemm.js';
import * as gemv from './gemv.js';
import type { PreparedOp } from './pipeline.js';
import { vectorBytes } from './pipeline.js';
import * as rope from './rope.js';
import * as qgemv from './qgemv.js';
import { destroyQuant, isQuantFormat, uploadQuantMatrix, uploadQuantTransposedStack, type QuantMatrix, type QuantSource, type QuantTransposed } from './quant.js';
import * as sparseGemv from './sparse_gemv.js';
import * as swiglu from './swiglu.js';
import { createStep, writeStep, type Step } from './step.js';
import {
  destroyTransposed, destroyWeights, uploadGateUp, uploadMatrix, uploadTransposedStack,
  type TransposedWeightTensor, type WeightData, type WeightFormat, type WeightTensor,
} from './weights.js';
import { GpuDeviceLostError, KernelArgumentError } from '../errors.js';

export interface WebGPUBackendOptions {
  /** KV-cache positions (default: the model's context length, at most 4096). */
  contextSize?: number;
  /**
   * Weight storage on the GPU: 'auto' keeps F16 tensors packed f16 and stores everything else as
   * f32 (quantized tensors dequantised); 'f32' or 'f16' force one format.
   */
  weightFormat?: 'auto' | WeightFormat;
  /** Tokens per prefill submit (default 32). */
  prefillChunk?: number;
  /**
   * Activation sparsity (WAS/TEAL): per layer and projection (q k v o gate up down) the threshold
   * vector τ over the input channels, or null for dense. Weights are then stored transposed
   * (input-channel major) for the sparse GEMV, and every token, prompt tokens included, runs the
   * sparse decode path. Thresholds can be changed later with setThresholds(). `prefill` says how
   * prompts run (default 'sparse': all but the first 1 % of positions; see PrefillMode).
   */
  sparse?: { tau: (Float32Array | null)[][]; prefill?: PrefillMode };
  /** Tuning of the quantized dense GEMV (benchmarks sweep it; the defaults are the measured best). */
  qgemv?: qgemv.QgemvTuning;
  /**
   * Dense mode over Q8_0/Q4_0 block weights: 'input-major' (default) stores them as sparse mode does
   * (quant.ts, input-channel-major codes) and runs the sparse program with every τ at −1, so nothing is
   * skipped; 'row-major' keeps GGUF's row-major blocks for qgemv. Same bytes on the GPU either way; the
   * first was the faster at every 7B shape on the H200 (a decode step of 8 7B-shaped Q4_0 layers:
   * 1.21 ms against 1.74 ms, BENCHMARKS.md), chiefly because q|k|v and gate|up are one op each and
   * SwiGLU is folded into down. Ignored when `sparse` is given or a float format is forced.
   */
  quantLayout?: 'input-major' | 'row-major';
  /** How prompts run while thresholds are set (default 'sparse'). */
  prefill?: PrefillMode;
  /** dispose() also destroys the device (a device acquired for this backend alone). */
  ownsDevice?: boolean;
}

/** Sparse-mode weights of one block: Wᵀ stacks (f32, f16 or quantized codes) and their τ buffers. */
interface SparseLayer {
  qkv: sparseGemv.SparseWeights; // segments q, k, v
  o: sparseGemv.SparseWeights;
  gateUp: sparseGemv.SparseWeights; // segments gate, up
  down: sparseGemv.SparseWeights;
  tau: GPUBuffer[]; // qkv (3 × dim), o (dim), gate|up (2 × dim), down (hidden)
}

/**
 * Active-channel counters of the sparse decode program (u32, one per projection and layer, in
 * PROJECTION order q k v o gate up down), summed over the tokens since the last read.
 */
interface SparseStats {
  counters: GPUBuffer;
  readback: GPUBuffer;
  tokens: number;
}

/** A row-major matrix: f32 / packed f16 (gemv, gemm) or Q8_0 / Q4_0 kept quantized (qgemv). */
type DenseMatrix = WeightTensor | QuantMatrix;

/** Dense-mode matrices of one block, row-major (row = output channel). */
interface DenseLayer {
  qkv: DenseMatrix; // (dim + 2·kv_dim, dim): q, k, v rows stacked
  o: DenseMatrix; // (dim, dim)
  // (hidden, dim) gate and up interleaved by rows for the fused SwiGLU; quantized: apart, then swiglu
  gateUp: WeightTensor | { gate: QuantMatrix; up: QuantMatrix };
  down: DenseMatrix; // (dim, hidden)
}

const isQuantMatrix = (m: DenseMatrix): m is QuantMatrix => 'kind' in m;

interface LayerWeights {
  dense: DenseLayer | null; // null in sparse mode (SparseLayer holds the matrices)
  attnNorm: GPUBuffer; // (dim)
  ffnNorm: GPUBuffer; // (dim)
  keyCache: GPUBuffer; // (context, kv_dim)
  valueCache: GPUBuffer; // (context, kv_dim)
}

/** GPU bytes held by the model, by kind (for reports and memory budgeting). */
export interface GpuMemoryReport {
  weights: number;
  kvCache: number;
  activations: number;
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  private lostError: GpuDeviceLostError | null = null;
  private disposed = false;

  private constructor(
    readonly config: LlamaConfig,
    readonly contextSize: number,
    readonly ctx: GpuContext,
    readonly memory: GpuMemoryReport,
    private readonly prefillChunk: number,
    private readonly decodeStep: Step,
    private readonly prefillStep: Step,
    private readonly decodeOps: PreparedOp[],
    private readonly prefillOps: PreparedOp[],
    private readonly argmaxOp: PreparedOp,
    private readonly logits: GPUBuffer,
    private readonly argmaxResult: GPUBuffer,
    private readonly readback: GPUBuffer,
    private readonly owned: { buffers: GPUBuffer[]; weights: WeightTensor[]; transposed: TransposedWeightTensor[]; quant: (QuantMatrix | QuantTransposed)[] },
    private readonly sparseLayers: SparseLayer[] | null,
    private readonly stats: SparseStats | null,
  ) {
    void ctx.lost.then((e) => { this.lostError = e; });
  }

  /** One input-major weight copy that serves dense and sparse runs (setThresholds). */
  static async create(ctx: GpuContext, model: Model, opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
    try {
      const b = await WebGPUBackend.fromSource(ctx, ggufWeights(model), { ...opts, sparse: opts.sparse ?? { tau: [], prefill: opts.prefill ?? 'sparse' } });
      if (!opts.sparse) b.setThresholds(null);
      b.ownsDevice = opts.ownsDevice === true;
      return b;
    } catch (e) {
      if (opts.ownsDevice) ctx.device.destroy();
      throw e;
    }
  }
  private ownsDevice = false;

  /** Builds the engine from any weight source (GGUF today; benchmarks use synthetic weights). */
  static async fromSource(ctx: GpuContext, source: WeightSource, opts: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
    const c = source.config;
    const contextSize = opts.contextSize ?? Math.min(c.contextLength, 4096);
    if (!Number.isInteger(contextSize) || contextSize < 1 || contextSize > c.contextLength) {
      throw new KernelArgumentError('engine', `contextSize must be in 1..${c.contextLength}, got ${contextSize}`);
    }
    const T = opts.prefillChunk ?? 32;
    const kvDim = c.nKVHeads * c.headDim;
    const qkvDim = c.dim + 2 * kvDim;
    const device = ctx.device;
    const owned = { buffers: [] as GPUBuffer[], weights: [] as WeightTensor[], transposed: [] as TransposedWeightTensor[], quant: [] as (QuantMatrix | QuantTransposed)[] };
    // Quantized blocks in dense mode: the sparse program with nothing skipped (see quantLayout).
    const quantInputMajor = !opts.sparse && (opts.quantLayout ?? 'input-major') === 'input-major' &&
      (opts.weightFormat ?? 'auto') === 'auto' && hasQuantizedBlocks(source);
    const sparse = opts.sparse ?? (quantInputMajor ? { tau: [], prefill: 'all' as const } : undefined);
    const memory: GpuMemoryReport = { weights: 0, kvCache: 0, activations: 0 };

    const buffer = async (label: string, bytes: number, kind: keyof GpuMemoryReport, extra = 0) => {
      const b = await createBufferChecked(device, { label, size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | extra });
      owned.buffers.push(b);
      memory[kind] += bytes;
      return b;
    };
    const vector = async (label: string, data: Float32Array<ArrayBuffer>) => {
      const b = await buffer(label, vectorBytes(data.length), 'weights');
      device.queue.writeBuffer(b, 0, data);
      return b;
    };
    const track = (w: WeightTensor) => {
      owned.weights.push(w);
      for (const s of w.shards) memory.weights += s.buffer.size;
      return w;
    };
    const formatOf = (names: string[]): WeightFormat =>
      opts.weightFormat && opts.weightFormat !== 'auto' ? opts.weightFormat : source.naturalFormat(names);
    const trackQuant = <T extends QuantMatrix | QuantTransposed>(w: T): T => {
      owned.quant.push(w);
      for (const sh of w.shards) memory.weights += sh.codes.size + sh.scales.size;
      return w;
    };
    // Q8_0/Q4_0 tensors stay quantized unless a float format is forced (one type per stack).
    const quantOf = (names: string[]): QuantSource[] | null =>
      (opts.weightFormat ?? 'auto') === 'auto' ? source.quant?.(names) ?? null : null;
    const matrix = async (names: string[], label: string): Promise<DenseMatrix> => {
      const q = quantOf(names);
      if (q) return trackQuant(await uploadQuantMatrix(ctx, stackRows(q), { label }));
      const format = formatOf(names);
      const m = source.matrix(names, format);
      return track(await uploadMatrix(ctx, m.data, m.rows, m.cols, format, { label }));
    };

    try {
      const f32 = (name: string) => source.vector(name);
      // The embedding table stays f32/f16 (a quantized table is dequantised: the lookup reads one row).
      const embdFormat = formatOf(['token_embd.weight']);
      const embdData = source.matrix(['token_embd.weight'], embdFormat);
      const embd = track(await uploadMatrix(ctx, embdData.data, embdData.rows, embdData.cols, embdFormat, { label: 'token_embd' }));
      const output = c.tiedOutput && !quantOf(['output.weight']) && formatOf(['output.weight']) === embd.format ? embd : await matrix(['output.weight'], 'output');
      let quantized = isQuantMatrix(output);
      const outputNorm = await vector('output_norm', f32('output_norm.weight'));

      // Activations (T tokens; decode uses row 0).
      const x = await buffer('x', vectorBytes(T * c.dim), 'activations');
      const qkv = await buffer('qkv', vectorBytes(T * qkvDim), 'activations');
      const att = await buffer('att', vectorBytes(T * c.dim), 'activations');
      const hb = await buffer('hb', vectorBytes(T * c.hiddenDim), 'activations');
      // Sparse mode: the active-channel counters.
      const statsBytes = 4 * 7 * c.nLayers;
      const stats: SparseStats | null = sparse ? {
        counters: await buffer('sparse_stats', statsBytes, 'activations', GPUBufferUsage.COPY_SRC),
        readback: device.createBuffer({ label: 'sparse_stats.readback', size: statsBytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
        tokens: 0,
      } : null;
      if (stats) owned.buffers.push(stats.readback);
      const logits = await buffer('logits', vectorBytes(T * c.vocabSize), 'activations', GPUBufferUsage.COPY_SRC);
      const argmaxResult = await buffer('argmax', 16, 'activations', GPUBufferUsage.COPY_SRC);
      const readback = device.createBuffer({ label: 'readback', size: T * c.vocabSize * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      owned.buffers.push(readback);
      const ropeTable = await rope.createRopeTable(ctx, { contextLength: contextSize, ropeDim: c.ropeDim, base: c.ropeBase });
      owned.buffers.push(ropeTable.buffer);

      const transposed = async (names: string[], label: string): Promise<sparseGemv.SparseWeights> => {
        const q = quantOf(names);
        if (q) return trackQuant(await uploadQuantTransposedStack(ctx, q, { label }));
        const format = formatOf(names);
        const mats = names.map((n) => { const m = source.matrix([n], format); return { data: m.data, rows: m.rows }; });
        const w = await uploadTransposedStack(ctx, mats, source.matrix([names[0]!], format).cols, format, { label });
        owned.transposed.push(w);
        for (const sh of w.shards) memory.weights += sh.buffer.size;
        return w;
      };
      // Quantized dense gate and up run apart (qgemv has no fused SwiGLU), into these.
      let hGate: GPUBuffer | null = null;
      let hUp: GPUBuffer | null = null;
      const sparseLayers: SparseLayer[] | null = sparse ? [] : null;
      const layers: LayerWeights[] = [];
      for (let l = 0; l < c.nLayers; l++) {
        const p = `blk.${l}.`;
        if (sparseLayers) {
          sparseLayers.push({
            qkv: await transposed([`${p}attn_q.weight`, `${p}attn_k.weight`, `${p}attn_v.weight`], `${p}qkvT`),
            o: await transposed([`${p}attn_output.weight`], `${p}oT`),
            gateUp: await transposed([`${p}ffn_gate.weight`, `${p}ffn_up.weight`], `${p}gate_upT`),
            down: await transposed([`${p}ffn_down.weight`], `${p}downT`),
            tau: [
              await buffer(`${p}tau_qkv`, vectorBytes(3 * c.dim), 'weights'), await buffer(`${p}tau_o`, vectorBytes(c.dim), 'weights'),
              await buffer(`${p}tau_gate_up`, vectorBytes(2 * c.dim), 'weights'), await buffer(`${p}tau_down`, vectorBytes(c.hiddenDim), 'weights'),
            ],
          });
        }
        const gateUp = [`${p}ffn_gate.weight`, `${p}ffn_up.weight`];
        const guFormat = formatOf(gateUp);
        const guQuant = sparseLayers ? null : quantOf(gateUp);
        if (guQuant && !hGate) {
          hGate = await buffer('h_gate', vectorBytes(c.hiddenDim), 'activations');
          hUp = await buffer('h_up', vectorBytes(c.hiddenDim), 'activations');
        }
        const dense: DenseLayer | null = sparseLayers ? null : {
          qkv: await matrix([`${p}attn_q.weight`, `${p}attn_k.weight`, `${p}attn_v.weight`], `${p}qkv`),
          o: await matrix([`${p}attn_output.weight`], `${p}o`),
          gateUp: guQuant
            ? { gate: trackQuant(await uploadQuantMatrix(ctx, guQuant[0]!, { label: `${p}gate` })), up: trackQuant(await uploadQuantMatrix(ctx, guQuant[1]!, { label: `${p}up` })) }
            : track(await uploadGateUp(ctx, source.matrix([gateUp[0]!], guFormat).data, source.matrix([gateUp[1]!], guFormat).data,
              c.hiddenDim, c.dim, guFormat, { label: `${p}gate_up` })),
          down: await matrix([`${p}ffn_down.weight`], `${p}down`),
        };
        if (dense) quantized ||= isQuantMatrix(dense.qkv) || isQuantMatrix(dense.o) || !!guQuant || isQuantMatrix(dense.down);
        layers.push({
          dense,
          attnNorm: await vector(`${p}attn_norm`, f32(`${p}attn_norm.weight`)),
          ffnNorm: await vector(`${p}ffn_norm`, f32(`${p}ffn_norm.weight`)),
          keyCache: await buffer(`${p}k_cache`, contextSize * kvDim * 4, 'kvCache'),
          valueCache: await buffer(`${p}v_cache`, contextSize * kvDim * 4, 'kvCache'),
        });
      }

      // One split-K scratch for every sparse op (they run one after another).
      const sparseScratch = sparseLayers ? await buffer('sparse_scratch', Math.max(...sparseLayers.flatMap((S) =>
        [S.qkv, S.o, S.gateUp].map((W) => sparseGemv.scratchBytes(W, sparseGemv.defaultKChunk(W))))), 'activations') : null;
      // down reads gate|up's partials from sparse_scratch while it writes its own.
      const downScratch = sparseLayers ? await buffer('sparse_scratch_down', Math.max(...sparseLayers.map((S) =>
        sparseGemv.scratchBytes(S.down, sparseGemv.defaultKChunk(S.down)))), 'activations') : null;
      const decodeStep = createStep(ctx, 1, 'decode');
      const prefillStep = createStep(ctx, T, 'prefill');
      owned.buffers.push(decodeStep.uniform, decodeStep.tokens, prefillStep.uniform, prefillStep.tokens);

      // One program per step kind: the same sequence, GEMV for one token, GEMM for a chunk.
      const program = async (step: Step): Promise<PreparedOp[]> => {
        const decode = step.maxTokens === 1;
        const matmul = (label: string, weights: DenseMatrix, xb: GPUBuffer, yb: GPUBuffer,
          extra: { norm?: { weight: GPUBuffer; eps: number }; accumulate?: boolean; xStride?: number; yStride?: number }) =>
          isQuantMatrix(weights) ? qgemv.prepare(ctx, { ...opts.qgemv, label, weights, x: xb, y: yb, norm: extra.norm, accumulate: extra.accumulate })
            : decode ? gemv.prepare(ctx, { label, weights, x: xb, y: yb, norm: extra.norm, accumulate: extra.accumulate })
              : gemm.prepare(ctx, { label, weights, step, x: xb, y: yb, xStride: extra.xStride, yStride: extra.yStride, norm: extra.norm, accumulate: extra.accumulate });
        const ops: PreparedOp[] = [await embedding.prepare(ctx, { step, table: embd, out: x, label: 'embedding' })];
        for (let l = 0; l < c.nLayers; l++) {
          const L = layers[l]!;
          const S = sparseLayers?.[l];
          const ropeAndAttention = async (partials?: rope.RopeOptions['partials']) => [
            await rope.prepare(ctx, {
              label: `L${l}.rope`, step, table: ropeTable, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim,
              x: qkv, qOffset: 0, kOffset: c.dim, stride: qkvDim,
              cache: { key: L.keyCache, value: L.valueCache, vOffset: c.dim + kvDim }, ...(partials ? { partials } : {}),
            }),
            await attention.prepare(ctx, {
              label: `L${l}.attention`, step, nHeads: c.nHeads, nKVHeads: c.nKVHeads, headDim: c.headDim, contextLength: contextSize,
              q: qkv, qStride: qkvDim, keyCache: L.keyCache, valueCache: L.valueCache, out: att,
            }),
          ];
          if (S) {
            // Sparse decode: each projection reads only the Wᵀ rows of its active input channels, as split-K
            // partials; q|k|v and gate|up are one op each. The partials of o and down are summed into the
            // residual by a second dispatch; those of q|k|v by rope as it reads them, and those of gate|up
            // by down as it applies SwiGLU (so down writes its own partials to a second scratch).
            const sp = (label: string, weights: sparseGemv.SparseWeights, tau: GPUBuffer, xb: GPUBuffer, yb: GPUBuffer | undefined, slot: number,
              extra: Pick<sparseGemv.SparseGemvOptions, 'norm' | 'swiglu' | 'accumulate' | 'skipReduce' | 'xPartials' | 'xOffset' | 'scratch'>) =>
              sparseGemv.prepare(ctx, {
                label: `L${l}.${label}`, weights, tau, x: xb, y: yb, scratch: sparseScratch!, stats: { buffer: stats!.counters, slot: 7 * l + slot },
                // Nothing is ever skipped in a dense input-major engine: 8 stored rows in flight (Q4_0 on the
                // H200 at s = 0: 22.7 against 25.4 µs at 12288×4096; at s = 0.6 it gains or loses ±6 %).
                ...(quantInputMajor && isQuantFormat(weights.format) ? { unroll: 8 } : {}), ...extra,
              });
            const qkvParts = sparseGemv.partialsLayout(S.qkv);
            const guParts = sparseGemv.partialsLayout(S.gateUp);
            const [gateAt, upAt] = guParts.segmentOffsets as [number, number];
            ops.push(
              await sp('qkv', S.qkv, S.tau[0]!, x, undefined, 0, { norm: { weight: L.attnNorm, eps: c.rmsEps }, skipReduce: true }),
              ...(await ropeAndAttention({
                buffer: sparseScratch!, chunks: qkvParts.chunks, rowElems: qkvParts.rowElems,
                qAt: qkvParts.segmentOffsets[0]!, kAt: qkvParts.segmentOffsets[1]!, vAt: qkvParts.segmentOffsets[2]!,
              })),
              await sp('o', S.o, S.tau[1]!, att, x, 3, { accumulate: true }),
              await sp('gate_up', S.gateUp, S.tau[2]!, x, undefined, 4, { norm: { weight: L.ffnNorm, eps: c.rmsEps }, skipReduce: true }),
              await sp('down', S.down, S.tau[3]!, sparseScratch!, x, 6, {
                swiglu: { upOffset: upAt - gateAt }, xOffset: gateAt, xPartials: { chunks: guParts.chunks, rowElems: guParts.rowElems },
                accumulate: true, scratch: downScratch!,
              }),
            );
            continue;
          }
          const D = L.dense!;
          ops.push(
            await matmul(`L${l}.qkv`, D.qkv, x, qkv, { norm: { weight: L.attnNorm, eps: c.rmsEps } }),
            ...(await ropeAndAttention()),
            await matmul(`L${l}.o`, D.o, att, x, { accumulate: true }),
            ...('gate' in D.gateUp ? [
              await matmul(`L${l}.gate`, D.gateUp.gate, x, hGate!, { norm: { weight: L.ffnNorm, eps: c.rmsEps } }),
              await matmul(`L${l}.up`, D.gateUp.up, x, hUp!, { norm: { weight: L.ffnNorm, eps: c.rmsEps } }),
              await swiglu.prepare(ctx, { label: `L${l}.swiglu`, step, n: c.hiddenDim, gate: hGate!, up: hUp!, out: hb }),
            ] : [await matmul(`L${l}.gate_up`, D.gateUp, x, hb, { norm: { weight: L.ffnNorm, eps: c.rmsEps } })]),
            await matmul(`L${l}.down`, D.down, hb, x, { accumulate: true }),
          );
        }
        ops.push(await matmul('output', output, x, logits, { norm: { weight: outputNorm, eps: c.rmsEps } }));
        return ops;
      };
      const decodeOps = await program(decodeStep);
      // Sparse mode has no row-major weights, and gemm does not read quantized ones: prompts then run
      // token by token through the decode program.
      const tokenByToken = !!sparse || quantized;
      const prefillOps = tokenByToken ? [] : await program(prefillStep);
      const argmaxOp = await argmax.prepare(ctx, { n: c.vocabSize, x: logits, result: argmaxResult, label: 'argmax' });
      const backend = new WebGPUBackend(c, contextSize, ctx, memory, tokenByToken ? 1 : T, decodeStep, prefillStep, decodeOps, prefillOps, argmaxOp,
        logits, argmaxResult, readback, owned, sparseLayers, stats);
      if (sparse) {
        backend.setThresholds(sparse.tau);
        backend.prefill = sparse.prefill ?? 'sparse';
      }
      backend.thresholdsEnabled = !!opts.sparse; // a dense input-major engine stays dense
      return backend;
    } catch (e) {
      for (const b of owned.buffers) b.destroy();
      for (const w of owned.weights) destroyWeights(w);
      for (const w of owned.transposed) destroyTransposed(w);
      for (const w of owned.quant) destroyQuant(w);
      throw e;
    }
  }

  /** Sparse mode: how prompts run. */
  prefill: PrefillMode = 'sparse';
  private tau: (Float32Array | null)[][] = [];
  /** Some τ is set (else every τ is −1 and prompts need no swap). */
  private anyTau = false;
  /** Created with `sparse` (a dense engine over input-major quantized weights runs the same program). */
  private thresholdsEnabled = true;

  /** Whether the weights are stored input-channel-major and decoding runs the sparse program. */
  get inputMajor(): boolean {
    return this.sparseLayers !== null;
  }

  /** Replaces the sparse thresholds (same layout as WebGPUBackendOptions.sparse.tau); null means dense. */
  setThresholds(thresholds: Thresholds | null): void {
    if (!this.sparseLayers) throw new KernelArgumentError('engine', 'this backend was created dense; pass `sparse` at creation to use thresholds');
    const tau = thresholds ?? [];
    this.writeThresholds(tau);
    this.tau = tau;
    this.anyTau = tau.some((L) => L.some((t) => t !== null));
    this.thresholdsEnabled = thresholds !== null;
  }

  private writeThresholds(tau: (Float32Array | null)[][]): void {
    if (!this.sparseLayers) return;
    const c = this.config;
    const dims = [c.dim, c.dim, c.dim, c.dim, c.dim, c.dim, c.hiddenDim];
    const vec = (l: number, p: number) => {
      const t = tau[l]?.[p] ?? null;
      if (t && t.length !== dims[p]) throw new KernelArgumentError('engine', `τ of layer ${l} projection ${p} has ${t.length} entries, expected ${dims[p]}`);
      return t ?? new Float32Array(dims[p]!).fill(-1);
    };
    this.sparseLayers.forEach((S, l) => {
      const stack = (ps: number[]) => {
        const out = new Float32Array(ps.length * dims[ps[0]!]!);
        ps.forEach((p, i) => out.set(vec(l, p), i * dims[p]!));
        return out;
      };
      const q = this.ctx.device.queue;
      q.writeBuffer(S.tau[0]!, 0, stack([0, 1, 2]));
      q.writeBuffer(S.tau[1]!, 0, stack([3]));
      q.writeBuffer(S.tau[2]!, 0, stack([4, 5]));
      q.writeBuffer(S.tau[3]!, 0, stack([6]));
    });
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

  /** Records `ops` for `tokens` at `pos` and, when `copy` is given, copies bytes into the readback buffer. */
  private submit(step: Step, ops: PreparedOp[], tokens: readonly number[], pos: number,
    copy?: { src: GPUBuffer; bytes: number }, extra?: PreparedOp, timestampWrites?: GPUComputePassTimestampWrites): void {
    const device = this.ctx.device;
    writeStep(device, step, pos, tokens);
    const encoder = device.createCommandEncoder({ label: 'token' });
    if (this.stats && step === this.decodeStep) this.stats.tokens += tokens.length;
    const pass = encoder.beginComputePass({ label: 'forward', timestampWrites });
    for (const op of ops) op.encode(pass);
    extra?.encode(pass);
    pass.end();
    if (copy) encoder.copyBufferToBuffer(copy.src, 0, this.readback, 0, copy.bytes);
    device.queue.submit([encoder.finish()]);
  }

  /** Maps the readback buffer; a lost device rejects with GpuDeviceLostError instead of hanging. */
  private async read(bytes: number): Promise<ArrayBuffer> {
    const lost = this.ctx.lost.then((e) => { throw e ?? new GpuDeviceLostError('destroyed', 'the device was destroyed'); });
    await Promise.race([this.readback.mapAsync(GPUMapMode.READ, 0, bytes), lost]);
    const out = this.readback.getMappedRange(0, bytes).slice(0);
    this.readback.unmap();
    return out;
  }

  async feed(tokens: readonly number[], pos: number, onLogits?: (i: number, logits: Float32Array) => void): Promise<Float32Array> {
    this.check(tokens, pos);
    const V = this.config.vocabSize;
    let last = new Float32Array(V);
    if (this.prefillOps.length === 0 && tokens.length > 1) {
      // Token by token through the sparse decode program (no row-major weights for a GEMM); the dense
      // prefix runs with every τ at −1 (queue writes are ordered with the submits).
      // (Nothing to swap when every τ is −1 already: a dense input-major engine.)
      const dense = this.sparseLayers && this.anyTau ? densePrefix(this.prefill, tokens.length) : 0;
      if (dense > 0) this.writeThresholds([]);
      for (let i = 0; i < tokens.length; i++) {
        if (i === dense && dense > 0) this.writeThresholds(this.tau);
        const wanted = onLogits || i === tokens.length - 1;
        this.submit(this.decodeStep, this.decodeOps, [tokens[i]!], pos + i, wanted ? { src: this.logits, bytes: V * 4 } : undefined);
        if (wanted) {
          last = new Float32Array(await this.read(V * 4));
          onLogits?.(i, last);
        }
      }
      if (dense === tokens.length) this.writeThresholds(this.tau);
      return last;
    }
    if (tokens.length === 1) {
      this.submit(this.decodeStep, this.decodeOps, tokens, pos, { src: this.logits, bytes: V * 4 });
      last = new Float32Array(await this.read(V * 4));
      onLogits?.(0, last);
      return last;
    }
    for (let start = 0; start < tokens.length; start += this.prefillChunk) {
      const chunk = tokens.slice(start, start + this.prefillChunk);
      const isLast = start + chunk.length === tokens.length;
      // Only the logits that someone reads cross the bus: all of them for evaluation, else the last row.
      if (onLogits) {
        this.submit(this.prefillStep, this.prefillOps, chunk, pos + start, { src: this.logits, bytes: chunk.length * V * 4 });
        const all = new Float32Array(await this.read(chunk.length * V * 4));
        for (let i = 0; i < chunk.length; i++) onLogits(start + i, all.subarray(i * V, (i + 1) * V));
        if (isLast) last = all.slice((chunk.length - 1) * V);
      } else if (isLast) {
        this.submit(this.prefillStep, this.prefillOps, chunk, pos + start);
        const enc = this.ctx.device.createCommandEncoder();
        enc.copyBufferToBuffer(this.logits, (chunk.length - 1) * V * 4, this.readback, 0, V * 4);
        this.ctx.device.queue.submit([enc.finish()]);
        last = new Float32Array(await this.read(V * 4));
      } else {
        this.submit(this.prefillStep, this.prefillOps, chunk, pos + start);
      }
    }
    return last;
  }

  async feedArgmax(token: number, pos: number): Promise<number> {
    this.check([token], pos);
    this.submit(this.decodeStep, this.decodeOps, [token], pos, { src: this.argmaxResult, bytes: 4 }, this.argmaxOp);
    return new Uint32Array(await this.read(4))[0]!;
  }

  /**
   * Benchmarks: one decode step at `pos`, `n` steps submitted back to back (no readback). Returns
   * mean wall milliseconds per step (CPU recording included) and, where the device has
   * timestamp queries, the mean GPU time of the step's compute pass. `only` keeps the dispatches
   * whose label it accepts (e.g. just the GEMVs).
   */
  async timeDecode(n: number, pos = 0, only?: (label: string) => boolean): Promise<{ wallMs: number; gpuMs: number | null }> {
    this.check([0], pos);
    const device = this.ctx.device;
    const ops = only ? this.decodeOps.filter((op) => only(op.label)) : this.decodeOps;
    this.submit(this.decodeStep, ops, [0], pos); // warm-up
    await device.queue.onSubmittedWorkDone();
    const querySet = this.ctx.features.timestamp ? device.createQuerySet({ type: 'timestamp', count: 2 * n }) : null;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      this.submit(this.decodeStep, ops, [0], pos, undefined, undefined,
        querySet ? { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } : undefined);
    }
    await device.queue.onSubmittedWorkDone();
    const wallMs = (performance.now() - t0) / n;
    if (!querySet) return { wallMs, gpuMs: null };
    const ts = await readTimestamps(device, querySet);
    let ns = 0;
    for (let i = 0; i < n; i++) ns += Number(ts[2 * i + 1]! - ts[2 * i]!);
    return { wallMs, gpuMs: ns / n / 1e6 };
  }

  /**
   * Benchmarks: GPU milliseconds per decode step by kind of dispatch (label without the layer
   * prefix), each op timed in its own compute pass with timestamp queries; null without them.
   */
  async profileDecode(n: number, pos = 0): Promise<Map<string, number> | null> {
    if (!this.ctx.features.timestamp) return null;
    this.check([0], pos);
    const device = this.ctx.device;
    const ops = this.decodeOps;
    const count = 2 * ops.length * n;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    writeStep(device, this.decodeStep, pos, [0]);
    for (let i = 0; i < n; i++) {
      const encoder = device.createCommandEncoder();
      ops.forEach((op, j) => {
        const at = 2 * (i * ops.length + j);
        const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: at, endOfPassWriteIndex: at + 1 } });
        op.encode(pass);
        pass.end();
      });
      device.queue.submit([encoder.finish()]);
    }
    const ts = await readTimestamps(device, querySet);
    const byKind = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      ops.forEach((op, j) => {
        const at = 2 * (i * ops.length + j);
        const kind = op.label.replace(/^L\d+\./, '');
        byKind.set(kind, (byKind.get(kind) ?? 0) + Number(ts[at + 1]! - ts[at]!) / 1e6 / n);
      });
    }
    return byKind;
  }

  /**
   * Sparse mode: the fraction of projection weights (q k v o gate up down, by parameter count) that the
   * decode steps since the last call skipped, counted on the GPU (active channels per projection); null
   * for a dense backend or when no token ran. Resets the counters.
   */
  async skippedWeightFraction(): Promise<number | null> {
    const st = this.stats;
    if (!st || this.disposed || !this.thresholdsEnabled) return null;
    const c = this.config;
    const n = 7 * c.nLayers;
    const enc = this.ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(st.counters, 0, st.readback, 0, 4 * n);
    enc.clearBuffer(st.counters);
    this.ctx.device.queue.submit([enc.finish()]);
    const tokens = st.tokens;
    st.tokens = 0;
    const lost = this.ctx.lost.then((e) => { throw e ?? new GpuDeviceLostError('destroyed', 'the device was destroyed'); });
    await Promise.race([st.readback.mapAsync(GPUMapMode.READ), lost]);
    const active = new Uint32Array(st.readback.getMappedRange().slice(0));
    st.readback.unmap();
    if (tokens === 0) return null;
    const kvDim = c.nKVHeads * c.headDim;
    const rows = [c.dim, kvDim, kvDim, c.dim, c.hiddenDim, c.hiddenDim, c.dim];
    const cols = [c.dim, c.dim, c.dim, c.dim, c.dim, c.dim, c.hiddenDim];
    let skipped = 0;
    let total = 0;
    for (let l = 0; l < c.nLayers; l++) {
      for (let p = 0; p < 7; p++) {
        skipped += (cols[p]! * tokens - active[7 * l + p]!) * rows[p]!;
        total += cols[p]! * tokens * rows[p]!;
      }
    }
    return skipped / total;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const op of [...this.decodeOps, ...this.prefillOps, this.argmaxOp]) op.destroy();
    for (const b of this.owned.buffers) b.destroy();
    for (const w of this.owned.weights) destroyWeights(w);
    for (const w of this.owned.transposed) destroyTransposed(w);
    for (const w of this.owned.quant) destroyQuant(w);
    if (this.ownsDevice) this.ctx.device.destroy();
  }
}

/** Resolves every timestamp of `querySet` (nanoseconds) and destroys it. */
async function readTimestamps(device: GPUDevice, querySet: GPUQuerySet): Promise<BigUint64Array> {
  const bytes = 8 * querySet.count;
  const resolved = device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.resolveQuerySet(querySet, 0, querySet.count, resolved, 0);
  enc.copyBufferToBuffer(resolved, 0, read, 0, bytes);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const ts = new BigUint64Array(read.getMappedRange().slice(0));
  read.destroy();
  resolved.destroy();
  querySet.destroy();
  return ts;
}

/** Where the engine's weights come from: named llama tensors, by GGUF name. */
export interface WeightSource {
  config: LlamaConfig;
  /** The format a tensor group is stored in without conversion ('f16' for F16 tensors). */
  naturalFormat(names: string[]): WeightFormat;
  /** The named matrices stacked by rows: f16 bit patterns when `format` is f16 and the data are f16, else f32. */
  matrix(names: string[], format: WeightFormat): { data: WeightData; rows: number; cols: number };
  /** A 1-D tensor (norm weights) as f32. */
  vector(name: string): Float32Array<ArrayBuffer>;
  /** The named matrices' raw Q8_0/Q4_0 blocks when all are of one of those types, else null. */
  quant?(names: string[]): QuantSource[] | null;
}

/** Whether the block matrices are Q8_0/Q4_0 kept quantized (what dense mode then runs input-major). */
export function hasQuantizedBlocks(source: WeightSource): boolean {
  return source.config.nLayers > 0 && !!source.quant?.(['blk.0.attn_q.weight']);
}

/** Several quantized matrices with the same cols and type as one, stacked by rows (blocks are row-local). */
function stackRows(ms: QuantSource[]): QuantSource {
  if (ms.length === 1) return ms[0]!;
  const bytes = new Uint8Array(ms.reduce((a, m) => a + m.bytes.byteLength, 0));
  let at = 0;
  for (const m of ms) { bytes.set(m.bytes, at); at += m.bytes.byteLength; }
  return { format: ms[0]!.format, bytes, rows: ms.reduce((a, m) => a + m.rows, 0), cols: ms[0]!.cols };
}

/** The weights of a GGUF model; quantized tensors are dequantised to f32 (exact). */
export function ggufWeights(model: Model): WeightSource {
  const tensors = modelTensors(model.file, model.config);
  const get = (names: string[]) => names.map((n) => tensors.get(n)!);
  return {
    config: model.config,
    naturalFormat: (names) => (get(names).every((t) => t.type === GGMLType.F16) ? 'f16' : 'f32'),
    matrix: (names, format) => {
      const ts = get(names);
      return { data: concat(model.file, ts, format), rows: ts.reduce((a, t) => a + t.dims[1]!, 0), cols: ts[0]!.dims[0]! };
    },
    vector: (name) => concat(model.file, get([name]), 'f32') as Float32Array<ArrayBuffer>,
    quant: (names) => {
      const ts = get(names);
      const type = ts[0]!.type;
      if ((type !== GGMLType.Q8_0 && type !== GGMLType.Q4_0) || ts.some((t) => t.type !== type)) return null;
      const format = type === GGMLType.Q8_0 ? 'q8_0' : 'q4_0';
      return ts.map((t) => ({ format, bytes: tensorBytes(model.file, t), rows: t.dims[1]!, cols: t.dims[0]! }));
    },
  };
}

/**
 * The data of one or more tensors stacked by rows, in the element type `format` uploads best from:
 * F16 tensors stay f16 bit patterns when the target is f16; everything else becomes f32.
 */
function concat(file: GGUFFile, ts: GGUFTensorInfo[], format: WeightFormat): Float32Array<ArrayBuffer> | Uint16Array<ArrayBuffer> {
  const total = ts.reduce((a, t) => a + t.nelements, 0);
  if (format === 'f16' && ts.every((t) => t.type === GGMLType.F16)) {
    const out = new Uint16Array(total);
    let at = 0;
    for (const t of ts) {
      const b = tensorBytes(file, t);
      out.set(new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), at);
      at += t.nelements;
    }
    return out;
  }
  const out = new Float32Array(total);
  let at = 0;
  for (const t of ts) {
    dequantize(t.type, tensorBytes(file, t), t.nelements, out.subarray(at, at + t.nelements));
    at += t.nelements;
  }
  return out;
}
