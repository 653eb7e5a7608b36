// Causal attention of one query position over the cached positions 0..pos, for a range of query heads
// (threads split the heads). Grouped-query: head h reads key/value head h / (nHeads / nKV).
// Arithmetic as src/reference/ops.ts attention(): scores and the softmax in f64 rounded to f32
// storage; the dot products and the weighted sum of values in f32 SIMD lanes.

/**
 * q:      (nHeads · headDim) f32, after RoPE
 * kc, vc: (context, kvDim) f32 key and value caches of one layer, kvDim = nKV · headDim
 * out:    (nHeads · headDim) f32, heads [h0, h1) written
 * scores: (pos + 1) f32 scratch of this thread
 */
export function attentionRange(
  q: usize, kc: usize, vc: usize, out: usize, pos: i32, nHeads: i32, nKV: i32, headDim: i32, scores: usize, h0: i32, h1: i32,
): void {
  assert(nKV > 0 && nHeads % nKV == 0 && h0 >= 0 && h1 <= nHeads, "attentionRange: bad head counts");
  const group = nHeads / nKV;
  const kvStride = <usize>(nKV * headDim) << 2;
  const scale = 1 / Math.sqrt(<f64>headDim);
  const vec = headDim & ~3;
  for (let h = h0; h < h1; h++) {
    const qh = q + (<usize>(h * headDim) << 2);
    const kvOff = <usize>((h / group) * headDim) << 2;
    // scores[t] = q·k_t / √headDim
    let max: f32 = -Infinity;
    for (let t = 0; t <= pos; t++) {
      const kt = kc + <usize>t * kvStride + kvOff;
      let acc = f32x4.splat(0);
      let i = 0;
      for (; i < vec; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qh + (<usize>i << 2)), v128.load(kt + (<usize>i << 2))));
      let dot = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) + <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
      for (; i < headDim; i++) dot += <f64>load<f32>(qh + (<usize>i << 2)) * <f64>load<f32>(kt + (<usize>i << 2));
      const s = <f32>(dot * scale);
      store<f32>(scores + (<usize>t << 2), s);
      if (s > max) max = s;
    }
    // softmax, as the reference: e stored as f32, summed in f64
    let sum: f64 = 0;
    for (let t = 0; t <= pos; t++) {
      const p = scores + (<usize>t << 2);
      const e = Math.exp(<f64>load<f32>(p) - <f64>max);
      store<f32>(p, <f32>e);
      sum += e;
    }
    for (let t = 0; t <= pos; t++) {
      const p = scores + (<usize>t << 2);
      store<f32>(p, <f32>(<f64>load<f32>(p) / sum));
    }
    // out_h = Σ_t p_t · v_t
    const oh = out + (<usize>(h * headDim) << 2);
    memory.fill(oh, 0, <usize>headDim << 2);
    for (let t = 0; t <= pos; t++) {
      const pt = load<f32>(scores + (<usize>t << 2));
      const ps = f32x4.splat(pt);
      const vt = vc + <usize>t * kvStride + kvOff;
      let i = 0;
      for (; i < vec; i += 4) {
        const p = <usize>i << 2;
        v128.store(oh + p, f32x4.add(v128.load(oh + p), f32x4.mul(ps, v128.load(vt + p))));
      }
      for (; i < headDim; i++) {
        const p = <usize>i << 2;
        store<f32>(oh + p, load<f32>(oh + p) + pt * load<f32>(vt + p));
      }
    }
  }
}
