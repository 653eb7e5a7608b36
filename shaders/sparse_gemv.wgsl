// y[y_offset + first_s + r] (+)= Σ_{j : |x'_j| > τ[s·cols + j]} x'_j · Wᵀ[j, offset_s + r]: a GEMV that skips
// input channels (WAS / TEAL activation sparsity), over Wᵀ stored input-channel-major (weights.ts
// uploadTransposedStack), so a skipped channel is one stored row never read. x' = x, or RMSNorm(x)·norm_w.
// A workgroup owns a tile of TILE 16-byte chunks of one segment's outputs (so one τ vector) and, when
// SPLIT, one K-chunk of KC channels (partials to scratch; the `reduce` entry sums them into y, in a
// fixed order: results are deterministic).
// x' = x, RMSNorm(x)·norm_w (PRE_NORM), or silu(gate)·up (SWIGLU: x holds gate, up at x_offset + up_offset).
// STATS counts active channels per segment into stats[stats_slot + s] (the measured skipped fraction).
// Per piece of PIECE channels: test every channel once (coalesced x, τ), compact the active ones into a
// list in workgroup memory (mask bits + popcount: the order of j, so results are deterministic), then
// each invocation walks the list with UNROLL stored rows in flight and no per-row branch.
// DENSE (dense mode over the same weights: no τ): no test, no compaction, no mask; every channel of the
// piece is walked, so one weight copy serves both modes at the cost of the dense path alone.
// QUANT (Q8_0/Q4_0, src/gpu/quant.ts; K-quants with KQ, src/gpu/kquant.ts): the codes of a 32-channel
// group are summed times x' per output, then the group's scales are applied once. KQ: a segment's format
// (`kind`: 0 Q4_K, 1 Q5_K, 2 Q6_K) is per tile, so its branches are uniform; a group's two 16-channel
// halves are summed apart (Q6_K scales them apart) and Σx' rides along for the Q4_K/Q5_K mins.

struct Params {
  cols: u32,         // input channels (x, τ rows)
  shard_first: u32,  // first input channel (stored row) in this shard
  shard_cols: u32,
  stride: u32,       // 16-byte chunks per stored row
  x_offset: u32,     // elements
  y_offset: u32,     // elements
  tiles: u32,        // output tiles, all segments
  k_first: u32,      // this shard's first K-chunk in scratch
  k_total: u32,      // K-chunks of all shards (reduce)
  eps: f32,
  up_offset: u32,    // SWIGLU: elements from gate to up in x
  stats_slot: u32,   // STATS: first counter of this op
  in_row: u32,       // X_PARTIALS: elements from one partial vector to the next
  h_row: u32,        // KQ: bytes per stored row of the high-bit plane
  _pad2: u32,
  _pad3: u32,
  seg: array<vec4<u32>, NSEG>,    // per segment: (first tile, first chunk in the stored row, chunks, rows)
  seg_y: array<vec4<u32>, NSEG>,  // per segment: (first output row, KQ: kind, KQ: first byte in the high plane, 0)
}

const WG = {{WG}}u;
const TILE = {{TILE}}u;           // chunks of outputs per workgroup; one invocation per chunk and lane
const KL = WG / TILE;             // lanes: invocations that share a chunk, each taking every KL-th active channel
const UNROLL = {{UNROLL}}u;
const PIECE = {{PIECE}}u;         // channels tested and compacted per round
const WORDS = (PIECE + 31u) / 32u;
const PER = (PIECE + WG - 1u) / WG;
const NSEG = {{NSEG}}u;
#if WIDE
const CHUNK = 8u;  // outputs per invocation: a vec4<u32> of packed halves, or 8 quantized codes
#else
const CHUNK = 4u;  // a vec4<f32>
#endif
#if SPLIT
const KC = {{KC}}u;               // channels per K-chunk
const R_CHUNKS = {{R_CHUNKS}}u;   // reduce: vec4s of the stored row per workgroup
const R_LANES = WG / R_CHUNKS;    // reduce: invocations sharing a vec4, each summing every R_LANES-th K-chunk
#endif

@group(0) @binding(0) var<uniform> p: Params;
#if F16
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#elif Q8
@group(0) @binding(1) var<storage, read> w: array<vec2<u32>>;  // 8 int8 codes (quant.ts layout)
#elif NIB
@group(0) @binding(1) var<storage, read> w: array<u32>;        // 8 4-bit codes, output 2i in the low nibble of byte i
#else
@group(0) @binding(1) var<storage, read> w: array<vec4<f32>>;
#endif
#if QUANT
// Scale table [channel / 32][output] (u16: f16, or KQ's sc | m << 8 or two int8): 8 outputs' per vec4.
@group(0) @binding(7) var<storage, read> scales: array<vec4<u32>>;
#endif
#if KQ
// [channel / 256][output] u32 (f16 d | f16 dmin << 16; Q6_K d): 8 outputs per two vec4s.
@group(0) @binding(10) var<storage, read> supers: array<vec4<u32>>;
// Bits above the 4 of each code: per stored row, a segment's 8 outputs in one byte (Q5_K) or two (Q6_K).
@group(0) @binding(11) var<storage, read> high: array<u32>;
var<private> kind: u32;   // this tile's segment format
var<private> hbyte: u32;  // its chunk's first byte in a stored row of the high plane
var<private> koff: f32;   // code offset: 32 for Q6_K
#endif
@group(0) @binding(2) var<storage, read> x: array<f32>;
#if !DENSE
@group(0) @binding(3) var<storage, read> tau: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#if STATS
@group(0) @binding(8) var<storage, read_write> stats: array<atomic<u32>>;
#endif
#if PRE_NORM
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;
const NORM_PER = {{NORM_PER}}u;  // Σx² prologue: loads per invocation when unrolled (0: a loop)
#endif
#if NORM_VEC4
@group(0) @binding(9) var<storage, read> x4: array<vec4<f32>>;  // x again, as vec4s (x_offset, cols multiples of 4)
#endif
#if SPLIT
// (K-chunk, stored row) partials: vec4 v of K-chunk k at k · vec4s-per-row + v.
@group(0) @binding(6) var<storage, read_write> scratch: array<vec4<f32>>;
#endif

var<workgroup> mask: array<atomic<u32>, WORDS>;
var<workgroup> xs: array<f32, PIECE>;
var<workgroup> list: array<vec2<u32>, PIECE>;  // active channels: (stored row in the shard, bits of x')
#if WIDE
var<workgroup> red: array<vec4<f32>, 2u * WG>;
#else
var<workgroup> red: array<vec4<f32>, WG>;
#endif
#if QUANT
var<workgroup> wbits: array<u32, WORDS>;  // the piece's mask words, kept for the per-group walk
#endif

struct Acc { a: vec4<f32>, b: vec4<f32>, s: f32 }  // outputs 0..3, 4..7; KQ: Σx'

// Input element i: x[i], or with X_PARTIALS the sum of IN_CHUNKS partial vectors left in x's buffer by a
// split GEMV whose reduce dispatch was skipped (in a fixed order: deterministic).
#if X_PARTIALS
const IN_CHUNKS = {{IN_CHUNKS}}u;  // a constant, so that every load is issued at once
#endif
fn xin(i: u32) -> f32 {
#if X_PARTIALS
  var s = 0.0;
  for (var k = 0u; k < IN_CHUNKS; k++) { s += x[i + k * p.in_row]; }
  return s;
#else
  return x[i];
#endif
}

// acc += v · (this invocation's chunk of stored row `row` of the shard), v = x'_j of that channel.
fn add_w(acc: ptr<function, Acc>, row: u32, v: f32, col: u32) {
  let q = w[row * p.stride + col];
#if F16
  (*acc).a += v * vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
  (*acc).b += v * vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
#elif Q8
  // Sign-extend each byte: shift it to the top, arithmetic shift back.
  (*acc).a += v * vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q.x << 24u, q.x << 16u, q.x << 8u, q.x)) >> vec4<u32>(24u));
  (*acc).b += v * vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q.y << 24u, q.y << 16u, q.y << 8u, q.y)) >> vec4<u32>(24u));
#elif Q4
  (*acc).a += v * (vec4<f32>((vec4<u32>(q) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) - 8.0);
  (*acc).b += v * (vec4<f32>((vec4<u32>(q) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)) - 8.0);
#elif KQ
  var lo = (vec4<u32>(q) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
  var hi = (vec4<u32>(q) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u);
  if (kind != 0u) {
    let b = row * p.h_row + hbyte;  // Q6_K: even, so both bytes are in one u32
    let h = vec4<u32>(high[b / 4u] >> (8u * (b % 4u)));
    if (kind == 1u) {  // Q5_K: bit k is output k's 16
      lo |= ((h >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(4u);
      hi |= ((h >> vec4<u32>(4u, 5u, 6u, 7u)) & vec4<u32>(1u)) << vec4<u32>(4u);
    } else {           // Q6_K: bits 2k, 2k + 1 are output k's 16, 32
      lo |= ((h >> vec4<u32>(0u, 2u, 4u, 6u)) & vec4<u32>(3u)) << vec4<u32>(4u);
      hi |= ((h >> vec4<u32>(8u, 10u, 12u, 14u)) & vec4<u32>(3u)) << vec4<u32>(4u);
    }
  }
  (*acc).a += v * (vec4<f32>(lo) - koff);
  (*acc).b += v * (vec4<f32>(hi) - koff);
  (*acc).s += v;
#else
  (*acc).a += v * q;
#endif
}

#if DENSE
// Piece entry e is the piece's channel e (x' in xs).
fn add_row(acc: ptr<function, Acc>, e: u32, col: u32, base: u32) { add_w(acc, base + e, xs[e], col); }
#else
// Piece entry e is active list entry e: (stored row, bits of x').
fn add_row(acc: ptr<function, Acc>, e: u32, col: u32, base: u32) {
  let item = list[e];
  add_w(acc, item.x, bitcast<f32>(item.y), col);
}
#endif


#if KQ
// Entries e0 .. e1 of the piece (one half-group) into q, UNROLL rows in flight.
fn walk(q: ptr<function, Acc>, e0: u32, e1: u32, col: u32, base: u32) {
  var e = e0;
  for (; e + (UNROLL - 1u) < e1; e += UNROLL) {
    for (var u = 0u; u < UNROLL; u++) { add_row(q, e + u, col, base); }
  }
  for (; e < e1; e++) { add_row(q, e, col, base); }
}

// Four outputs' share of one 32-channel group: their u16s t (scales), u32s d (supers), code sums over the
// group's halves q0, q1 and Σx' over the group xs. Q4_K/Q5_K: d·sc·Σq·x − dmin·m·Σx; Q6_K: d·sc_h·Σ(q − 32)·x.
fn k_group(t: vec4<u32>, d: vec4<u32>, q0: vec4<f32>, q1: vec4<f32>, xs: f32) -> vec4<f32> {
  let dd = vec4<f32>(unpack2x16float(d.x).x, unpack2x16float(d.y).x, unpack2x16float(d.z).x, unpack2x16float(d.w).x);
  if (kind == 2u) {
    let s0 = dd * vec4<f32>(bitcast<vec4<i32>>(t << vec4<u32>(24u)) >> vec4<u32>(24u));
    let s1 = dd * vec4<f32>(bitcast<vec4<i32>>(t << vec4<u32>(16u)) >> vec4<u32>(24u));
    return s0 * q0 + s1 * q1;
  }
  let dm = vec4<f32>(unpack2x16float(d.x).y, unpack2x16float(d.y).y, unpack2x16float(d.z).y, unpack2x16float(d.w).y);
  return (dd * vec4<f32>(t & vec4<u32>(63u))) * (q0 + q1) - (dm * vec4<f32>((t >> vec4<u32>(8u)) & vec4<u32>(63u))) * xs;
}
#endif

fn emit(i: u32, v: f32) {
#if ACCUMULATE
  y[i] += v;
#else
  y[i] = v;
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let tile = g % p.tiles;
  let kc = g / p.tiles;
  let end = p.shard_first + p.shard_cols;
#if SPLIT
  let k0 = p.shard_first + kc * KC;
  if (k0 >= end) { return; }
  let k1 = min(k0 + KC, end);
#else
  if (kc > 0u) { return; }
  let k0 = p.shard_first;
  let k1 = end;
#endif
  // The tile lies in one segment: one τ vector, so the skip test is the same for every invocation.
  var s = 0u;
  for (var t = 1u; t < NSEG; t++) {
    if (tile >= p.seg[t].x) { s = t; }
  }
  let sg = p.seg[s];
  let c = (tile - sg.x) * TILE + lid % TILE;  // this invocation's chunk within the segment
  let live = c < sg.z;
  let col = sg.y + c;
  let kl = lid / TILE;
#if KQ
  kind = p.seg_y[s].y;
  hbyte = p.seg_y[s].z + c * kind;  // kind is also the bytes of high bits per chunk
  koff = select(0.0, 32.0, kind == 2u);
#endif
#if !DENSE
  let tau_base = s * p.cols;
#endif

#if PRE_NORM
  // Σx² over all of x (not only this K-chunk): every workgroup finds the same scale.
  var ss = 0.0;
#if NORM_VEC4
  // Every load issued at once (a constant trip count), 16 bytes each.
  for (var q = 0u; q < NORM_PER; q++) {
    let j = lid + q * WG;
    if (j < p.cols / 4u) {
      let v = x4[p.x_offset / 4u + j];
      ss += dot(v, v);
    }
  }
#else
  if (NORM_PER > 0u) {
    for (var q = 0u; q < NORM_PER; q++) {
      let j = lid + q * WG;
      if (j < p.cols) {
        let v = x[p.x_offset + j];
        ss += v * v;
      }
    }
  } else {
    for (var j = lid; j < p.cols; j += WG) {
      let v = x[p.x_offset + j];
      ss += v * v;
    }
  }
#endif
  red[lid] = vec4<f32>(ss, 0.0, 0.0, 0.0);
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  let scale = 1.0 / sqrt(red[0].x / f32(p.cols) + p.eps);
#endif

  var acc = Acc(vec4<f32>(0.0), vec4<f32>(0.0), 0.0);
  for (var p0 = k0; p0 < k1; p0 += PIECE) {
    let m = min(PIECE, k1 - p0);
    let base = p0 - p.shard_first;  // stored row of the piece's first channel in this shard
    // 1. Compute each channel's x' once (and, sparse, its bit in the mask when |x'| > τ).
    for (var q = 0u; q < PER; q++) {
      let i = lid + q * WG;
      if (i < m) {
        let j = p0 + i;
#if SWIGLU
        let gt = xin(p.x_offset + j);
        var v = gt / (1.0 + exp(-gt)) * xin(p.x_offset + p.up_offset + j);
#else
        var v = xin(p.x_offset + j);
#endif
#if PRE_NORM
        v *= scale * norm_w[j];
#endif
        xs[i] = v;
#if !DENSE
        if (abs(v) > tau[tau_base + j]) { atomicOr(&mask[i / 32u], 1u << (i % 32u)); }
#endif
      }
    }
    workgroupBarrier();
#if DENSE
    let n = m;
#else
    // 2. Compact: active channel i goes to list[active channels before i].
    var before = 0u;
    var next_word = 0u;
    for (var q = 0u; q < PER; q++) {
      let i = lid + q * WG;
      if (i < m) {
        let wi = i / 32u;
        for (; next_word < wi; next_word++) { before += countOneBits(atomicLoad(&mask[next_word])); }
        let bits = atomicLoad(&mask[wi]);
#if QUANT
        if (i % 32u == 0u) { wbits[wi] = bits; }
#endif
        let bit = 1u << (i % 32u);
        if ((bits & bit) != 0u) {
          list[before + countOneBits(bits & (bit - 1u))] = vec2<u32>(base + i, bitcast<u32>(xs[i]));
        }
      }
    }
    for (; next_word < WORDS; next_word++) { before += countOneBits(atomicLoad(&mask[next_word])); }
    let n = before;  // active channels in the piece
#if STATS
    if (lid == 0u && tile == sg.x) { atomicAdd(&stats[p.stats_slot + s], n); }  // once per channel and segment
#endif
    workgroupBarrier();
    for (var k = lid; k < WORDS; k += WG) { atomicStore(&mask[k], 0u); }  // for the next piece
#endif
#if KQ
    // 3. Per 32-channel group, as below, with the halves (channels 0..15, 16..31) summed apart.
    if (live) {
      var start = 0u;
      for (var wd = 0u; wd < (m + 31u) / 32u; wd++) {
#if DENSE
        let cnt = min(32u, m - 32u * wd);
        let c0 = min(16u, cnt);
#else
        let cnt = countOneBits(wbits[wd]);
        let c0 = countOneBits(wbits[wd] & 0xffffu);
#endif
        if (wd % KL == kl && cnt > 0u) {
          var q0 = Acc(vec4<f32>(0.0), vec4<f32>(0.0), 0.0);
          var q1 = Acc(vec4<f32>(0.0), vec4<f32>(0.0), 0.0);
          walk(&q0, start, start + c0, col, base);
          walk(&q1, start + c0, start + cnt, col, base);
          let gq = base / 32u + wd;  // the group in the shard (shards start on 256 channels)
          let t = scales[gq * p.stride + col];
          let sb = 2u * ((gq / 8u) * p.stride + col);
          let xs = q0.s + q1.s;
          acc.a += k_group(vec4<u32>(t.x & 0xffffu, t.x >> 16u, t.y & 0xffffu, t.y >> 16u), supers[sb], q0.a, q1.a, xs);
          acc.b += k_group(vec4<u32>(t.z & 0xffffu, t.z >> 16u, t.w & 0xffffu, t.w >> 16u), supers[sb + 1u], q0.b, q1.b, xs);
        }
        start += cnt;
      }
    }
#elif QUANT
    // 3. Per 32-channel group (one mask word, one scale vector): lanes take whole groups, sum the
    // codes times x' of its active channels, then apply the group's scales once.
    if (live) {
      var start = 0u;
      for (var wd = 0u; wd < (m + 31u) / 32u; wd++) {
#if DENSE
        let cnt = min(32u, m - 32u * wd);
#else
        let cnt = countOneBits(wbits[wd]);
#endif
        if (wd % KL == kl && cnt > 0u) {
          var q = Acc(vec4<f32>(0.0), vec4<f32>(0.0), 0.0);
          var e = start;
          for (; e + (UNROLL - 1u) < start + cnt; e += UNROLL) {
            for (var u = 0u; u < UNROLL; u++) { add_row(&q, e + u, col, base); }
          }
          for (; e < start + cnt; e++) { add_row(&q, e, col, base); }
          let sc = scales[(base / 32u + wd) * p.stride + col];
          acc.a += vec4<f32>(unpack2x16float(sc.x), unpack2x16float(sc.y)) * q.a;
          acc.b += vec4<f32>(unpack2x16float(sc.z), unpack2x16float(sc.w)) * q.b;
        }
        start += cnt;
      }
    }
#else
    // 3. Accumulate over the active channels only: UNROLL independent rows per trip, no branch per row.
    if (live) {
      var e = kl;
      for (; e + (UNROLL - 1u) * KL < n; e += UNROLL * KL) {
        for (var u = 0u; u < UNROLL; u++) { add_row(&acc, e + u * KL, col, base); }
      }
      for (; e < n; e += KL) { add_row(&acc, e, col, base); }
    }
#endif
    workgroupBarrier();
  }

  // Sum the lanes' partials of each chunk (a tree in workgroup memory).
  red[lid] = acc.a;
#if WIDE
  red[WG + lid] = acc.b;
#endif
  workgroupBarrier();
  for (var h = KL / 2u; h > 0u; h >>= 1u) {
    if (kl < h) {
      red[lid] += red[lid + h * TILE];
#if WIDE
      red[WG + lid] += red[WG + lid + h * TILE];
#endif
    }
    workgroupBarrier();
  }
  if (kl != 0u || !live) { return; }
  let a = red[lid];
#if WIDE
  let b = red[WG + lid];
#endif
#if SPLIT
  let at = (p.k_first + kc) * p.stride + col;
#if WIDE
  scratch[2u * at] = a;
  scratch[2u * at + 1u] = b;
#else
  scratch[at] = a;
#endif
#else
  let r0 = c * CHUNK;
  let y0 = p.y_offset + p.seg_y[s].x + r0;
  for (var k = 0u; k < 4u; k++) {
    if (r0 + k < sg.w) { emit(y0 + k, a[k]); }
  }
#if WIDE
  for (var k = 0u; k < 4u; k++) {
    if (r0 + 4u + k < sg.w) { emit(y0 + 4u + k, b[k]); }
  }
#endif
#endif
}

#if SPLIT
// y (+)= Σ over K-chunks of the partials, for R_CHUNKS vec4s of the stored row per workgroup.
@compute @workgroup_size(WG)
fn reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * nwg.x) * R_CHUNKS;
  let row4 = p.stride * (CHUNK / 4u);  // vec4s per stored row
  if (first >= row4) { return; }
  let v = first + lid % R_CHUNKS;
  let lane = lid / R_CHUNKS;
  var t = vec4<f32>(0.0);
  if (v < row4) {
    var k = lane;
    for (; k + 3u * R_LANES < p.k_total; k += 4u * R_LANES) {  // four loads in flight
      t += (scratch[k * row4 + v] + scratch[(k + R_LANES) * row4 + v]) +
           (scratch[(k + 2u * R_LANES) * row4 + v] + scratch[(k + 3u * R_LANES) * row4 + v]);
    }
    for (; k < p.k_total; k += R_LANES) { t += scratch[k * row4 + v]; }
  }
  red[lid] = t;
  workgroupBarrier();
  for (var h = R_LANES / 2u; h > 0u; h >>= 1u) {
    if (lane < h) { red[lid] += red[lid + h * R_CHUNKS]; }
    workgroupBarrier();
  }
  if (lane != 0u || v >= row4) { return; }
  let sum = red[lid];
  // Element 4v + k belongs to the segment whose [offset, offset + rows) holds it; padding is dropped.
  for (var k = 0u; k < 4u; k++) {
    let e = 4u * v + k;
    for (var s = 0u; s < NSEG; s++) {
      let off = p.seg[s].y * CHUNK;
      if (e >= off && e < off + p.seg[s].w) { emit(p.y_offset + p.seg_y[s].x + e - off, sum[k]); }
    }
  }
}
#endif
