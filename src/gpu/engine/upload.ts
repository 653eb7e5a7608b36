// The model's weights on the GPU, and the one layout decision: every block matrix (q|k|v, o, gate|up,
// down) is stored once, input-channel-major (Wᵀ: stored row j = input channel j's weights for every
// output), in the format the file has it — f32, packed f16, Q8_0/Q4_0 codes kept quantized, or K-quants
// (Q4_K/Q5_K/Q6_K, mixed within a stack, repacked losslessly: kquant.ts) — and that one copy serves dense
// and sparse decoding (sparse_gemv with or without τ) and, for f32/f16, prompts (gemm_t).
// The embedding table and the output matrix stay row-major (a lookup reads one row; the output is not
// sparsified and gemv/gemm/qgemv read it best row-major; a tied output is the embedding table itself);
// K-quant ones stay quantized (embedding and qgemv decode them), other quantized tables become f32.
import type { LlamaConfig } from '../../model/config.js';
import { tensorBytes, type GGUFFile, type GGUFTensorInfo } from '../../model/gguf.js';
import type { Model } from '../../model/model.js';
import { projectionShapes, projectionTensorName } from '../../model/projections.js';
import { dequantize, GGMLType } from '../../model/tensor.js';
import { modelTensors, QK_NORMS, QKV_BIASES } from '../../model/weights.js';
import { createBufferChecked, type GpuContext } from '../device.js';
import { destroyKQuant, kquantBytes, kquantMatrixLayout, kquantTransposedLayout, uploadKQuantMatrix, uploadKQuantTransposedStack, type KFormat, type KQuantMatrix, type KQuantSource } from '../kquant.js';
import { vectorBytes } from '../pipeline.js';
import { destroyQuant, isQuantFormat, quantMatrixLayout, quantTransposedLayout, uploadQuantMatrix, uploadQuantTransposedStack, type QuantFormat, type QuantMatrix, type QuantSource } from '../quant.js';
import type { SparseWeights, SplitGeometry } from '../sparse_gemv.js';
import { destroyTransposed, destroyWeights, matrixLayout, transposedLayout, uploadMatrix, uploadTransposedStack, type ShardedLayout, type WeightData, type WeightFormat, type WeightTensor } from '../weights.js';

/** Where the engine's weights come from: named llama tensors, by GGUF name. */
export interface WeightSource {
  config: LlamaConfig;
  /** The format a tensor group is stored in without conversion ('f16' for F16 tensors). */
  naturalFormat(names: string[]): WeightFormat;
  /** The named matrices stacked by rows: f16 bit patterns when `format` is f16 and the data are f16, else f32. */
  matrix(names: string[], format: WeightFormat): { data: WeightData; rows: number; cols: number };
  /** A 1-D tensor (norm weights, biases, rope factors) as f32. */
  vector(name: string): Float32Array<ArrayBuffer>;
  /** The named matrices' raw blocks when all are Q8_0, all Q4_0, or all K-quants (Q4_K/Q5_K/Q6_K, mixed), else null. */
  quant?(names: string[]): QuantSource[] | KQuantSource[] | null;
}

/**
 * Weight storage: 'auto' keeps F16 tensors packed f16 and Q8_0/Q4_0/K-quant tensors quantized, and stores
 * everything else as f32 (other quantized types dequantised); 'f32' or 'f16' store every matrix in that
 * format (quantized ones dequantised).
 */
export type WeightFormatOption = 'auto' | WeightFormat;

/** One block's projections, each stack one input-major copy (segments in PROJECTIONS order). */
export interface LayerWeights {
  qkv: SparseWeights; // segments q, k, v: (dim) stored rows of (q_dim + 2·kv_dim) outputs
  o: SparseWeights; // (q_dim) stored rows of (dim)
  gateUp: SparseWeights; // segments gate, up: (dim) stored rows of (2·hidden)
  down: SparseWeights; // (hidden) stored rows of (dim)
  attnNorm: GPUBuffer; // (dim)
  ffnNorm: GPUBuffer; // (dim)
  qkvBias: GPUBuffer | null; // (q_dim + 2·kv_dim) q | k | v biases, when config.qkvBias
  qkNorm: GPUBuffer | null; // (2, head_dim) the q heads' RMSNorm weight, the k heads', when config.qkNorm
}

export interface ModelWeights {
  embedding: WeightTensor | KQuantMatrix; // (vocab, dim) row-major
  output: WeightTensor | QuantMatrix | KQuantMatrix; // (vocab, dim) row-major; the embedding itself when tied
  outputNorm: GPUBuffer; // (dim)
  layers: LayerWeights[];
  /** (rope_dim / 2) divisors of the rope frequencies when config.ropeFreqFactors (on the CPU: the table is built from them). */
  ropeFreqs: Float32Array | null;
  /** Some block matrix or the output is kept quantized (gemm_t and gemm read only f32/f16: prompts then run token by token). */
  quantized: boolean;
  /** GPU bytes of all of the above. */
  bytes: number;
  destroy(): void;
}

type Storage = WeightFormat | QuantFormat | 'kquant';

/** The one storage decision, per group of tensors stacked together (one format per stack; K-quants may mix). */
function storageOf(source: WeightSource, names: string[], weightFormat: WeightFormatOption): Storage {
  if (weightFormat !== 'auto') return weightFormat;
  const f = source.quant?.(names)?.[0]?.format;
  return f === undefined ? source.naturalFormat(names) : f === 'q8_0' || f === 'q4_0' ? f : 'kquant';
}

/**
 * Embedding and output: f32/f16 or K-quant (a Q8_0/Q4_0 table is dequantised: the lookup reads one row);
 * the output may stay Q8_0/Q4_0; `tied`: the output is the embedding table's buffers.
 */
function tableStorage(source: WeightSource, weightFormat: WeightFormatOption): { embedding: 'kquant' | WeightFormat; output: Storage; tied: boolean } {
  const embedding = storageOf(source, ['token_embd.weight'], weightFormat) === 'kquant' ? 'kquant'
    : weightFormat === 'auto' ? source.naturalFormat(['token_embd.weight']) : weightFormat;
  const output = storageOf(source, ['output.weight'], weightFormat);
  return { embedding, output, tied: source.config.tiedOutput && output === embedding };
}

const isFloat = (s: Storage): s is WeightFormat => s === 'f32' || s === 'f16';

/** The tensors of each block stack, in upload order (q|k|v, o, gate|up, down: PROJECTIONS order). */
const STACKS = [['qkv', [0, 1, 2]], ['o', [3]], ['gateUp', [4, 5]], ['down', [6]]] as const;
const STACK_LABELS = { qkv: 'qkv', o: 'o', gateUp: 'gate_up', down: 'down' } as const;
type StackName = (typeof STACKS)[number][0];

/** A GPU buffer planned before it exists. `bound`: bound whole as storage (else only mapped: MAP_READ). */
export interface PlannedBuffer {
  label: string;
  bytes: number;
  bound: boolean;
}

/** The weights' buffers as uploadWeights will make them, from the same layout functions, with nothing read or allocated. */
export interface WeightPlan {
  buffers: PlannedBuffer[];
  bytes: number;
  /** As ModelWeights.quantized. */
  quantized: boolean;
  /** Per layer, the split-K geometry of each stack (what the run state's scratch is sized by). */
  layers: Record<StackName, SplitGeometry>[];
  /** Pieces that no shard can hold (one row, or a group of stored rows, over the binding limit). */
  unsplittable: { label: string; unit: string; bytes: number }[];
}

export function planWeights(source: WeightSource, weightFormat: WeightFormatOption, maxShardBytes: number): WeightPlan {
  const c = source.config;
  const plan: WeightPlan = { buffers: [], bytes: 0, quantized: false, layers: [], unsplittable: [] };
  const add = <T extends ShardedLayout>(label: string, L: T): T => {
    if (!L.shards.length) plan.unsplittable.push({ label, unit: L.unit, bytes: L.unitBytes });
    L.shards.forEach((s, i) => { for (const bytes of s.buffers) plan.buffers.push({ label: `${label}[${i}]`, bytes, bound: true }); });
    return L;
  };
  const vector = (label: string, n: number) => plan.buffers.push({ label, bytes: vectorBytes(n), bound: true });
  const table = (name: string, label: string, format: Storage) => add(label,
    format === 'kquant' ? kquantMatrixLayout((source.quant!([name])![0] as KQuantSource).format, c.vocabSize, c.dim, maxShardBytes)
      : isQuantFormat(format) ? quantMatrixLayout(format, c.vocabSize, c.dim, maxShardBytes)
        : matrixLayout(format, c.vocabSize, c.dim, 1, maxShardBytes));
  const t = tableStorage(source, weightFormat);
  table('token_embd.weight', 'token_embd', t.embedding);
  if (!t.tied) table('output.weight', 'output', t.output);
  plan.quantized = !isFloat(t.output);
  vector('output_norm.weight', c.dim);
  const shapes = projectionShapes(c);
  for (let l = 0; l < c.nLayers; l++) {
    const geometry: Partial<Record<StackName, SplitGeometry>> = {};
    for (const [stack, ps] of STACKS) {
      const names = ps.map((p) => projectionTensorName(l, p));
      const rows = ps.map((p) => shapes[p]!.rows);
      const cols = shapes[ps[0]]!.cols;
      const f = storageOf(source, names, weightFormat);
      plan.quantized ||= !isFloat(f);
      const L = add(`blk.${l}.${STACK_LABELS[stack]}`,
        f === 'kquant' ? kquantTransposedLayout(source.quant!(names)! as KQuantSource[], cols, maxShardBytes)
          : isQuantFormat(f) ? quantTransposedLayout(f, rows, cols, maxShardBytes) : transposedLayout(f, rows, cols, maxShardBytes));
      geometry[stack] = { cols, rowStride: L.rowStride, shards: L.shards.map((s) => ({ cols: s.count })) };
    }
    plan.layers.push(geometry as Record<StackName, SplitGeometry>);
    vector(`blk.${l}.attn_norm`, c.dim);
    vector(`blk.${l}.ffn_norm`, c.dim);
    if (c.qkvBias) vector(`blk.${l}.qkv_bias`, c.qDim + 2 * c.nKVHeads * c.headDim);
    if (c.qkNorm) vector(`blk.${l}.qk_norm`, 2 * c.headDim);
  }
  plan.bytes = plan.buffers.reduce((a, b) => a + b.bytes, 0);
  return plan;
}

/** Uploads tensors of one model in the layout above, keeping what it made (to free) and its GPU bytes. */
class Uploader {
  private readonly frees: (() => void)[] = [];
  bytes = 0;

  constructor(private readonly ctx: GpuContext, private readonly source: WeightSource, private readonly weightFormat: WeightFormatOption) {}

  private keep<T>(w: T, bytes: number, free: () => void): T {
    this.frees.push(free);
    this.bytes += bytes;
    return w;
  }

  /** A row-major f32/f16 matrix (embedding, output). */
  async float(names: string[], format: WeightFormat, label: string): Promise<WeightTensor> {
    const m = this.source.matrix(names, format);
    const w = await uploadMatrix(this.ctx, m.data, m.rows, m.cols, format, { label });
    return this.keep(w, w.shards.reduce((a, s) => a + s.buffer.size, 0), () => destroyWeights(w));
  }

  /** A block matrix stack, input-major in its storage format. */
  async inputMajor(names: string[], label: string): Promise<SparseWeights> {
    const format = storageOf(this.source, names, this.weightFormat);
    if (format === 'kquant') {
      const w = await uploadKQuantTransposedStack(this.ctx, this.source.quant!(names)! as KQuantSource[], { label });
      return this.keep(w, kquantBytes(w), () => destroyKQuant(w));
    }
    if (format === 'q8_0' || format === 'q4_0') {
      const w = await uploadQuantTransposedStack(this.ctx, this.source.quant!(names)! as QuantSource[], { label });
      return this.keep(w, w.shards.reduce((a, s) => a + s.codes.size + s.scales.size, 0), () => destroyQuant(w));
    }
    const mats = names.map((n) => { const m = this.source.matrix([n], format); return { data: m.data, rows: m.rows, cols: m.cols }; });
    const w = await uploadTransposedStack(this.ctx, mats, mats[0]!.cols, format, { label });
    return this.keep(w, w.shards.reduce((a, s) => a + s.buffer.size, 0), () => destroyTransposed(w));
  }

  /** One buffer of the named 1-D tensors, concatenated. */
  async vector(...names: string[]): Promise<GPUBuffer> {
    const parts = names.map((n) => this.source.vector(n));
    const data = new Float32Array(parts.reduce((n, v) => n + v.length, 0));
    let at = 0;
    for (const v of parts) { data.set(v, at); at += v.length; }
    const b = await createBufferChecked(this.ctx.device, { label: names.join('|'), size: vectorBytes(data.length), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.ctx.device.queue.writeBuffer(b, 0, data);
    return this.keep(b, b.size, () => b.destroy());
  }

  /** A quantized matrix, row-major (embedding, output). */
  async rows(name: string, label: string, format: 'kquant' | 'q8_0' | 'q4_0'): Promise<KQuantMatrix | QuantMatrix> {
    if (format === 'kquant') {
      const w = await uploadKQuantMatrix(this.ctx, this.source.quant!([name])![0]! as KQuantSource, { label });
      return this.keep(w, kquantBytes(w), () => destroyKQuant(w));
    }
    const q = await uploadQuantMatrix(this.ctx, this.source.quant!([name])![0]! as QuantSource, { label });
    return this.keep(q, q.shards.reduce((a, s) => a + s.codes.size + s.scales.size, 0), () => destroyQuant(q));
  }

  destroy(): void {
    for (const f of this.frees.splice(0)) f();
  }
}

/** Embedding and output as tableStorage decides; a tied output reuses the table. */
async function tables(u: Uploader, source: WeightSource, weightFormat: WeightFormatOption): Promise<Pick<ModelWeights, 'embedding' | 'output'>> {
  const t = tableStorage(source, weightFormat);
  const embedding = t.embedding === 'kquant' ? await u.rows('token_embd.weight', 'token_embd', 'kquant') as KQuantMatrix
    : await u.float(['token_embd.weight'], t.embedding, 'token_embd');
  if (t.tied) return { embedding, output: embedding };
  return { embedding, output: isFloat(t.output) ? await u.float(['output.weight'], t.output, 'output') : await u.rows('output.weight', 'output', t.output) };
}

/** Uploads a model's weights in the layout above; on failure frees what it made. */
export async function uploadWeights(ctx: GpuContext, source: WeightSource, weightFormat: WeightFormatOption = 'auto'): Promise<ModelWeights> {
  const c = source.config;
  const u = new Uploader(ctx, source, weightFormat);
  try {
    const { embedding, output } = await tables(u, source, weightFormat);
    const outputNorm = await u.vector('output_norm.weight');
    const layers: LayerWeights[] = [];
    let quantized = 'kind' in output;
    for (let l = 0; l < c.nLayers; l++) {
      const name = (p: number) => projectionTensorName(l, p);
      const stack = (i: number) => u.inputMajor(STACKS[i]![1].map(name), `blk.${l}.${STACK_LABELS[STACKS[i]![0]]}`);
      const L: LayerWeights = {
        qkv: await stack(0),
        o: await stack(1),
        gateUp: await stack(2),
        down: await stack(3),
        attnNorm: await u.vector(`blk.${l}.attn_norm.weight`),
        ffnNorm: await u.vector(`blk.${l}.ffn_norm.weight`),
        qkvBias: c.qkvBias ? await u.vector(...QKV_BIASES.map((s) => `blk.${l}.${s}`)) : null,
        qkNorm: c.qkNorm ? await u.vector(...QK_NORMS.map((s) => `blk.${l}.${s}.weight`)) : null,
      };
      quantized ||= [L.qkv, L.o, L.gateUp, L.down].some((w) => w.format !== 'f32' && w.format !== 'f16');
      layers.push(L);
    }
    const ropeFreqs = c.ropeFreqFactors ? source.vector('rope_freqs.weight') : null;
    return { embedding, output, outputNorm, layers, ropeFreqs, quantized, bytes: u.bytes, destroy: () => u.destroy() };
  } catch (e) {
    u.destroy();
    throw e;
  }
}

/** The weights of a GGUF model; quantized tensors other than kept Q8_0/Q4_0/K-quants are dequantised to f32 (exact). */
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
      const kf = ts.map((t) => K_FORMATS[t.type]);
      if (kf.every((f) => f !== undefined)) return ts.map((t, i) => blocks(model.file, t, kf[i]!));
      const type = ts[0]!.type;
      if ((type !== GGMLType.Q8_0 && type !== GGMLType.Q4_0) || ts.some((t) => t.type !== type)) return null;
      const format = type === GGMLType.Q8_0 ? 'q8_0' : 'q4_0';
      return ts.map((t) => blocks(model.file, t, format));
    },
  };
}

/** A tensor's blocks, read from the file when an uploader first reads `bytes` (deciding formats and planning read nothing). */
function blocks<F>(file: GGUFFile, t: GGUFTensorInfo, format: F): { format: F; bytes: Uint8Array; rows: number; cols: number } {
  let bytes: Uint8Array | undefined;
  return { format, rows: t.dims[1]!, cols: t.dims[0]!, get bytes() { return (bytes ??= tensorBytes(file, t)); } };
}

const K_FORMATS: Partial<Record<number, KFormat>> = { [GGMLType.Q4_K]: 'q4_k', [GGMLType.Q5_K]: 'q5_k', [GGMLType.Q6_K]: 'q6_k' };

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
