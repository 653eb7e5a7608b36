// The package's prebuilt schedules (schedules/<model-id>.json) reached through the module graph:
// rollup.config.mjs's `prebuiltSchedules` plugin makes the catalogue, one lazily imported module per
// file, so a consumer's bundler (Vite, webpack, rollup) carries them along with the worker and no
// folder has to be served beside it.
import catalogue from 'virtual:was-edge-schedules';

/** The prebuilt schedule JSON of this model id, or null when the package has none. */
export async function prebuiltSchedule(name: string): Promise<unknown> {
  const load = Object.hasOwn(catalogue, name) ? catalogue[name] : undefined;
  return load ? load() : null;
}

/** The model ids the package ships schedules for. */
export const PREBUILT_SCHEDULES: readonly string[] = Object.keys(catalogue);
