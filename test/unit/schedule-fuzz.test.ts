// Mutation fuzzing of schedule files (issue: hardening): a shipped schedule with values replaced,
// deleted, retyped or multiplied. parseSchedule must return a schedule or throw ScheduleError with
// a code, and a schedule it accepts must resolve to thresholds without any other error.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { WasEdgeError } from '../../src/errors.js';
import { parseSchedule, scheduleTargets, scheduleTau, type Schedule } from '../../src/sparsity/schedule.js';
import { mulberry32 as prng } from '../helpers/random.js';

const FILE = JSON.parse(readFileSync(new URL('../../schedules/stories260K.json', import.meta.url), 'utf8')) as Schedule;
const HOSTILE: unknown[] = [null, undefined, -1, 0, 1, 2, 1e308, -0, NaN, Infinity, '', '0.5', [], {}, [null], true, 'x'.repeat(1000)];

/** Every path to a value in `v`, as key lists. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

describe('schedule fuzzing', () => {
  test('1,500 mutations of stories260K.json: a schedule or a ScheduleError, nothing else', () => {
    const all = paths(FILE).filter((p) => p.length > 0 && !(p[0] === 'levels' && p.length > 4 && p[3] === 'trace'));
    const codes = new Map<string, number>();
    const failures: string[] = [];
    const norms = Array.from({ length: FILE.model.nLayers }, () => [64, 64, 64, 64, 64, 64, 172].map((n) => new Float32Array(n).fill(1)));
    for (let it = 0; it < 1500; it++) {
      const rand = prng(0x5eed ^ Math.imul(it + 1, 0x9e3779b1));
      const f = structuredClone(FILE) as unknown as Record<string, unknown>;
      const steps: string[] = [];
      for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
        const path = all[Math.floor(rand() * all.length)]!;
        let parent = f as Record<string | number, unknown>;
        for (const key of path.slice(0, -1)) parent = (parent?.[key] ?? {}) as Record<string | number, unknown>;
        const last = path.at(-1)!;
        const kind = Math.floor(rand() * 3);
        if (kind === 0) parent[last] = HOSTILE[Math.floor(rand() * HOSTILE.length)];
        else if (kind === 1) delete parent[last];
        else if (Array.isArray(parent[last])) parent[last] = Array.from({ length: 1 + Math.floor(rand() * 600) }, () => (parent[last] as unknown[])[0]);
        steps.push(`${kind} ${path.join('.')}`);
      }
      let code = 'ok';
      try {
        const s = parseSchedule(f);
        for (const t of scheduleTargets(s)) scheduleTau(s, t, norms);
      } catch (e) {
        if (e instanceof WasEdgeError && e.code) code = e.code;
        else failures.push(`iteration ${it} [${steps.join(', ')}]: ${e instanceof Error ? e.stack : String(e)}`);
      }
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    console.log(`schedule fuzz: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}`);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(codes.get('BAD_SCHEDULE') ?? 0).toBeGreaterThan(100);
  });
});
