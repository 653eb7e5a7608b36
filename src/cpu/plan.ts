// Where everything of the CPU backend lives in Wasm memory, decided before anything is allocated
// (so that a model too large for Wasm32 is refused up front): weights in the CPU layout
// (src/cpu/layout.ts), norms and biases, the embedding table as the file stores it, KV caches, activations,
// thresholds, per-thread scratch and the job descriptors of assembly/cpu/jobs.ts. Page 0 belongs to
// the module's static data; every region is 64-byte aligned.

import type { LlamaConfig } from '../model/config.js';
import type { GGUFFile, GGUFTensorInfo } from '../model/gguf.js';
import { modelTensors } from '../model/weights.js';
import { PROJECTIONS, projectionShapes } from '../model/projections.js';
import { formatOf, matrixBytes, paddedOutputs, type Format } from './layout.js';
import { CONTROL_BYTES, SLICES_PER_THREAD } from './threads.js';
import { HEAP_START } from './wasm.js';

/** ggml types of embedding tables kept as f32 in Wasm memory (Q4_1, Q5_0, Q5_1). */
const EMBEDDING_AS_F32 = new Set([3, 6, 7]);

/** Outputs per GEMV tile (assembly/cpu/gemv.ts TILE): the size of each thread's scratch. */
const TILE = 1024;
/** Words of a job header and of one matrix in a GEMV job (assembly/cpu/jobs.ts). */
export const GEMV_HEADER_WORDS = 4;
export const MATRIX_WORDS = 8;
export const ATTENTION_WORDS = 11;
export const KIND_GEMV = 1;
export const KIND_ATTENTION = 2;

export interface MatrixPlan {
  tensor: GGUFTensorInfo;
  fmt: Format;
  inputs: number;
  outputs: number;
  np: number; // outputs padded to 32
  w: number; // rows
  scales: number; // the format's scale table (src/cpu/layout.ts), or 0
}

export interface LayerPlan {
  attnNorm: number; // (dim) f32
  ffnNorm: number; // (dim) f32
  /** q, k, v biases (q_dim), (kv_dim), (kv_dim) f32 zero-padded to 32, when config.qkvBias; else 0 */
  bq: number;
  bk: number;
  bv: number;
  /** per-head q and k RMSNorm weights (head_dim) f32 when config.qkNorm; else 0 */
  qNorm: number;
  kNorm: number;
  proj: MatrixPlan[]; // q k v o gate up down (PROJECTIONS order)
  tau: number[]; // per projection (inputs) f32 thresholds
  keyCache: number; // (context, kv_dim) f32
  valueCache: number; // (context, kv_dim) f32
  jobs: { qkv: number; o: number; gateUp: number; down: number; attention: number };
}

export interface CpuPlan {
  /** Bytes of Wasm memory in all (page 0 included). */
  bytes: number;
  weightBytes: number;
  kvCacheBytes: number;
  contextSize: number;
  threads: number;
  ctl: number; // thread control block
  // activations, f32, each padded to a multiple of 32 floats
  x: number; // (dim) residual stream
  xb: number; // (dim) normed input
  att: number; // (q_dim) attention output, o's input
  xb2: number; // (dim) projection output before the residual add
  q: number; // (q_dim)
  k: number; // (kv_dim)
  v: number; // (kv_dim)
  hb: number; // (hidden) gate, then silu(gate)·up
  hb2: number; // (hidden) up
  logits: number; // (vocab)
  idx: number[]; // per projection: (inputs) i32 active channels
  tmp: number; // (slices, TILE) f32 GEMV scratch
  scores: number; // (slices, context) f32 attention scratch
  rope: number; // (rope_dim/2, 2) f64 (cos θ, sin θ) of the current position (src/cpu/rope.ts)
  embedding: { ptr: number; type: number }; // the file's token_embd bytes
  outputNorm: number; // (dim) f32
  output: MatrixPlan; // (dim → vocab)
  outputJob: number;
  layers: LayerPlan[];
}

/** Bump allocation of 64-byte-aligned regions from HEAP_START. */
class Regions {
  end = HEAP_START;
  take(bytes: number): number {
    const at = this.end;
    this.end = at + Math.ceil(bytes / 64) * 64;
    return at;
  }
  f32(n: number): number {
    return this.take(4 * paddedOutputs(n));
  }
}

/** The memory plan of a model at a context size and thread count (pure arithmetic, nothing allocated). */
export function planMemory(file: GGUFFile, c: LlamaConfig, contextSize: number, threads: number): CpuPlan {
  // Scratch per slice of a job: threads take slices (src/cpu/threads.ts), one thread runs one whole.
  const slots = threads > 1 ? threads * SLICES_PER_THREAD : 1;
  const tensors = modelTensors(file, c);
  const r = new Regions();
  const kvDim = c.nKVHeads * c.headDim;
  const ctl = r.take(CONTROL_BYTES);
  const act = {
    x: r.f32(c.dim), xb: r.f32(c.dim), att: r.f32(c.qDim), xb2: r.f32(c.dim), q: r.f32(c.qDim), k: r.f32(kvDim),
    v: r.f32(kvDim), hb: r.f32(c.hiddenDim), hb2: r.f32(c.hiddenDim), logits: r.f32(c.vocabSize),
  };
  const inputs = projectionShapes(c).map((s) => s.cols);
  const idx = inputs.map((n) => r.take(4 * n));
  const tmp = r.take(4 * TILE * slots);
  const scores = r.take(4 * paddedOutputs(contextSize) * slots);
  const rope = r.take(8 * c.ropeDim);
  const job = (words: number) => r.take(4 * words);
  const gemvJob = (m: number) => job(GEMV_HEADER_WORDS + m * MATRIX_WORDS);

  const start = r.end;
  const matrix = (name: string): MatrixPlan => {
    const tensor = tensors.get(name)!;
    const [inputs, outputs] = tensor.dims as [number, number];
    const fmt = formatOf(tensor.type);
    const size = matrixBytes(fmt, inputs, outputs);
    return { tensor, fmt, inputs, outputs, np: paddedOutputs(outputs), w: r.take(size.rows), scales: size.scales ? r.take(size.scales) : 0 };
  };
  const suffix = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' } as const;
  const optional = (on: boolean, n: number) => (on ? r.f32(n) : 0);
  const layers: Omit<LayerPlan, 'keyCache' | 'valueCache' | 'jobs' | 'tau'>[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    layers.push({
      attnNorm: r.f32(c.dim), ffnNorm: r.f32(c.dim),
      bq: optional(c.qkvBias, c.qDim), bk: optional(c.qkvBias, kvDim), bv: optional(c.qkvBias, kvDim),
      qNorm: optional(c.qkNorm, c.headDim), kNorm: optional(c.qkNorm, c.headDim),
      proj: PROJECTIONS.map((p) => matrix(`blk.${l}.${suffix[p]}.weight`)),
    });
  }
  const emb = tensors.get('token_embd.weight')!;
  // Rows are dequantised in Wasm per token; the 32-weight offset types it has no row decoder for
  // (Q4_1, Q5_0, Q5_1: tables of odd-width models) are stored as f32 instead.
  const embF32 = EMBEDDING_AS_F32.has(emb.type);
  const embedding = { ptr: r.take(embF32 ? 4 * emb.nelements : emb.nbytes), type: embF32 ? 0 : (emb.type as number) };
  const outputNorm = r.f32(c.dim);
  const output = matrix('output.weight');
  const weightBytes = r.end - start;

  const kvStart = r.end;
  const caches = layers.map(() => ({ keyCache: r.take(4 * contextSize * kvDim), valueCache: r.take(4 * contextSize * kvDim) }));
  const kvCacheBytes = r.end - kvStart;
  const full: LayerPlan[] = layers.map((L, l) => ({
    ...L,
    ...caches[l]!,
    tau: inputs.map((n) => r.take(4 * n)),
    jobs: { qkv: gemvJob(3), o: gemvJob(1), gateUp: gemvJob(2), down: gemvJob(1), attention: job(ATTENTION_WORDS) },
  }));
  const outputJob = gemvJob(1);
  return {
    bytes: r.end, weightBytes, kvCacheBytes, contextSize, threads, ctl, ...act, idx, tmp, scores, rope, embedding, outputNorm,
    output, outputJob, layers: full,
  };
}

/** Bytes per scratch slot of one slice (GEMV tmp, attention scores). */
export function scratchStrides(plan: CpuPlan): { tmp: number; scores: number } {
  return { tmp: 4 * TILE, scores: 4 * paddedOutputs(plan.contextSize) };
}
