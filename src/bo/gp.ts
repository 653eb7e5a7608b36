// Array-level access to one Wasm GP workspace (assembly/bo/gp.ts): the optimiser uses the workspace
// internally; this class is for checking it against src/bo/oracle.ts and for callers who want a GP
// alone. Regions are allocated once at construction and reused by every call.

import { WasEdgeError } from '../errors.js';
import type { WasModule } from '../wasm/module.js';

export class WasmGp {
  readonly d: number;
  readonly nMax: number;
  readonly #wasm: WasModule;
  readonly #ptr: number;
  readonly #x: number; // (nMax, d)
  readonly #y: number; // (nMax)
  readonly #theta: number; // (d + 2)
  readonly #grad: number; // (d + 2)
  #n = 0;

  constructor(wasm: WasModule, d: number, nMax: number) {
    this.#wasm = wasm;
    this.#ptr = wasm.gpCreate(d, nMax);
    this.d = d;
    this.nMax = nMax;
    this.#x = wasm.alloc(nMax * d * 8);
    this.#y = wasm.alloc(nMax * 8);
    this.#theta = wasm.alloc((d + 2) * 8);
    this.#grad = wasm.alloc((d + 2) * 8);
  }

  /** Number of points set. */
  get n(): number {
    return this.#n;
  }

  /** Replaces the data: x (n, d) row-major, y (n). */
  setData(x: Float64Array, y: Float64Array): void {
    const n = y.length;
    if (n > this.nMax || x.length !== n * this.d) {
      throw new WasEdgeError('SHAPE_MISMATCH', `WasmGp.setData: need x (n, ${this.d}) and y (n) with n ≤ ${this.nMax}, got ${x.length} and ${n} values`);
    }
    this.#wasm.f64View(this.#x, n * this.d).set(x);
    this.#wasm.f64View(this.#y, n).set(y);
    this.#wasm.gpSetData(this.#ptr, this.#x, this.#y, n);
    this.#n = n;
  }

  /** Fits at θ = [log ℓ (d), log σ_f², log σ_n²]; returns the log marginal likelihood. */
  fit(theta: ArrayLike<number>): number {
    this.#setTheta(theta);
    return this.#wasm.gpFit(this.#ptr, this.#theta);
  }

  /** Jitter the last fit added to the diagonal (0: none, −1: failed). */
  get jitter(): number {
    return this.#wasm.gpJitter(this.#ptr);
  }

  /** ∂ LML/∂θ at the last fit. */
  gradient(): Float64Array {
    this.#wasm.gpGrad(this.#ptr, this.#grad);
    return this.#wasm.f64View(this.#grad, this.d + 2).slice();
  }

  /** Latent posterior mean and variance at the rows of xs (m, d), after a fit. */
  predict(xs: Float64Array): { mean: Float64Array; variance: Float64Array } {
    const m = xs.length / this.d;
    if (!Number.isInteger(m)) throw new WasEdgeError('SHAPE_MISMATCH', `WasmGp.predict: xs must be (m, ${this.d}), got ${xs.length} values`);
    const xsPtr = this.#wasm.alloc(xs.byteLength);
    const meanPtr = this.#wasm.alloc(m * 8);
    const varPtr = this.#wasm.alloc(m * 8);
    try {
      this.#wasm.f64View(xsPtr, xs.length).set(xs);
      this.#wasm.gpPredict(this.#ptr, xsPtr, m, meanPtr, varPtr);
      return { mean: this.#wasm.f64View(meanPtr, m).slice(), variance: this.#wasm.f64View(varPtr, m).slice() };
    } finally {
      this.#wasm.free(varPtr); // LIFO, so the bump allocator takes all three back
      this.#wasm.free(meanPtr);
      this.#wasm.free(xsPtr);
    }
  }

  /**
   * Maximises LML + log prior (assembly/bo/hyper.ts) from θ (then the prior's centre, then prior
   * draws); leaves the GP fitted at the optimum. Makes its scratch and generator on each call.
   */
  optimize(
    theta: ArrayLike<number>,
    { starts = 3, maxIter = 50, prior = true, noiseFloor = 1e-6, seed = 0 }: { starts?: number; maxIter?: number; prior?: boolean; noiseFloor?: number; seed?: number } = {},
  ): { theta: Float64Array; objective: number } {
    const hyper = this.#wasm.hyperCreate(this.d, prior, noiseFloor);
    const rng = this.#wasm.rngCreate(seed);
    this.#setTheta(theta);
    const objective = this.#wasm.hyperOptimize(this.#ptr, hyper, this.#theta, starts, maxIter, rng);
    return { theta: this.#wasm.f64View(this.#theta, this.d + 2).slice(), objective };
  }

  #setTheta(theta: ArrayLike<number>): void {
    if (theta.length !== this.d + 2) {
      throw new WasEdgeError('SHAPE_MISMATCH', `WasmGp: θ must have d + 2 = ${this.d + 2} entries, got ${theta.length}`);
    }
    this.#wasm.f64View(this.#theta, this.d + 2).set(Array.from(theta));
  }
}
