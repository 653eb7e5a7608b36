// y[y_offset + r] (+)= Σ_c W[r, c] · x'[c] for the rows r of one weight shard, W row-major (row = output).
// x' = x, or RMSNorm(x)·norm_w when PRE_NORM (the scale is found from the same reads of x as the dot).
// SWIGLU: W holds gate and up interleaved by rows; y[r] = silu(gate_r · x') · (up_r · x').
// LANES consecutive invocations share a row (TWO_ROWS: a pair of rows, which shares the loads of x),
// each reading every LANES-th 16-byte chunk (coalesced); partial sums meet in a tree in shared memory.
#if NATIVE_F16
enable f16;
#endif

struct Params {
  rows: u32,         // output rows in this shard
  cols: u32,
  full_chunks: u32,  // chunks of CHUNK columns that lie wholly inside cols
  row_stride: u32,   // chunks per stored row (the padded row)
  x_offset: u32,     // elements
  y_offset: u32,     // elements; also the global index of this shard's first row when y is the whole output
  eps: f32,
  _pad: u32,
}

const WG = {{WG}}u;
const LANES = {{LANES}}u;
#if TWO_ROWS
const ROWS_PER_GROUP = 2u;
#else
const ROWS_PER_GROUP = 1u;
#endif
const ROWS = WG / LANES * ROWS_PER_GROUP;
const UNROLL = {{UNROLL}}u;
#if F16
const CHUNK = 8u;  // a vec4<u32> of packed halves
#else
const CHUNK = 4u;  // a vec4<f32>
#endif

@group(0) @binding(0) var<uniform> p: Params;
#if F16
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#else
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
#endif
#if X_VEC4
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(2) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#if PRE_NORM
@group(0) @binding(4) var<storage, read> norm_w: array<vec4<f32>>;
#endif

// (dot with row a, dot with row b, Σx², unused) per invocation.
var<workgroup> red: array<vec4<f32>, WG>;

// x[e .. e+4) of this row's input; e is a multiple of 4.
fn load_x(e: u32) -> vec4<f32> {
#if X_VEC4
  return x[(p.x_offset + e) / 4u];
#else
  let i = p.x_offset + e;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
#endif
}

// The same, with the elements at or beyond cols read as zero (the last, partial chunk).
fn load_x_tail(e: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (e + k < p.cols) {
#if X_VEC4
      v[k] = x[(p.x_offset + e) / 4u][k];
#else
      v[k] = x[p.x_offset + e + k];
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
fn fma4(acc: ptr<function, Acc>, wa: vec4<f32>, wb: vec4<f32>, e: u32, tail: bool) {
  var xv: vec4<f32>;
  if (tail) { xv = load_x_tail(e); } else { xv = load_x(e); }
#if PRE_NORM
  (*acc).ss += dot(xv, xv);
  xv *= norm_w[e / 4u];
#endif
  (*acc).a += dot(wa, xv);
#if B_ROW
  (*acc).b += dot(wb, xv);
#endif
}

// Adds chunk c of stored row row_a (and of row_b into acc.b: SwiGLU's up row, or TWO_ROWS' second);
// tail: the chunk straddles cols. No arrays: a dynamically indexed array may land in local memory.
fn accumulate(acc: ptr<function, Acc>, row_a: u32, row_b: u32, c: u32, tail: bool) {
  let e = c * CHUNK;
#if F16
  let qa = w[row_a * p.row_stride + c];
#if B_ROW
  let qb = w[row_b * p.row_stride + c];
#else
  let qb = vec4<u32>(0u);
#endif
  fma4(acc, halves(qa.xy), halves(qb.xy), e, tail);
  if (!tail || e + 4u < p.cols) { fma4(acc, halves(qa.zw), halves(qb.zw), e + 4u, tail); }
#else
  let wa = w[row_a * p.row_stride + c];
#if B_ROW
  let wb = w[row_b * p.row_stride + c];
#else
  let wb = vec4<f32>(0.0);
#endif
  fma4(acc, wa, wb, e, tail);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * ROWS;
  if (first >= p.rows) { return; }
  let lane = lid % LANES;
  let r = first + (lid / LANES) * ROWS_PER_GROUP;  // this group's (first) output row

  var acc = Acc(0.0, 0.0, 0.0);
  if (r < p.rows) {
#if SWIGLU
    let row_a = 2u * r;
    let row_b = row_a + 1u;
#elif TWO_ROWS
    let row_a = r;
    let row_b = min(r + 1u, p.rows - 1u);  // past the last row: load row a again, write nothing
#else
    let row_a = r;
    let row_b = r;
#endif
    // UNROLL chunks per trip: their loads are independent, so more of them are in flight at once.
    var c = lane;
    for (; c + (UNROLL - 1u) * LANES < p.full_chunks; c += UNROLL * LANES) {
      for (var u = 0u; u < UNROLL; u++) { accumulate(&acc, row_a, row_b, c + u * LANES, false); }
    }
    for (; c < p.full_chunks; c += LANES) {
      accumulate(&acc, row_a, row_b, c, false);
    }
    if (p.full_chunks * CHUNK < p.cols && lane == p.full_chunks % LANES) {
      accumulate(&acc, row_a, row_b, p.full_chunks, true);
    }
  }
  red[lid] = vec4<f32>(acc.a, acc.b, acc.ss, 0.0);
  workgroupBarrier();
  for (var s = LANES / 2u; s > 0u; s >>= 1u) {
    if (lane < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lane != 0u || r >= p.rows) { return; }

  let t = red[lid];
  var a = t.x;
  var b = t.y;
#if PRE_NORM
  let scale = 1.0 / sqrt(t.z / f32(p.cols) + p.eps);
  a *= scale;
  b *= scale;
#endif
#if SWIGLU
  emit(r, a / (1.0 + exp(-a)) * b);
#else
  emit(r, a);
#endif
#if TWO_ROWS
  if (r + 1u < p.rows) { emit(r + 1u, b); }
#endif
}

fn emit(r: u32, v: f32) {
#if ACCUMULATE
  y[p.y_offset + r] += v;
#else
  y[p.y_offset + r] = v;
#endif
}
