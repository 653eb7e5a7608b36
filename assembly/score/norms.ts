// Weight half of the WAS score |x_j|·‖W[:,j]‖₁: the L1 norm of each input channel's weight column.
// Computed once per matrix at load time, so precision is worth more than the last bit of speed.

/**
 * out[j] = Σ_i |W[i·cols + j]| for a row-major f32 matrix W of shape (rows, cols).
 *
 * w:   (rows, cols) f32, 4-byte aligned
 * out: (cols) f32, 4-byte aligned, fully overwritten
 */
export function columnL1Norms(w: usize, rows: i32, cols: i32, out: usize): void {
  assert(rows >= 0 && cols >= 0, "columnL1Norms: rows and cols must be >= 0");
  assert((w & 3) == 0 && (out & 3) == 0, "columnL1Norms: pointers must be 4-byte aligned");
  // u64 so that a hostile shape cannot wrap the bounds check on wasm32.
  const memEnd = <u64>memory.size() << 16;
  assert(<u64>w + (<u64>rows * <u64>cols << 2) <= memEnd, "columnL1Norms: W runs past memory");
  assert(<u64>out + (<u64>cols << 2) <= memEnd, "columnL1Norms: out runs past memory");

  // Accumulate in f64 (f32 lanes promoted to f64x2): only the final rounding to f32 remains, ≤ 2^-24
  // relative, where f32 sums drift past 1e-6 relative at rows ≈ 10^3–10^4.
  // Column strips walk all rows with the accumulators in registers: out is written once, no scratch.
  const stride = <usize>cols << 2;
  let j: i32 = 0;

  // 16 columns = one 64-byte cache line per row; eight f64x2 accumulators.
  for (; j + 16 <= cols; j += 16) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    let a4 = f64x2.splat(0), a5 = f64x2.splat(0), a6 = f64x2.splat(0), a7 = f64x2.splat(0);
    let p = w + (<usize>j << 2);
    for (let i: i32 = 0; i < rows; i++, p += stride) {
      // Unaligned loads are fine: rows start at multiples of cols·4, not of 16.
      const v0 = f32x4.abs(v128.load(p));
      const v1 = f32x4.abs(v128.load(p, 16));
      const v2 = f32x4.abs(v128.load(p, 32));
      const v3 = f32x4.abs(v128.load(p, 48));
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(high(v0)));
      a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v1));
      a3 = f64x2.add(a3, f64x2.promote_low_f32x4(high(v1)));
      a4 = f64x2.add(a4, f64x2.promote_low_f32x4(v2));
      a5 = f64x2.add(a5, f64x2.promote_low_f32x4(high(v2)));
      a6 = f64x2.add(a6, f64x2.promote_low_f32x4(v3));
      a7 = f64x2.add(a7, f64x2.promote_low_f32x4(high(v3)));
    }
    const q = out + (<usize>j << 2);
    v128.store(q, demote4(a0, a1));
    v128.store(q, demote4(a2, a3), 16);
    v128.store(q, demote4(a4, a5), 32);
    v128.store(q, demote4(a6, a7), 48);
  }

  // Remaining groups of 4 columns.
  for (; j + 4 <= cols; j += 4) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let p = w + (<usize>j << 2);
    for (let i: i32 = 0; i < rows; i++, p += stride) {
      const v = f32x4.abs(v128.load(p));
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(high(v)));
    }
    v128.store(out + (<usize>j << 2), demote4(a0, a1));
  }

  // Scalar tail: cols % 4 columns.
  for (; j < cols; j++) {
    let acc: f64 = 0;
    let p = w + (<usize>j << 2);
    for (let i: i32 = 0; i < rows; i++, p += stride) {
      acc += <f64>Mathf.abs(load<f32>(p));
    }
    store<f32>(out + (<usize>j << 2), <f32>acc);
  }
}

/** Lanes 2, 3 of an f32x4 moved to lanes 0, 1, where promote_low reads them. */
// @ts-ignore: decorator
@inline function high(v: v128): v128 {
  return v128.shuffle<f32>(v, v, 2, 3, 2, 3);
}

/** Two f64x2 sums rounded to one f32x4: [lo.0, lo.1, hi.0, hi.1]. */
// @ts-ignore: decorator
@inline function demote4(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}
