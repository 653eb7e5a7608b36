// Builds GGUF files in memory for tests, following ggml's docs/gguf.md (little-endian; versions 2
// and 3 share one layout). It imports nothing from src/, so a misreading in the parser cannot be
// mirrored here. `writeGGUF` also returns where every field landed, so a test can patch one field
// (a count, a length, a dimension) into something hostile and know exactly what it broke.

/** Metadata value kinds, with their GGUF type codes. */
export const KIND_CODE = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
} as const;
export type Kind = keyof typeof KIND_CODE;
type NumberKind = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';

export type Meta =
  | { kind: NumberKind; value: number }
  | { kind: 'u64' | 'i64'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'string'; value: string }
  | { kind: 'array'; of: Kind; items: Meta[] }
  /** Any type code followed by any bytes: for values no well-formed file has. */
  | { kind: 'raw'; code: number; bytes: Uint8Array };

type Item = Meta | number | bigint | boolean | string;

function wrap(of: Kind, x: Item): Meta {
  if (typeof x === 'object') {
    if (x.kind !== of) throw new Error(`gguf-writer: a ${x.kind} item in an array of ${of}`);
    return x;
  }
  switch (of) {
    case 'u64': case 'i64': return { kind: of, value: BigInt(x as number | bigint) };
    case 'bool': return { kind: of, value: x as boolean };
    case 'string': return { kind: of, value: x as string };
    case 'array': throw new Error('gguf-writer: items of an array of arrays must be arrays');
    default: return { kind: of, value: x as number };
  }
}

/** Value constructors: `kv.u32(64)`, `kv.arr('string', ['a', 'b'])`, `kv.arr('array', [kv.arr('u8', [1])])`. */
export const kv = {
  u8: (value: number): Meta => ({ kind: 'u8', value }),
  i8: (value: number): Meta => ({ kind: 'i8', value }),
  u16: (value: number): Meta => ({ kind: 'u16', value }),
  i16: (value: number): Meta => ({ kind: 'i16', value }),
  u32: (value: number): Meta => ({ kind: 'u32', value }),
  i32: (value: number): Meta => ({ kind: 'i32', value }),
  f32: (value: number): Meta => ({ kind: 'f32', value }),
  f64: (value: number): Meta => ({ kind: 'f64', value }),
  u64: (value: bigint | number): Meta => ({ kind: 'u64', value: BigInt(value) }),
  i64: (value: bigint | number): Meta => ({ kind: 'i64', value: BigInt(value) }),
  bool: (value: boolean): Meta => ({ kind: 'bool', value }),
  str: (value: string): Meta => ({ kind: 'string', value }),
  arr: (of: Kind, items: Item[]): Meta => ({ kind: 'array', of, items: items.map((x) => wrap(of, x)) }),
  raw: (code: number, bytes: ArrayLike<number>): Meta => ({ kind: 'raw', code, bytes: Uint8Array.from(bytes) }),
};

/** ggml tensor type codes the tests use (ggml.h enum ggml_type). */
export const TYPE = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8, Q2_K: 10, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15 } as const;

/** Elements and bytes per block of the types whose size the writer can work out by itself. */
const BLOCKS: Record<number, [elements: number, bytes: number]> = {
  [TYPE.F32]: [1, 4], [TYPE.F16]: [1, 2], [TYPE.Q4_0]: [32, 18], [TYPE.Q8_0]: [32, 34],
  // K-quants: 256 weights a super-block (ggml-common.h block_q4_K, block_q5_K, block_q6_K, block_q8_K)
  [TYPE.Q4_K]: [256, 144], [TYPE.Q5_K]: [256, 176], [TYPE.Q6_K]: [256, 210], [TYPE.Q8_K]: [256, 292],
};

export interface TensorSpec {
  name: string;
  /** ggml order, innermost first. Bigints let a test write dimensions no file could back. */
  dims: (number | bigint)[];
  type: number;
  /** Default: zeros of the type's size (empty for types the writer does not know). */
  data?: Uint8Array;
  /** Offset relative to the data section; default: packed in order, each aligned. */
  offset?: number | bigint;
  /** n_dims as written; default dims.length. */
  nDims?: number;
}

export interface GGUFSpec {
  /** Default 3. Written as given, so 1, 4 or 0x03000000 are possible. */
  version?: number;
  /** In file order; a list (not an object) so a test can repeat a key. */
  metadata?: [string, Meta][];
  tensors?: TensorSpec[];
  /** Padding of the data section and of each tensor; default general.alignment when it is a u32, else 32. */
  alignment?: number;
  /** Header counts as written; default the real counts. */
  tensorCount?: bigint;
  kvCount?: bigint;
}

/** Absolute byte offsets of the fields of a written file. */
export interface GGUFLayout {
  tensorCountAt: number;
  kvCountAt: number;
  /** `at`: the key's u64 length; `valueAt`: the first byte after the u32 type code. */
  kvs: { key: string; at: number; typeAt: number; valueAt: number }[];
  /** `at`: the name's u64 length. */
  tensorInfos: { name: string; at: number; nDimsAt: number; dimsAt: number; typeAt: number; offsetAt: number }[];
  /** First byte after the last tensor info (before the padding). */
  infosEnd: number;
  dataOffset: number;
  tensorData: { name: string; at: number; nbytes: number }[];
}

/** Little-endian append-only byte buffer. */
class Bytes {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private grow(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf);
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  /** Reserves `n` bytes first: `this.view` must be read after a grow may have replaced it. */
  private put(n: number, write: (view: DataView, at: number) => void): void {
    const at = this.grow(n);
    write(this.view, at);
  }
  u8(v: number) { this.put(1, (d, at) => d.setUint8(at, v)); }
  i8(v: number) { this.put(1, (d, at) => d.setInt8(at, v)); }
  u16(v: number) { this.put(2, (d, at) => d.setUint16(at, v, true)); }
  i16(v: number) { this.put(2, (d, at) => d.setInt16(at, v, true)); }
  u32(v: number) { this.put(4, (d, at) => d.setUint32(at, v, true)); }
  i32(v: number) { this.put(4, (d, at) => d.setInt32(at, v, true)); }
  f32(v: number) { this.put(4, (d, at) => d.setFloat32(at, v, true)); }
  f64(v: number) { this.put(8, (d, at) => d.setFloat64(at, v, true)); }
  u64(v: bigint | number) { this.put(8, (d, at) => d.setBigUint64(at, BigInt(v), true)); }
  i64(v: bigint) { this.put(8, (d, at) => d.setBigInt64(at, v, true)); }
  bytes(b: Uint8Array) {
    const at = this.grow(b.length);
    this.buf.set(b, at);
  }
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  padTo(alignment: number) {
    this.grow((alignment - (this.length % alignment)) % alignment); // new bytes are zero
  }
  done(): Uint8Array { return this.buf.slice(0, this.length); }
}

function code(m: Meta): number {
  return m.kind === 'raw' ? m.code : KIND_CODE[m.kind];
}

/** The value's bytes without its type code (the form array items take). */
function writePayload(w: Bytes, m: Meta): void {
  switch (m.kind) {
    case 'u8': w.u8(m.value); break;
    case 'i8': w.i8(m.value); break;
    case 'u16': w.u16(m.value); break;
    case 'i16': w.i16(m.value); break;
    case 'u32': w.u32(m.value); break;
    case 'i32': w.i32(m.value); break;
    case 'f32': w.f32(m.value); break;
    case 'f64': w.f64(m.value); break;
    case 'u64': w.u64(m.value); break;
    case 'i64': w.i64(m.value); break;
    case 'bool': w.u8(m.value ? 1 : 0); break;
    case 'string': w.string(m.value); break;
    case 'raw': w.bytes(m.bytes); break;
    case 'array':
      w.u32(KIND_CODE[m.of]);
      w.u64(m.items.length);
      for (const item of m.items) writePayload(w, item);
      break;
  }
}

export function tensorByteSize(type: number, dims: (number | bigint)[]): number {
  const block = BLOCKS[type];
  if (!block) return 0;
  const n = dims.reduce<number>((a, d) => a * Number(d), 1);
  return (n / block[0]) * block[1];
}

export function writeGGUF(spec: GGUFSpec): { bytes: Uint8Array; layout: GGUFLayout } {
  const metadata = spec.metadata ?? [];
  const tensors = spec.tensors ?? [];
  const declared = metadata.find(([k]) => k === 'general.alignment')?.[1];
  const alignment = spec.alignment ?? (declared?.kind === 'u32' ? declared.value : 32);
  const w = new Bytes();

  w.bytes(new TextEncoder().encode('GGUF'));
  w.u32(spec.version ?? 3);
  const tensorCountAt = w.length;
  w.u64(spec.tensorCount ?? BigInt(tensors.length));
  const kvCountAt = w.length;
  w.u64(spec.kvCount ?? BigInt(metadata.length));

  const kvs: GGUFLayout['kvs'] = [];
  for (const [key, value] of metadata) {
    const at = w.length;
    w.string(key);
    const typeAt = w.length;
    w.u32(code(value));
    kvs.push({ key, at, typeAt, valueAt: w.length });
    writePayload(w, value);
  }

  // Data are laid out first so each info can carry its offset.
  const datas = tensors.map((t) => t.data ?? new Uint8Array(tensorByteSize(t.type, t.dims)));
  let next = 0;
  const rel = tensors.map((t, i) => {
    const r = next;
    next = Math.ceil((r + datas[i]!.length) / alignment) * alignment;
    return t.offset ?? r;
  });

  const tensorInfos: GGUFLayout['tensorInfos'] = [];
  tensors.forEach((t, i) => {
    const at = w.length;
    w.string(t.name);
    const nDimsAt = w.length;
    w.u32(t.nDims ?? t.dims.length);
    const dimsAt = w.length;
    for (const d of t.dims) w.u64(d);
    const typeAt = w.length;
    w.u32(t.type);
    const offsetAt = w.length;
    w.u64(rel[i]!);
    tensorInfos.push({ name: t.name, at, nDimsAt, dimsAt, typeAt, offsetAt });
  });
  const infosEnd = w.length;
  w.padTo(alignment);
  const dataOffset = w.length;

  const tensorData: GGUFLayout['tensorData'] = [];
  tensors.forEach((t, i) => {
    // Explicit offsets are recorded but the bytes still go in order: a test that moves an
    // offset wants the info to lie, not the data to move.
    tensorData.push({ name: t.name, at: w.length, nbytes: datas[i]!.length });
    w.bytes(datas[i]!);
    w.padTo(alignment);
  });
  return { bytes: w.done(), layout: { tensorCountAt, kvCountAt, kvs, tensorInfos, infosEnd, dataOffset, tensorData } };
}

/** Overwrites the u64 at `at` (to plant hostile counts, lengths and dimensions). */
export function setU64(bytes: Uint8Array, at: number, v: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(at, v, true);
}

export function setU32(bytes: Uint8Array, at: number, v: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, v, true);
}

/** Little-endian f32 bytes. */
export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat32(4 * i, values[i]!, true);
  return out;
}

/** Options of a tiny but complete llama model (defaults: dim 8, 2 heads, 1 KV head, 1 layer). */
export interface TinyLlama {
  dim?: number;
  hidden?: number;
  layers?: number;
  heads?: number;
  /** null: leave llama.attention.head_count_kv out. */
  kvHeads?: number | null;
  vocab?: number;
  /** No output.weight: the embedding doubles as the output matrix. */
  tied?: boolean;
  /** Type of the matrices (norms stay F32); Q8_0/Q4_0 need dim and hidden multiples of 32. */
  type?: number;
  version?: number;
}

/**
 * The spec of a small llama model whose every tensor has the shape llamaConfig implies, filled
 * with deterministic values (F32: tensor index + element / 1000). Tests edit the spec to break it.
 */
export function tinyLlamaSpec(o: TinyLlama = {}): GGUFSpec {
  const dim = o.dim ?? 8, hidden = o.hidden ?? 16, layers = o.layers ?? 1, heads = o.heads ?? 2;
  const kvHeads = o.kvHeads === undefined ? 1 : o.kvHeads;
  const vocab = o.vocab ?? 4, type = o.type ?? TYPE.F32;
  const kvDim = ((kvHeads ?? heads) * dim) / heads;
  const metadata: [string, Meta][] = [
    ['general.architecture', kv.str('llama')],
    ['general.name', kv.str('tiny')],
    ['llama.context_length', kv.u32(64)],
    ['llama.embedding_length', kv.u32(dim)],
    ['llama.feed_forward_length', kv.u32(hidden)],
    ['llama.block_count', kv.u32(layers)],
    ['llama.attention.head_count', kv.u32(heads)],
    ...(kvHeads === null ? [] : [['llama.attention.head_count_kv', kv.u32(kvHeads)] as [string, Meta]]),
    ['llama.attention.layer_norm_rms_epsilon', kv.f32(1e-5)],
    ['llama.vocab_size', kv.u32(vocab)],
    ['tokenizer.ggml.tokens', kv.arr('string', Array.from({ length: vocab }, (_, i) => `t${i}`))],
  ];
  const shapes: [string, number[], boolean][] = [
    ['token_embd.weight', [dim, vocab], true],
    ['output_norm.weight', [dim], false],
    ...(o.tied ? [] : [['output.weight', [dim, vocab], true] as [string, number[], boolean]]),
  ];
  for (let l = 0; l < layers; l++) {
    shapes.push(
      [`blk.${l}.attn_norm.weight`, [dim], false], [`blk.${l}.attn_q.weight`, [dim, dim], true],
      [`blk.${l}.attn_k.weight`, [dim, kvDim], true], [`blk.${l}.attn_v.weight`, [dim, kvDim], true],
      [`blk.${l}.attn_output.weight`, [dim, dim], true], [`blk.${l}.ffn_norm.weight`, [dim], false],
      [`blk.${l}.ffn_gate.weight`, [dim, hidden], true], [`blk.${l}.ffn_up.weight`, [dim, hidden], true],
      [`blk.${l}.ffn_down.weight`, [hidden, dim], true],
    );
  }
  const tensors = shapes.map(([name, dims, matrix], i): TensorSpec => {
    const t = matrix ? type : TYPE.F32;
    const n = dims.reduce((a, d) => a * d, 1);
    const data = t === TYPE.F32 ? f32Bytes(Array.from({ length: n }, (_, j) => i + j / 1000)) : undefined;
    return data ? { name, dims, type: t, data } : { name, dims, type: t };
  });
  return { version: o.version ?? 3, metadata, tensors };
}

/** A copy of `spec` without the named metadata keys and tensors. */
export function without(spec: GGUFSpec, ...names: string[]): GGUFSpec {
  return {
    ...spec,
    metadata: (spec.metadata ?? []).filter(([k]) => !names.includes(k)),
    tensors: (spec.tensors ?? []).filter((t) => !names.includes(t.name)),
  };
}

/** A copy of `spec` with metadata keys replaced (or appended when absent). */
export function withMeta(spec: GGUFSpec, values: Record<string, Meta>): GGUFSpec {
  const metadata = (spec.metadata ?? []).map(([k, v]): [string, Meta] => [k, values[k] ?? v]);
  for (const [k, v] of Object.entries(values)) if (!metadata.some(([m]) => m === k)) metadata.push([k, v]);
  return { ...spec, metadata };
}
