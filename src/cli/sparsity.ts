// What a CLI run's sparsity flags ask for: --mode/--sparsity/--calibration (a calibration file's
// modes) or --schedule/--level/--method (a schedule, through the same resolveSchedule as the SDK).

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CalibrationError, OptionError, ScheduleError } from '../errors.js';
import type { Model } from '../model/model.js';
import { projectionNorms, type ProjectionNorms, type Thresholds } from '../model/projections.js';
import { buildTau, checkSparsity, parseCalibration, type Calibration } from '../sparsity/plan.js';
import { resolveSchedule, SCHEDULE_NAME, type ScheduleLabel } from '../sparsity/resolve.js';
import { parseSchedule, SCHEDULE_METHODS, scheduleTargets, type Schedule, type ScheduleMethod } from '../sparsity/schedule.js';
import { numOption, sha256Of, usage } from './args.js';

export const SPARSITY_OPTIONS = {
  mode: { type: 'string' }, sparsity: { type: 'string' }, calibration: { type: 'string' }, prefill: { type: 'string' },
  schedule: { type: 'string' }, level: { type: 'string' }, method: { type: 'string' },
} as const;

export interface SparsityArgs {
  mode?: string;
  sparsity?: string;
  calibration?: string;
  schedule?: string;
  level?: string;
  method?: string;
}

/** The thresholds of a run (null: dense) and the schedule level they came from. */
export interface Sparsity {
  thresholds: Thresholds | null;
  schedule?: Exclude<ScheduleLabel, 'dense'>;
}

/** A file of the package's schedules/ folder (dist/cli.js and src/cli/*.ts sit one and two folders below the root). */
export function packageSchedulePath(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '..', 'schedules', name), resolve(here, '..', '..', 'schedules', name)];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/** Default calibration file of a model: schedules/<GGUF file name without .gguf>.calib.json. */
export function defaultCalibrationPath(modelPath: string): string {
  return packageSchedulePath(`${basename(modelPath).replace(/\.gguf$/i, '')}.calib.json`);
}

export function readCalibration(path: string, model: Model, modelPath: string): Calibration {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CalibrationError('NO_CALIBRATION',
      `cannot read the calibration file ${path} (${(e as Error).message}); make one with \`was-edge calibrate --model ${modelPath} --text TEXT --out FILE\` and pass --calibration FILE.`);
  }
  return parseCalibration(json, model.config);
}

export async function sparsityFor(model: Model, modelPath: string, v: SparsityArgs): Promise<Sparsity> {
  if (v.schedule !== undefined) return scheduleSparsity(model, modelPath, v.schedule, v);
  if (v.level !== undefined || v.method !== undefined) throw usage('--level and --method go with --schedule FILE|NAME.');
  const s = numOption('sparsity', v.sparsity);
  const mode = checkSparsity(v.mode ?? 'dense', s ?? (v.mode && v.mode !== 'dense' ? NaN : 0));
  if (mode === 'dense') return { thresholds: null };
  const cal = readCalibration(v.calibration ?? defaultCalibrationPath(modelPath), model, modelPath);
  return { thresholds: buildTau(cal, mode, s!, projectionNorms(model)) };
}

function readScheduleFile(path: string, ref: string, isName: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScheduleError('UNKNOWN_SCHEDULE', isName
      ? `no prebuilt schedule "${ref}" (${path}); the names are the model ids in the package's schedules/, or pass a schedule FILE.`
      : `cannot read the schedule file ${path} (${(e as Error).message}).`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ScheduleError('BAD_SCHEDULE', `${path} is not JSON: ${(e as Error).message}.`);
  }
}

/**
 * --schedule FILE|NAME: an existing path is a file; otherwise a name, the package's
 * schedules/NAME.json. The schedule must be made for this GGUF's bytes (SCHEDULE_MODEL_MISMATCH).
 */
async function scheduleSparsity(model: Model, modelPath: string, ref: string, v: SparsityArgs): Promise<Sparsity> {
  if (v.mode !== undefined || v.sparsity !== undefined || v.calibration !== undefined) {
    throw usage('--schedule replaces --mode/--sparsity/--calibration; give one or the other.');
  }
  const isName = !existsSync(ref) && SCHEDULE_NAME.test(ref) && !ref.endsWith('.json');
  const expect = { sha256: await sha256Of(modelPath), config: model.config };
  const schedule = parseSchedule(readScheduleFile(isName ? packageSchedulePath(`${ref}.json`) : ref, ref, isName), expect);
  const targets = scheduleTargets(schedule);
  if (v.level === undefined && targets.length !== 1) throw usage(`--schedule needs --level T; the schedule has levels ${targets.join(', ')}.`);
  if (v.method !== undefined && !(SCHEDULE_METHODS as readonly string[]).includes(v.method)) {
    throw new OptionError('--method', `must be one of ${SCHEDULE_METHODS.join(', ')}, got "${v.method}".`);
  }
  let norms: ProjectionNorms | null = null;
  const { label, thresholds } = await resolveSchedule(
    { schedule, level: v.level === undefined ? targets[0]! : numOption('level', v.level)!, ...(v.method ? { method: v.method as ScheduleMethod } : {}) },
    { expect, find: async (): Promise<Schedule> => schedule, norms: () => (norms ??= projectionNorms(model)) });
  return { thresholds, schedule: { ...(label as Exclude<ScheduleLabel, 'dense'>), name: ref } };
}
