// The rotation of one position for the CPU's Wasm rope (assembly/cpu/ops.ts): (cos θ, sin θ) of each
// pair in f64, θ from ropeTheta (src/reference/ops.ts), so that the CPU turns by exactly the
// reference's angles (Llama 3's frequency factors included) and θ has one definition. Computed per
// token: ropeDim/2 angles cost less than one row of a projection, and a table of every position
// would cost Wasm memory (16 bytes · contextSize · ropeDim/2).

import { ropeTheta, type RopeSpec } from '../reference/ops.js';

/** out(ropeDim/2, 2) ← (cos θ_i, sin θ_i) at `pos`. */
export function ropeAngles(out: Float64Array, r: RopeSpec, pos: number): void {
  for (let i = 0; i < r.ropeDim / 2; i++) {
    const theta = ropeTheta(r, pos, i);
    out[2 * i] = Math.cos(theta);
    out[2 * i + 1] = Math.sin(theta);
  }
}
