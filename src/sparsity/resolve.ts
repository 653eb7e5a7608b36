// From what a call asks for ('dense', a schedule by name, a schedule file) to the thresholds a backend
// runs: the one resolution the SDK's generate() and the CLI's --schedule share.

import { OptionError, ScheduleError } from '../errors.js';
import type { LlamaConfig } from '../model/config.js';
import type { ProjectionNorms, Thresholds } from '../model/projections.js';
import { parseSchedule, SCHEDULE_METHODS, scheduleLevel, scheduleTargets, scheduleTau, type Schedule, type ScheduleMethod } from './schedule.js';

/**
 * 'dense'; a schedule by name (one of the model's: prebuilt or registered at load) at a level; or a
 * schedule file's JSON at a level (which may be left out when the file has one). `method` picks the
 * level's was-bo or was-greedy entry; by default the one the file ships as the level's default.
 */
export type ScheduleSelection =
  | 'dense'
  | { name: string; level: number; method?: ScheduleMethod }
  | { schedule: Schedule; level?: number; method?: ScheduleMethod };

export type ScheduleLabel = 'dense' | { name: string; level: number; method: ScheduleMethod };

/** Where named schedules come from, and what a schedule must match. */
export interface ScheduleSource {
  /** The loaded model (sha256 of its bytes, its shape): a schedule of another is SCHEDULE_MODEL_MISMATCH. */
  expect: { sha256: string; config: LlamaConfig };
  /** The schedule of that name for this model, or a ScheduleError saying which names exist. */
  find(name: string): Promise<Schedule>;
  /** Column norms of the model's projections (computed once by the caller, on first use). */
  norms(): ProjectionNorms;
  /** Thresholds of named schedules already built, by name@level/method. */
  cache?: Map<string, Thresholds>;
}

export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function resolveSchedule(sel: ScheduleSelection | undefined, src: ScheduleSource): Promise<{ label: ScheduleLabel; thresholds: Thresholds | null }> {
  if (sel === undefined || sel === 'dense') return { label: 'dense', thresholds: null };
  const shape = "must be 'dense', { name, level } (a schedule from engine.schedules()) or { schedule, level } (a parsed schedule file)";
  if (typeof sel !== 'object' || sel === null) throw new OptionError('schedule', `${shape}, got ${JSON.stringify(sel)}.`);
  const method = sel.method;
  if (method !== undefined && !(SCHEDULE_METHODS as readonly unknown[]).includes(method)) {
    throw new OptionError('schedule.method', `must be one of ${SCHEDULE_METHODS.join(', ')}, got ${JSON.stringify(method)}.`);
  }
  let schedule: Schedule;
  let level = sel.level;
  if ('schedule' in sel) {
    schedule = parseSchedule(sel.schedule, src.expect);
    if (level === undefined) {
      const targets = scheduleTargets(schedule);
      if (targets.length !== 1) throw new OptionError('schedule.level', `is needed: the schedule has levels ${targets.join(', ')}.`);
      level = targets[0]!;
    }
  } else if ('name' in sel) {
    if (typeof sel.name !== 'string' || !SCHEDULE_NAME.test(sel.name)) {
      throw new OptionError('schedule.name', `must be a schedule name such as "stories260K", got ${JSON.stringify(sel.name)}.`);
    }
    schedule = await src.find(sel.name);
  } else {
    throw new OptionError('schedule', `${shape}.`);
  }
  if (typeof level !== 'number' || !(level >= 0 && level <= 1)) throw new OptionError('schedule.level', `must be a number in [0, 1], got ${JSON.stringify(level)}.`);
  const chosen = scheduleLevel(schedule, level, method); // SCHEDULE_LEVEL_MISSING before any work
  const label = { name: 'name' in sel ? sel.name : schedule.model.id, level: chosen.target, method: chosen.method };
  // A named schedule's thresholds are kept; a schedule object passed inline is new each call.
  const key = 'name' in sel ? `${sel.name}@${chosen.target}/${chosen.method}` : null;
  let thresholds = key ? src.cache?.get(key) : undefined;
  if (!thresholds) {
    thresholds = scheduleTau(schedule, chosen.target, src.norms(), chosen.method);
    if (key) src.cache?.set(key, thresholds);
  }
  return { label, thresholds };
}

/** The error for a name no source has. */
export function unknownSchedule(name: string, model: string, available: string[]): ScheduleError {
  return new ScheduleError('UNKNOWN_SCHEDULE', `no schedule "${name}" for the loaded model (${model}); ` +
    (available.length ? `available: ${available.join(', ')} (engine.schedules()).` : "none is available: pass one to load({ schedules }) or use 'dense'."));
}
