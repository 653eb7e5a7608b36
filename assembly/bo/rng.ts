// Seeded random numbers for the optimiser, so a run is a function of its seed: xoshiro256**
// (Blackman & Vigna 2021, "Scrambled linear pseudorandom number generators", ACM TOMS 47(4)), its
// 256-bit state filled by splitmix64 as the authors advise (prng.di.unimi.it). The state is 4 u64
// at a pointer, so it lives in Wasm memory with the rest of the optimiser state.

/** Bytes of one generator state. */
export const RNG_BYTES: usize = 32;

/** Seeds the state at `p` from a 64-bit seed through splitmix64 (Steele, Lea & Flood 2014). */
export function rngSeed(p: usize, seed: u64): void {
  let x = seed;
  for (let i = 0; i < 4; i++) {
    x += 0x9e3779b97f4a7c15;
    let z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    store<u64>(p + (<usize>i << 3), z ^ (z >> 31));
  }
}

/** Next 64 random bits (xoshiro256**, the reference `next()`). */
export function rngNext(p: usize): u64 {
  const s0 = load<u64>(p), s1 = load<u64>(p, 8), s2 = load<u64>(p, 16), s3 = load<u64>(p, 24);
  const result = rotl<u64>(s1 * 5, 7) * 9;
  const t = s1 << 17;
  const n2 = s2 ^ s0;
  const n3 = s3 ^ s1;
  store<u64>(p, s0 ^ n3);
  store<u64>(p, s1 ^ n2, 8);
  store<u64>(p, n2 ^ t, 16);
  store<u64>(p, rotl<u64>(n3, 45), 24);
  return result;
}

/** Uniform on [0, 1): the top 53 bits as a dyadic fraction. */
export function rngUniform(p: usize): f64 {
  return <f64>(rngNext(p) >> 11) * 1.1102230246251565e-16; // 2^-53
}

/** Standard normal by Box–Muller (Box & Muller 1958); u1 in (0, 1] so the log is finite. */
export function rngNormal(p: usize): f64 {
  const u1 = <f64>((rngNext(p) >> 11) + 1) * 1.1102230246251565e-16;
  const u2 = rngUniform(p);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(6.283185307179586 * u2);
}

/** A seeded state in Wasm memory, seed = seedHi·2^32 + seedLo (for tests and hyperOptimize). */
export function rngCreate(seedLo: u32, seedHi: u32): usize {
  const p = heap.alloc(RNG_BYTES);
  rngSeed(p, (<u64>seedHi << 32) | <u64>seedLo);
  return p;
}
