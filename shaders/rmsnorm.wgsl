// out[t, i] = x[t, i] / sqrt(mean_i x[t, i]² + eps) · weight[i], one workgroup per token t.
// (RMSNorm: Zhang & Sennrich 2019; eps inside the root, as llama.cpp.)
struct Params {
  n: u32,
  x_offset: u32,
  x_stride: u32,
  out_offset: u32,
  out_stride: u32,
  eps: f32,
  _a: u32,
  _b: u32,
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  if (t >= step.n_tokens) { return; }
  let xb = p.x_offset + t * p.x_stride;
  var ss = 0.0;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[xb + i];
    ss += v * v;
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(red[0] / f32(p.n) + p.eps);
  let ob = p.out_offset + t * p.out_stride;
  for (var i = lid; i < p.n; i += WG) {
    out[ob + i] = x[xb + i] * scale * weight[i];
  }
}
