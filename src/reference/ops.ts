// The arithmetic of a llama block in plain TypeScript, f32 storage with f64 accumulation where a
// sum is long. These are the oracles: every GPU kernel and Wasm routine is tested against them.

/** out = x / rms(x) * weight  (RMSNorm: Zhang & Sennrich 2019; eps inside the root, as llama.cpp). */
export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, eps: number, n = x.length): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[i] = x[i]! * scale * weight[i]!;
}

/** out(rows) = W(rows, cols) · x(cols); W row-major as ggml stores it (row = output channel). */
export function matvec(out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) acc += w[base + c]! * x[c]!;
    out[r] = acc;
  }
}

/** How a model rotates: llama.cpp's rope mode and Llama 3's per-pair frequency divisors. */
export interface RopeSpec {
  headDim: number;
  ropeDim: number; // dimensions ≥ ropeDim are untouched
  base: number;
  /** 'normal': adjacent pairs (2i, 2i+1); 'neox': pairs (i, i + ropeDim/2). */
  style: 'normal' | 'neox';
  /** (ropeDim/2) divisors of pair i's frequency, or null. */
  freqFactors: Float32Array | null;
}

/** θ of pair i at `pos`: pos · base^(−2i/ropeDim) / factor_i, in f64 (every backend's table uses this). */
export function ropeTheta(r: RopeSpec, pos: number, i: number): number {
  return (pos * Math.pow(r.base, (-2 * i) / r.ropeDim)) / (r.freqFactors ? r.freqFactors[i]! : 1);
}

/**
 * Rotary position embedding (Su et al. 2021, eq. 34) of nHeads heads in place: pair i of each head
 * rotates by ropeTheta(pos, i); the pair is (2i, 2i+1) in llama.cpp's normal mode, (i, i + ropeDim/2)
 * in NEOX mode.
 */
export function rope(vec: Float32Array, nHeads: number, r: RopeSpec, pos: number): void {
  const half = r.ropeDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const theta = ropeTheta(r, pos, i);
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      const j = h * r.headDim + (r.style === 'neox' ? i : 2 * i);
      const k = r.style === 'neox' ? j + half : j + 1;
      const a = vec[j]!;
      const b = vec[k]!;
      vec[j] = a * c - b * s;
      vec[k] = a * s + b * c;
    }
  }
}

/** RMSNorm of each of nHeads heads of vec in place, with one (headDim) weight (Qwen3's q/k norm). */
export function headRmsnorm(vec: Float32Array, nHeads: number, headDim: number, weight: Float32Array, eps: number): void {
  for (let h = 0; h < nHeads; h++) {
    const head = vec.subarray(h * headDim, (h + 1) * headDim);
    rmsnorm(head, head, weight, eps);
  }
}

/** In-place numerically stable softmax over the first n entries. */
export function softmax(x: Float32Array, n = x.length): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[i]! > max) max = x[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[i]! - max);
    x[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) x[i] = x[i]! / sum;
}

/**
 * Causal attention of one query position over cached keys/values 0..pos (inclusive).
 * Grouped-query: query head h reads key/value head floor(h / (nHeads / nKVHeads)).
 * q (n_heads·head_dim); keyCache, valueCache (seq, kv_dim) for one layer; out (n_heads·head_dim).
 */
export function attention(
  out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array,
  pos: number, nHeads: number, nKVHeads: number, headDim: number, scores: Float32Array = new Float32Array(pos + 1),
): void {
  const kvDim = nKVHeads * headDim;
  const group = nHeads / nKVHeads;
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < nHeads; h++) {
    const kvh = Math.floor(h / group);
    for (let t = 0; t <= pos; t++) {
      let dot = 0;
      for (let i = 0; i < headDim; i++) dot += q[h * headDim + i]! * keyCache[t * kvDim + kvh * headDim + i]!;
      scores[t] = dot * scale;
    }
    softmax(scores, pos + 1);
    for (let i = 0; i < headDim; i++) {
      let acc = 0;
      for (let t = 0; t <= pos; t++) acc += scores[t]! * valueCache[t * kvDim + kvh * headDim + i]!;
      out[h * headDim + i] = acc;
    }
  }
}

/** SwiGLU gate: out = silu(gate) * up, silu(x) = x·σ(x) (Shazeer 2020). */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, n = gate.length): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = (g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** x += y */
export function addInPlace(x: Float32Array, y: Float32Array, n = x.length): void {
  for (let i = 0; i < n; i++) x[i] = x[i]! + y[i]!;
}

/** Index of the largest entry; the lowest index wins ties (as llama.cpp's greedy sampler). */
export function argmax(x: Float32Array, n = x.length): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/**
 * Activation-sparse out(rows) = W(rows, cols) · x(cols), W row-major: input channel c counts only
 * when |x_c| > tau_c (WAS/TEAL: a skipped channel's weights are never needed). Returns how many
 * input channels were skipped.
 */
export function sparseMatvec(out: Float32Array, w: Float32Array, x: Float32Array, tau: Float32Array, rows: number, cols: number): number {
  // The active channels, gathered once: every row then adds the same terms in the same column order
  // as a masked dense loop would, and a skipped channel costs nothing (sparse evals run faster).
  if (activeScratch.length < cols) activeScratch = new Int32Array(cols);
  const active = activeScratch;
  let n = 0;
  for (let c = 0; c < cols; c++) if (Math.abs(x[c]!) > tau[c]!) active[n++] = c;
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    const base = r * cols;
    for (let k = 0; k < n; k++) {
      const c = active[k]!;
      acc += w[base + c]! * x[c]!;
    }
    out[r] = acc;
  }
  return cols - n;
}

/** sparseMatvec's list of active channels, grown to the widest input seen. */
let activeScratch = new Int32Array(0);
