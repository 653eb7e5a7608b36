// The prebuilt schedules travel through the module graph (src/sdk/prebuilt.ts, made by rollup.config.mjs's
// prebuiltSchedules plugin, which vitest uses too): every schedules/<id>.json and nothing else.
import { readdirSync, readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { PREBUILT_SCHEDULES, prebuiltSchedule } from '../../src/sdk/prebuilt.js';

const folder = new URL('../../schedules/', import.meta.url);

test('the catalogue is the folder: each schedules/<id>.json (no .calib.json), with its content', async () => {
  const files = readdirSync(folder).filter((f) => f.endsWith('.json') && !f.endsWith('.calib.json')).map((f) => f.slice(0, -5)).sort();
  expect(files.length).toBeGreaterThan(0);
  expect([...PREBUILT_SCHEDULES].sort()).toEqual(files);
  for (const id of files) {
    expect(await prebuiltSchedule(id), id).toEqual(JSON.parse(readFileSync(new URL(`${id}.json`, folder), 'utf8')));
  }
});

test('an unknown id, an inherited property or a calibration file is not a schedule', async () => {
  for (const id of ['nope', '__proto__', 'constructor', 'toString', 'stories260K.calib', 'stories260K.json']) {
    expect(await prebuiltSchedule(id), id).toBeNull();
  }
});
