// The per-step values every token-dimension kernel reads: the position of the first token of this
// step and how many tokens it has (1 when decoding, up to maxTokens in a prefill chunk), plus the
// token ids. Written with queue.writeBuffer before each submit, so recorded commands never change.
import type { GpuContext } from './device.js';
import { KernelArgumentError } from '../errors.js';

/** WGSL: `struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }` at the binding each kernel names. */
export interface Step {
  /** (4 × u32) uniform: pos, nTokens, 0, 0. */
  readonly uniform: GPUBuffer;
  /** (maxTokens) u32 storage: token ids of this step (read by embedding). */
  readonly tokens: GPUBuffer;
  /** Kernels prepared with this step dispatch for this many tokens and skip the ones ≥ nTokens. */
  readonly maxTokens: number;
}

export function createStep(ctx: GpuContext, maxTokens = 1, label = 'step'): Step {
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new KernelArgumentError('step', `maxTokens must be ≥ 1, got ${maxTokens}`);
  const { device } = ctx;
  return {
    uniform: device.createBuffer({ label: `${label}.uniform`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
    tokens: device.createBuffer({
      label: `${label}.tokens`, size: stepTokensBytes(maxTokens),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    }),
    maxTokens,
  };
}

/** Bytes of a step's token buffer: maxTokens u32s in whole 16-byte vectors. */
export function stepTokensBytes(maxTokens: number): number {
  return Math.ceil(maxTokens / 4) * 16;
}

/** Sets this step's position and tokens (their count is nTokens). Call before submitting the step. */
export function writeStep(device: GPUDevice, step: Step, pos: number, tokens: ArrayLike<number>): void {
  const n = tokens.length;
  if (n < 1 || n > step.maxTokens) throw new KernelArgumentError('step', `${n} tokens given; this step holds 1..${step.maxTokens}`);
  if (!Number.isInteger(pos) || pos < 0) throw new KernelArgumentError('step', `pos must be a non-negative integer, got ${pos}`);
  device.queue.writeBuffer(step.uniform, 0, new Uint32Array([pos, n, 0, 0]));
  device.queue.writeBuffer(step.tokens, 0, Uint32Array.from(tokens));
}
