// GGUF reader (versions 2 and 3, little-endian), following ggml's docs/gguf.md.
// Every count, length and offset read from the file is checked against the bytes that remain
// before anything is allocated, so a hostile file yields a ModelFormatError, never a huge
// allocation, a hang or a RangeError from a typed-array constructor.

import { ModelFormatError } from '../errors.js';
import { GGMLType, tensorByteSize, isSupportedType, supportedTypeNames, typeName } from './tensor.js';

const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_NESTING = 8; // arrays of arrays deeper than this are not GGUF any tool writes
// No real model has 2^32 tensors, keys, array entries, string bytes or elements along one
// dimension (nor fits in a typed array); a larger value is corruption, not a short file.
const MAX_COUNT = 2 ** 32;

/** Metadata value types of the GGUF spec. */
export const enum ValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** Numeric arrays become typed arrays (vocab scores of 100k entries stay compact). */
export type GGUFValue =
  | number | bigint | boolean | string
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array
  | boolean[] | string[] | GGUFValue[];

export interface GGUFTensorInfo {
  name: string;
  /** ggml order: dims[0] is the innermost (contiguous) dimension, e.g. [in, out] for a matrix. */
  dims: number[];
  type: GGMLType;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  nbytes: number;
  nelements: number;
}

export interface GGUFFile {
  version: number;
  metadata: Map<string, GGUFValue>;
  tensors: Map<string, GGUFTensorInfo>;
  alignment: number;
  /** Absolute offset of the tensor-data section. */
  dataOffset: number;
  /** The file's bytes: held in memory (tensor data are views), or read on demand (a Node path). */
  source: GGUFSource;
}

/**
 * A GGUF file's bytes, in memory or read on demand: `read` returns `length` bytes at `offset` (a view
 * or a fresh buffer), so a model never needs the whole file in memory at once.
 */
export interface GGUFSource {
  size: number;
  read(offset: number, length: number): Uint8Array;
  /** Frees what reading holds (a file descriptor); the model must not be used afterwards. */
  close?(): void;
}

/** A file held in memory as GGUFSource (reads are views, no copies). */
export function inMemory(bytes: Uint8Array): GGUFSource {
  return { size: bytes.byteLength, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/** The first header read of a file read on demand; more is read when metadata (a vocabulary) is larger. */
const HEAD_BYTES = 8 << 20;

/** Sequential little-endian reader that turns every overrun into a named error. */
class Cursor {
  private readonly view: DataView;
  pos = 0;
  constructor(readonly bytes: Uint8Array, private section: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  enter(section: string): void {
    this.section = section;
  }
  get remaining(): number {
    return this.bytes.byteLength - this.pos;
  }
  need(n: number): void {
    if (n > this.remaining) {
      throw new ModelFormatError('TRUNCATED',
        `GGUF truncated in ${this.section}: needs ${n} more bytes at offset ${this.pos}, ` +
        `file has ${this.bytes.byteLength}. Re-download the model file.`);
    }
  }
  u8(): number { this.need(1); return this.view.getUint8(this.pos++); }
  i8(): number { this.need(1); return this.view.getInt8(this.pos++); }
  u16(): number { this.need(2); const v = this.view.getUint16(this.pos, true); this.pos += 2; return v; }
  i16(): number { this.need(2); const v = this.view.getInt16(this.pos, true); this.pos += 2; return v; }
  u32(): number { this.need(4); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  i32(): number { this.need(4); const v = this.view.getInt32(this.pos, true); this.pos += 4; return v; }
  f32(): number { this.need(4); const v = this.view.getFloat32(this.pos, true); this.pos += 4; return v; }
  f64(): number { this.need(8); const v = this.view.getFloat64(this.pos, true); this.pos += 8; return v; }
  u64big(): bigint { this.need(8); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64big(): bigint { this.need(8); const v = this.view.getBigInt64(this.pos, true); this.pos += 8; return v; }
  /**
   * A u64 count or length of things of at least `unit` bytes each. Above MAX_COUNT it is corruption;
   * below that, more than the remaining bytes can hold means the file was cut short.
   */
  count(what: string, unit: number): number {
    const v = this.u64(what, MAX_COUNT);
    if (v * unit > this.remaining) {
      throw new ModelFormatError('TRUNCATED',
        `GGUF truncated in ${this.section}: ${what} is ${v} (at least ${v * unit} bytes) but only ` +
        `${this.remaining} bytes remain. Re-download the model file.`);
    }
    return v;
  }
  /** A u64 used as a size or offset: must be at most `max` (a safe integer). */
  u64(what: string, max: number): number {
    const v = this.u64big();
    if (v > BigInt(max)) {
      throw new ModelFormatError('ABSURD_VALUE',
        `GGUF ${this.section}: ${what} is ${v}, more than the ${max} any model file holds. ` +
        `The file is corrupt or not a GGUF model.`);
    }
    return Number(v);
  }
  string(): string {
    const len = this.count('string length', 1);
    const s = utf8.decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Smallest encoded size of one array element of a type, to bound counts before allocating. */
function minElementSize(t: number): number {
  switch (t) {
    case ValueType.UINT8: case ValueType.INT8: case ValueType.BOOL: return 1;
    case ValueType.UINT16: case ValueType.INT16: return 2;
    case ValueType.UINT32: case ValueType.INT32: case ValueType.FLOAT32: return 4;
    case ValueType.UINT64: case ValueType.INT64: case ValueType.FLOAT64: return 8;
    case ValueType.STRING: return 8; // the u64 length
    case ValueType.ARRAY: return 12; // u32 type + u64 count
    default:
      // Rejected here, before the count is read, so an empty array of an unknown type fails too.
      throw new ModelFormatError('BAD_VALUE_TYPE',
        `GGUF metadata: unknown array element type ${t}. The file is corrupt or newer than this reader.`);
  }
}

function readValue(c: Cursor, type: number, depth: number): GGUFValue {
  switch (type) {
    case ValueType.UINT8: return c.u8();
    case ValueType.INT8: return c.i8();
    case ValueType.UINT16: return c.u16();
    case ValueType.INT16: return c.i16();
    case ValueType.UINT32: return c.u32();
    case ValueType.INT32: return c.i32();
    case ValueType.FLOAT32: return c.f32();
    case ValueType.FLOAT64: return c.f64();
    case ValueType.UINT64: return narrow(c.u64big());
    case ValueType.INT64: return narrow(c.i64big());
    case ValueType.BOOL: {
      const b = c.u8();
      if (b > 1) throw new ModelFormatError('BAD_VALUE', `GGUF metadata: bool byte is ${b}, expected 0 or 1.`);
      return b === 1;
    }
    case ValueType.STRING: return c.string();
    case ValueType.ARRAY: return readArray(c, depth + 1);
    default:
      throw new ModelFormatError('BAD_VALUE_TYPE',
        `GGUF metadata: unknown value type ${type} at offset ${c.pos - 4}. The file is corrupt or newer than this reader.`);
  }
}

/** 64-bit integers stay numbers when they are exact, bigints otherwise. */
function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function readArray(c: Cursor, depth: number): GGUFValue {
  if (depth > MAX_NESTING) {
    throw new ModelFormatError('ABSURD_VALUE', `GGUF metadata: arrays nested deeper than ${MAX_NESTING}.`);
  }
  const type = c.u32();
  const size = minElementSize(type);
  const n = c.count('array length', size);
  const typed = <T extends { length: number }>(make: (n: number) => T, fill: (a: T, i: number) => void): T => {
    const a = make(n);
    for (let i = 0; i < n; i++) fill(a, i);
    return a;
  };
  switch (type) {
    case ValueType.UINT8: return typed((k) => new Uint8Array(k), (a, i) => { a[i] = c.u8(); });
    case ValueType.INT8: return typed((k) => new Int8Array(k), (a, i) => { a[i] = c.i8(); });
    case ValueType.UINT16: return typed((k) => new Uint16Array(k), (a, i) => { a[i] = c.u16(); });
    case ValueType.INT16: return typed((k) => new Int16Array(k), (a, i) => { a[i] = c.i16(); });
    case ValueType.UINT32: return typed((k) => new Uint32Array(k), (a, i) => { a[i] = c.u32(); });
    case ValueType.INT32: return typed((k) => new Int32Array(k), (a, i) => { a[i] = c.i32(); });
    case ValueType.FLOAT32: return typed((k) => new Float32Array(k), (a, i) => { a[i] = c.f32(); });
    case ValueType.FLOAT64: return typed((k) => new Float64Array(k), (a, i) => { a[i] = c.f64(); });
    case ValueType.UINT64: return typed((k) => new BigUint64Array(k), (a, i) => { a[i] = c.u64big(); });
    case ValueType.INT64: return typed((k) => new BigInt64Array(k), (a, i) => { a[i] = c.i64big(); });
    default: {
      const out: GGUFValue[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(c, type, depth));
      return out as GGUFValue;
    }
  }
}

/**
 * Parses a GGUF file: held in memory (tensor data are not copied: `tensorBytes()` returns views), or
 * read on demand (only the header is read here; a header longer than the first read is read again,
 * four times longer, up to the whole file). Throws ModelFormatError (with a stable `code`) on
 * anything malformed.
 */
export function parseGGUF(input: ArrayBuffer | Uint8Array | GGUFSource): GGUFFile {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
    return parseHeader(bytes, inMemory(bytes));
  }
  for (let n = Math.min(input.size, HEAD_BYTES); ; n = Math.min(input.size, 4 * n)) {
    try {
      return parseHeader(input.read(0, n), input);
    } catch (e) {
      if (!(e instanceof ModelFormatError && e.code === 'TRUNCATED' && n < input.size)) throw e;
    }
  }
}

/** The header in `bytes` (the file's first bytes, or all of it) of the file `source`. */
function parseHeader(bytes: Uint8Array, source: GGUFSource): GGUFFile {
  const c = new Cursor(bytes, 'header');
  // An empty file or one cut inside "GGUF" is a broken download, not some other format.
  const magic = [0x47, 0x47, 0x55, 0x46];
  if (bytes.byteLength < 4 && bytes.every((b, i) => b === magic[i])) c.need(4);
  if (bytes.byteLength < 4 || c.u32() !== GGUF_MAGIC) {
    throw new ModelFormatError('BAD_MAGIC', 'Not a GGUF file (the first four bytes are not "GGUF"). Pass a .gguf model file.');
  }
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    const hint = version > 0xffff ? ' It looks big-endian; convert it to a little-endian GGUF.' :
      version === 1 ? ' GGUF v1 is obsolete; re-convert the model with a current llama.cpp.' : '';
    throw new ModelFormatError('UNSUPPORTED_VERSION', `GGUF version ${version} is not supported (2 and 3 are).${hint}`);
  }
  // Each tensor info takes at least 8+4+8+4+8 bytes, each key/value at least 8+4+1.
  const nTensors = c.count('tensor count', 32);
  const nKV = c.count('metadata count', 13);

  c.enter('metadata');
  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKV; i++) {
    const key = c.string();
    // gguf.cpp rejects repeated keys too: which value wins would be a guess.
    if (metadata.has(key)) throw new ModelFormatError('DUPLICATE_KEY', `GGUF metadata key "${key}" appears twice.`);
    const type = c.u32();
    metadata.set(key, readValue(c, type, 0));
  }

  let alignment = DEFAULT_ALIGNMENT;
  const align = metadata.get('general.alignment');
  if (align !== undefined) {
    if (typeof align !== 'number' || !Number.isInteger(align) || align <= 0 || align > 1 << 16 || (align & (align - 1)) !== 0) {
      throw new ModelFormatError('BAD_VALUE', `GGUF general.alignment is ${String(align)}; it must be a power of two.`);
    }
    alignment = align;
  }

  c.enter('tensor infos');
  const infos = Array.from({ length: nTensors }, () => readTensorInfo(c, alignment));
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const tensors = placeTensors(infos, dataOffset, source.size);
  return { version, metadata, tensors, alignment, dataOffset, source };
}

interface RawTensorInfo { name: string; dims: number[]; type: GGMLType; rel: number }

function readTensorInfo(c: Cursor, alignment: number): RawTensorInfo {
  const name = c.string();
  const nDims = c.u32();
  if (nDims < 1 || nDims > MAX_DIMS) {
    throw new ModelFormatError('ABSURD_VALUE', `GGUF tensor "${name}" has ${nDims} dimensions (1..${MAX_DIMS} allowed).`);
  }
  const dims: number[] = [];
  for (let d = 0; d < nDims; d++) dims.push(c.u64(`dimension ${d} of "${name}"`, MAX_COUNT));
  const type = c.u32();
  if (!isSupportedType(type)) {
    throw new ModelFormatError('UNSUPPORTED_TENSOR_TYPE',
      `GGUF tensor "${name}" has type ${typeName(type)}; was-edge reads ${supportedTypeNames()}. ` +
      `Re-quantise the model to one of those (e.g. Q4_K_M) with llama.cpp's llama-quantize.`);
  }
  // An offset past the end is checked in placeTensors as TENSOR_OUT_OF_BOUNDS: a cut-short file, not nonsense.
  const rel = c.u64(`offset of "${name}"`, Number.MAX_SAFE_INTEGER);
  if (rel % alignment !== 0) {
    throw new ModelFormatError('BAD_OFFSET', `GGUF tensor "${name}" offset ${rel} is not a multiple of the alignment ${alignment}.`);
  }
  return { name, dims, type, rel };
}

/**
 * Each tensor's byte range in the file: inside the data section and disjoint from every other one.
 * Overlapping ranges would let a small file describe a huge model (every block aliasing the same
 * bytes), so memory planned from the tensors stays in proportion to the file.
 */
function placeTensors(infos: RawTensorInfo[], dataOffset: number, fileBytes: number): Map<string, GGUFTensorInfo> {
  const tensors = new Map<string, GGUFTensorInfo>();
  for (const { name, dims, type, rel } of infos) {
    if (tensors.has(name)) throw new ModelFormatError('DUPLICATE_TENSOR', `GGUF tensor "${name}" appears twice.`);
    let nelements = 1;
    for (const d of dims) {
      if (d === 0) throw new ModelFormatError('ABSURD_VALUE', `GGUF tensor "${name}" has a zero dimension.`);
      nelements *= d;
    }
    // Every partial product is at most the total, so below 2^53 they are all exact.
    if (nelements > Number.MAX_SAFE_INTEGER) {
      throw new ModelFormatError('ABSURD_VALUE', `GGUF tensor "${name}" claims ${nelements} elements, more than any model has.`);
    }
    const nbytes = tensorByteSize(type, dims, name);
    const offset = dataOffset + rel;
    if (offset + nbytes > fileBytes) {
      throw new ModelFormatError('TENSOR_OUT_OF_BOUNDS',
        `GGUF tensor "${name}" (${nbytes} bytes at ${offset}) ends past the end of the file (${fileBytes} bytes). ` +
        `The file is truncated; re-download it.`);
    }
    tensors.set(name, { name, dims, type, offset, nbytes, nelements });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const t = sorted[i]!;
    if (t.offset < prev.offset + prev.nbytes) {
      throw new ModelFormatError('TENSOR_OVERLAP',
        `GGUF tensors "${prev.name}" and "${t.name}" share bytes (${prev.offset}..${prev.offset + prev.nbytes} and ${t.offset}..): ` +
        `every tensor must have its own data. The file is corrupt or crafted; re-convert it with llama.cpp.`);
    }
  }
  return tensors;
}

/** The raw bytes of one tensor (a view into a file in memory, else read now). */
export function tensorBytes(file: GGUFFile, info: GGUFTensorInfo): Uint8Array {
  return file.source.read(info.offset, info.nbytes);
}
