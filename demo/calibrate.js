// The demo's "Calibrate this model" panel: engine.calibrate(text) then engine.searchSchedule() on the
// loaded model, one progress bar over both (record, greedy, dense pass, evaluations, validation), Stop
// (AbortController: the engine stays usable and its schedules unchanged), then the new schedule in
// the picker, a summary per target and its JSON as a download. Text reaches the page only as text.

const $ = (id) => document.getElementById(id);

/** A .txt bigger than this is refused: the text area would hold it all. */
const MAX_FILE_BYTES = 8 << 20;

/** Each phase's share of the bar: recording dominates on small models (measured on stories260K). */
const SHARE = { record: 0.45, greedy: 0.15, dense: 0.05, search: 0.3, validation: 0.05 };
const START = (() => {
  let at = 0;
  return Object.fromEntries(Object.entries(SHARE).map(([k, w]) => [k, (at += w) - w]));
})();

function describe(e) {
  if (e instanceof RangeError) return e.message; // the page's own check of its fields
  return `${e?.name ?? 'Error'}${e?.code ? ` [${e.code}]` : ''}: ${e?.message ?? String(e)}`;
}

/** What a progress report of calibrate() or searchSchedule() is doing, in words. */
function phaseText(p) {
  switch (p.phase) {
    case 'record': return `recording scores: chunk ${p.done} of ${p.total}`;
    case 'greedy': return `greedy splits: layer ${p.done} of ${p.total}`;
    case 'dense': return p.done ? `dense pass: ${p.tokens} tokens` : `dense pass: ${p.chunks} chunks of ${p.ctx}`;
    case 'search': return `evaluation ${p.done} of ${p.total} (target ${p.target}: KL ${p.loss.toFixed(3)}, best ${p.best.toFixed(3)}, uniform ${p.uniform.toFixed(3)})`;
    case 'validation': return `validation: target ${p.done} of ${p.total}`;
    default: return p.phase;
  }
}

/** The panel's fields as calibrate() and searchSchedule() take them; a field that is not a number throws. */
function readOptions() {
  const int = (id) => {
    const v = Number($(id).value);
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${$(id).dataset.name} must be a whole number of at least 1, got "${$(id).value}".`);
    return v;
  };
  const tokens = int('calTokens');
  const ctx = int('calCtx');
  const targets = $('calTargets').value.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!targets.length || targets.some((t) => !Number.isFinite(t))) throw new RangeError(`targets must be numbers separated by commas, e.g. 0.4, 0.5; got "${$('calTargets').value}".`);
  // Validation on half as many held-out tokens again: the text needs about 1.5 × tokens.
  const validationTokens = Math.max(ctx, Math.round(tokens / 2));
  return {
    calibrate: { tokens, ctx, greedyTokens: Math.min(64, tokens) },
    search: { targets, budget: int('calBudget'), seed: 1, tokens, validationTokens, ctx },
  };
}

function cell(tag, text) {
  return Object.assign(document.createElement(tag), { textContent: text });
}

/** Per target: the uniform (was-greedy) and was-bo KL to dense and skipped fraction on held-out tokens, and the default method. */
function showSummary(schedule) {
  const v = schedule.validation;
  const rows = v
    ? v.targets.map((t) => [t.target, t.wasGreedy.loss, t.wasBo.loss, t.wasBo.skipped, t.default])
    : [...new Set(schedule.levels.map((l) => l.target))].map((target) => {
      const at = (m) => schedule.levels.find((l) => l.target === target && l.method === m);
      return [target, at('was-greedy')?.calibrationLoss ?? null, at('was-bo')?.calibrationLoss ?? null, at('was-bo')?.skippedWeightFraction ?? null, at('was-bo') ? 'was-bo' : 'was-greedy'];
    });
  const kl = (x) => (x === null ? '—' : x.toFixed(3));
  const head = document.createElement('tr');
  head.append(...['target', 'uniform KL', 'was-bo KL', 'was-bo skips', 'default'].map((t) => cell('th', t)));
  const body = rows.map(([target, uniform, bo, skipped, method]) => {
    const tr = document.createElement('tr');
    tr.append(cell('td', String(target)), cell('td', kl(uniform)), cell('td', kl(bo)),
      cell('td', skipped === null ? '—' : `${(100 * skipped).toFixed(1)}%`), cell('td', method));
    return tr;
  });
  const where = v ? `KL to dense per token on ${v.tokens} held-out tokens` : 'KL to dense per token on the search tokens';
  $('calSummary').replaceChildren(cell('caption', `${schedule.model.id}: ${where}, ${schedule.calibration.tokens} search tokens`), head, ...body);
  $('calSummary').hidden = false;
}

/**
 * Wires the panel. `engine()` is the engine holding the loaded model (null before a load);
 * `onSchedule(schedules, schedule)` puts the engine's schedules, the new one among them, in the picker.
 */
export function setupCalibrate({ engine, onSchedule }) {
  let controller = null;
  let downloadUrl = null;

  // The default text, served next to the page (short stories written for this demo in the style of
  // stories260K's training text, not taken from it); a file or typing replaces it.
  const defaultText = fetch('./calibration.txt').then((r) => (r.ok ? r.text() : ''), () => '').then((text) => {
    if (!$('calText').value) $('calText').value = text;
  });

  function phase(text, isError = false) {
    $('calPhase').textContent = text;
    $('calPhase').className = isError ? 'error' : '';
  }

  /** Forgets the last result (a new model was loaded: its schedule would not fit). */
  function reset() {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = null;
    $('calDownload').hidden = true;
    $('calDownload').removeAttribute('href');
    $('calSummary').hidden = true;
    $('calSummary').replaceChildren();
    $('calProgress').value = 0;
    phase('');
  }

  function offerDownload(schedule) {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([JSON.stringify(schedule, null, 2) + '\n'], { type: 'application/json' }));
    const a = $('calDownload');
    a.href = downloadUrl;
    a.download = `${schedule.model.id}.json`;
    a.textContent = `Download schedule JSON (${schedule.model.id}.json)`;
    a.hidden = false;
  }

  async function run() {
    const e = engine();
    if (!e) return null;
    let options;
    try {
      options = readOptions();
    } catch (err) {
      phase(err.message, true);
      return null;
    }
    const text = $('calText').value;
    controller = new AbortController();
    const { signal } = controller;
    reset();
    $('calibrate').disabled = true;
    $('calStop').disabled = false;
    $('load').disabled = true; // a load while this runs would take the schedule's model away
    const report = (p) => {
      $('calProgress').value = START[p.phase] + SHARE[p.phase] * (p.total ? p.done / p.total : 0);
      phase(phaseText(p));
    };
    try {
      phase('starting…');
      // Said before calibrating (minutes on a large model), not by the search after it.
      const { tokens, validationTokens, ctx } = options.search;
      const need = (Math.ceil(tokens / ctx) + Math.ceil(validationTokens / ctx)) * ctx;
      const have = (await e.tokenize(text)).length + 1; // + BOS
      if (have < need) {
        throw new RangeError(`the text has ${have} tokens; ${tokens} to calibrate and search on and ${validationTokens} held out need ${need} in chunks of ${ctx}: use a longer text or fewer tokens.`);
      }
      await e.calibrate(text, { ...options.calibrate, signal, onProgress: report });
      const schedule = await e.searchSchedule({ ...options.search, signal, onProgress: report });
      $('calProgress').value = 1;
      onSchedule(await e.schedules(), schedule);
      showSummary(schedule);
      offerDownload(schedule);
      phase(`done: ${schedule.model.id}, ${schedule.levels.length} levels, now in the schedule picker`);
      return schedule;
    } catch (err) {
      $('calProgress').value = 0;
      if (err?.code === 'ABORTED') phase('stopped: the model and its schedules are as they were');
      else phase(describe(err), true);
      throw err;
    } finally {
      controller = null;
      $('calibrate').disabled = !engine();
      $('calStop').disabled = true;
      $('load').disabled = false;
    }
  }

  $('calFile').addEventListener('change', async () => {
    const file = $('calFile').files?.[0];
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) return phase(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; pick a text under ${MAX_FILE_BYTES >> 20} MB.`, true);
    try {
      $('calText').value = await file.text();
      phase(`${file.name}: ${$('calText').value.length} characters`);
    } catch (err) {
      phase(describe(err), true);
    }
  });
  $('calibrate').addEventListener('click', () => void run().catch(() => undefined));
  $('calStop').addEventListener('click', () => controller?.abort());
  return { reset, run, defaultText };
}
