// Typed wrapper over the raw AssemblyScript module (assembly/index.ts, built without bindings): the
// generated glue would copy typed arrays in and out on every call (STYLE lesson 8), so hot paths
// keep regions alive in Wasm memory and pass pointers; the copying methods are for one-off work.

import { WasEdgeError } from '../errors.js';
import {
  checkCount, checkShape, checkSpec, DEFAULT_HISTOGRAM, histogramSlots, splitSeed, type BoSetup, type HistogramSpec, type WasExports, type WasHistogram,
} from './exports.js';
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
