// result[0] = the index of the largest of x[offset .. offset + n), the lowest index among equals
// (llama.cpp's greedy sampler), so greedy decoding reads back 4 bytes instead of the logits.
// One workgroup: each invocation scans a strided slice, then a tree of (value, index) pairs.
struct Params { n: u32, offset: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;
const NONE = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<u32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// Whether (v, i) beats (bv, bi): larger, or equal at a lower index; NONE and NaN lose to anything.
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  return i != NONE && v == v && (bi == NONE || v > bv || (v == bv && i < bi));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var bv = 0.0;
  var bi = NONE;
  for (var i = lid; i < p.n; i += WG) {
    let v = x[p.offset + i];
    if (beats(v, i, bv, bi)) { bv = v; bi = i; }
  }
  best_v[lid] = bv;
  best_i[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s && beats(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
      best_v[lid] = best_v[lid + s];
      best_i[lid] = best_i[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { result[0] = select(best_i[0], 0u, best_i[0] == NONE); }
}
