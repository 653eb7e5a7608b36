// Log expected improvement for minimisation and its gradient in the input, from a fitted GP.
//   EI(x) = σ(x)·h(z),  z = (f* − μ(x))/σ(x),  h(z) = φ(z) + zΦ(z)   (Jones, Schonlau & Welch 1998)
//   log EI = log h(z) + log σ, with log h from Ament et al. 2023 (special.ts): no underflow to −∞
//   far from the data, so gradient ascent still gets a direction there.
// Gradient by the chain rule through μ = k*ᵀα and σ² = σ_f² − k*ᵀK⁻¹k*:
//   d log EI = −(ρ/σ) dμ + (1 − ρz)/(2σ²) dσ²,  ρ = d log h/dz,
//   dμ = Σ_i α_i dk_i,  dσ² = −2 Σ_i β_i dk_i (β = K⁻¹k*),  ∂k_i/∂x_l = ∂k/∂(r²) · 2(x_l − x_il)/ℓ_l².

import { Gp, posteriorAt, solveBeta, varianceFromV } from "./gp";
import { dlogh, logh } from "./special";

/** Variance floor relative to σ_f²: keeps z finite on top of a noise-free observation. */
const MIN_VARIANCE: f64 = 1e-12;

/**
 * log EI at the point `u` (d f64, the GP's input coordinates) below the incumbent fBest; when `grad`
 * is nonzero, writes ∂ log EI/∂u there (d f64). Needs a successful fit.
 */
export function logEI(g: Gp, u: usize, fBest: f64, grad: usize): f64 {
  const mu = posteriorAt(g, u);
  const variance = max<f64>(varianceFromV(g), MIN_VARIANCE * g.sf2);
  const sigma = Math.sqrt(variance);
  const z = (fBest - mu) / sigma;
  const value = logh(z) + Math.log(sigma);
  if (grad == 0) return value;

  solveBeta(g); // g.v ← K⁻¹k*
  const rho = dlogh(z);
  const cm = -rho / sigma;
  const cv = -(1 - rho * z) / variance; // (1 − ρz)/(2σ²) × (−2)
  const n = g.n;
  const d = g.d;
  const drow = <usize>d << 3;
  memory.fill(grad, 0, drow);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    // Coefficient of dk_i, times ∂k/∂(r²) and the 2 of ∂(r²)/∂x_l.
    const c = 2 * load<f64>(g.gk + o) * (cm * load<f64>(g.alpha + o) + cv * load<f64>(g.v + o));
    const xi = g.x + <usize>i * drow;
    const vc = f64x2.splat(c);
    let k = 0;
    for (; k + 2 <= d; k += 2) {
      const q = <usize>k << 3;
      const diff = f64x2.sub(v128.load(u + q), v128.load(xi + q));
      v128.store(grad + q, f64x2.add(v128.load(grad + q), f64x2.mul(vc, diff)));
    }
    for (; k < d; k++) {
      const q = <usize>k << 3;
      store<f64>(grad + q, load<f64>(grad + q) + c * (load<f64>(u + q) - load<f64>(xi + q)));
    }
  }
  for (let k = 0; k < d; k++) {
    const q = <usize>k << 3;
    store<f64>(grad + q, load<f64>(grad + q) * load<f64>(g.invl2 + q));
  }
  return value;
}
