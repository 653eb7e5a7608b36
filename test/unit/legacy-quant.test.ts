// The 32-weight offset types llama-quantize falls back to where a row is not a multiple of 256 (Q5_0 in
// Q4_K_M files of SmolLM2 and Qwen2.5-0.5B, Q5_1 in Q5_K_M ones; Q4_1): src/model's exact dequantisation
// against a per-element decoder written from ggml-common.h (test/helpers/kquant.ts), and the CPU
// backend's layout against the same weights.
import { describe, expect, test } from 'vitest';
import { dequantize, GGMLType } from '../../src/model/tensor.js';
import { LEGACY_BYTES, legacyWeight, quantizeLegacy } from '../helpers/kquant.js';
import { mulberry32 } from '../helpers/random.js';

describe.each([[3, 'Q4_1'], [6, 'Q5_0'], [7, 'Q5_1']] as const)('%i %s', (type, name) => {
  test('dequantize equals the per-element decoder on random blocks, bit for bit', () => {
    const rnd = mulberry32(type);
    const x = Float32Array.from({ length: 32 * 64 }, (_, i) => (rnd() - 0.5) * (i % 64 < 32 ? 0.1 : 3));
    const bytes = quantizeLegacy(type, x);
    expect(bytes.length).toBe(64 * LEGACY_BYTES[type]!);
    const got = dequantize(type as GGMLType, bytes, x.length);
    const size = LEGACY_BYTES[type]!;
    for (let e = 0; e < x.length; e++) {
      const b = Math.floor(e / 32);
      // + 0: Q5_0's zero weight is d·16 − 16d = +0 here and (q − 16)·d = −0 in ggml when d < 0; the same number.
      expect(got[e]! + 0, `${name} weight ${e}`).toBe(legacyWeight(type, bytes.subarray(b * size, (b + 1) * size), e % 32) + 0);
    }
    // And the quantizer is a quantizer: every weight within one step of its input.
    let worst = 0;
    for (let e = 0; e < x.length; e++) worst = Math.max(worst, Math.abs(got[e]! - x[e]!) / (e % 64 < 32 ? 0.1 : 3));
    expect(worst).toBeLessThan(type === 3 ? 0.07 : 0.04);
  });
});
