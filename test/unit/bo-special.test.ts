// The special functions behind log EI (assembly/bo/special.ts) against 40-digit references
// (mpmath 1.3, mp.dps = 40): erfc and erfcx across Cody's three intervals and both signs, log h
// through Ament et al.'s branches (z > −1, the erfcx form, the asymptote), and d log h/dz.

import { beforeAll, describe, expect, test } from 'vitest';
import type { WasModule } from '../../src/wasm/module.js';
import { loadWasmNode } from '../../src/wasm/node.js';

// [x, erfc(x)]
const ERFC: ReadonlyArray<readonly [number, number]> = [
  [-3, 1.9999779095030014146],
  [-0.5, 1.5204998778130465377],
  [0.1, 0.8875370839817151016],
  [0.3, 0.67137324054087258381],
  [0.46875, 0.50738652678206200841],
  [0.5, 0.47950012218695346232],
  [1, 0.15729920705028513066],
  [2, 0.0046777349810472658379],
  [3.9, 3.4792248597231767129e-8],
  [4.5, 1.9661604415428874763e-10],
  [10, 2.088487583762544757e-45],
  [26, 5.6631924088561428465e-296],
];

// [x, exp(x²)·erfc(x)]
const ERFCX: ReadonlyArray<readonly [number, number]> = [
  [-2, 108.94090438997797241],
  [0.2, 0.80901951990158073283],
  [0.7, 0.52593033734944095849],
  [1.5, 0.32158541645431750235],
  [3, 0.17900115118138995042],
  [5, 0.11070463773306862637],
  [10, 0.056140992743822585858],
  [30, 0.018795888861416751497],
  [1e3, 0.0005641893014533876542],
  [1e8, 5.6418958354775625874e-9],
];

// [z, log h(z), Φ(z)/h(z)], h(z) = φ(z) + zΦ(z)
const LOGH: ReadonlyArray<readonly [number, number, number]> = [
  [5, 1.609437923126431385103, 0.199999940531220046488],
  [1, 0.08002621884930694002916, 0.7766387252017392597472],
  [0, -0.9189385332046727417803, 1.253314137315500251208],
  [-0.5, -1.620516264387319919262, 1.559873148348079671221],
  [-0.999, -2.483217115447585441191, 1.903549317358959425903],
  [-1, -2.48512102571264133676, 1.904271233329691822922],
  [-1.001, -2.487025657955389212896, 1.904993272734213012],
  [-2, -4.768783523917114156881, 2.679416883955585983893],
  [-5, -16.74430116266099014327, 5.36181624128808852977],
  [-10, -55.55312203612235592718, 10.19438303341255330559],
  [-40, -808.2985683566199602409, 40.04990665764851819254],
  [-100, -5010.129578800249792325, 100.0199940041958650508],
  [-1e4, -50000019.33961930715704, 10000.000199999994],
  [-1e6, -500000000028.5499596491, 1000000.000002000000003],
];

const rel = (got: number, want: number) => Math.abs(got - want) / Math.abs(want);

describe('special functions for log EI (Wasm)', () => {
  let wasm: WasModule;
  beforeAll(async () => {
    wasm = await loadWasmNode('debug');
  });

  // Cody: < 6e-19 before rounding; a few ulps after the f64 arithmetic and exp.
  test.each(ERFC)('erfc(%f) to 1e-14 relative', (x, want) => {
    const e = rel(wasm.erfc(x), want);
    expect(e, `erfc(${x}) = ${wasm.erfc(x)}, want ${want}: relative error ${e.toExponential(2)}`).toBeLessThan(1e-14);
  });

  test.each(ERFCX)('erfcx(%f) to 1e-14 relative', (x, want) => {
    const e = rel(wasm.erfcx(x), want);
    expect(e, `erfcx(${x}) = ${wasm.erfcx(x)}, want ${want}: relative error ${e.toExponential(2)}`).toBeLessThan(1e-14);
  });

  test('erfc underflows to 0 and erfcx overflows to +Infinity where they should', () => {
    expect(wasm.erfc(27)).toBe(0);
    expect(wasm.erfc(-27)).toBe(2);
    expect(wasm.erfcx(-27)).toBe(Infinity);
  });

  test.each(LOGH)('log h(%f) and d log h/dz to 1e-12 relative', (z, want, wantSlope) => {
    const e = rel(wasm.logh(z), want);
    expect(e, `log h(${z}) = ${wasm.logh(z)}, want ${want}: relative error ${e.toExponential(2)}`).toBeLessThan(1e-12);
    const es = rel(wasm.dlogh(z), wantSlope);
    expect(es, `d log h(${z}) = ${wasm.dlogh(z)}, want ${wantSlope}: relative error ${es.toExponential(2)}`).toBeLessThan(1e-12);
  });

  test('log h stays finite past the point where EI itself underflows, and is monotone', () => {
    // EI = σ·h(z) underflows to 0 near z = −38.5; log h goes on to the asymptote −z²/2 − log(2π)/2 − 2 log|z|.
    let prev = -Infinity;
    for (const z of [-1e150, -1e100, -1e8, -6.8e7, -6.7e7, -1e5, -100, -20.000001, -20, -19.999999, -38.5, -10, -1.0000001, -1, -0.9999999, 0, 3, 30].sort((a, b) => a - b)) {
      const v = wasm.logh(z);
      expect(Number.isFinite(v), `log h(${z}) = ${v}`).toBe(true);
      expect(v >= prev, `log h(${z}) = ${v} below log h at a smaller z (${prev})`).toBe(true);
      prev = v;
    }
    const z = -1e150;
    expect(rel(wasm.logh(z), -0.5 * z * z - 0.5 * Math.log(2 * Math.PI) - 2 * Math.log(-z))).toBeLessThan(1e-15);
  });

  test('d log h/dz matches central differences of log h across the branches', () => {
    for (const z of [-50, -3, -1.2, -0.8, 0.4, 2]) {
      const h = 1e-6 * Math.max(1, Math.abs(z));
      const fd = (wasm.logh(z + h) - wasm.logh(z - h)) / (2 * h);
      const e = rel(wasm.dlogh(z), fd);
      expect(e, `z ${z}: d log h ${wasm.dlogh(z)} vs central difference ${fd}: relative error ${e.toExponential(2)}`).toBeLessThan(1e-6);
    }
  });
});
