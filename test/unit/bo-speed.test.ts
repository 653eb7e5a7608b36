// One iteration of the constrained optimiser (suggest: hyper-parameter fit + log-EI maximisation)
// at 32 blocks after 64 observations, on the release build we ship: under 50 ms in Node. bench/bo.ts
// prints the full table (`npm run bench:bo`).

import { expect, test } from 'vitest';
import { ConstrainedBO } from '../../src/bo/constrained.js';
import { llamaShaped } from '../../src/bo/problems.js';
import { loadWasmNode } from '../../src/wasm/node.js';

const BUDGET_MS = 50;

test('32 blocks, 64 observations: one BO iteration takes < 50 ms (release build, median of 5)', async () => {
  const wasm = await loadWasmNode('release');
  const p = llamaShaped(1);
  const bo = new ConstrainedBO(wasm, { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target, seed: 1, maxObservations: 80 });
  const uniform = new Float64Array(32).fill(p.target);
  bo.observe(uniform, p.f(uniform));
  for (const s of bo.sample(63)) bo.observe(s, p.f(s));
  const times: number[] = [];
  for (let it = 0; it < 6; it++) {
    const t = performance.now();
    const s = bo.suggest();
    times.push(performance.now() - t);
    expect(bo.lastSuggestion().source).toBe('model');
    bo.observe(s, p.f(s));
  }
  // The first suggestion fits θ from the prior's centre; the rest warm-start, as in a run.
  const steady = times.slice(1).sort((a, b) => a - b)[2]!;
  expect(steady, `ms per iteration: ${times.map((t) => t.toFixed(1)).join(', ')}`).toBeLessThan(BUDGET_MS);
  expect(times[0]!, `cold first iteration: ${times[0]!.toFixed(1)} ms`).toBeLessThan(2 * BUDGET_MS);
});
