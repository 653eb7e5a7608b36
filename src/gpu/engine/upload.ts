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
import { projectionTensorName } from '../../model/projections.js';
import { dequantize, GGMLType } from '../../model/tensor.js';
import { modelTensors, QK_NORMS, QKV_BIASES } from '../../model/weights.js';
import { createBufferChecked, type GpuContext } from '../device.js';
import { destroyKQuant, kquantBytes, uploadKQuantMatrix, uploadKQuantTransposedStack, type KFormat, type KQuantMatrix, type KQuantSource } from '../kquant.js';
import { vectorBytes } from '../pipeline.js';
import { destroyQuant, uploadQuantMatrix, uploadQuantTransposedStack, type QuantFormat, type QuantMatrix, type QuantSource } from '../quant.js';
import type { SparseWeights } from '../sparse_gemv.js';
import { destroyTransposed, destroyWeights, uploadMatrix, uploadTransposedStack, type WeightData, type WeightFormat, type WeightTensor } from '../weights.js';

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

/** The one storage decision, per group of tensors stacked together (one format per stack; K-quants may mix). */
function storageOf(source: WeightSource, names: string[], weightFormat: WeightFormatOption): WeightFormat | QuantFormat | 'kquant' {
  if (weightFormat !== 'auto') return weightFormat;
  const f = source.quant?.(names)?.[0]?.format;
  return f === undefined ? source.naturalFormat(names) : f === 'q8_0' || f === 'q4_0' ? f : 'kquant';
}

/** Uploads a model's weights in the layout above; on failure frees what it made. */
export async function uploadWeights(ctx: GpuContext, source: WeightSource, weightFormat: WeightFormatOption = 'auto'): Promise<ModelWeights> {
  const c = source.config;
  const frees: (() => void)[] = [];
  let bytes = 0;
  const float = async (names: string[], format: WeightFormat, label: string): Promise<WeightTensor> => {
    const m = source.matrix(names, format);
    const w = await uploadMatrix(ctx, m.data, m.rows, m.cols, format, { label });
    frees.push(() => destroyWeights(w));
    bytes += w.shards.reduce((a, s) => a + s.buffer.size, 0);
    return w;
  };
  const inputMajor = async (names: string[], label: string): Promise<SparseWeights> => {
    const format = storageOf(source, names, weightFormat);
    if (format === 'kquant') {
      const w = await uploadKQuantTransposedStack(ctx, source.quant!(names)! as KQuantSource[], { label });
      frees.push(() => destroyKQuant(w));
      bytes += kquantBytes(w);
      return w;
    }
    if (format === 'q8_0' || format === 'q4_0') {
      const w = await uploadQuantTransposedStack(ctx, source.quant!(names)! as QuantSource[], { label });
      frees.push(() => destroyQuant(w));
      bytes += w.shards.reduce((a, s) => a + s.codes.size + s.scales.size, 0);
      return w;
    }
    const mats = names.map((n) => { const m = source.matrix([n], format); return { data: m.data, rows: m.rows, cols: m.cols }; });
    const w = await uploadTransposedStack(ctx, mats, mats[0]!.cols, format, { label });
    frees.push(() => destroyTransposed(w));
    bytes += w.shards.reduce((a, s) => a + s.buffer.size, 0);
    return w;
  };
  // One buffer of the named 1-D tensors, concatenated.
  const vector = async (...names: string[]): Promise<GPUBuffer> => {
    const parts = names.map((n) => source.vector(n));
    const data = new Float32Array(parts.reduce((n, v) => n + v.length, 0));
    let at = 0;
    for (const v of parts) { data.set(v, at); at += v.length; }
    const b = await createBufferChecked(ctx.device, { label: names.join('|'), size: vectorBytes(data.length), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    ctx.device.queue.writeBuffer(b, 0, data);
    frees.push(() => b.destroy());
    bytes += b.size;
    return b;
  };
  // A K-quant matrix, row-major (embedding, output).
  const kRows = async (name: string, label: string): Promise<KQuantMatrix> => {
    const w = await uploadKQuantMatrix(ctx, source.quant!([name])![0]! as KQuantSource, { label });
    frees.push(() => destroyKQuant(w));
    bytes += kquantBytes(w);
    return w;
  };
  const destroy = () => { for (const f of frees.splice(0)) f(); };

  try {
    // The embedding table stays f32/f16 or K-quant (a Q8_0/Q4_0 table is dequantised: the lookup reads one row).
    const embdStorage = storageOf(source, ['token_embd.weight'], weightFormat);
    const embedding = embdStorage === 'kquant' ? await kRows('token_embd.weight', 'token_embd')
      : await float(['token_embd.weight'], weightFormat === 'auto' ? source.naturalFormat(['token_embd.weight']) : weightFormat, 'token_embd');
    const outFormat = storageOf(source, ['output.weight'], weightFormat);
    let output: WeightTensor | QuantMatrix | KQuantMatrix;
    if (outFormat === 'kquant') {
      output = c.tiedOutput && 'kind' in embedding ? embedding : await kRows('output.weight', 'output');
    } else if (outFormat === 'q8_0' || outFormat === 'q4_0') {
      const q = await uploadQuantMatrix(ctx, source.quant!(['output.weight'])![0]! as QuantSource, { label: 'output' });
      frees.push(() => destroyQuant(q));
      bytes += q.shards.reduce((a, s) => a + s.codes.size + s.scales.size, 0);
      output = q;
    } else {
      output = c.tiedOutput && !('kind' in embedding) && outFormat === embedding.format ? embedding : await float(['output.weight'], outFormat, 'output');
    }
    const outputNorm = await vector('output_norm.weight');
    const layers: LayerWeights[] = [];
    let quantized = 'kind' in output;
    for (let l = 0; l < c.nLayers; l++) {
      const name = (p: number) => projectionTensorName(l, p);
      const L: LayerWeights = {
        qkv: await inputMajor([name(0), name(1), name(2)], `blk.${l}.qkv`),
        o: await inputMajor([name(3)], `blk.${l}.o`),
        gateUp: await inputMajor([name(4), name(5)], `blk.${l}.gate_up`),
        down: await inputMajor([name(6)], `blk.${l}.down`),
        attnNorm: await vector(`blk.${l}.attn_norm.weight`),
        ffnNorm: await vector(`blk.${l}.ffn_norm.weight`),
        qkvBias: c.qkvBias ? await vector(...QKV_BIASES.map((s) => `blk.${l}.${s}`)) : null,
        qkNorm: c.qkNorm ? await vector(...QK_NORMS.map((s) => `blk.${l}.${s}.weight`)) : null,
      };
      quantized ||= [L.qkv, L.o, L.gateUp, L.down].some((w) => w.format !== 'f32' && w.format !== 'f16');
      layers.push(L);
    }
    const ropeFreqs = c.ropeFreqFactors ? source.vector('rope_freqs.weight') : null;
    return { embedding, output, outputNorm, layers, ropeFreqs, quantized, bytes, destroy };
  } catch (e) {
    destroy();
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
      if (kf.every((f) => f !== undefined)) {
        return ts.map((t, i) => ({ format: kf[i]!, bytes: tensorBytes(model.file, t), rows: t.dims[1]!, cols: t.dims[0]! }));
      }
      const type = ts[0]!.type;
      if ((type !== GGMLType.Q8_0 && type !== GGMLType.Q4_0) || ts.some((t) => t.type !== type)) return null;
      const format = type === GGMLType.Q8_0 ? 'q8_0' : 'q4_0';
      return ts.map((t) => ({ format, bytes: tensorBytes(model.file, t), rows: t.dims[1]!, cols: t.dims[0]! }));
    },
  };
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
