// Uses the public API as documented: createEngine with its own bundled worker, load with progress,
// list schedules, stream a dense and a scheduled generation, catch a typed error.
import { createEngine, ScheduleError, type GenerationResult, type LoadProgress, type ScheduleSelection } from 'was-edge';

interface PageResult {
  progress: LoadProgress[];
  schedules: string[];
  dense: GenerationResult;
  streamed: string;
  sparse: GenerationResult;
  errorCode: string;
}

async function main(): Promise<PageResult> {
  const params = new URLSearchParams(location.search);
  const engine = createEngine({
    worker: new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module' }),
    backend: 'reference',
  });
  const progress: LoadProgress[] = [];
  const info = await engine.load(params.get('model') ?? '', { onProgress: (p) => progress.push(p), cache: false });

  const stream = engine.generate('Once upon a time', { maxTokens: 32 });
  let streamed = '';
  for await (const piece of stream) streamed += piece;
  const dense = await stream.result;

  const schedule: ScheduleSelection = { name: info.schedules[0]?.name ?? 'none', level: 0.5 };
  const sparse = await engine.generate('Once upon a time', { maxTokens: 16, schedule }).result;

  let errorCode = '';
  try {
    await engine.generate('Once upon a time', { schedule: { name: 'stories260K', level: 0.55 } }).result;
  } catch (e) {
    if (e instanceof ScheduleError) errorCode = e.code;
  }
  // @ts-expect-error maxTokens is a number: the published types say so
  void engine.generate('x', { maxTokens: '3' });
  await engine.dispose();
  return { progress, schedules: info.schedules.map((s) => s.name), dense, streamed, sparse, errorCode };
}

const w = window as unknown as { __result?: PageResult; __error?: { name: string; code?: string; message: string } };
main().then(
  (r) => { w.__result = r; },
  (e: unknown) => {
    const err = e as { name?: string; code?: string; message?: string };
    w.__error = { name: err.name ?? 'Error', ...(err.code !== undefined && { code: err.code }), message: err.message ?? String(e) };
  },
);
