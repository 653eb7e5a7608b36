// embedding: out(T, dim) = table[tokens[t]], the token ids read from step.tokens (written per step),
// so the same recorded dispatches serve every token. The table is a WeightTensor (vocab, dim), f32 or
// f16, possibly sharded by rows: one dispatch per shard, and only the shard holding the id writes; or a
// K-quant matrix (kquant.ts row-major), each element decoded exactly as ggml's dequantize_row_q*_K.
import embeddingWGSL from '../../shaders/embedding.wgsl';
import type { GpuContext } from './device.js';
import { checkBuffer, dispatchOp, checkPow2, entries, pipelineFor, renderWGSL, UniformWriter, type PreparedOp } from './pipeline.js';
import { K_KIND, type KQuantMatrix } from './kquant.js';
import type { Step } from './step.js';
import type { WeightTensor } from './weights.js';
import { KernelArgumentError } from '../errors.js';

export interface EmbeddingOptions {
  step: Step;
  table: WeightTensor | KQuantMatrix;
  /** out[outOffset + t·outStride + i], outStride default table.cols. */
  out: GPUBuffer;
  outOffset?: number;
  outStride?: number;
  workgroupSize?: number;
  label?: string;
}

export interface EmbeddingShape {
  WG: number;
  F16: boolean;
  /** K-quant table; KIND 0 Q4_K, 1 Q5_K, 2 Q6_K (only with KQ). */
  KQ: boolean;
  KIND?: number;
}

export function wgsl(shape: EmbeddingShape): string {
  return renderWGSL('embedding', embeddingWGSL, { ...shape });
}

export async function prepare(ctx: GpuContext, opts: EmbeddingOptions): Promise<PreparedOp> {
  const { step, table, out } = opts;
  const label = opts.label ?? 'embedding';
  const outOffset = opts.outOffset ?? 0;
  const outStride = opts.outStride ?? table.cols;
  const WG = opts.workgroupSize ?? 256;
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  const KQ = 'kind' in table;
  if (!KQ && table.layout !== 'rows') throw new KernelArgumentError(label, 'the table must have the rows layout');
  const T = step.maxTokens;
  checkBuffer(label, 'out', out, 4 * (outOffset + (T - 1) * outStride + table.cols));

  const pipeline = await pipelineFor(ctx, 'embedding', wgsl(KQ ? { WG, F16: false, KQ, KIND: K_KIND[table.format] } : { WG, F16: table.format === 'f16', KQ }));
  const uniforms: GPUBuffer[] = [];
  const bindGroups = table.shards.map((shard, i) => {
    const uniform = new UniformWriter()
      .u32(shard.firstRow).u32(shard.rows).u32(table.cols).u32(KQ ? 0 : table.rowStride).u32(outOffset).u32(outStride).u32(0).u32(0)
      .create(ctx.device, `${label}.params[${i}]`);
    uniforms.push(uniform);
    const bound = 'supers' in shard ? [uniform, step.uniform, step.tokens, shard.codes, out, shard.scales, shard.high, shard.supers] : [uniform, step.uniform, step.tokens, shard.buffer, out];
    return ctx.device.createBindGroup({ label: `${label}[${i}]`, layout: pipeline.getBindGroupLayout(0), entries: entries(...bound) });
  });
  const groups = Math.ceil(table.cols / WG);
  return dispatchOp(label, pipeline, bindGroups.map((bindGroup) => ({ bindGroup, size: [groups, T, 1] as const })), uniforms);
}
