// Causal attention for the tokens of one step: token t (position step.pos + t) of query head h
// attends to cached positions 0 ..= step.pos + t of kv head h / (n_heads / n_kv_heads) (grouped-
// query). Split-K ("flash decoding"): `main` runs one workgroup per (head, token, split of
// SPLIT_LEN positions), each an online softmax (running max and sum, rescaling the partial output:
// Milakov & Gimelshein 2018) over chunks of P positions; `combine` merges the splits' partials.
// With DIRECT (a single split covers the context) `main` writes the output itself.
// Score phase: TEAM invocations per key read its row as consecutive vectors (coalesced).
// Value phase: UMOD invocations per value row (one vector each), GROUPS such teams on different
// positions, summed at the end. f32 arithmetic; with KV_F16 the cache holds f16 pairs packed in u32
// (elements 2j, 2j+1 of a row; rope packs them), unpacked on load with core WGSL's unpack2x16float.
struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  kv_units: u32,        // vectors (UNIT elements) per cached position: kv_dim / UNIT
  q_offset: u32,        // elements, in q
  q_stride: u32,        // elements between tokens of q
  out_offset: u32,
  out_stride: u32,
  context_length: u32,
  scale: f32,           // 1 / sqrt(head_dim)
  n_splits: u32,        // splits per (head, token) in the scratch layout
  _a: u32,
  _b: u32,
}

struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

const WG = {{WG}}u;
const HD = {{HEAD_DIM}}u;
const TEAM = {{TEAM}}u;
const P = WG / TEAM;            // positions per chunk
const GROUPS = {{GROUPS}}u;
const UMOD = {{UMOD}}u;
const DIMS = {{DIMS}}u;         // vectors per invocation in the value phase (GROUPS = 1 when > 1)
const SPLIT_LEN = {{SPLIT_LEN}}u;
const NEG = -3.0e38;
#if VEC4
alias V = vec4<f32>;
const UNIT = 4u;
fn dotv(a: V, b: V) -> f32 { return dot(a, b); }
#if KV_F16
alias C = vec2<u32>;  // one V: four f16
fn unpack(w: C) -> V { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
#endif
#else
alias V = f32;
const UNIT = 1u;
fn dotv(a: V, b: V) -> f32 { return a * b; }
#endif
const UNITS = HD / UNIT;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> q: array<f32>;
#if KV_F16
#if VEC4
@group(0) @binding(3) var<storage, read> k_cache: array<C>;  // (context_length, kv_dim / 4)
@group(0) @binding(4) var<storage, read> v_cache: array<C>;
fn key(i: u32) -> V { return unpack(k_cache[i]); }
fn value(i: u32) -> V { return unpack(v_cache[i]); }
#else
@group(0) @binding(3) var<storage, read> k_cache: array<u32>;  // (context_length, kv_dim / 2)
@group(0) @binding(4) var<storage, read> v_cache: array<u32>;
fn key(i: u32) -> V { return unpack2x16float(k_cache[i / 2u])[i % 2u]; }
fn value(i: u32) -> V { return unpack2x16float(v_cache[i / 2u])[i % 2u]; }
#endif
#else
@group(0) @binding(3) var<storage, read> k_cache: array<V>;  // (context_length, kv_dim)
@group(0) @binding(4) var<storage, read> v_cache: array<V>;  // (context_length, kv_dim)
fn key(i: u32) -> V { return k_cache[i]; }
fn value(i: u32) -> V { return v_cache[i]; }
#endif
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
#if !DIRECT
// Per (token, head, split): (max, sum) and the unnormalised output (HD), written by main, read by combine.
@group(0) @binding(6) var<storage, read_write> part_ml: array<vec2<f32>>;
@group(0) @binding(7) var<storage, read_write> part_acc: array<f32>;
#endif

var<workgroup> qs: array<V, UNITS>;
var<workgroup> dots: array<f32, WG>;
var<workgroup> sc: array<f32, P>;
var<workgroup> pe: array<f32, P>;
var<workgroup> red: array<V, WG>;

fn last_position(t: u32) -> u32 {
  return min(step.pos + t, p.context_length - 1u);
}

// Stores UNIT output elements at element index o of the output (DIRECT) or of the partials.
fn store(o: u32, v: V) {
#if VEC4
  for (var k = 0u; k < 4u; k++) {
#if DIRECT
    out[o + k] = v[k];
#else
    part_acc[o + k] = v[k];
#endif
  }
#else
#if DIRECT
  out[o] = v;
#else
  part_acc[o] = v;
#endif
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let split = wid.z;
  if (t >= step.n_tokens) { return; }
  let last = last_position(t);  // inclusive
  let begin = split * SPLIT_LEN;
  if (begin > last) { return; }  // combine reads only the splits that hold positions
  let end = min(begin + SPLIT_LEN - 1u, last);  // inclusive
  let kv_base = (h / (p.n_heads / p.n_kv_heads)) * UNITS;
  let qb = p.q_offset + t * p.q_stride + h * HD;
  for (var u = lid; u < UNITS; u += WG) {
#if VEC4
    let e = qb + 4u * u;
    qs[u] = vec4<f32>(q[e], q[e + 1u], q[e + 2u], q[e + 3u]) * p.scale;
#else
    qs[u] = q[qb + u] * p.scale;
#endif
  }
  workgroupBarrier();

  let slot = lid / TEAM;
  let lane = lid % TEAM;
  let vu = lid % UMOD;
  let g = lid / UMOD;
  var m = NEG;  // running max of scores
  var l = 0.0;  // running Σ exp(score − m)
  var acc: array<V, DIMS>;
  for (var c0 = begin; c0 <= end; c0 += P) {
    let j = c0 + slot;
    var d = 0.0;
    if (j <= end) {
      let kb = j * p.kv_units + kv_base;
      for (var u = lane; u < UNITS; u += TEAM) { d += dotv(qs[u], key(kb + u)); }
    }
    dots[lid] = d;
    workgroupBarrier();
    if (lane == 0u) {
      var s = 0.0;
      for (var i = 0u; i < TEAM; i++) { s += dots[lid + i]; }
      sc[slot] = select(NEG, s, j <= end);
    }
    workgroupBarrier();
    var m_new = m;
    for (var i = 0u; i < P; i++) { m_new = max(m_new, sc[i]); }
    if (lid < P) { pe[lid] = select(0.0, exp(sc[lid] - m_new), c0 + lid <= end); }
    workgroupBarrier();
    let corr = exp(m - m_new);
    var sum = 0.0;
    for (var i = 0u; i < P; i++) { sum += pe[i]; }
    l = l * corr + sum;
    m = m_new;
    for (var k = 0u; k < DIMS; k++) { acc[k] *= corr; }
    if (g < GROUPS) {
      let n = min(P, end + 1u - c0);
      for (var jj = g; jj < n; jj += GROUPS) {
        let e = pe[jj];
        let vb = (c0 + jj) * p.kv_units + kv_base;
        for (var k = 0u; k < DIMS; k++) {
          let u = vu + k * WG;
          if (u < UNITS) { acc[k] += e * value(vb + u); }
        }
      }
    }
    workgroupBarrier();  // dots, sc and pe are rewritten by the next chunk
  }

  red[lid] = acc[0];
  workgroupBarrier();
  if (g != 0u) { return; }
#if DIRECT
  let ob = p.out_offset + t * p.out_stride + h * HD;
  let inv = 1.0 / l;
#else
  let slot_index = (t * p.n_heads + h) * p.n_splits + split;
  if (lid == 0u) { part_ml[slot_index] = vec2<f32>(m, l); }
  let ob = slot_index * HD;
  let inv = 1.0;
#endif
  for (var k = 0u; k < DIMS; k++) {
    let u = vu + k * WG;
    if (u >= UNITS) { break; }
    var s = acc[k];
    if (k == 0u) {
      for (var gg = 1u; gg < GROUPS; gg++) { s += red[gg * UMOD + vu]; }
    }
    store(ob + u * UNIT, s * inv);
  }
}

#if !DIRECT
// out[t, h] = Σ_s acc_s · e^(m_s − M) / Σ_s l_s · e^(m_s − M), M = max_s m_s, over the splits that hold
// positions (the others were not written this step).
@compute @workgroup_size(WG)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  if (t >= step.n_tokens) { return; }
  let used = last_position(t) / SPLIT_LEN + 1u;
  let base = (t * p.n_heads + h) * p.n_splits;
  var mx = NEG;
  for (var s = 0u; s < used; s++) { mx = max(mx, part_ml[base + s].x); }
  var total = 0.0;
  for (var s = 0u; s < used; s++) {
    let ml = part_ml[base + s];
    total += ml.y * exp(ml.x - mx);
  }
  let ob = p.out_offset + t * p.out_stride + h * HD;
  for (var d = lid; d < HD; d += WG) {
    var o = 0.0;
    for (var s = 0u; s < used; s++) { o += part_acc[(base + s) * HD + d] * exp(part_ml[base + s].x - mx); }
    out[ob + d] = o / total;
  }
}
#endif
