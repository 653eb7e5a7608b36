// README.md stays true to the repository: exactly the two set-up commands of a fresh clone, scripts
// that exist, and the quality table's words matching the shipped schedules.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { scheduleQuality } from '../../src/sdk/schedules.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

test('the repository section has exactly two set-up commands, both npm scripts that exist', () => {
  const section = readme.slice(readme.indexOf('## Work on was-edge'), readme.indexOf('\n## ', readme.indexOf('## Work on was-edge') + 5));
  const commands = [...section.matchAll(/```sh\n([^`]+?)\n```/g)].map((m) => m[1]!);
  expect(commands).toEqual(['npm ci && npm run -s generate -- --prompt "Once upon a time"', 'npm ci && npm test']);
  for (const script of ['generate', 'test']) expect(pkg.scripts[script], script).toBeDefined();
  // The install section comes first.
  expect(readme.indexOf('## Install in your app')).toBeLessThan(readme.indexOf('## Work on was-edge'));
});

test("the quality table's words are the shipped schedules' (calibration KL of each was-bo level)", () => {
  const rows = [...readme.matchAll(/^\| (0\.\d) \| [\d.]+ \| [\d.]+ \| \**(\w+)\** \| [\d.]+ \| [\d.]+ \| (\w+) \|$/gm)];
  expect(rows.length).toBe(5);
  for (const [id, column] of [['stories260K', 2], ['llama16m-debtext-F32', 3]] as const) {
    const schedule = JSON.parse(readFileSync(new URL(`../../schedules/${id}.json`, import.meta.url), 'utf8')) as {
      levels: { target: number; method: string; calibrationLoss: number; lossKind: string }[];
    };
    for (const row of rows) {
      const level = schedule.levels.find((l) => l.method === 'was-bo' && l.target === Number(row[1]))!;
      expect(row[column], `${id} at ${row[1]}`).toBe(scheduleQuality(level.calibrationLoss, level.lossKind));
    }
  }
});
