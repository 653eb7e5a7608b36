// Every file shipped in schedules/ parses against the model it is named after.
import { readdirSync, readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { llamaConfig } from '../../src/model/config.js';
import { parseGGUF } from '../../src/model/gguf.js';
import { parseCalibration } from '../../src/sparsity/plan.js';
import { readShared } from '../helpers/shared.js';

const dir = new URL('../../schedules/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.calib.json'));
const MODEL_DIRS: Record<string, string> = { stories260K: 'stories260K', 'llama16m-debtext-F32': 'llama16m-debtext' };

test('schedules/ ships calibrations for every model family', () => {
  expect(files.sort()).toEqual(['llama16m-debtext-F32.calib.json', 'stories260K.calib.json']);
});

test.each(files)('%s is a valid calibration of its model', (f) => {
  const name = f.replace('.calib.json', '');
  const config = llamaConfig(parseGGUF(readShared('models', MODEL_DIRS[name]!, `${name}.gguf`)));
  const cal = parseCalibration(JSON.parse(readFileSync(new URL(f, dir), 'utf8')), config);
  expect(cal.version).toBe(1);
  expect(cal.model.sha256).toMatch(/^[0-9a-f]{64}$/);
  for (const rows of cal.greedy) expect(rows.at(-1)![1].every((s) => s === 1)).toBe(true);
});
