// The demo page: load a model in the engine's worker, list its schedules, stream text with a Stop
// button, and show tokens/s and the measured skipped-weight fraction.
// The chat view lives in chat.js and shares the engine, the schedule picker and the sampling fields;
// the "Calibrate this model" panel lives in calibrate.js and adds its schedule to the picker.
// Query parameters (for links and tests): ?model=URL&backend=auto|webgpu|cpu|reference
// &schedule=name@level[@method]&prompt=TEXT&maxTokens=N&template=chatml|llama3|llama2&autorun=1 (load
// and generate once; the outcome lands in window.__result). Worker text is only ever put on the page
// as text (textContent).
import { createEngine } from '../dist/index.js';
import { setupCalibrate } from './calibrate.js';
import { setupChat } from './chat.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const key of ['model', 'backend', 'prompt', 'maxTokens', 'temperature', 'template']) if (params.has(key)) $(key).value = params.get(key);

let engine = null;
let engineBackend = null;
/** The model the engine holds (a failed load leaves the previous one loaded), or null. */
let loaded = null;
let controller = null;
/** The name of the loaded model's schedule calibrated on this page, or null. */
let calibratedName = null;

// The models the server offers (demo/serve.mjs lists its folder), as suggestions for the URL field.
const modelList = fetch('../models/index.json').then((r) => (r.ok ? r.json() : []), () => []).then((files) => {
  const list = $('models');
  for (const f of files) list.append(new Option(f, `../models/${f}`));
  if (!params.has('model') && files.length && !files.some((f) => `../models/${f}` === $('model').value)) $('model').value = `../models/${files[0]}`;
  return files;
});
window.__models = modelList;

const QUALITY = { close: 'close to dense', noticeable: 'noticeably different', degraded: 'degraded' };

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function describe(e) {
  return `${e?.name ?? 'Error'}${e?.code ? ` [${e.code}]` : ''}: ${e?.message ?? String(e)}`;
}

/**
 * The schedule picker for `info` (a level per target and method, its quality cost in words), or dense
 * only. The levels of schedule `calibrated` (made on this page) are grouped under a heading saying so.
 */
function showSchedules(info, calibrated = null) {
  const select = $('schedule');
  select.replaceChildren(new Option('dense', 'dense'));
  for (const s of info?.schedules ?? []) {
    const group = s.name === calibrated ? Object.assign(document.createElement('optgroup'), { label: `${s.name}, calibrated on this page` }) : select;
    if (group !== select) select.append(group);
    // The least sparse 'degraded' level is where text visibly suffers; the most sparse 'close' one is the recommendation.
    const close = s.levels.filter((l) => l.quality === 'close' && l.method === 'was-bo').map((l) => l.target);
    const recommended = close.length ? Math.max(...close) : null;
    for (const l of s.levels) {
      const kl = l.calibrationLoss === null ? '' : `, KL ${l.calibrationLoss.toFixed(2)}`;
      const words = l.quality ? ` — ${QUALITY[l.quality]}` : '';
      const mark = l.target === recommended && l.method === 'was-bo' ? ' (recommended)' : '';
      const label = `${s.name} ${Math.round(l.target * 100)}% ${l.method} (skips ${(100 * l.skippedWeightFraction).toFixed(0)}%${kl})${words}${mark}`;
      group.append(new Option(label, `${s.name}@${l.target}@${l.method}`));
    }
  }
}

/** The picker's schedule and the sampling fields, as generate() and chat() take them. */
function generateOptions() {
  const value = $('schedule').value;
  const [name, level, method] = value.split('@');
  const schedule = value === 'dense' ? 'dense' : { name, level: Number(level), method };
  return { maxTokens: Number($('maxTokens').value), temperature: Number($('temperature').value), seed: 1, schedule };
}

const chat = setupChat({ engine: () => (loaded ? engine : null), options: generateOptions });

/** A schedule calibrated on this page replaces the one of its name: the picker shows it, at its recommended level. */
function calibrated(schedules, schedule) {
  const name = schedule.model.id;
  loaded.schedules = schedules;
  calibratedName = name;
  showSchedules(loaded, name);
  $('schedule').value = recommendedValue(schedules.find((s) => s.name === name));
}

/** The picker value of `s`'s recommended level (its sparsest 'close' one), else of its least sparse target; each at the method its validation chose. */
function recommendedValue(s) {
  const defaults = s.levels.filter((l) => l.default);
  const close = defaults.filter((l) => l.quality === 'close');
  const pick = (close.length ? close : defaults).reduce((a, b) => ((close.length ? b.target > a.target : b.target < a.target) ? b : a));
  return `${s.name}@${pick.target}@${pick.method}`;
}

const calibration = setupCalibrate({ engine: () => (loaded ? engine : null), onSchedule: calibrated });

async function load() {
  $('load').disabled = true;
  $('generate').disabled = true;
  $('send').disabled = true;
  $('calibrate').disabled = true;
  const backend = $('backend').value;
  if (engine && engineBackend !== backend) {
    await engine.dispose();
    engine = null;
    loaded = null;
  }
  engine ??= createEngine({ backend });
  engineBackend = backend;
  status('loading…');
  try {
    const info = await engine.load($('model').value, {
      onProgress: (p) => {
        if (p.total) $('progress').value = p.loaded / p.total;
        status(p.phase === 'prepare' ? 'preparing…' : `${p.phase} ${(p.loaded / 1e6).toFixed(1)} MB`);
      },
    });
    loaded = info;
    calibratedName = null;
    $('progress').value = 1;
    status(`${info.name} (${info.id ?? 'no id'}), ${(info.bytes / 1e6).toFixed(1)} MB, ${info.backend}: ${info.backendNote}${info.fromCache ? ', from cache' : ''}`);
    showSchedules(info);
    chat.reset();
    calibration.reset();
    $('output').replaceChildren();
    $('stats').textContent = '';
    if (params.has('schedule')) {
      const want = params.get('schedule');
      const match = [...$('schedule').options].find((o) => o.value === want || o.value.startsWith(`${want}@was-bo`));
      if (match) $('schedule').value = match.value;
    }
    return info;
  } catch (e) {
    // The engine keeps the previous model after a failed load: it stays usable, and the page says so.
    $('progress').value = 0;
    status(`${describe(e)}${loaded ? ` — still loaded: ${loaded.name}` : ''}`, true);
    showSchedules(loaded, calibratedName);
    if (!loaded) {
      $('output').replaceChildren();
      $('stats').textContent = '';
    }
    throw e;
  } finally {
    $('load').disabled = false;
    $('generate').disabled = !loaded;
    $('send').disabled = !loaded;
    $('calibrate').disabled = !loaded;
  }
}

async function generate() {
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
  const stream = engine.generate(prompt, { ...generateOptions(), signal: controller.signal });
  try {
    for await (const piece of stream) out.append(piece);
    const r = await stream.result;
    const skipped = r.skippedWeightFraction === null ? 'not measured' : `${(100 * r.skippedWeightFraction).toFixed(1)}%`;
    const bold = (text) => Object.assign(document.createElement('b'), { textContent: text });
    const label = r.schedule === 'dense' ? 'dense' : `${r.schedule.name} at ${r.schedule.level} (${r.schedule.method})`;
    $('stats').className = '';
    $('stats').replaceChildren(bold(r.tokensPerSecond.toFixed(1)), ' tokens/s · skipped weights ', bold(skipped),
      ` · ${r.tokenIds.length} tokens · ${r.finishReason} · ${r.backend}, ${label}`);
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
    await modelList;
    const info = await load();
    const r = await generate();
    return { model: info.id, backend: info.backend, schedule: r.schedule, tokens: r.tokenIds.length, skippedWeightFraction: r.skippedWeightFraction, text: r.text };
  })().then(
    (result) => { window.__result = result; },
    (e) => { window.__error = { name: e?.name ?? 'Error', code: e?.code, message: e?.message ?? String(e) }; },
  );
}
