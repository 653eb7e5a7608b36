// Defaults only, as the README's first example: createEngine() (the package's worker, bundled by
// Vite), load by URL, a prebuilt schedule by name, typed errors checked with instanceof.
import { createEngine, ScheduleError, WasEdgeError } from 'was-edge';

async function main() {
  const model = new URLSearchParams(location.search).get('model') ?? '';
  const engine = createEngine();
  const info = await engine.load(model, { cache: false });
  const sparse = await engine.generate('Once upon a time', { maxTokens: 16, schedule: { name: 'stories260K', level: 0.5 } }).result;
  const greedy = await engine.generate('Once upon a time', { maxTokens: 16, schedule: { name: 'stories260K', level: 0.5, method: 'was-greedy' } }).result;
  const caught: { name: string; code: string; isScheduleError: boolean; isWasEdgeError: boolean }[] = [];
  for (const schedule of [{ name: 'stories260K', level: 0.55 }, { name: 'no-such-model', level: 0.5 }]) {
    try {
      await engine.generate('Once upon a time', { maxTokens: 4, schedule }).result;
    } catch (e) {
      const err = e as WasEdgeError;
      caught.push({ name: err.name, code: err.code, isScheduleError: e instanceof ScheduleError, isWasEdgeError: e instanceof WasEdgeError });
    }
  }
  await engine.dispose();
  return {
    backend: info.backend, backendNote: info.backendNote,
    schedules: info.schedules.map((s) => ({ name: s.name, targets: s.levels.map((l) => `${l.target}/${l.method}`) })),
    sparse: { schedule: sparse.schedule, skipped: sparse.skippedWeightFraction, tokens: sparse.tokenIds.length },
    greedy: { schedule: greedy.schedule, skipped: greedy.skippedWeightFraction },
    caught,
  };
}

const w = window as unknown as { __result?: unknown; __error?: { name: string; code?: string; message: string } };
main().then(
  (r) => { w.__result = r; },
  (e: unknown) => {
    const err = e as { name?: string; code?: string; message?: string };
    w.__error = { name: err.name ?? 'Error', ...(err.code !== undefined && { code: err.code }), message: err.message ?? String(e) };
  },
);
