// The run state of the WebGPU backend, allocated once at load (llama2.c's RunState): activations for a
// chunk of T tokens (decode uses row 0), the KV cache per layer, the split-K scratch of the decode
// program, the τ buffers and active-channel counters of sparse decoding, the step uniforms, the rope
// table and the readback buffer. Nothing here is allocated per token.
import type { LlamaConfig } from '../../model/config.js';
import { INPUT_GROUPS, PROJECTION_GROUP, PROJECTIONS, projectionShapes } from '../../model/projections.js';
import { ropeSpec } from '../../reference/llama.js';
import { createBufferChecked, type GpuContext } from '../device.js';
import { vectorBytes } from '../pipeline.js';
import { createRopeTable, type RopeTable } from '../rope.js';
import { scratchBytes, defaultKChunk } from '../sparse_gemv.js';
import { createStep, type Step } from '../step.js';
import type { ModelWeights } from './upload.js';

/** GPU bytes held by the backend, by kind (for reports and memory budgeting). */
export interface GpuMemoryReport {
  /** The model's matrices and norm vectors: one copy, whatever the mode. */
  weights: number;
  kvCache: number;
  /** Activations, scratch, logits, τ and counters. */
  activations: number;
}

export interface RunState {
  x: GPUBuffer; // (T, dim) the residual stream
  qkv: GPUBuffer; // (T, q_dim + 2·kv_dim)
  att: GPUBuffer; // (T, q_dim) attention output
  hb: GPUBuffer; // (T, 2·hidden) gate | up (prefill)
  logits: GPUBuffer; // (T, vocab)
  argmax: GPUBuffer; // (1) u32
  readback: GPUBuffer; // (T, vocab) MAP_READ
  keyCache: GPUBuffer[]; // per layer (context, kv_dim)
  valueCache: GPUBuffer[]; // per layer (context, kv_dim)
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

export async function createRunState(ctx: GpuContext, c: LlamaConfig, W: ModelWeights, contextSize: number, T: number): Promise<RunState> {
  const { device } = ctx;
  const owned: GPUBuffer[] = [];
  const memory: GpuMemoryReport = { weights: W.bytes, kvCache: 0, activations: 0 };
  const buffer = async (label: string, bytes: number, kind: 'kvCache' | 'activations', extra = 0) => {
    const b = await createBufferChecked(device, { label, size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | extra });
    owned.push(b);
    memory[kind] += bytes;
    return b;
  };
  const mapRead = (label: string, bytes: number) => {
    const b = device.createBuffer({ label, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    owned.push(b);
    return b;
  };
  try {
    const kvDim = c.nKVHeads * c.headDim;
    const kvBytes = contextSize * kvDim * 4;
    const splitBytes = (w: ModelWeights['layers'][number]['qkv']) => scratchBytes(w, defaultKChunk(w));
    const statsBytes = 4 * PROJECTIONS.length * c.nLayers;
    const state: Omit<RunState, 'memory' | 'destroy' | 'decodeStep' | 'prefillStep' | 'ropeTable'> = {
      x: await buffer('x', vectorBytes(T * c.dim), 'activations'),
      qkv: await buffer('qkv', vectorBytes(T * (c.qDim + 2 * kvDim)), 'activations'),
      att: await buffer('att', vectorBytes(T * c.qDim), 'activations'),
      hb: await buffer('hb', vectorBytes(T * 2 * c.hiddenDim), 'activations'),
      logits: await buffer('logits', vectorBytes(T * c.vocabSize), 'activations', GPUBufferUsage.COPY_SRC),
      argmax: await buffer('argmax', 16, 'activations', GPUBufferUsage.COPY_SRC),
      readback: mapRead('readback', T * c.vocabSize * 4),
      keyCache: [],
      valueCache: [],
      scratch: await buffer('scratch', Math.max(...W.layers.flatMap((L) => [L.qkv, L.o, L.gateUp].map(splitBytes))), 'activations'),
      downScratch: await buffer('scratch_down', Math.max(...W.layers.map((L) => splitBytes(L.down))), 'activations'),
      tau: [],
      counters: await buffer('counters', statsBytes, 'activations', GPUBufferUsage.COPY_SRC),
      countersReadback: mapRead('counters.readback', statsBytes),
    };
    for (let l = 0; l < c.nLayers; l++) {
      state.keyCache.push(await buffer(`blk.${l}.k_cache`, kvBytes, 'kvCache'));
      state.valueCache.push(await buffer(`blk.${l}.v_cache`, kvBytes, 'kvCache'));
      state.tau.push(await Promise.all(INPUT_GROUPS.map((g, i) => buffer(`blk.${l}.tau_${g}`, vectorBytes(groupTauLength(c, i)), 'activations'))));
    }
    const decodeStep = createStep(ctx, 1, 'decode');
    const prefillStep = createStep(ctx, T, 'prefill');
    owned.push(decodeStep.uniform, decodeStep.tokens, prefillStep.uniform, prefillStep.tokens);
    const ropeTable = await createRopeTable(ctx, { contextLength: contextSize, spec: ropeSpec(c, W) });
    owned.push(ropeTable.buffer);
    return { ...state, decodeStep, prefillStep, ropeTable, memory, destroy: () => { for (const b of owned.splice(0)) b.destroy(); } };
  } catch (e) {
    for (const b of owned) b.destroy();
    throw e;
  }
}
