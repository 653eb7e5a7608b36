// Typed wrapper over the raw AssemblyScript module (assembly/index.ts, built without bindings): the
// generated glue would copy typed arrays in and out on every call (STYLE lesson 8), so hot paths
// keep regions alive in Wasm memory and pass pointers; the copying methods are for one-off work.

import { WasEdgeError } from '../errors.js';
import { DEFAULT_HISTOGRAM, histogramSlots, type HistogramSpec } from '../sparsity/score.js';

/** The raw exports of build/was*.wasm; pointers are wasm32 addresses (i32 on the wire). */
export interface WasExports {
  readonly memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  reset(): void;
  columnL1Norms(w: number, rows: number, cols: number, out: number): void;
  histogramSlots(nbins: number): number;
  histogramAccumulate(
    hist: number,
    nbins: number,
    lo: number,
    hi: number,
    x: number,
    norms: number,
    n: number,
    tokens: number,
  ): void;
  histogramQuantile(hist: number, nbins: number, lo: number, hi: number, q: number): number;
  thresholdsToTau(t: number, norms: number, n: number, out: number): void;
  // Bayesian optimisation (assembly/bo/): f64 regions, wasm32 pointers.
  gpCreate(d: number, nMax: number): number;
  gpSetData(gp: number, x: number, y: number, n: number): void;
  gpFit(gp: number, theta: number): number;
  gpGrad(gp: number, grad: number): void;
  gpPredict(gp: number, xs: number, m: number, mean: number, variance: number): void;
  gpJitter(gp: number): number;
  hyperCreate(d: number, usePrior: number, noiseMin: number): number;
  hyperOptimize(gp: number, hyper: number, theta: number, starts: number, maxIter: number, rng: number): number;
  rngCreate(seedLo: number, seedHi: number): number;
  erfc(x: number): number;
  erfcx(x: number): number;
  logh(z: number): number;
  dlogh(z: number): number;
  boCreate(d: number, nMax: number): number;
  boInputs(bo: number): number;
  boSetup(
    bo: number,
    target: number,
    seedLo: number,
    seedHi: number,
    nInit: number,
    rawSamples: number,
    restarts: number,
    fitStarts: number,
    fitIters: number,
    ascentSteps: number,
    failTol: number,
    noiseMin: number,
    usePrior: number,
  ): number;
  boObserve(bo: number, s: number, y: number): number;
  boSuggest(bo: number): number;
  boBest(bo: number): number;
  boSample(bo: number, out: number, count: number): void;
  boProject(bo: number, y: number, out: number): void;
  boPredict(bo: number, s: number, out: number): void;
  boLogEI(bo: number, s: number, grad: number): number;
  boCount(bo: number): number;
  boObservations(bo: number): number;
  boValues(bo: number): number;
  boTheta(bo: number): number;
  boInfo(bo: number): number;
}

/** The settings of boSetup (src/bo/constrained.ts checks them and documents each). */
export interface BoSetup {
  target: number;
  seed: number;
  initialDesign: number;
  rawSamples: number;
  restarts: number;
  fitStarts: number;
  fitIterations: number;
  ascentSteps: number;
  failureTolerance: number;
  noiseFloor: number;
  prior: boolean;
}

const EXPORTS = [
  'memory',
  'alloc',
  'free',
  'reset',
  'columnL1Norms',
  'histogramSlots',
  'histogramAccumulate',
  'histogramQuantile',
  'thresholdsToTau',
  'gpCreate',
  'gpSetData',
  'gpFit',
  'gpGrad',
  'gpPredict',
  'gpJitter',
  'hyperCreate',
  'hyperOptimize',
  'rngCreate',
  'erfc',
  'erfcx',
  'logh',
  'dlogh',
  'boCreate',
  'boInputs',
  'boSetup',
  'boObserve',
  'boSuggest',
  'boBest',
  'boSample',
  'boProject',
  'boPredict',
  'boLogEI',
  'boCount',
  'boObservations',
  'boValues',
  'boTheta',
  'boInfo',
] as const;

/**
 * A score histogram whose f64 counts live in Wasm memory at `ptr` (layout: histogramSlots in
 * src/sparsity/score.ts): one per projection, made once by `createHistogram`, fed every
 * calibration batch. `lo` and `hi` are as the Wasm sees them (rounded to f32).
 */
export interface WasHistogram extends HistogramSpec {
  readonly ptr: number;
}

/**
 * Instantiates the Wasm module from its bytes or a URL (fetched; browsers, or Node for http(s)).
 * In Node, `loadWasmNode()` from `was-edge/node` finds and reads the shipped file for you.
 */
export async function loadWasm(bytes: BufferSource | URL): Promise<WasModule> {
  const source = bytes instanceof URL ? await fetchBytes(bytes) : bytes;
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      // AssemblyScript's abort(message, fileName, line, column): asserts in the debug build land here.
      abort(messagePtr: number, filePtr: number, line: number, column: number): never {
        const where = memory ? `${readAsString(memory, filePtr)}:${line}:${column}` : `${line}:${column}`;
        const message = memory ? readAsString(memory, messagePtr) : 'abort';
        throw new WasEdgeError('WASM_ABORT', `Wasm aborted: ${message} (${where})`);
      },
    },
  };
  let instance: WebAssembly.Instance;
  try {
    ({ instance } = await WebAssembly.instantiate(source, imports));
  } catch (cause) {
    throw new WasEdgeError(
      'WASM_LOAD_FAILED',
      'Could not instantiate the was-edge Wasm module: pass the bytes of build/was.wasm (or dist/was.wasm); ' +
        'it needs WebAssembly SIMD (Node 16.4+, Chrome 91+, Firefox 89+, Safari 16.4+)',
      { cause },
    );
  }
  const exports = instance.exports as Record<string, unknown>;
  const missing = EXPORTS.filter((name) => !(name in exports));
  if (missing.length > 0) {
    throw new WasEdgeError(
      'WASM_LOAD_FAILED',
      `The Wasm module lacks exports ${missing.join(', ')}: it is not a was-edge build, or an old one; rebuild with \`npm run build\``,
    );
  }
  const raw = exports as unknown as WasExports;
  memory = raw.memory;
  return new WasModule(raw);
}

async function fetchBytes(url: URL): Promise<ArrayBuffer> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new WasEdgeError('WASM_LOAD_FAILED', `Could not fetch ${url.href}: check the URL (in Node, use loadWasmNode())`, {
      cause,
    });
  }
  if (!response.ok) {
    throw new WasEdgeError('WASM_LOAD_FAILED', `Fetching ${url.href} failed with HTTP ${response.status}: check the URL`);
  }
  return response.arrayBuffer();
}

/**
 * An AssemblyScript string: UTF-16LE code units, byte length in the 4 bytes before `ptr`. Copied out
 * first, as TextDecoder refuses views of a shared memory (the threaded CPU module's).
 */
export function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  ptr >>>= 0;
  const size = memory.buffer.byteLength;
  if (ptr < 4 || ptr > size) return '?';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (ptr + bytes > size) return '?';
  return new TextDecoder('utf-16le').decode(new Uint8Array(memory.buffer, ptr, bytes).slice());
}

/**
 * One instance of the Wasm module. Pointer-level methods (`alloc`, `f32View`, `…Into`) are for hot
 * paths that keep regions alive; array-level methods copy in and out once and free what they took.
 */
export class WasModule {
  readonly #raw: WasExports;
  /** Whole-memory views, re-made when memory grows (growth detaches the old ArrayBuffer). */
  #heapF32: Float32Array;
  #heapF64: Float64Array;

  constructor(raw: WasExports) {
    this.#raw = raw;
    this.#heapF32 = new Float32Array(raw.memory.buffer);
    this.#heapF64 = new Float64Array(raw.memory.buffer);
  }

  /** The module's linear memory; its `buffer` changes whenever memory grows. */
  get memory(): WebAssembly.Memory {
    return this.#raw.memory;
  }

  /**
   * A 16-byte-aligned region of `bytes` bytes. May grow memory: views made before this call may be
   * detached, so make them again with `f32View` afterwards.
   */
  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > 0xffff_0000) {
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `alloc: bytes must be an integer in [0, 2^32 - 2^16], got ${bytes}`);
    }
    return this.#raw.alloc(bytes) >>> 0; // >>> 0: addresses past 2 GiB come back as negative i32
  }

  /** Releases a region; the bump allocator reclaims it only if it is the most recent one (free LIFO). */
  free(ptr: number): void {
    this.#raw.free(ptr);
  }

  /** Drops every region at once: all pointers and views from earlier become invalid. */
  reset(): void {
    this.#raw.reset();
  }

  /** A Float32Array over `len` floats at `ptr`; valid until the next call that may grow memory. */
  f32View(ptr: number, len: number): Float32Array {
    if (ptr % 4 !== 0) {
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `f32View: ptr ${ptr} is not 4-byte aligned; use a pointer from alloc()`);
    }
    if (this.#heapF32.buffer !== this.#raw.memory.buffer) {
      this.#heapF32 = new Float32Array(this.#raw.memory.buffer);
    }
    const start = ptr / 4;
    if (!Number.isInteger(len) || len < 0 || start + len > this.#heapF32.length) {
      throw new WasEdgeError(
        'WASM_BAD_ARGUMENT',
        `f32View: [${ptr}, ${ptr + 4 * len}) is outside Wasm memory (${this.#heapF32.byteLength} bytes)`,
      );
    }
    return this.#heapF32.subarray(start, start + len);
  }

  /** A Float64Array over `len` doubles at `ptr` (8-byte aligned); valid until memory grows. */
  f64View(ptr: number, len: number): Float64Array {
    if (ptr % 8 !== 0) {
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `f64View: ptr ${ptr} is not 8-byte aligned; use a pointer from alloc()`);
    }
    if (this.#heapF64.buffer !== this.#raw.memory.buffer) {
      this.#heapF64 = new Float64Array(this.#raw.memory.buffer);
    }
    const start = ptr / 8;
    if (!Number.isInteger(len) || len < 0 || start + len > this.#heapF64.length) {
      throw new WasEdgeError(
        'WASM_BAD_ARGUMENT',
        `f64View: [${ptr}, ${ptr + 8 * len}) is outside Wasm memory (${this.#heapF64.byteLength} bytes)`,
      );
    }
    return this.#heapF64.subarray(start, start + len);
  }

  /** ‖W[:,j]‖₁ for each column j of row-major W (rows, cols), both regions already in Wasm memory. */
  columnL1NormsInto(wPtr: number, rows: number, cols: number, outPtr: number): void {
    checkShape('columnL1Norms', rows, cols);
    this.#raw.columnL1Norms(wPtr, rows, cols, outPtr);
  }

  /** ‖W[:,j]‖₁ for each column j of row-major W (rows, cols): the weight half of the WAS score. */
  columnL1Norms(w: Float32Array, rows: number, cols: number): Float32Array {
    checkShape('columnL1Norms', rows, cols);
    if (w.length !== rows * cols) {
      throw new WasEdgeError(
        'SHAPE_MISMATCH',
        `columnL1Norms: W has ${w.length} elements but rows × cols = ${rows} × ${cols} = ${rows * cols}`,
      );
    }
    const wPtr = this.alloc(w.byteLength);
    const outPtr = this.alloc(cols * 4);
    try {
      this.f32View(wPtr, w.length).set(w);
      this.#raw.columnL1Norms(wPtr, rows, cols, outPtr);
      return this.f32View(outPtr, cols).slice();
    } finally {
      this.free(outPtr); // reverse order, so the bump allocator takes both back
      this.free(wPtr);
    }
  }

  /**
   * A zeroed score histogram in Wasm memory, kept for the whole calibration of one projection
   * (free it with `free(h.ptr)`, LIFO, or drop it with `reset()`).
   */
  createHistogram(spec: HistogramSpec = DEFAULT_HISTOGRAM): WasHistogram {
    const checked = checkSpec(spec);
    const slots = this.#raw.histogramSlots(checked.nbins);
    const ptr = this.alloc(slots * 8);
    this.f64View(ptr, slots).fill(0); // the bump allocator hands back old bytes after reset/free
    return { ptr, ...checked };
  }

  /** A copy of the counts: [zeros, underflow, bin 0 … bin nbins−1, overflow, NaN]. */
  histogramCounts(hist: WasHistogram): Float64Array {
    return this.f64View(hist.ptr, histogramSlots(hist.nbins)).slice();
  }

  /** Sets every count back to zero. */
  clearHistogram(hist: WasHistogram): void {
    this.f64View(hist.ptr, histogramSlots(hist.nbins)).fill(0);
  }

  /**
   * Adds the scores |x·norms| of activations x (tokens, n) at `xPtr` to `hist`; `normsPtr` 0 means
   * all-ones norms (TEAL). For calibration loops that keep x and the norms in Wasm memory.
   */
  accumulateInto(hist: WasHistogram, xPtr: number, normsPtr: number, tokens: number, n: number): void {
    checkShape('accumulate', tokens, n, ['tokens', 'n']);
    this.#raw.histogramAccumulate(hist.ptr, hist.nbins, hist.lo, hist.hi, xPtr, normsPtr, n, tokens);
  }

  /** Adds the scores |x[r·n + j]·norms[j]| of x (tokens, n) to `hist`; norms null: all ones (TEAL). */
  accumulate(hist: WasHistogram, x: Float32Array, norms: Float32Array | null, tokens: number, n: number): void {
    checkShape('accumulate', tokens, n, ['tokens', 'n']);
    if (x.length !== tokens * n) {
      throw new WasEdgeError(
        'SHAPE_MISMATCH',
        `accumulate: x has ${x.length} elements but tokens × n = ${tokens} × ${n} = ${tokens * n}`,
      );
    }
    if (norms !== null && norms.length !== n) {
      throw new WasEdgeError('SHAPE_MISMATCH', `accumulate: norms has ${norms.length} elements but n = ${n}`);
    }
    const xPtr = this.alloc(x.byteLength);
    const normsPtr = norms === null ? 0 : this.alloc(norms.byteLength);
    try {
      this.f32View(xPtr, x.length).set(x);
      if (norms !== null) this.f32View(normsPtr, n).set(norms);
      this.#raw.histogramAccumulate(hist.ptr, hist.nbins, hist.lo, hist.hi, xPtr, normsPtr, n, tokens);
    } finally {
      if (normsPtr !== 0) this.free(normsPtr);
      this.free(xPtr);
    }
  }

  /**
   * The score threshold t with a fraction q of the recorded scores ≤ t (sparsity q). NaN for an
   * empty histogram; 0 for q ≤ 0; +Infinity for q ≥ 1 (edge cases: assembly/score/histogram.ts).
   */
  quantile(hist: WasHistogram, q: number): number {
    if (typeof q !== 'number' || Number.isNaN(q)) {
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `quantile: q must be a number in [0, 1], got ${String(q)}`);
    }
    return this.#raw.histogramQuantile(hist.ptr, hist.nbins, hist.lo, hist.hi, q);
  }

  /** τ_j = t / norms[j] into `outPtr` (n f32); `normsPtr` 0 means all ones. */
  tauInto(t: number, normsPtr: number, n: number, outPtr: number): void {
    checkShape('tau', 1, n, ['1', 'n']);
    this.#raw.thresholdsToTau(t, normsPtr, n, outPtr);
  }

  /** τ_j = t / norms[j] (f32): drop x_j when |x_j| ≤ τ_j; norms[j] = 0 gives +Infinity (always dropped). */
  tau(t: number, norms: Float32Array): Float32Array {
    const n = norms.length;
    const normsPtr = this.alloc(norms.byteLength);
    const outPtr = this.alloc(norms.byteLength);
    try {
      this.f32View(normsPtr, n).set(norms);
      this.#raw.thresholdsToTau(t, normsPtr, n, outPtr);
      return this.f32View(outPtr, n).slice();
    } finally {
      this.free(outPtr);
      this.free(normsPtr);
    }
  }

  // Bayesian optimisation (assembly/bo/). Pointer-level: workspaces and optimiser states are made
  // once in Wasm memory and live until `reset()`; src/bo/ holds the array-level classes over them.

  /** A GP workspace for up to nMax points of dimension d (assembly/bo/gp.ts). */
  gpCreate(d: number, nMax: number): number {
    checkCount('gpCreate', 'd', d, 1, 4096);
    checkCount('gpCreate', 'nMax', nMax, 1, 4096);
    return this.#raw.gpCreate(d, nMax) >>> 0;
  }

  /** Replaces the workspace's data: x (n, d) f64 row-major and y (n) f64, both in Wasm memory. */
  gpSetData(gp: number, xPtr: number, yPtr: number, n: number): void {
    this.#raw.gpSetData(gp, xPtr, yPtr, n);
  }

  /** Fits at θ (d + 2 f64 at thetaPtr: log ℓ, log σ_f², log σ_n²); returns the log marginal likelihood. */
  gpFit(gp: number, thetaPtr: number): number {
    return this.#raw.gpFit(gp, thetaPtr);
  }

  /** ∂ LML/∂θ at the last fit into gradPtr (d + 2 f64). */
  gpGrad(gp: number, gradPtr: number): void {
    this.#raw.gpGrad(gp, gradPtr);
  }

  /** Latent posterior mean and variance at m points xs (m, d) into meanPtr and varPtr (m f64 each). */
  gpPredict(gp: number, xsPtr: number, m: number, meanPtr: number, varPtr: number): void {
    this.#raw.gpPredict(gp, xsPtr, m, meanPtr, varPtr);
  }

  /** Diagonal jitter the last fit needed: 0 none, −1 the factorisation failed. */
  gpJitter(gp: number): number {
    return this.#raw.gpJitter(gp);
  }

  /** Scratch and prior for hyper-parameter fits of a d-dimensional GP (assembly/bo/hyper.ts). */
  hyperCreate(d: number, prior: boolean, noiseFloor: number): number {
    checkCount('hyperCreate', 'd', d, 1, 4096);
    return this.#raw.hyperCreate(d, prior ? 1 : 0, noiseFloor) >>> 0;
  }

  /** Multi-start L-BFGS on LML + log prior from θ at thetaPtr (written back); returns the optimum. */
  hyperOptimize(gp: number, hyper: number, thetaPtr: number, starts: number, maxIter: number, rng: number): number {
    checkCount('hyperOptimize', 'starts', starts, 1, 1024);
    checkCount('hyperOptimize', 'maxIter', maxIter, 1, 100_000);
    return this.#raw.hyperOptimize(gp, hyper, thetaPtr, starts, maxIter, rng);
  }

  /** A seeded xoshiro256** state (assembly/bo/rng.ts); seed is an integer in [0, 2^53). */
  rngCreate(seed: number): number {
    const [lo, hi] = splitSeed('rngCreate', seed);
    return this.#raw.rngCreate(lo, hi) >>> 0;
  }

  /** erfc(x), Cody's rational approximations (assembly/bo/special.ts). */
  erfc(x: number): number {
    return this.#raw.erfc(x);
  }

  /** exp(x²)·erfc(x). */
  erfcx(x: number): number {
    return this.#raw.erfcx(x);
  }

  /** log(φ(z) + zΦ(z)), the log-EI kernel (Ament et al. 2023). */
  logh(z: number): number {
    return this.#raw.logh(z);
  }

  /** d log h/dz = Φ(z)/h(z). */
  dlogh(z: number): number {
    return this.#raw.dlogh(z);
  }

  /**
   * A constrained optimiser state for d coordinates and up to nMax observations over weights, box
   * [lo, hi] and target weighted mean (assembly/bo/optimizer.ts); returns its pointer. Throws
   * WASM_BAD_ARGUMENT on a status the Wasm refuses (ConstrainedBO checks its options first).
   */
  boCreate(weights: ArrayLike<number>, lo: ArrayLike<number>, hi: ArrayLike<number>, nMax: number, setup: BoSetup): number {
    const d = weights.length;
    checkCount('boCreate', 'd', d, 1, 4096);
    checkCount('boCreate', 'nMax', nMax, 2, 4096);
    if (lo.length !== d || hi.length !== d) {
      throw new WasEdgeError('SHAPE_MISMATCH', `boCreate: weights, lo and hi must have one entry per coordinate (${d}), got ${lo.length} and ${hi.length}`);
    }
    const bo = this.#raw.boCreate(d, nMax) >>> 0;
    const inputs = this.f64View(this.#raw.boInputs(bo) >>> 0, 3 * d);
    inputs.set(Array.from(weights), 0);
    inputs.set(Array.from(lo), d);
    inputs.set(Array.from(hi), 2 * d);
    const [seedLo, seedHi] = splitSeed('boCreate', setup.seed);
    const status = this.#raw.boSetup(
      bo,
      setup.target,
      seedLo,
      seedHi,
      setup.initialDesign,
      setup.rawSamples,
      setup.restarts,
      setup.fitStarts,
      setup.fitIterations,
      setup.ascentSteps,
      setup.failureTolerance,
      setup.noiseFloor,
      setup.prior ? 1 : 0,
    );
    if (status !== 0) {
      const why = status === -1 ? 'weights must be finite, ≥ 0 and not all 0' : status === -2 ? 'need finite lo ≤ hi' : 'the target weighted mean is outside [Σ w·lo, Σ w·hi] / Σ w';
      throw new WasEdgeError('WASM_BAD_ARGUMENT', `boCreate: ${why} (status ${status})`);
    }
    return bo;
  }

  /** Records y at the point s (d f64 at sPtr); returns the count, or a negative status (assembly/bo/optimizer.ts). */
  boObserve(bo: number, sPtr: number, y: number): number {
    return this.#raw.boObserve(bo, sPtr, y);
  }

  /** The next point (d f64 at the returned pointer, valid until the next suggest). */
  boSuggest(bo: number): number {
    return this.#raw.boSuggest(bo) >>> 0;
  }

  /** Index of the best observation, −1 when none. */
  boBest(bo: number): number {
    return this.#raw.boBest(bo);
  }

  /** `count` hit-and-run samples of the constrained set into outPtr (count, d). */
  boSample(bo: number, outPtr: number, count: number): void {
    checkCount('boSample', 'count', count, 0, 0x7fff_ffff);
    this.#raw.boSample(bo, outPtr, count);
  }

  /** Euclidean projection of the point at yPtr onto the constrained set, into outPtr (may alias). */
  boProject(bo: number, yPtr: number, outPtr: number): void {
    this.#raw.boProject(bo, yPtr, outPtr);
  }

  /** Posterior mean and variance of the objective at sPtr (in y's units) into outPtr (2 f64). */
  boPredict(bo: number, sPtr: number, outPtr: number): void {
    this.#raw.boPredict(bo, sPtr, outPtr);
  }

  /** log EI at sPtr under the current fit, its gradient into gradPtr (d f64) when nonzero; NaN without a fit. */
  boLogEI(bo: number, sPtr: number, gradPtr: number): number {
    return this.#raw.boLogEI(bo, sPtr, gradPtr);
  }

  boCount(bo: number): number {
    return this.#raw.boCount(bo);
  }

  /** Pointers into the state: observations (nMax, d), values (nMax), θ (d + 2), info (8). */
  boObservations(bo: number): number {
    return this.#raw.boObservations(bo) >>> 0;
  }

  boValues(bo: number): number {
    return this.#raw.boValues(bo) >>> 0;
  }

  boTheta(bo: number): number {
    return this.#raw.boTheta(bo) >>> 0;
  }

  boInfo(bo: number): number {
    return this.#raw.boInfo(bo) >>> 0;
  }
}

function checkCount(fn: string, name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `${fn}: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** A seed in [0, 2^53) as the two u32 halves the Wasm takes. */
function splitSeed(fn: string, seed: number): [number, number] {
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `${fn}: seed must be an integer in [0, 2^53), got ${seed}`);
  }
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

function checkSpec(spec: HistogramSpec): HistogramSpec {
  const { nbins } = spec;
  if (!Number.isInteger(nbins) || nbins < 1 || nbins > 2 ** 24) {
    throw new WasEdgeError('WASM_BAD_ARGUMENT', `createHistogram: nbins must be an integer in [1, 2^24], got ${nbins}`);
  }
  const lo = Math.fround(spec.lo);
  const hi = Math.fround(spec.hi);
  if (!(lo >= -126 && hi <= 128 && lo < hi)) {
    throw new WasEdgeError(
      'WASM_BAD_ARGUMENT',
      `createHistogram: need -126 <= lo < hi <= 128 (log2 of the score range), got lo ${spec.lo}, hi ${spec.hi}`,
    );
  }
  return { nbins, lo, hi };
}

function checkShape(fn: string, rows: number, cols: number, names: readonly [string, string] = ['rows', 'cols']): void {
  for (const [name, value] of [[names[0], rows], [names[1], cols]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0x7fff_ffff) {
      throw new WasEdgeError('SHAPE_MISMATCH', `${fn}: ${name} must be an integer in [0, 2^31), got ${value}`);
    }
  }
}
