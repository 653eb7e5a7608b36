// Finalizes the q|k|v of each token, one workgroup per (head, token), in src/reference/llama.ts's order:
// the projection's output (x, or with PARTIALS the sum of a split GEMV's partials) + bias (BIAS, qwen2)
// → RMSNorm of each q and k head (NORM, qwen3: the head's sum of squares is a workgroup reduction) →
// rotary position embedding of q and k (Su et al. 2021, eq. 34) → back into x; with CACHE, k and v also
// go into the layer's KV cache (seq, kv_dim) at position step.pos + t. With KV_F16 the cache holds
// elements (2j, 2j+1) of a row as one u32 (pack2x16float: core WGSL, no shader-f16 needed); a NEOX pair
// (i, i + rope_dim/2) spans two such words, so the head is staged in workgroup memory and packed after a barrier.
// Pair i of a head rotates by θ_i = ropeTheta(pos, i); cos θ, sin θ come from a table computed on the
// CPU in f64 at load (f32 θ alone is off by ~1e-4 rad at pos 2048). The pair is (2i, 2i+1) in llama.cpp's
// normal mode, (i, i + rope_dim/2) with NEOX; the unrotated rest (≥ rope_dim) is walked as (2i, 2i+1).
// Workgroups: the q heads, the k heads, then (when there is something to do to v: CACHE or BIAS) the v heads.
struct Params {
  n_q_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  rope_dim: u32,   // pairs i ≥ rope_dim / 2 are not rotated
  q_offset: u32,   // elements, in x
  k_offset: u32,
  v_offset: u32,
  stride: u32,     // elements between tokens of x
  kv_dim: u32,     // n_kv_heads · head_dim
  context_length: u32,
  row: u32,        // PARTIALS: elements from one partial vector to the next
  q_at: u32,       // PARTIALS: element of q, k, v within a partial vector
  k_at: u32,
  v_at: u32,
  eps: f32,        // NORM
  _a: u32,
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;
const PAIRS = {{PAIRS}}u;  // pairs per invocation: ceil(head_dim / 2 / WG)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;  // (context_length, rope_dim / 2): (cos, sin)
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
#if CACHE
#if KV_F16
@group(0) @binding(4) var<storage, read_write> k_cache: array<u32>;  // (context_length, kv_dim / 2) f16 pairs
@group(0) @binding(5) var<storage, read_write> v_cache: array<u32>;
var<workgroup> row: array<f32, 2u * PAIRS * WG>;  // the finished head, to pack adjacent elements
#else
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>;
#endif
#endif
#if PARTIALS
// The q|k|v projection's split partials (its reduce dispatch skipped): one token, summed here.
@group(0) @binding(6) var<storage, read> part: array<f32>;
const CHUNKS = {{CHUNKS}}u;  // partial vectors to sum, a constant so that every load is issued at once
#endif
#if BIAS
@group(0) @binding(7) var<storage, read> bias: array<f32>;  // (n_q_heads + 2·n_kv_heads, head_dim): q | k | v
#endif
#if NORM
@group(0) @binding(8) var<storage, read> norm: array<f32>;  // (2, head_dim): the q heads' weight, the k heads'
var<workgroup> red: array<f32, WG>;
#endif

// Elements (within its head) of pair i.
fn pair_elements(i: u32) -> vec2<u32> {
#if NEOX
  let h = p.rope_dim / 2u;
  if (i < h) { return vec2<u32>(i, i + h); }
#endif
  return vec2<u32>(2u * i, 2u * i + 1u);
}

// The projection's output at elements e of the head at x[xb ..] (with PARTIALS: at element pb of a partial vector).
fn load(xb: u32, pb: u32, e: vec2<u32>) -> vec2<f32> {
#if PARTIALS
  var v = vec2<f32>(0.0);
  for (var k = 0u; k < CHUNKS; k++) { v += vec2<f32>(part[k * p.row + pb + e.x], part[k * p.row + pb + e.y]); }
  return v;
#else
  return vec2<f32>(x[xb + e.x], x[xb + e.y]);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  let pos = step.pos + t;
  if (t >= step.n_tokens || pos >= p.context_length) { return; }
  // Head g of the token's q | k | v: kind 0 q, 1 k, 2 v; h its index among its kind.
  let g = wid.x;
  var kind = 0u;
  var h = g;
  var offset = p.q_offset;
  var at = p.q_at;
  if (g >= p.n_q_heads + p.n_kv_heads) {
    kind = 2u; h = g - p.n_q_heads - p.n_kv_heads; offset = p.v_offset; at = p.v_at;
  } else if (g >= p.n_q_heads) {
    kind = 1u; h = g - p.n_q_heads; offset = p.k_offset; at = p.k_at;
  }
  let xb = t * p.stride + offset + h * p.head_dim;
  let pb = at + h * p.head_dim;
  let half = p.head_dim / 2u;

  var v: array<vec2<f32>, PAIRS>;
#if NORM
  var ss = 0.0;
#endif
  for (var s = 0u; s < PAIRS; s++) {
    let i = lid + s * WG;
    if (i < half) {
      let e = pair_elements(i);
      var a = load(xb, pb, e);
#if BIAS
      a += vec2<f32>(bias[g * p.head_dim + e.x], bias[g * p.head_dim + e.y]);
#endif
      v[s] = a;
#if NORM
      ss += dot(a, a);
#endif
    }
  }
#if NORM
  if (kind < 2u) {
    red[lid] = ss;
    workgroupBarrier();
    for (var o = WG / 2u; o > 0u; o >>= 1u) {
      if (lid < o) { red[lid] += red[lid + o]; }
      workgroupBarrier();
    }
    let scale = 1.0 / sqrt(red[0] / f32(p.head_dim) + p.eps);
    for (var s = 0u; s < PAIRS; s++) {
      let i = lid + s * WG;
      if (i < half) {
        let e = pair_elements(i) + kind * p.head_dim;
        v[s] = v[s] * scale * vec2<f32>(norm[e.x], norm[e.y]);
      }
    }
  }
#endif
  for (var s = 0u; s < PAIRS; s++) {
    let i = lid + s * WG;
    if (i < half) {
      let e = pair_elements(i);
      var a = v[s];
      if (kind < 2u && i < p.rope_dim / 2u) {
        let cs = table[pos * (p.rope_dim / 2u) + i];
        a = vec2<f32>(a.x * cs.x - a.y * cs.y, a.x * cs.y + a.y * cs.x);
      }
      x[xb + e.x] = a.x;
      x[xb + e.y] = a.y;
#if CACHE
#if KV_F16
      row[e.x] = a.x;
      row[e.y] = a.y;
#else
      let c = pos * p.kv_dim + h * p.head_dim;
      if (kind == 1u) {
        k_cache[c + e.x] = a.x;
        k_cache[c + e.y] = a.y;
      } else if (kind == 2u) {
        v_cache[c + e.x] = a.x;
        v_cache[c + e.y] = a.y;
      }
#endif
#endif
    }
  }
#if CACHE
#if KV_F16
  workgroupBarrier();
  if (kind == 0u) { return; }
  let c = (pos * p.kv_dim + h * p.head_dim) / 2u;  // head_dim is even
  for (var s = 0u; s < PAIRS; s++) {
    let j = lid + s * WG;
    if (j < half) {
      let w = pack2x16float(vec2<f32>(row[2u * j], row[2u * j + 1u]));
      if (kind == 1u) { k_cache[c + j] = w; } else { v_cache[c + j] = w; }
    }
  }
#endif
#endif
}
