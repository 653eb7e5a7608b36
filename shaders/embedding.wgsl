// out[t, i] = table[tokens[t], i]: the token embedding rows of this step, from one shard of the
// (vocab, dim) table (a dispatch per shard; only the shard holding the token writes).
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
#if F16
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
#if F16
  let v = unpack2x16float(table[e / 2u])[e % 2u];
#else
  let v = table[e];
#endif
  out[p.out_offset + t * p.out_stride + i] = v;
}
