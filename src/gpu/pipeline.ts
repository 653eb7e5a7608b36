// What every kernel module shares: the WGSL template expander, the pipeline cache, uniform packing,
// dispatch-grid arithmetic and argument checks. A kernel module (gemv.ts, …) holds only its own.
import type { GpuContext } from './device.js';
import { KernelArgumentError } from '../errors.js';

/** A kernel prepared at load: its pipeline, uniforms and bind groups exist; `encode` only records. */
export interface PreparedOp {
  readonly label: string;
  /** Records this op's dispatches into the caller's compute pass (no submit, no allocation). */
  encode(pass: GPUComputePassEncoder): void;
  /** Frees what `prepare` allocated (uniform buffers); the caller's buffers are left alone. */
  destroy(): void;
  /** GPU bytes of the buffers `prepare` made beyond its uniforms (scratch), when any. */
  readonly ownedBytes?: number;
}

/** One dispatch of a prepared op: its bind group and workgroup counts (x, y, z). */
export interface Dispatch {
  bindGroup: GPUBindGroup;
  size: readonly [number, number, number];
}

/**
 * The PreparedOp of a single-pipeline kernel: `encode` sets the pipeline once and records the
 * dispatches in order; `destroy` frees the buffers the op owns (its uniforms).
 */
export function dispatchOp(label: string, pipeline: GPUComputePipeline, dispatches: readonly Dispatch[], owned: readonly GPUBuffer[]): PreparedOp {
  return {
    label,
    encode(pass) {
      pass.setPipeline(pipeline);
      for (const d of dispatches) {
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroups(d.size[0], d.size[1], d.size[2]);
      }
    },
    destroy() {
      for (const b of owned) b.destroy();
    },
  };
}

export type TemplateParams = Readonly<Record<string, boolean | number>>;

/**
 * Expands a WGSL template: `#if NAME` / `#if !NAME` / `#elif [!]NAME` / `#else` / `#endif` lines
 * (NAME a boolean parameter) and `{{NAME}}` substitutions (a number parameter). Every parameter must
 * be used and every name defined, so the expanded text is a function of `params` and nothing else.
 */
export function renderWGSL(kernel: string, source: string, params: TemplateParams): string {
  const used = new Set<string>();
  const get = (name: string): boolean | number => {
    const v = params[name];
    if (v === undefined) throw new KernelArgumentError(kernel, `template parameter ${name} is not defined`);
    used.add(name);
    return v;
  };
  const cond = (expr: string): boolean => {
    const negate = expr.startsWith('!');
    const v = get(negate ? expr.slice(1).trim() : expr);
    if (typeof v !== 'boolean') throw new KernelArgumentError(kernel, `template condition ${expr} is not a boolean`);
    return negate ? !v : v;
  };
  // Each frame: is this branch emitting, has any branch of this #if been taken, was the parent emitting.
  const stack: { on: boolean; taken: boolean; parent: boolean }[] = [];
  const out: string[] = [];
  const lines = source.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    const d = /^\s*#(if|elif|else|endif)\b\s*(.*?)\s*$/.exec(line);
    const on = stack.length === 0 || stack[stack.length - 1]!.on;
    if (!d) {
      if (on) out.push(line.replace(/\{\{(\w+)\}\}/g, (_, name: string) => String(get(name))));
      continue;
    }
    const [, word, expr] = d;
    const top = stack[stack.length - 1];
    if (word === 'if') {
      const take = on && cond(expr!);
      stack.push({ on: take, taken: take, parent: on });
    } else if (!top) {
      throw new KernelArgumentError(kernel, `line ${n + 1}: #${word} without #if`);
    } else if (word === 'elif') {
      const take = top.parent && !top.taken && cond(expr!);
      top.on = take;
      top.taken ||= take;
    } else if (word === 'else') {
      top.on = top.parent && !top.taken;
      top.taken = true;
    } else {
      stack.pop();
    }
  }
  if (stack.length) throw new KernelArgumentError(kernel, 'unterminated #if in template');
  // Conditions in a skipped branch are not evaluated; count names that appear anywhere as used.
  for (const name of Object.keys(params)) {
    if (!used.has(name) && !new RegExp(`(#(if|elif)\\s+!?${name}\\b)|\\{\\{${name}\\}\\}`).test(source)) {
      throw new KernelArgumentError(kernel, `template parameter ${name} is not used by the template`);
    }
  }
  return out.join('\n');
}

// The cache key is the expanded WGSL itself (and the entry point): whatever shapes the shader is in
// the key by construction. One shader module per pipeline: a module is cheap next to its pipeline.
const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

export function pipelineFor(ctx: GpuContext, kernel: string, code: string, entryPoint = 'main'): Promise<GPUComputePipeline> {
  const { device } = ctx;
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  const key = `${entryPoint}\n${code}`;
  let p = cache.get(key);
  if (!p) {
    p = (async () => {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ label: kernel, code });
      const error = await device.popErrorScope();
      if (error) {
        const info = await module.getCompilationInfo();
        const messages = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
        throw new KernelArgumentError(kernel, `WGSL does not compile: ${messages || error.message}`);
      }
      return device.createComputePipelineAsync({ label: kernel, layout: 'auto', compute: { module, entryPoint } });
    })();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** Packs a uniform struct of 4-byte scalars in declaration order (the WGSL struct lists them alike). */
export class UniformWriter {
  private readonly words: number[] = [];
  private readonly kinds: ('u32' | 'f32')[] = [];
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`u32 uniform out of range: ${v}`);
    this.words.push(v);
    this.kinds.push('u32');
    return this;
  }
  f32(v: number): this {
    this.words.push(v);
    this.kinds.push('f32');
    return this;
  }
  /** A uniform buffer holding the values, padded to 16 bytes, written now. */
  create(device: GPUDevice, label: string): GPUBuffer {
    const n = Math.ceil(Math.max(this.words.length, 1) / 4) * 4;
    const data = new ArrayBuffer(n * 4);
    const u = new Uint32Array(data);
    const f = new Float32Array(data);
    this.words.forEach((v, i) => (this.kinds[i] === 'u32' ? (u[i] = v) : (f[i] = v)));
    const buffer = device.createBuffer({ label, size: data.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }
}

/**
 * A 2-D grid of at least `count` workgroups within the per-dimension limit; shaders recover the
 * linear index as `wid.x + wid.y * nwg.x` and return when it is ≥ count.
 */
export function grid(ctx: GpuContext, count: number): [number, number] {
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (count <= max) return [Math.max(count, 1), 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}

/** Bytes of an activation vector of n f32, rounded up to 16 so that kernels may read it as vec4. */
export function vectorBytes(n: number): number {
  return Math.ceil(n / 4) * 16;
}

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

export function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Checks a caller's buffer: large enough and created with STORAGE (or UNIFORM) usage. */
export function checkBuffer(kernel: string, name: string, buffer: GPUBuffer, minBytes: number, usage = GPUBufferUsage.STORAGE): void {
  if (buffer.size < minBytes) {
    throw new KernelArgumentError(kernel, `${name} holds ${buffer.size} bytes; it needs at least ${minBytes}`);
  }
  if ((buffer.usage & usage) === 0) {
    throw new KernelArgumentError(kernel, `${name} lacks the usage this kernel binds it with (${usage})`);
  }
}

export function checkDims(kernel: string, dims: Record<string, number>): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new KernelArgumentError(kernel, `${name} must be a positive integer, got ${v}`);
  }
}

export function checkPow2(kernel: string, name: string, v: number, max: number): void {
  if (!isPow2(v) || v > max) throw new KernelArgumentError(kernel, `${name} must be a power of two ≤ ${max}, got ${v}`);
}

export function entries(...buffers: GPUBuffer[]): GPUBindGroupEntry[] {
  return buffers.map((buffer, binding) => ({ binding, resource: { buffer } }));
}
