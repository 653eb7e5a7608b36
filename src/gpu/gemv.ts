// gemv: y = W·x for one token, the decode hot path (memory-bound: every weight byte is read once).
// Fusions, each a template switch: RMSNorm of x before the product (norm), y += W·x (accumulate, for
// the residual), and SwiGLU over a gate-up weight (silu(gate·x)·(up·x)). One dispatch per shard.
// Defaults (128 invocations, 64 per row pair, 2 chunks per trip) measured on an H200 through Dawn,
// dependent dispatches back to back (bench/kernels.ts): f32 81 / 96 / 95 % and packed f16
// 62 / 81 / 84 % of 4.19 TB/s at 4096², 11008×4096, 4096×11008 (f16 4096² is 13 µs: launch-bound).
import gemvWGSL from '../../shaders/gemv.wgsl';
import type { GpuContext } from './device.js';
import {
  checkBuffer, dispatchOp, checkPow2, entries, grid, pipelineFor, renderWGSL, roundUp, UniformWriter, type PreparedOp,
} from './pipeline.js';
import { ELEMENTS_PER_16_BYTES, type WeightTensor } from './weights.js';
import { KernelArgumentError } from '../errors.js';

export interface GemvOptions {
  weights: WeightTensor;
  /** Input vector: x[xOffset .. xOffset + cols). */
  x: GPUBuffer;
  xOffset?: number;
  /** Output: y[yOffset + r] for r < weights.rows. Must not be the buffer x is in. */
  y: GPUBuffer;
  yOffset?: number;
  /** RMSNorm x first: x' = x / rms(x) · weight, weight (cols) f32. */
  norm?: { weight: GPUBuffer; eps: number };
  /** y += W·x' instead of y = W·x' (the residual add). */
  accumulate?: boolean;
  /** Use shader-f16 arithmetic to convert f16 weights (default: when the device has it). */
  nativeF16?: boolean;
  /** Invocations per workgroup (power of two, default 128). */
  workgroupSize?: number;
  /** Invocations per row (power of two ≤ workgroupSize; default 64, or fewer for short rows). */
  lanesPerRow?: number;
  /** 16-byte chunks each invocation loads per loop trip (default 2). */
  unroll?: number;
  /** Each group of lanes computes two adjacent rows, sharing its loads of x (default true; SwiGLU pairs rows anyway). */
  twoRows?: boolean;
  label?: string;
}

export interface GemvShape {
  WG: number;
  LANES: number;
  UNROLL: number;
  TWO_ROWS: boolean;
  /** Loads a second weight row per chunk: SWIGLU || TWO_ROWS. */
  B_ROW: boolean;
  F16: boolean;
  NATIVE_F16: boolean;
  X_VEC4: boolean;
  PRE_NORM: boolean;
  SWIGLU: boolean;
  ACCUMULATE: boolean;
}

/**
 * Invocations per row: 64 for real layers (≥ 256 f32 / 512 f16 columns), fewer for toy ones so lanes
 * are not idle. Three choices only: every distinct value is one more pipeline to compile.
 */
export function defaultLanes(format: WeightTensor['format'], cols: number): number {
  const chunks = Math.ceil(cols / ELEMENTS_PER_16_BYTES[format]);
  return chunks >= 64 ? 64 : chunks >= 16 ? 16 : 4;
}

export function wgsl(shape: GemvShape): string {
  return renderWGSL('gemv', gemvWGSL, { ...shape });
}

export async function prepare(ctx: GpuContext, opts: GemvOptions): Promise<PreparedOp> {
  const { weights: W, x, y, norm } = opts;
  const xOffset = opts.xOffset ?? 0;
  const yOffset = opts.yOffset ?? 0;
  const label = opts.label ?? 'gemv';
  const chunk = ELEMENTS_PER_16_BYTES[W.format];
  const WG = opts.workgroupSize ?? 128;
  const LANES = opts.lanesPerRow ?? Math.min(WG, defaultLanes(W.format, W.cols));
  checkPow2(label, 'workgroupSize', WG, ctx.limits.maxComputeInvocationsPerWorkgroup);
  checkPow2(label, 'lanesPerRow', LANES, WG);
  const UNROLL = opts.unroll ?? 2;
  const SWIGLU = W.layout === 'gate-up';
  const TWO_ROWS = (opts.twoRows ?? true) && !SWIGLU;
  if (!Number.isInteger(UNROLL) || UNROLL < 1 || UNROLL > 8) throw new KernelArgumentError(label, `unroll must be 1..8, got ${UNROLL}`);
  if (x === y) throw new KernelArgumentError(label, 'x and y must be different buffers (a writable binding may not alias a read-only one)');
  const X_VEC4 = xOffset % 4 === 0;
  checkBuffer(label, 'x', x, 4 * roundUp(xOffset + W.cols, X_VEC4 ? 4 : 1));
  checkBuffer(label, 'y', y, 4 * (yOffset + W.rows));
  if (norm) checkBuffer(label, 'norm.weight', norm.weight, 4 * roundUp(W.cols, 4));
  const nativeF16 = W.format === 'f16' && (opts.nativeF16 ?? ctx.features.f16);
  if (nativeF16 && !ctx.features.f16) throw new KernelArgumentError(label, 'nativeF16 needs a device with shader-f16');

  const shape: GemvShape = {
    WG, LANES, UNROLL, TWO_ROWS, B_ROW: SWIGLU || TWO_ROWS, F16: W.format === 'f16', NATIVE_F16: nativeF16, X_VEC4,
    PRE_NORM: !!norm, SWIGLU, ACCUMULATE: !!opts.accumulate,
  };
  const pipeline = await pipelineFor(ctx, 'gemv', wgsl(shape));
  const rowsPerGroup = (WG / LANES) * (TWO_ROWS ? 2 : 1);

  const uniforms: GPUBuffer[] = [];
  const dispatches = W.shards.map((shard, i) => {
    const uniform = new UniformWriter()
      .u32(shard.rows).u32(W.cols).u32(Math.floor(W.cols / chunk)).u32(W.rowStride / chunk)
      .u32(xOffset).u32(yOffset + shard.firstRow).f32(norm?.eps ?? 0).u32(0)
      .create(ctx.device, `${label}.params[${i}]`);
    uniforms.push(uniform);
    const bound = [uniform, shard.buffer, x, y];
    if (norm) bound.push(norm.weight);
    const bindGroup = ctx.device.createBindGroup({ label: `${label}[${i}]`, layout: pipeline.getBindGroupLayout(0), entries: entries(...bound) });
    const [gx, gy] = grid(ctx, Math.ceil(shard.rows / rowsPerGroup));
    return { bindGroup, size: [gx, gy, 1] as const };
  });
  return dispatchOp(label, pipeline, dispatches, uniforms);
}
