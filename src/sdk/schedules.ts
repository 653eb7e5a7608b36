// The schedules of a loaded model: the prebuilt file of its id, the ones passed to load(), and what a
// name finds. Prebuilt files come through the module graph (./prebuilt.ts), or from a folder when the
// caller names one (`schedulesUrl`), read through the platform (fetch, or files in Node).

import { ScheduleError } from '../errors.js';
import type { LlamaConfig } from '../model/config.js';
import { SCHEDULE_NAME, unknownSchedule } from '../sparsity/resolve.js';
import { defaultMethod, parseSchedule, type Schedule } from '../sparsity/schedule.js';
import type { ScheduleInfo, ScheduleQuality } from './api.js';
import type { FileUrlReader, PathReader } from './loader.js';
import { prebuiltSchedule } from './prebuilt.js';

export interface ScheduleReaders {
  readPath?: PathReader;
  readFileUrl?: FileUrlReader;
}

/** Schedule JSON from a URL (fetch; `file:` through the platform) or a Node path. */
export async function fetchSchedule(where: URL | string, readers: ScheduleReaders): Promise<unknown> {
  let text: string;
  if (typeof where === 'string' || where.protocol === 'file:') {
    const bytes = typeof where === 'string' ? await readers.readPath?.(where, () => undefined) : await readers.readFileUrl?.(where);
    if (!bytes) throw new ScheduleError('UNKNOWN_SCHEDULE', `cannot read ${String(where)} here; pass the parsed schedule instead.`);
    text = new TextDecoder().decode(bytes);
  } else {
    const r = await fetch(where);
    if (r.status === 404) throw new ScheduleError('UNKNOWN_SCHEDULE', `no schedule at ${where.href} (HTTP 404).`);
    if (!r.ok) throw new ScheduleError('UNKNOWN_SCHEDULE', `GET ${where.href} answered HTTP ${r.status}.`);
    text = await r.text();
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ScheduleError('BAD_SCHEDULE', `${String(where)} is not JSON: ${(cause as Error).message}.`);
  }
}

/** `<name>.json` inside `folder`, or null when the name could reach outside it. */
export function scheduleFileUrl(folder: URL, name: string): URL | null {
  if (!SCHEDULE_NAME.test(name) || name.includes('..')) return null;
  const url = new URL(`${name}.json`, folder);
  return url.href.startsWith(folder.href) ? url : null;
}

/** The words for a level's mean KL to dense (ScheduleQuality's bands). */
export function scheduleQuality(loss: number | null, kind: string): ScheduleQuality | null {
  if (loss === null || kind !== 'mean-kl') return null;
  return loss <= 0.3 ? 'close' : loss <= 0.7 ? 'noticeable' : 'degraded';
}

/** The schedules a loaded model offers, by name, and how to find one more by name. */
export class ModelSchedules {
  readonly byName = new Map<string, Schedule>();

  /** `folder`: where prebuilt `<name>.json` files are; null: the package's own (module graph). */
  constructor(
    private readonly expect: { sha256: string; config: LlamaConfig },
    private readonly folder: URL | null,
    private readonly readers: ScheduleReaders,
    private readonly modelLabel: string,
  ) {}

  /** The prebuilt file of this model id, when the folder has one made for these bytes. */
  async addPrebuilt(id: string | null): Promise<void> {
    if (!id) return;
    const json = await this.prebuilt(id).catch(() => null);
    if (json === null) return;
    try {
      this.byName.set(id!, parseSchedule(json, this.expect));
    } catch {
      // made for another file of the same name: not offered
    }
  }

  /** A schedule given to load(): it must fit the model. */
  async add(source: { url: string } | { path: string } | { json: unknown }): Promise<void> {
    const json = 'json' in source ? source.json : await fetchSchedule('url' in source ? new URL(source.url) : source.path, this.readers);
    const parsed = parseSchedule(json, this.expect);
    this.byName.set(parsed.model.id, parsed);
  }

  /** A schedule made for this model here (engine.searchSchedule()): found by its id from now on, over any of that name. */
  register(schedule: Schedule): void {
    this.byName.set(schedule.model.id, parseSchedule(schedule, this.expect));
  }

  /** A known schedule, else a prebuilt file of that name in the folder (made for this model). */
  async find(name: string): Promise<Schedule> {
    const known = this.byName.get(name);
    if (known) return known;
    const unknown = unknownSchedule(name, this.modelLabel, [...this.byName.keys()]);
    const json = await this.prebuilt(name).catch(() => null);
    if (json === null) throw unknown;
    return parseSchedule(json, this.expect);
  }

  /** The JSON of prebuilt `name` (null: none), from the folder if one was given, else the package's. */
  private async prebuilt(name: string): Promise<unknown> {
    if (!this.folder) return SCHEDULE_NAME.test(name) ? prebuiltSchedule(name) : null;
    const url = scheduleFileUrl(this.folder, name);
    return url ? fetchSchedule(url, this.readers) : null;
  }

  info(): ScheduleInfo[] {
    return [...this.byName].map(([name, s]) => ({
      name,
      levels: s.levels.map((l) => ({
        target: l.target, method: l.method, default: defaultMethod(s, l.target) === l.method,
        skippedWeightFraction: l.skippedWeightFraction, calibrationLoss: l.calibrationLoss, lossKind: l.lossKind,
        quality: scheduleQuality(l.calibrationLoss, l.lossKind),
      })),
    }));
  }
}
