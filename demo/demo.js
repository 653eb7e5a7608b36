// The demo page: load a model in the engine's worker, list its schedules, stream text with a Stop
// button, and show tokens/s and the measured skipped-weight fraction.
// Query parameters (for links and tests): ?model=URL&backend=auto|webgpu|cpu|reference&schedule=name@level
// &prompt=TEXT&maxTokens=N&autorun=1 (load and generate once; the outcome lands in window.__result).
import { createEngine } from '../dist/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const key of ['model', 'backend', 'prompt', 'maxTokens', 'temperature']) if (params.has(key)) $(key).value = params.get(key);

let engine = null;
let controller = null;

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function describe(e) {
  return `${e?.name ?? 'Error'}${e?.code ? ` [${e.code}]` : ''}: ${e?.message ?? String(e)}`;
}

async function load() {
  $('load').disabled = true;
  $('generate').disabled = true;
  await engine?.dispose();
  engine = createEngine({ backend: $('backend').value });
  status('loading…');
  try {
    const info = await engine.load($('model').value, {
      onProgress: (p) => {
        if (p.total) $('progress').value = p.loaded / p.total;
        status(p.phase === 'prepare' ? 'preparing…' : `${p.phase} ${(p.loaded / 1e6).toFixed(1)} MB`);
      },
    });
    $('progress').value = 1;
    status(`${info.name} (${info.id ?? 'no id'}), ${(info.bytes / 1e6).toFixed(1)} MB, ${info.backend}${info.fromCache ? ', from cache' : ''}`);
    const select = $('schedule');
    select.replaceChildren(new Option('dense', 'dense'));
    for (const s of info.schedules) {
      for (const l of s.levels) {
        const label = `${s.name} ${Math.round(l.target * 100)}% (${l.method}, skips ${(100 * l.skippedWeightFraction).toFixed(0)}%)`;
        select.add(new Option(label, `${s.name}@${l.target}`));
      }
    }
    if (params.has('schedule')) select.value = params.get('schedule');
    $('generate').disabled = false;
    return info;
  } catch (e) {
    status(describe(e), true);
    throw e;
  } finally {
    $('load').disabled = false;
  }
}

async function generate() {
  const value = $('schedule').value;
  const at = value.lastIndexOf('@');
  const schedule = value === 'dense' ? 'dense' : { name: value.slice(0, at), level: Number(value.slice(at + 1)) };
  const prompt = $('prompt').value;
  controller = new AbortController();
  $('generate').disabled = true;
  $('stop').disabled = false;
  const out = $('output');
  const shown = document.createElement('span');
  shown.className = 'prompt';
  shown.textContent = prompt;
  out.replaceChildren(shown);
  $('stats').textContent = '';
  const stream = engine.generate(prompt, {
    maxTokens: Number($('maxTokens').value), temperature: Number($('temperature').value), seed: 1, schedule, signal: controller.signal,
  });
  try {
    for await (const piece of stream) out.append(piece);
    const r = await stream.result;
    const skipped = r.skippedWeightFraction === null ? 'not measured' : `${(100 * r.skippedWeightFraction).toFixed(1)}%`;
    $('stats').innerHTML = `<b>${r.tokensPerSecond.toFixed(1)}</b> tokens/s · skipped weights <b>${skipped}</b> · ` +
      `${r.tokenIds.length} tokens · ${r.finishReason} · ${r.backend}, ${value === 'dense' ? 'dense' : value.replace('@', ' at ')}`;
    return r;
  } catch (e) {
    $('stats').textContent = e?.code === 'ABORTED' ? 'stopped' : describe(e);
    if (e?.code !== 'ABORTED') $('stats').className = 'error';
    throw e;
  } finally {
    $('generate').disabled = false;
    $('stop').disabled = true;
  }
}

$('load').addEventListener('click', () => void load().catch(() => undefined));
$('generate').addEventListener('click', () => void generate().catch(() => undefined));
$('stop').addEventListener('click', () => controller?.abort());

if (params.get('autorun') === '1') {
  (async () => {
    const info = await load();
    const r = await generate();
    return { model: info.id, schedule: r.schedule, tokens: r.tokenIds.length, skippedWeightFraction: r.skippedWeightFraction, text: r.text };
  })().then(
    (result) => { window.__result = result; },
    (e) => { window.__error = { name: e?.name ?? 'Error', code: e?.code, message: e?.message ?? String(e) }; },
  );
}
