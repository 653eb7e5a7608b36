// Special functions for expected improvement, in f64 (AssemblyScript's Math has no erf):
// erf/erfc/erfcx by W. J. Cody's rational Chebyshev approximations (Cody 1969, "Rational Chebyshev
// approximations for the error function", Math. Comp. 23:631–637; the CALERF routine of netlib
// specfun, 1990 revision), relative error below 6e-19 in each interval before rounding, and log h,
// the log of the EI kernel h(z) = φ(z) + zΦ(z), by Ament et al. 2023 ("Unexpected improvements to
// expected improvement", NeurIPS, eq. 9), which stays finite and accurate down to z = −10^300.
// src/bo/oracle.ts mirrors these lines in TypeScript.

// CALERF coefficients: erf on |x| ≤ 0.46875 (A, B), erfc on 0.46875 < |x| ≤ 4 (C, D), erfc on |x| > 4 (P, Q).
const A0: f64 = 3.16112374387056560e00, A1: f64 = 1.13864154151050156e02, A2: f64 = 3.77485237685302021e02;
const A3: f64 = 3.20937758913846947e03, A4: f64 = 1.85777706184603153e-1;
const B0: f64 = 2.36012909523441209e01, B1: f64 = 2.44024637934444173e02, B2: f64 = 1.28261652607737228e03;
const B3: f64 = 2.84423683343917062e03;
const C0: f64 = 5.64188496988670089e-1, C1: f64 = 8.88314979438837594e00, C2: f64 = 6.61191906371416295e01;
const C3: f64 = 2.98635138197400131e02, C4: f64 = 8.81952221241769090e02, C5: f64 = 1.71204761263407058e03;
const C6: f64 = 2.05107837782607147e03, C7: f64 = 1.23033935479799725e03, C8: f64 = 2.15311535474403846e-8;
const D0: f64 = 1.57449261107098347e01, D1: f64 = 1.17693950891312499e02, D2: f64 = 5.37181101862009858e02;
const D3: f64 = 1.62138957456669019e03, D4: f64 = 3.29079923573345963e03, D5: f64 = 4.36261909014324716e03;
const D6: f64 = 3.43936767414372164e03, D7: f64 = 1.23033935480374942e03;
const P0: f64 = 3.05326634961232344e-1, P1: f64 = 3.60344899949804439e-1, P2: f64 = 1.25781726111229246e-1;
const P3: f64 = 1.60837851487422766e-2, P4: f64 = 6.58749161529837803e-4, P5: f64 = 1.63153871373020978e-2;
const Q0: f64 = 2.56852019228982242e00, Q1: f64 = 1.87295284992346047e00, Q2: f64 = 5.27905102951428412e-1;
const Q3: f64 = 6.05183413124413191e-2, Q4: f64 = 2.33520497626869185e-3;
const RSQRTPI: f64 = 0.56418958354775628695; // 1/√π
const XNEG: f64 = -26.628; // erfcx(x) overflows below this
const XBIG: f64 = 26.543; // erfc(x) underflows above this
const XHUGE: f64 = 6.71e7; // erfcx(x) = 1/(x√π) to working precision above this

/** exp(−y²) without the cancellation of y² for large y: y is split as ysq + (y − ysq), ysq = ⌊16y⌋/16. */
@inline
function expNegSquare(y: f64): f64 {
  const ysq = Math.trunc(y * 16) / 16;
  const del = (y - ysq) * (y + ysq);
  return Math.exp(-ysq * ysq) * Math.exp(-del);
}

/** Cody's CALERF: jint 0 → erf(x), 1 → erfc(x), 2 → erfcx(x) = exp(x²)·erfc(x). */
export function calerf(x: f64, jint: i32): f64 {
  const y = Math.abs(x);
  let result: f64;
  if (y <= 0.46875) {
    const ysq = y > 1.11e-16 ? y * y : 0.0;
    let xnum = A4 * ysq;
    let xden = ysq;
    xnum = (xnum + A0) * ysq; xden = (xden + B0) * ysq;
    xnum = (xnum + A1) * ysq; xden = (xden + B1) * ysq;
    xnum = (xnum + A2) * ysq; xden = (xden + B2) * ysq;
    result = x * (xnum + A3) / (xden + B3);
    if (jint != 0) result = 1 - result;
    if (jint == 2) result = Math.exp(ysq) * result;
    return result;
  }
  if (y <= 4) {
    let xnum = C8 * y;
    let xden = y;
    xnum = (xnum + C0) * y; xden = (xden + D0) * y;
    xnum = (xnum + C1) * y; xden = (xden + D1) * y;
    xnum = (xnum + C2) * y; xden = (xden + D2) * y;
    xnum = (xnum + C3) * y; xden = (xden + D3) * y;
    xnum = (xnum + C4) * y; xden = (xden + D4) * y;
    xnum = (xnum + C5) * y; xden = (xden + D5) * y;
    xnum = (xnum + C6) * y; xden = (xden + D6) * y;
    result = (xnum + C7) / (xden + D7);
    if (jint != 2) result *= expNegSquare(y);
  } else {
    result = 0;
    let tiny = false;
    if (y >= XBIG) {
      if (jint != 2) tiny = true;
      else if (y >= XHUGE) {
        result = RSQRTPI / y;
        tiny = true;
      }
    }
    if (!tiny) {
      const ysq = 1 / (y * y);
      let xnum = P5 * ysq;
      let xden = ysq;
      xnum = (xnum + P0) * ysq; xden = (xden + Q0) * ysq;
      xnum = (xnum + P1) * ysq; xden = (xden + Q1) * ysq;
      xnum = (xnum + P2) * ysq; xden = (xden + Q2) * ysq;
      xnum = (xnum + P3) * ysq; xden = (xden + Q3) * ysq;
      result = ysq * (xnum + P4) / (xden + Q4);
      result = (RSQRTPI - result) / y;
      if (jint != 2) result *= expNegSquare(y);
    }
  }
  // Negative arguments from the reflections erf(−x) = −erf(x), erfc(−x) = 2 − erfc(x).
  if (jint == 0) {
    result = (0.5 - result) + 0.5;
    if (x < 0) result = -result;
  } else if (jint == 1) {
    if (x < 0) result = 2 - result;
  } else if (x < 0) {
    if (x < XNEG) return Infinity;
    const ysq = Math.trunc(x * 16) / 16;
    const del = (x - ysq) * (x + ysq);
    const e = Math.exp(ysq * ysq) * Math.exp(del);
    result = (e + e) - result;
  }
  return result;
}

export function erfc(x: f64): f64 {
  return calerf(x, 1);
}

/** exp(x²)·erfc(x), finite for x ≥ −26.6; ≈ 1/(x√π) for large x. */
export function erfcx(x: f64): f64 {
  return calerf(x, 2);
}

const INV_SQRT2: f64 = 0.7071067811865476;
const LOG_SQRT_2PI: f64 = 0.9189385332046728; // c1 = log(2π)/2
const LOG_SQRT_HALF_PI: f64 = 0.2257913526447274; // c2 = log(π/2)/2
const INV_SQRT_2PI: f64 = 0.3989422804014327;
const SQRT_HALF_PI: f64 = 1.2533141373155003;

/** Standard normal density φ(z). */
@inline
export function normPdf(z: f64): f64 {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/** Standard normal CDF Φ(z) = erfc(−z/√2)/2, accurate in both tails. */
@inline
export function normCdf(z: f64): f64 {
  return 0.5 * erfc(-z * INV_SQRT2);
}

/** log(1 − exp(a)) for a < 0 without cancellation (Mächler 2012, "Accurately computing log(1 − exp(−|a|))"). */
@inline
export function log1mexp(a: f64): f64 {
  return a > -0.6931471805599453 ? Math.log(-Math.expm1(a)) : Math.log1p(-Math.exp(a));
}

/** Below this z the asymptotic series replaces the erfcx form, whose 1 − |z|√(π/2)·erfcx cancels ~z²-fold. */
const Z_ASYMPTOTIC: f64 = -20;

/**
 * The asymptotic (Mills-ratio) series at x = −z ≥ 20, u = 1/x² (Abramowitz & Stegun 26.2.12):
 *   h(z) = φ(z)/x² · S,  S = Σ_k (−1)^k (2k+1)!! u^k;   Φ(z) = φ(z)/x · M,  M = Σ_k (−1)^k (2k−1)!! u^k.
 * Terms shrink by (2k+1)u ≤ (2k+1)/400 here, so 20 terms reach 1e-17 with room to spare.
 * `odd` 1 sums S, 0 sums M.
 */
function millsSeries(x: f64, odd: i32): f64 {
  const u = 1 / (x * x);
  let sum: f64 = 1;
  let term: f64 = 1;
  for (let k = 1; k <= 20; k++) {
    term *= -<f64>(2 * k - 1 + 2 * odd) * u;
    sum += term;
    if (Math.abs(term) < 1e-17) break;
  }
  return sum;
}

/**
 * log h(z), h(z) = φ(z) + zΦ(z), the EI kernel: EI = σ·h((f* − μ)/σ) for minimisation.
 * Ament et al. 2023, eq. 9: direct for z > −1; for z ≤ −1, h = φ(z)·(1 − |z|√(π/2)·erfcx(|z|/√2)),
 * so log h = −z²/2 − c1 + log1mexp(log(erfcx(−z/√2)|z|) + c2). Their last branch,
 * −z²/2 − c1 − 2 log|z| past −1/√ε, is the leading term of the series we use below z = −20.
 */
export function logh(z: f64): f64 {
  if (z > -1) return Math.log(normPdf(z) + z * normCdf(z));
  if (z > Z_ASYMPTOTIC) {
    return -0.5 * z * z - LOG_SQRT_2PI + log1mexp(Math.log(erfcx(-z * INV_SQRT2) * -z) + LOG_SQRT_HALF_PI);
  }
  return -0.5 * z * z - LOG_SQRT_2PI - 2 * Math.log(-z) + Math.log(millsSeries(-z, 1));
}

/**
 * d log h / dz = Φ(z)/h(z) (h' = Φ). For z ≤ −1 both carry the factor φ(z), which cancels:
 * Φ/h = √(π/2)·erfcx(|z|/√2) / (1 − |z|√(π/2)·erfcx(|z|/√2)), and x·M/S from the series below −20.
 */
export function dlogh(z: f64): f64 {
  if (z > -1) return normCdf(z) / (normPdf(z) + z * normCdf(z));
  if (z > Z_ASYMPTOTIC) {
    const e = SQRT_HALF_PI * erfcx(-z * INV_SQRT2);
    return e / -Math.expm1(Math.log(e * -z));
  }
  return (-z * millsSeries(-z, 0)) / millsSeries(-z, 1);
}
