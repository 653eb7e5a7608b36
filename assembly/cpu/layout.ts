// Weight formats of the CPU layout (documented, and packed, in src/cpu/layout.ts). Every projection
// is stored input-channel-major: row k holds column k of W for all `np` outputs (np a multiple of 32,
// padding outputs zero), each row a multiple of 16 bytes.

export const FMT_F32: i32 = 0; // row k: np f32
export const FMT_F16: i32 = 1; // row k: np f16 bit patterns
export const FMT_Q8_0: i32 = 2; // row k: np int8 codes; scales (in/32, np) f16
export const FMT_Q4_0: i32 = 3; // row k: np 4-bit codes, two a byte (low nibble = even output); scales as Q8_0
// K-quants keep their codes and ggml's f32 sub-block scale d·sc (and min dmin·m): W = s·q − m.
export const FMT_Q4_K: i32 = 4; // rows as Q4_0 (codes 0..15); per 32 inputs: np f32 scales, then np f32 mins
export const FMT_Q5_K: i32 = 5; // rows as Q8_0 (codes 0..31); per 32 inputs: np f32 scales, then np f32 mins
export const FMT_Q6_K: i32 = 6; // rows as Q8_0 (codes −32..31, or Q8_K's int8); per 16 inputs: np f32 scales

/** Bytes of one stored row of `np` outputs. */
export function rowBytes(fmt: i32, np: i32): i32 {
  if (fmt == FMT_F32) return np << 2;
  if (fmt == FMT_F16) return np << 1;
  if (fmt == FMT_Q4_0 || fmt == FMT_Q4_K) return np >> 1;
  return np;
}
