// Prefill over Wᵀ (input-channel-major, weights.ts uploadTransposedStack — the one weight copy that
// sparse_gemv reads when decoding): Y[t, first_s + r] (+)= Σ_j x'[t, j] · Wᵀ[j, offset_s + r] for the
// tokens t < step.n_tokens, segments s stacked in each stored row (q|k|v, gate|up).
// x' = x, RMSNorm(x)·norm_w per token (PRE_NORM), or silu(gate)·up (SWIGLU: x holds gate, up at
// x_offset + up_offset). A workgroup owns CH output chunks (16 bytes of a stored row each) for TT
// tokens; its LANES lanes per chunk take every LANES-th channel. Each weight chunk is loaded once into
// registers and multiplied by the TT tokens' x' (staged in workgroup memory a piece of PK channels at a
// time), so a weight byte is read once per TT tokens. Lanes are summed by a tree in workgroup memory (a
// fixed order: deterministic).

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
const TT = {{TT}}u;         // tokens per workgroup: accumulators per invocation
const PK = {{PK}}u;         // channels of x' staged per piece
const LANES = WG / CH;
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

var<workgroup> xs: array<f32, TT * PK>;  // x'[t, piece channel k] at t · PK + k
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

// Writes output chunk c of token tok: element e of the stored row belongs to the segment whose
// [offset, offset + rows) holds it; padding is dropped.
fn store(tok: u32, c: u32, a: vec4<f32>, b: vec4<f32>) {
  let yb = p.y_offset + tok * p.y_stride;
  for (var k = 0u; k < CHUNK; k++) {
    let e = c * CHUNK + k;
#if F16
    var v = b[k % 4u];
    if (k < 4u) { v = a[k]; }
#else
    let v = a[k];
#endif
    for (var s = 0u; s < NSEG; s++) {
      let sg = p.seg[s];
      if (e >= sg.x && e < sg.x + sg.y) { emit(yb + sg.z + e - sg.x, v); }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c0 = (wid.x + wid.y * nwg.x) * CH;
  let t0 = wid.z * TT;
  if (c0 >= p.stride || t0 >= step.n_tokens) { return; }
  let c = c0 + lid % CH;  // this invocation's chunk of the stored row
  let lane = lid / CH;
  let live = c < p.stride;
  let nt = min(TT, step.n_tokens - t0);  // tokens of this tile

#if PRE_NORM
  // Σx² of each token over all of x: invocation i sums token i % TT over every (WG / TT)-th channel.
  var ss = 0.0;
  let tt = lid % TT;
  if (tt < nt) {
    for (var j = lid / TT; j < p.cols; j += WG / TT) {
      let v = x[p.x_offset + (t0 + tt) * p.x_stride + j];
      ss += v * v;
    }
  }
  red[lid] = vec4<f32>(ss, 0.0, 0.0, 0.0);
  workgroupBarrier();
  if (lid < TT) {
    var t = 0.0;
    for (var q = 0u; q < WG / TT; q++) { t += red[lid + q * TT].x; }
    scales[lid] = 1.0 / sqrt(t / f32(p.cols) + p.eps);
  }
  workgroupBarrier();
#endif

  var acc_a: array<vec4<f32>, TT>;
#if F16
  var acc_b: array<vec4<f32>, TT>;
#endif
  for (var k0 = 0u; k0 < p.shard_cols; k0 += PK) {
    let m = min(PK, p.shard_cols - k0);
    // Stage x' of the piece for the tile's tokens (zero for tokens past n_tokens).
    for (var i = lid; i < TT * PK; i += WG) {
      let t = i / PK;
      let k = i % PK;
      var v = 0.0;
      if (t < nt && k < m) {
        let ch = p.shard_first + k0 + k;
        v = xin(t0 + t, ch);
#if PRE_NORM
        v *= norm_w[ch];
#endif
      }
      xs[i] = v;
    }
    workgroupBarrier();
    if (live) {
      for (var k = lane; k < m; k += LANES) {
        let q = w[(k0 + k) * p.stride + c];
#if F16
        let wa = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
        let wb = vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
        for (var t = 0u; t < TT; t++) {
          let v = xs[t * PK + k];
          acc_a[t] += v * wa;
          acc_b[t] += v * wb;
        }
#else
        for (var t = 0u; t < TT; t++) { acc_a[t] += xs[t * PK + k] * q; }
#endif
      }
    }
    workgroupBarrier();
  }

  // Per token: sum the lanes (a tree over the lanes, CH apart), lane 0 stores.
  for (var t = 0u; t < TT; t++) {
    red[lid] = acc_a[t];
#if F16
    red[WG + lid] = acc_b[t];
#endif
    workgroupBarrier();
    for (var h = LANES / 2u; h > 0u; h >>= 1u) {
      if (lane < h) {
        red[lid] += red[lid + h * CH];
#if F16
        red[WG + lid] += red[WG + lid + h * CH];
#endif
      }
      workgroupBarrier();
    }
    if (lane == 0u && live && t < nt) {
#if PRE_NORM
      let scale = scales[t];
#else
      let scale = 1.0;
#endif
#if F16
      store(t0 + t, c, red[lid] * scale, red[WG + lid] * scale);
#else
      store(t0 + t, c, red[lid] * scale, vec4<f32>(0.0));
#endif
    }
    workgroupBarrier();
  }
}
