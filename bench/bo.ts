// Constrained Bayesian optimisation in Wasm (assembly/bo/, release build): the time of one iteration
// (GP hyper-parameter fit + log-EI maximisation, i.e. one suggest()) at d blocks after n observations,
// and, on the synthetic problems with a known optimum (src/bo/problems.ts), the regret of BO against
// random search on the same constrained set at the same budget.
//
// Build and run:  npm run bench:bo        (esbuild bundle into dist/, then node)
//            or:  npx tsx bench/bo.ts     (if tsx is at hand)
// Options: --quick (fewer repetitions and seeds).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ConstrainedBO } from '../src/bo/constrained.js';
import { llamaShaped, separableQuadratic, type ConstrainedProblem } from '../src/bo/problems.js';
import { loadWasm } from '../src/wasm/load.js';
import type { WasModule } from '../src/wasm/module.js';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean' } } });
const quick = !!args.quick;
// Relative to this file or to its bundle in dist/: both sit one level below the repository root.
const wasm: WasModule = await loadWasm(new Uint8Array(await readFile(new URL('../build/was.wasm', import.meta.url))));
console.log(`# was-edge BO bench: release Wasm, Node ${process.version}, ${process.platform}/${process.arch}; ${new Date().toISOString()}`);

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

// --- Time per iteration ------------------------------------------------------------------------
// A BO state with n observations of the 32-block loss (random points of the set, the uniform
// schedule first); then `reps` iterations of suggest → evaluate → observe, each suggest timed.
// The first suggest after the set-up fits θ from the prior's centre (cold), the others warm-start.
const timing: string[][] = [['d', 'n', 'first suggest ms', 'median suggest ms', 'max suggest ms']];
const reps = quick ? 3 : 8;
for (const [d, n] of [
  [8, 32],
  [8, 64],
  [32, 16],
  [32, 32],
  [32, 64],
  [32, 128],
] as const) {
  const p = d === 32 ? llamaShaped(1) : separableQuadratic(d, 1);
  const bo = new ConstrainedBO(wasm, { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target, seed: 1, maxObservations: n + reps + 1 });
  const uniform = new Float64Array(d).fill(p.target);
  bo.observe(uniform, p.f(uniform));
  for (const s of bo.sample(n - 1)) bo.observe(s, p.f(s));
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    const s = bo.suggest();
    times.push(performance.now() - t);
    bo.observe(s, p.f(s));
  }
  timing.push([String(d), String(n), times[0]!.toFixed(2), median(times.slice(1)).toFixed(2), Math.max(...times).toFixed(2)]);
}
console.log('\n## One BO iteration (suggest: hyper-parameter fit + log-EI maximisation), defaults');
printTable(timing);

// --- BO against random search ------------------------------------------------------------------
// Both start from the uniform schedule s_l = target; random search spends the rest of the budget
// on hit-and-run samples of the set. Regret = best loss − optimum; median over seeds.
const seeds = quick ? 5 : 10;
const budget = 50;
const quality: string[][] = [['problem', 'd', 'budget', 'regret uniform', 'regret random', 'regret BO', 'random / BO', 'BO wins', 'ms / run']];
for (const make of [(seed: number) => separableQuadratic(6, seed), (seed: number) => llamaShaped(seed)]) {
  const uniformRegret: number[] = [];
  const randomRegret: number[] = [];
  const boRegret: number[] = [];
  let wins = 0;
  let ms = 0;
  let name = '';
  let d = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const p: ConstrainedProblem = make(seed);
    name = p.name;
    d = p.weights.length;
    const uniform = new Float64Array(d).fill(p.target);
    const options = { weights: p.weights, lo: p.lo, hi: p.hi, target: p.target };
    const t = performance.now();
    const best = await new ConstrainedBO(wasm, { ...options, seed }).minimize((s) => p.f(s), { budget, initial: [uniform] });
    ms += performance.now() - t;
    let random = p.f(uniform);
    for (const s of new ConstrainedBO(wasm, { ...options, seed: seed + 1000 }).sample(budget - 1)) random = Math.min(random, p.f(s));
    uniformRegret.push(p.f(uniform) - p.optimum.y);
    randomRegret.push(random - p.optimum.y);
    boRegret.push(best.y - p.optimum.y);
    if (best.y < random) wins++;
  }
  quality.push([
    name,
    String(d),
    String(budget),
    median(uniformRegret).toExponential(2),
    median(randomRegret).toExponential(2),
    median(boRegret).toExponential(2),
    (median(randomRegret) / median(boRegret)).toFixed(1),
    `${wins}/${seeds}`,
    (ms / seeds).toFixed(0),
  ]);
}
console.log(`\n## BO against random search on the constrained set (median over ${seeds} seeds)`);
printTable(quality);
