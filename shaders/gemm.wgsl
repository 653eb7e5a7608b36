// Prefill: Y[t, r] (+)= Σ_c W[r, c] · X'[t, c] for the tokens t < step.n_tokens, with gemv.wgsl's
// weight layout, shards and fusions (PRE_NORM: RMSNorm of each token's x; SWIGLU: gate-up rows;
// ACCUMULATE: Y += …). A workgroup holds ROWS rows × TILE tokens × LANES lanes: the TILE invocations
// that read the same weight chunk for different tokens sit in one workgroup, so that chunk comes from
// memory once per tile and from cache for the others. (Registers per invocation as in gemv: a
// per-invocation token loop with TILE accumulators compiled ~10× slower on lavapipe.)
#if NATIVE_F16
enable f16;
#endif

struct Params {
  rows: u32,         // output rows in this shard
  cols: u32,
  full_chunks: u32,  // chunks of CHUNK columns wholly inside cols
  row_stride: u32,   // chunks per stored row
  x_offset: u32,     // elements
  x_stride: u32,     // elements between tokens of X
  y_offset: u32,     // elements, including this shard's first row
  y_stride: u32,     // elements between tokens of Y
  eps: f32,
  _a: u32,
  _b: u32,
  _c: u32,
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;
const LANES = {{LANES}}u;
const TILE = {{TILE}}u;
const ROWS = WG / (LANES * TILE);
#if F16
const CHUNK = 8u;
#else
const CHUNK = 4u;
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
#if F16
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
#endif
#if X_VEC4
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(3) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#if PRE_NORM
@group(0) @binding(5) var<storage, read> norm_w: array<vec4<f32>>;
#endif

// (dot with row a, dot with row b, Σx², unused) per invocation.
var<workgroup> red: array<vec4<f32>, WG>;

// X[tok, e .. e+4).
fn load_x(tok: u32, e: u32) -> vec4<f32> {
  let i = p.x_offset + tok * p.x_stride + e;
#if X_VEC4
  return x[i / 4u];
#else
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
#endif
}

// The same, with the elements at or beyond cols read as zero (the last, partial chunk).
fn load_x_tail(tok: u32, e: u32) -> vec4<f32> {
  let i = p.x_offset + tok * p.x_stride + e;
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (e + k < p.cols) {
#if X_VEC4
      v[k] = x[i / 4u][k];
#else
      v[k] = x[i + k];
#endif
    }
  }
  return v;
}

#if F16
// Four halves (two packed u32, the lower half first) as f32.
fn halves(q: vec2<u32>) -> vec4<f32> {
#if NATIVE_F16
  return vec4<f32>(vec4<f16>(bitcast<vec2<f16>>(q.x), bitcast<vec2<f16>>(q.y)));
#else
  return vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
#endif
}
#endif

struct Acc { a: f32, b: f32, ss: f32 }

// Adds wa · x'[e .. e+4) (and wb · x' for SwiGLU's up row) to the accumulators.
fn fma4(acc: ptr<function, Acc>, wa: vec4<f32>, wb: vec4<f32>, tok: u32, e: u32, tail: bool) {
  var xv: vec4<f32>;
  if (tail) { xv = load_x_tail(tok, e); } else { xv = load_x(tok, e); }
#if PRE_NORM
  (*acc).ss += dot(xv, xv);
  xv *= norm_w[e / 4u];
#endif
  (*acc).a += dot(wa, xv);
#if SWIGLU
  (*acc).b += dot(wb, xv);
#endif
}

// Adds chunk c of stored row row_a (and row_a + 1 for SwiGLU); tail: the chunk straddles cols.
// Written without arrays: a dynamically indexed array of vectors may land in local memory.
fn accumulate(acc: ptr<function, Acc>, row_a: u32, c: u32, tok: u32, tail: bool) {
  let e = c * CHUNK;
#if F16
  let qa = w[row_a * p.row_stride + c];
#if SWIGLU
  let qb = w[(row_a + 1u) * p.row_stride + c];
#else
  let qb = vec4<u32>(0u);
#endif
  fma4(acc, halves(qa.xy), halves(qb.xy), tok, e, tail);
  if (!tail || e + 4u < p.cols) { fma4(acc, halves(qa.zw), halves(qb.zw), tok, e + 4u, tail); }
#else
  let wa = w[row_a * p.row_stride + c];
#if SWIGLU
  let wb = w[(row_a + 1u) * p.row_stride + c];
#else
  let wb = vec4<f32>(0.0);
#endif
  fma4(acc, wa, wb, tok, e, tail);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * ROWS;
  let t0 = wid.z * TILE;
  if (first >= p.rows || t0 >= step.n_tokens) { return; }
  let lane = lid % LANES;
  let tok = t0 + (lid / LANES) % TILE;
  let r = first + lid / (LANES * TILE);
  let live = r < p.rows && tok < step.n_tokens;

  var acc = Acc(0.0, 0.0, 0.0);
  if (live) {
#if SWIGLU
    let row_a = 2u * r;
#else
    let row_a = r;
#endif
    for (var c = lane; c < p.full_chunks; c += LANES) {
      accumulate(&acc, row_a, c, tok, false);
    }
    if (p.full_chunks * CHUNK < p.cols && lane == p.full_chunks % LANES) {
      accumulate(&acc, row_a, p.full_chunks, tok, true);
    }
  }
  red[lid] = vec4<f32>(acc.a, acc.b, acc.ss, 0.0);
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lane != 0u || !live) { return; }

  let sum = red[lid];
  var a = sum.x;
#if PRE_NORM
  let scale = 1.0 / sqrt(sum.z / f32(p.cols) + p.eps);
  a *= scale;
#endif
#if SWIGLU
  var b = sum.y;
#if PRE_NORM
  b *= scale;
#endif
  let v = a / (1.0 + exp(-a)) * b;
#else
  let v = a;
#endif
  let o = p.y_offset + tok * p.y_stride + r;
#if ACCUMULATE
  y[o] += v;
#else
  y[o] = v;
#endif
}
