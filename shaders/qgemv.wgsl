// y[y_offset + r] (+)= Σ_c W[r, c] · x'[c] for the rows r of one shard of a Q8_0 / Q4_0 matrix in the
// row-major layout of src/gpu/quant.ts (codes of a row's blocks back to back, scales apart as f16 pairs).
// x' = x, or RMSNorm(x)·norm_w (PRE_NORM: Σx² comes from the same reads of x as the dots).
// LANES consecutive invocations share R rows; each takes every LANES-th block, loads its 32 inputs
// once for all R rows (the x reads, from cache, would otherwise outweigh the codes), and dots them
// with each row's codes; the lanes meet in a tree.
// KQ: a K-quant matrix in the row-major layout of src/gpu/kquant.ts (KIND 0 Q4_K, 1 Q5_K, 2 Q6_K): the
// 4-bit codes as Q4_0's, the bits above them apart, a u16 per block (sc | m << 8, or Q6_K's two int8
// scales of its halves) and a u32 per 8 blocks (f16 d | f16 dmin << 16); a block's halves are dotted apart.

struct Params {
  rows: u32,         // output rows in this shard
  blocks: u32,       // 32-channel blocks per row
  code_words: u32,   // u32s of codes per row
  scale_words: u32,  // u32s of scales per row
  x_offset: u32,     // elements, a multiple of 4
  y_offset: u32,     // elements
  eps: f32,
  cols: u32,
  high_words: u32,   // KQ: u32s of high bits per row
  super_words: u32,  // KQ: u32s of d|dmin per row
  _a: u32,
  _b: u32,
}

const WG = {{WG}}u;
const LANES = {{LANES}}u;
const R = {{R}}u;               // rows per group of lanes
const ROWS = WG / LANES * R;   // rows per workgroup
#if Q8
const WORDS = 8u;              // u32s of codes per block
#else
const WORDS = 4u;
#endif
#if KQ
const KIND = {{KIND}}u;
const KOFF = {{KOFF}}.0;       // code offset: 32 for Q6_K
#endif

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#if PRE_NORM
@group(0) @binding(5) var<storage, read> norm_w: array<vec4<f32>>;
#endif
#if KQ
@group(0) @binding(6) var<storage, read> high: array<u32>;
@group(0) @binding(7) var<storage, read> supers: array<u32>;
#endif

// Per invocation: its partial dot with each of the R rows, then Σx².
var<workgroup> red: array<array<f32, R + 1u>, WG>;

fn scale(row: u32, b: u32) -> f32 {
  let pair = unpack2x16float(scales[row * p.scale_words + b / 2u]);
  return select(pair.x, pair.y, (b & 1u) == 1u);
}

#if Q8
// Four int8 codes (bytes of u) as floats, sign-extended.
fn i8x4(u: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(u << 24u, u << 16u, u << 8u, u)) >> vec4<u32>(24u));
}
#endif

#if KQ
// (Σ_{j<16} code_j · xb[j], Σ_{16≤j<32} code_j · xb[j]) for one block, codes offset by −KOFF.
fn block_dot2(row: u32, b: u32, xb: ptr<function, array<vec4<f32>, 8>>) -> vec2<f32> {
  let c = codes[(row * p.code_words + b * 4u) / 4u];
  var h0 = 0u;
  var h1 = 0u;
  if (KIND == 1u) { h0 = high[row * p.high_words + b]; }
  if (KIND == 2u) {
    h0 = high[row * p.high_words + 2u * b];
    h1 = high[row * p.high_words + 2u * b + 1u];
  }
  var s = vec2<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    let u = c[i];
    var lo = vec4<u32>(u, u >> 8u, u >> 16u, u >> 24u) & vec4<u32>(15u);               // channels 4i .. 4i + 3
    var hi = vec4<u32>(u >> 4u, u >> 12u, u >> 20u, u >> 28u) & vec4<u32>(15u);        // channels 16 + 4i ..
    if (KIND == 1u) {  // bit j of h0: channel j's 16
      lo |= ((vec4<u32>(h0) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * i)) & vec4<u32>(1u)) << vec4<u32>(4u);
      hi |= ((vec4<u32>(h0) >> (vec4<u32>(16u, 17u, 18u, 19u) + 4u * i)) & vec4<u32>(1u)) << vec4<u32>(4u);
    }
    if (KIND == 2u) {  // bits 2j, 2j + 1 of h0 (channels 0..15) and h1 (16..31)
      lo |= ((vec4<u32>(h0) >> (vec4<u32>(0u, 2u, 4u, 6u) + 8u * i)) & vec4<u32>(3u)) << vec4<u32>(4u);
      hi |= ((vec4<u32>(h1) >> (vec4<u32>(0u, 2u, 4u, 6u) + 8u * i)) & vec4<u32>(3u)) << vec4<u32>(4u);
    }
    s += vec2<f32>(dot(vec4<f32>(lo) - KOFF, (*xb)[i]), dot(vec4<f32>(hi) - KOFF, (*xb)[4u + i]));
  }
  return s;
}

// Block b of a row: the scales of its halves and its min, (d·sc₀, d·sc₁, dmin·m), exact in f32.
fn kscale(row: u32, b: u32) -> vec3<f32> {
  let u = (scales[row * p.scale_words + b / 2u] >> (16u * (b & 1u))) & 0xffffu;
  let d = unpack2x16float(supers[row * p.super_words + b / 8u]);
  if (KIND == 2u) {
    let sc = bitcast<vec2<i32>>(vec2<u32>(u << 24u, u << 16u)) >> vec2<u32>(24u);
    return vec3<f32>(d.x * f32(sc.x), d.x * f32(sc.y), 0.0);
  }
  let s = d.x * f32(u & 63u);
  return vec3<f32>(s, s, d.y * f32((u >> 8u) & 63u));
}
#else
// Σ_{j<32} code_j · xb[j] for one block (the scale applied by the caller).
fn block_dot(row: u32, b: u32, xb: ptr<function, array<vec4<f32>, 8>>) -> f32 {
  let at = (row * p.code_words + b * WORDS) / 4u;  // vec4 index: rows and blocks are 16-byte aligned
#if Q8
  let c0 = codes[at];
  let c1 = codes[at + 1u];
  return dot(i8x4(c0.x), (*xb)[0]) + dot(i8x4(c0.y), (*xb)[1]) + dot(i8x4(c0.z), (*xb)[2]) + dot(i8x4(c0.w), (*xb)[3]) +
         dot(i8x4(c1.x), (*xb)[4]) + dot(i8x4(c1.y), (*xb)[5]) + dot(i8x4(c1.z), (*xb)[6]) + dot(i8x4(c1.w), (*xb)[7]);
#else
  // Byte j of the block: channel j in its low nibble, channel j + 16 in its high one (GGUF order).
  let c = codes[at];
  var s = 0.0;
  for (var i = 0u; i < 4u; i++) {
    let u = c[i];
    let lo = vec4<f32>(vec4<u32>(u, u >> 8u, u >> 16u, u >> 24u) & vec4<u32>(15u)) - 8.0;
    let hi = vec4<f32>(vec4<u32>(u >> 4u, u >> 12u, u >> 20u, u >> 28u) & vec4<u32>(15u)) - 8.0;
    s += dot(lo, (*xb)[i]) + dot(hi, (*xb)[4u + i]);
  }
  return s;
#endif
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let group = lid / LANES;
  let lane = lid % LANES;
  let r0 = (wid.x + wid.y * nwg.x) * ROWS + R * group;
  var d: array<f32, R>;
  var ss = 0.0;
  if (r0 < p.rows) {
    let nr = min(R, p.rows - r0);
    for (var b = lane; b < p.blocks; b += LANES) {
      var xb: array<vec4<f32>, 8>;
      let x0 = (p.x_offset + b * 32u) / 4u;
      for (var i = 0u; i < 8u; i++) {
        var v = x[x0 + i];
#if PRE_NORM
        ss += dot(v, v);
        v *= norm_w[b * 8u + i];
#endif
        xb[i] = v;
      }
#if KQ
      let xs = dot(xb[0] + xb[1] + xb[2] + xb[3] + xb[4] + xb[5] + xb[6] + xb[7], vec4<f32>(1.0));  // for the mins
      for (var r = 0u; r < R; r++) {
        if (r < nr) {
          let k = kscale(r0 + r, b);
          let h = block_dot2(r0 + r, b, &xb);
          d[r] += k.x * h.x + k.y * h.y - k.z * xs;
        }
      }
#else
      for (var r = 0u; r < R; r++) {
        if (r < nr) { d[r] += scale(r0 + r, b) * block_dot(r0 + r, b, &xb); }
      }
#endif
    }
  }
  for (var r = 0u; r < R; r++) { red[lid][r] = d[r]; }
  red[lid][R] = ss;
  workgroupBarrier();
  for (var h = LANES / 2u; h > 0u; h >>= 1u) {
    if (lane < h) {
      for (var r = 0u; r <= R; r++) { red[lid][r] += red[lid + h][r]; }
    }
    workgroupBarrier();
  }
  if (lane != 0u || r0 >= p.rows) { return; }
#if PRE_NORM
  let k = 1.0 / sqrt(red[lid][R] / f32(p.cols) + p.eps);
#else
  let k = 1.0;
#endif
  for (var r = 0u; r < min(R, p.rows - r0); r++) {
#if ACCUMULATE
    y[p.y_offset + r0 + r] += k * red[lid][r];
#else
    y[p.y_offset + r0 + r] = k * red[lid][r];
#endif
  }
}
