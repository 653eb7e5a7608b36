// Weight formats of the CPU layout (documented, and packed, in src/cpu/layout.ts). Every projection
// is stored input-channel-major: row k holds column k of W for all `np` outputs (np a multiple of 32,
// padding outputs zero), each row a multiple of 16 bytes.

export const FMT_F32: i32 = 0; // row k: np f32
export const FMT_F16: i32 = 1; // row k: np f16 bit patterns
export const FMT_Q8_0: i32 = 2; // row k: np int8 codes; scales (in/32, np) f16
export const FMT_Q4_0: i32 = 3; // row k: np 4-bit codes, two a byte (low nibble = even output); scales as Q8_0

/** Bytes of one stored row of `np` outputs. */
export function rowBytes(fmt: i32, np: i32): i32 {
  if (fmt == FMT_F32) return np << 2;
  if (fmt == FMT_F16) return np << 1;
  if (fmt == FMT_Q8_0) return np;
  return np >> 1;
}
