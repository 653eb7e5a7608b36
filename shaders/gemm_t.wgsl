// Prefill over Wᵀ (input-channel-major, weights.ts uploadTransposedStack — the one weight copy that
// sparse_gemv reads when decoding): Y[t, first_s + r] (+)= Σ_j x'[t, j] · Wᵀ[j, offset_s + r] for the
// tokens t < step.n_tokens, segments s stacked in each stored row (q|k|v, gate|up).
// x' = x, RMSNorm(x)·norm_w per token (PRE_NORM), or silu(gate)·up (SWIGLU: x holds gate, up at
// x_offset + up_offset). A workgroup holds CH output chunks (16 bytes of a stored row each) × TT tokens
// × LANES lanes; the TT invocations that read the same weight chunk for different tokens sit in one
// workgroup, so that chunk comes from memory once per token tile. Lanes take every LANES-th channel of
// the shard and are summed by a tree in workgroup memory (a fixed order: deterministic).

struct Params {
  cols: u32,         // input channels of the whole matrix (the norm's Σx² runs over all of them)
  shard_first: u32,  // first input channel (stored row) in this shard
  shard_cols: u32,
  stride: u32,       // 16-byte chunks per stored row
  x_offset: u32,     // elements
  x_stride: u32,     // elements between tokens of X
  y_offset: u32,     // elements
  y_stride: u32,     // elements between tokens of Y
  eps: f32,
  up_offset: u32,    // SWIGLU: elements from gate to up in x
  _a: u32,
  _b: u32,
  seg: array<vec4<u32>, NSEG>,  // per segment: (first element in the stored row, rows, first output row, 0)
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;
const CH = {{CH}}u;         // output chunks per workgroup
const TT = {{TT}}u;         // tokens per workgroup
const LANES = WG / (CH * TT);
const NSEG = {{NSEG}}u;
#if F16
const CHUNK = 8u;  // outputs per invocation: a vec4<u32> of packed halves
#else
const CHUNK = 4u;  // a vec4<f32>
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
#if F16
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
#endif
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#if PRE_NORM
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;
var<workgroup> scales: array<f32, TT>;
#endif

#if F16
var<workgroup> red: array<vec4<f32>, 2u * WG>;
#else
var<workgroup> red: array<vec4<f32>, WG>;
#endif

// x'[tok, j] before the norm's scale.
fn xin(tok: u32, j: u32) -> f32 {
  let i = p.x_offset + tok * p.x_stride + j;
#if SWIGLU
  let g = x[i];
  return g / (1.0 + exp(-g)) * x[i + p.up_offset];
#else
  return x[i];
#endif
}

fn emit(i: u32, v: f32) {
#if ACCUMULATE
  y[i] += v;
#else
  y[i] = v;
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = (wid.x + wid.y * nwg.x) * CH + lid % CH;  // this invocation's chunk of the stored row
  let tl = (lid / CH) % TT;
  let tok = wid.z * TT + tl;
  let lane = lid / (CH * TT);
  if ((wid.x + wid.y * nwg.x) * CH >= p.stride || wid.z * TT >= step.n_tokens) { return; }
  let live = c < p.stride && tok < step.n_tokens;

#if PRE_NORM
  // Σx² of each token over all of x: the CH · LANES invocations of a token share the loop, then one sums.
  var ss = 0.0;
  if (tok < step.n_tokens) {
    let k = lid % CH + CH * lane;
    for (var j = k; j < p.cols; j += CH * LANES) {
      let v = x[p.x_offset + tok * p.x_stride + j];
      ss += v * v;
    }
  }
  red[lid] = vec4<f32>(ss, 0.0, 0.0, 0.0);
  workgroupBarrier();
  if (lid < TT) {
    var t = 0.0;
    for (var l = 0u; l < LANES; l++) {
      for (var q = 0u; q < CH; q++) { t += red[q + CH * (lid + TT * l)].x; }
    }
    scales[lid] = 1.0 / sqrt(t / f32(p.cols) + p.eps);
  }
  workgroupBarrier();
#endif

  var a = vec4<f32>(0.0);
  var b = vec4<f32>(0.0);
  if (live) {
    for (var j = lane; j < p.shard_cols; j += LANES) {
      let ch = p.shard_first + j;
      var v = xin(tok, ch);
#if PRE_NORM
      v *= norm_w[ch];
#endif
      let q = w[j * p.stride + c];
#if F16
      a += v * vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
      b += v * vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
#else
      a += v * q;
#endif
    }
  }
  red[lid] = a;
#if F16
  red[WG + lid] = b;
#endif
  workgroupBarrier();
  for (var h = LANES / 2u; h > 0u; h >>= 1u) {
    if (lane < h) {
      red[lid] += red[lid + h * CH * TT];
#if F16
      red[WG + lid] += red[WG + lid + h * CH * TT];
#endif
    }
    workgroupBarrier();
  }
  if (lane != 0u || !live) { return; }
#if PRE_NORM
  let scale = scales[tl];
#else
  let scale = 1.0;
#endif
  let sum_a = red[lid] * scale;
#if F16
  let sum_b = red[WG + lid] * scale;
#endif
  // Element e of the stored row belongs to the segment whose [offset, offset + rows) holds it; padding is dropped.
  let yb = p.y_offset + tok * p.y_stride;
  for (var k = 0u; k < CHUNK; k++) {
    let e = c * CHUNK + k;
#if F16
    var v = sum_b[k % 4u];
    if (k < 4u) { v = sum_a[k]; }
#else
    let v = sum_a[k];
#endif
    for (var s = 0u; s < NSEG; s++) {
      let sg = p.seg[s];
      if (e >= sg.x && e < sg.x + sg.y) { emit(yb + sg.z + e - sg.x, v); }
    }
  }
}
