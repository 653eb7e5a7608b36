// out[t, i] = table[tokens[t], i]: the token embedding rows of this step, from one shard of the
// (vocab, dim) table (a dispatch per shard; only the shard holding the token writes).
// KQ: a K-quant table in src/gpu/kquant.ts's row-major layout (KIND 0 Q4_K, 1 Q5_K, 2 Q6_K); every
// piece's row length follows from cols, and element i is ggml's fround(d·sc · q) − dmin·m, bit for bit.
struct Params {
  first_row: u32,   // vocabulary id of this shard's first row
  rows: u32,
  cols: u32,
  row_stride: u32,  // elements per stored row
  out_offset: u32,
  out_stride: u32,
  _a: u32,
  _b: u32,
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
#if KQ
const KIND = {{KIND}}u;
@group(0) @binding(3) var<storage, read> table: array<u32>;  // 4-bit codes: per 32 channels 16 bytes, byte j = channel j | j + 16 << 4
@group(0) @binding(5) var<storage, read> scales: array<u32>; // u16 per 32 channels: sc | m << 8, or Q6_K's two int8
@group(0) @binding(6) var<storage, read> high: array<u32>;   // Q5_K: a u32 per 32 channels, Q6_K two
@group(0) @binding(7) var<storage, read> supers: array<u32>; // u32 per 256 channels: f16 d | f16 dmin << 16

fn kweight(row: u32, i: u32) -> f32 {
  let blocks = p.cols / 32u;
  let b = i / 32u;
  let j = i % 32u;
  var q = (table[(row * blocks + b) * 4u + (j % 16u) / 4u] >> (8u * (j % 4u) + 4u * (j / 16u))) & 15u;
  if (KIND == 1u) { q |= ((high[row * blocks + b] >> j) & 1u) << 4u; }
  if (KIND == 2u) { q |= ((high[(row * blocks + b) * 2u + j / 16u] >> (2u * (j % 16u))) & 3u) << 4u; }
  let u = (scales[(row * blocks + b) / 2u] >> (16u * (b % 2u))) & 0xffffu;
  let d = unpack2x16float(supers[(row * blocks + b) / 8u]);
  if (KIND == 2u) {
    let sc = bitcast<i32>(u << (24u - 8u * (j / 16u))) >> 24u;
    return (d.x * f32(sc)) * (f32(q) - 32.0);
  }
  return (d.x * f32(u & 63u)) * f32(q) - d.y * f32((u >> 8u) & 63u);
}
#elif F16
@group(0) @binding(3) var<storage, read> table: array<u32>;  // two halves per u32, low half first
#else
@group(0) @binding(3) var<storage, read> table: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  let i = wid.x * WG + lid;
  if (t >= step.n_tokens || i >= p.cols) { return; }
  let token = tokens[t];
  if (token < p.first_row || token - p.first_row >= p.rows) { return; }
  let e = (token - p.first_row) * p.row_stride + i;
#if KQ
  let v = kweight(token - p.first_row, i);
#elif F16
  let v = unpack2x16float(table[e / 2u])[e % 2u];
#else
  let v = table[e];
#endif
  out[p.out_offset + t * p.out_stride + i] = v;
}
