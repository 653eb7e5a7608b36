// The run state of the WebGPU backend, allocated once at load (llama2.c's RunState): activations for a
// chunk of T tokens (decode uses row 0), the KV cache per layer, the split-K scratch of the decode
// program, the τ buffers and active-channel counters of sparse decoding, the step uniforms, the rope
// table and the readback buffer. Nothing here is allocated per token.
import type { LlamaConfig } from '../../model/config.js';
import { INPUT_GROUPS, PROJECTION_GROUP, PROJECTIONS, projectionShapes } from '../../model/projections.js';
import { ropeSpec } from '../../reference/llama.js';
import { kvCacheBytes, type KVFormat } from '../attention.js';
import { createBufferChecked, type GpuContext } from '../device.js';
import { vectorBytes } from '../pipeline.js';
import { createRopeTable, ropeTableBytes, type RopeTable } from '../rope.js';
import { scratchBytes, defaultKChunk, type SplitGeometry } from '../sparse_gemv.js';
import { createStep, stepTokensBytes, type Step } from '../step.js';
import type { ModelWeights } from './upload.js';

/** GPU bytes held by the backend, by kind (for reports and memory budgeting); uniform buffers (kernel parameters, a few KiB) aside. */
export interface GpuMemoryReport {
  /** The model's matrices and norm vectors: one copy, whatever the mode. */
  weights: number;
  kvCache: number;
  /** Activations, scratch (split-K, attention), logits and their readback, τ, counters, step tokens, the rope table. */
  activations: number;
  total: number;
}

export interface RunState {
  x: GPUBuffer; // (T, dim) the residual stream
  qkv: GPUBuffer; // (T, q_dim + 2·kv_dim)
  att: GPUBuffer; // (T, q_dim) attention output
  hb: GPUBuffer; // (T, 2·hidden) gate | up (prefill)
  logits: GPUBuffer; // (T, vocab)
  argmax: GPUBuffer; // (1) u32
  readback: GPUBuffer; // (T, vocab) MAP_READ
  keyCache: GPUBuffer[]; // per layer (context, kv_dim) in kvFormat
  valueCache: GPUBuffer[]; // per layer (context, kv_dim) in kvFormat
  kvFormat: KVFormat;
  scratch: GPUBuffer; // split-K partials of q|k|v, o, gate|up (one op at a time)
  downScratch: GPUBuffer; // down's partials (down reads gate|up's from `scratch` meanwhile)
  tau: GPUBuffer[][]; // per layer, per input group (qkv, o, gate_up, down): the stacked τ of its projections
  counters: GPUBuffer; // (layers · 7) u32 active channels, by counterSlot
  countersReadback: GPUBuffer;
  decodeStep: Step;
  prefillStep: Step;
  ropeTable: RopeTable;
  memory: GpuMemoryReport;
  destroy(): void;
}

/** Length of the τ vector of each input group: its projections' cols, stacked. */
export function groupTauLength(c: LlamaConfig, g: number): number {
  const shapes = projectionShapes(c);
  return PROJECTIONS.reduce((n, _, p) => n + (PROJECTION_GROUP[p] === g ? shapes[p]!.cols : 0), 0);
}

/** Bytes of each run-state buffer, the one sizing createRunState and the memory planner (plan.ts) share. */
export interface RunStateSizes {
  x: number;
  qkv: number;
  att: number;
  hb: number;
  logits: number;
  argmax: number;
  readback: number;
  /** Each layer's key cache, and its value cache. */
  kv: number;
  scratch: number;
  downScratch: number;
  /** Per input group, each layer's. */
  tau: number[];
  counters: number;
  /** The decode step's token buffer, the prefill step's. */
  stepTokens: [number, number];
  ropeTable: number;
}

/** The sizes for `layers` of split-K geometry (weights or their plan), `contextSize` positions of a `kvFormat` cache and chunks of T tokens. */
export function runStateSizes(c: LlamaConfig, layers: readonly Record<'qkv' | 'o' | 'gateUp' | 'down', SplitGeometry>[], contextSize: number, T: number,
  kvFormat: KVFormat): RunStateSizes {
  const kvDim = c.nKVHeads * c.headDim;
  const splitBytes = (w: SplitGeometry) => scratchBytes(w, defaultKChunk(w));
  return {
    x: vectorBytes(T * c.dim),
    qkv: vectorBytes(T * (c.qDim + 2 * kvDim)),
    att: vectorBytes(T * c.qDim),
    hb: vectorBytes(T * 2 * c.hiddenDim),
    logits: vectorBytes(T * c.vocabSize),
    argmax: 16,
    readback: T * c.vocabSize * 4,
    kv: kvCacheBytes(contextSize, kvDim, kvFormat),
    scratch: Math.max(...layers.flatMap((L) => [L.qkv, L.o, L.gateUp].map(splitBytes))),
    downScratch: Math.max(...layers.map((L) => splitBytes(L.down))),
    tau: INPUT_GROUPS.map((_, i) => vectorBytes(groupTauLength(c, i))),
    counters: 4 * PROJECTIONS.length * c.nLayers,
    stepTokens: [stepTokensBytes(1), stepTokensBytes(T)],
    ropeTable: ropeTableBytes(contextSize, c.ropeDim),
  };
}

/** Every run-state buffer of `sizes` for the planner: what is bound whole (all but the MAP_READ readbacks), and which part it counts in. */
export function runStateBuffers(c: LlamaConfig, z: RunStateSizes): { label: string; bytes: number; bound: boolean; part: 'kvCache' | 'activations' }[] {
  const act = (label: string, bytes: number, bound = true) => ({ label, bytes, bound, part: 'activations' as 'kvCache' | 'activations' });
  const out = [
    act('x', z.x), act('qkv', z.qkv), act('att', z.att), act('hb', z.hb), act('logits', z.logits), act('argmax', z.argmax),
    act('readback', z.readback, false), act('scratch', z.scratch), act('scratch_down', z.downScratch), act('counters', z.counters),
    act('counters.readback', z.counters, false), act('decode.tokens', z.stepTokens[0]), act('prefill.tokens', z.stepTokens[1]), act('rope.table', z.ropeTable),
  ];
  for (let l = 0; l < c.nLayers; l++) {
    out.push({ label: `blk.${l}.k_cache`, bytes: z.kv, bound: true, part: 'kvCache' }, { label: `blk.${l}.v_cache`, bytes: z.kv, bound: true, part: 'kvCache' });
    INPUT_GROUPS.forEach((g, i) => out.push(act(`blk.${l}.tau_${g}`, z.tau[i]!)));
  }
  return out;
}

export async function createRunState(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, contextSize: number, T: number, kvFormat: KVFormat): Promise<RunState> {
  const { device } = ctx;
  const owned: GPUBuffer[] = [];
  const memory: GpuMemoryReport = { weights: W.bytes, kvCache: 0, activations: 0, total: 0 };
  const count = (b: GPUBuffer, kind: 'kvCache' | 'activations' = 'activations') => {
    owned.push(b);
    if (!(b.usage & GPUBufferUsage.UNIFORM)) memory[kind] += b.size;
    return b;
  };
  const z = runStateSizes(c, W.layers, contextSize, T, kvFormat);
  const buffer = async (label: string, bytes: number, kind: 'kvCache' | 'activations', extra = 0) =>
    count(await createBufferChecked(device, { label, size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | extra }), kind);
  const mapRead = (label: string, bytes: number) => count(device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  try {
    const state: Omit<RunState, 'memory' | 'destroy' | 'decodeStep' | 'prefillStep' | 'ropeTable'> = {
      kvFormat,
      x: await buffer('x', z.x, 'activations'),
      qkv: await buffer('qkv', z.qkv, 'activations'),
      att: await buffer('att', z.att, 'activations'),
      hb: await buffer('hb', z.hb, 'activations'),
      logits: await buffer('logits', z.logits, 'activations', GPUBufferUsage.COPY_SRC),
      argmax: await buffer('argmax', z.argmax, 'activations', GPUBufferUsage.COPY_SRC),
      readback: mapRead('readback', z.readback),
      keyCache: [],
      valueCache: [],
      scratch: await buffer('scratch', z.scratch, 'activations'),
      downScratch: await buffer('scratch_down', z.downScratch, 'activations'),
      tau: [],
      counters: await buffer('counters', z.counters, 'activations', GPUBufferUsage.COPY_SRC),
      countersReadback: mapRead('counters.readback', z.counters),
    };
    for (let l = 0; l < c.nLayers; l++) {
      state.keyCache.push(await buffer(`blk.${l}.k_cache`, z.kv, 'kvCache'));
      state.valueCache.push(await buffer(`blk.${l}.v_cache`, z.kv, 'kvCache'));
      state.tau.push(await Promise.all(INPUT_GROUPS.map((g, i) => buffer(`blk.${l}.tau_${g}`, z.tau[i]!, 'activations'))));
    }
    const decodeStep = createStep(ctx, 1, 'decode');
    const prefillStep = createStep(ctx, T, 'prefill');
    for (const b of [decodeStep.uniform, decodeStep.tokens, prefillStep.uniform, prefillStep.tokens]) count(b);
    const ropeTable = await createRopeTable(ctx, { contextLength: contextSize, spec: ropeSpec(c, W) });
    count(ropeTable.buffer);
    memory.total = memory.weights + memory.kvCache + memory.activations;
    return { ...state, decodeStep, prefillStep, ropeTable, memory, destroy: () => { for (const b of owned.splice(0)) b.destroy(); } };
  } catch (e) {
    for (const b of owned) b.destroy();
    throw e;
  }
}
