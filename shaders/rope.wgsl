// Rotary position embedding, llama.cpp "normal" mode: pairs (2i, 2i+1) of each head rotate by
// θ = pos · base^(−2i/rope_dim) (Su et al. 2021, eq. 34); cos θ, sin θ come from a table computed
// on the CPU in f64 at load (f32 θ alone is off by ~1e-4 rad at pos 2048).
// In place on q heads and k heads of x; with CACHE, also writes the rotated k and the v of each token
// into the layer's KV cache (seq, kv_dim) at position step.pos + t.
struct Params {
  n_q_heads: u32,
  n_kv_heads: u32,
  head_dim: u32,
  rope_dim: u32,   // pairs with 2i ≥ rope_dim are not rotated
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
  _a: u32,
  _b: u32,
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;  // (context_length, rope_dim / 2): (cos, sin)
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
#if CACHE
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>;
#endif
#if PARTIALS
// The q|k|v projection's split partials (its reduce dispatch skipped): one token, summed here.
@group(0) @binding(6) var<storage, read> part: array<f32>;
const CHUNKS = {{CHUNKS}}u;  // partial vectors to sum, a constant so that every load is issued at once
#endif

// The pair at x[j], x[j+1]; with PARTIALS, the sums of the partials at element `at` of the stored row.
fn load2(j: u32, at: u32) -> vec2<f32> {
#if PARTIALS
  var v = vec2<f32>(0.0);
  for (var k = 0u; k < CHUNKS; k++) { v += vec2<f32>(part[k * p.row + at], part[k * p.row + at + 1u]); }
  return v;
#else
  return vec2<f32>(x[j], x[j + 1u]);
#endif
}

// Rotates the pair at x[j], x[j+1] (pair index i within its head; `at` as in load2), stores it back
// into x and returns it.
fn rotate(j: u32, at: u32, i: u32, pos: u32) -> vec2<f32> {
  var v = load2(j, at);
  if (2u * i < p.rope_dim) {
    let cs = table[pos * (p.rope_dim / 2u) + i];
    v = vec2<f32>(v.x * cs.x - v.y * cs.y, v.x * cs.y + v.y * cs.x);
  }
  x[j] = v.x;
  x[j + 1u] = v.y;
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  let pos = step.pos + t;
  if (t >= step.n_tokens || pos >= p.context_length) { return; }
  let half = p.head_dim / 2u;
  let q_pairs = p.n_q_heads * half;
  let k_pairs = p.n_kv_heads * half;
  let g = wid.x * WG + lid;
  let xb = t * p.stride;
  if (g < q_pairs) {
    let h = g / half;
    let i = g % half;
    rotate(xb + p.q_offset + h * p.head_dim + 2u * i, p.q_at + h * p.head_dim + 2u * i, i, pos);
  } else if (g < q_pairs + k_pairs) {
    let h = (g - q_pairs) / half;
    let i = (g - q_pairs) % half;
    let v = rotate(xb + p.k_offset + h * p.head_dim + 2u * i, p.k_at + h * p.head_dim + 2u * i, i, pos);
#if CACHE
    let c = pos * p.kv_dim + h * p.head_dim + 2u * i;
    k_cache[c] = v.x;
    k_cache[c + 1u] = v.y;
#endif
  }
#if CACHE
  else if (g < q_pairs + k_pairs + p.kv_dim / 2u) {
    let e = 2u * (g - q_pairs - k_pairs);
    let c = pos * p.kv_dim + e;
    let v = load2(xb + p.v_offset + e, p.v_at + e);
    v_cache[c] = v.x;
    v_cache[c + 1u] = v.y;
  }
#endif
}
