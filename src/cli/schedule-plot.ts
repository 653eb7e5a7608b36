// The SVG written next to a schedule by `was-edge schedule`: per-block sparsity of every was-bo
// level against its uniform target, and each search's trace (loss over the uniform start's).
// Hand-written SVG: two panels of lines and dots need no plotting dependency.

import type { Schedule, ScheduleLevel } from '../sparsity/schedule.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const W = 760;
const PANEL_H = 260;
const M = { left: 56, right: 210, top: 34, bottom: 40 };

const fmt = (x: number, d = 3) => Number(x.toFixed(d)).toString();
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Panel {
  y0: number;
  /** data → pixel */
  x: (v: number) => number;
  y: (v: number) => number;
}

function axes(out: string[], p: Panel, title: string, xTicks: number[], yTicks: number[], xLabel: string, yLabel: string): void {
  const [x0, x1] = [M.left, W - M.right];
  const [top, bottom] = [p.y0 + M.top, p.y0 + PANEL_H - M.bottom];
  out.push(`<text x="${x0}" y="${p.y0 + 20}" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0}" y="${top}" width="${x1 - x0}" height="${bottom - top}" fill="none" stroke="#999"/>`);
  for (const t of yTicks) {
    const y = p.y(t);
    out.push(`<line x1="${x0}" x2="${x1}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${fmt(t, 2)}</text>`);
  }
  for (const t of xTicks) out.push(`<text x="${p.x(t)}" y="${bottom + 16}" text-anchor="middle">${fmt(t, 0)}</text>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${bottom + 32}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
}

function ticks(lo: number, hi: number, n: number): number[] {
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

/** Both panels for the was-bo levels of `schedule` (with their uniform was-greedy twins when present). */
export function schedulePlot(schedule: Schedule): string {
  const bo = schedule.levels.filter((l): l is ScheduleLevel & { search: NonNullable<ScheduleLevel['search']> } => l.method === 'was-bo' && !!l.search);
  const L = schedule.model.nLayers;
  const out: string[] = [];
  const H = 2 * PANEL_H + 10;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  const inner = (y0: number, x: [number, number], y: [number, number]): Panel => ({
    y0,
    x: (v) => M.left + ((v - x[0]) / (x[1] - x[0] || 1)) * (W - M.left - M.right),
    y: (v) => y0 + PANEL_H - M.bottom - ((v - y[0]) / (y[1] - y[0] || 1)) * (PANEL_H - M.top - M.bottom),
  });

  // 1. Block sparsity per layer: was-bo solid with dots, the uniform target dashed.
  const sp = inner(0, [-0.5, L - 0.5], [0, 1]);
  axes(out, sp, `${schedule.model.id}: per-block sparsity (was-bo solid, uniform dashed)`,
    Array.from({ length: L }, (_, l) => l), ticks(0, 1, 5), 'block', 'sparsity');
  bo.forEach((level, i) => {
    const c = COLORS[i % COLORS.length]!;
    out.push(`<line x1="${sp.x(-0.5)}" x2="${sp.x(L - 0.5)}" y1="${sp.y(level.target)}" y2="${sp.y(level.target)}" stroke="${c}" stroke-dasharray="4 3"/>`);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${level.blocks.map((s, l) => `${sp.x(l)},${sp.y(s)}`).join(' ')}"/>`);
    for (const [l, s] of level.blocks.entries()) out.push(`<circle cx="${sp.x(l)}" cy="${sp.y(s)}" r="2.5" fill="${c}"><title>block ${l}: ${fmt(s)}</title></circle>`);
  });

  // 2. Trace: every evaluation's loss over the uniform start's (dots) and the best so far (line).
  const budget = Math.max(2, ...bo.map((l) => l.search.trace.length));
  const ratios = bo.map((l) => l.search.trace.map((y) => y / l.search.trace[0]!));
  const yMax = 1.5;
  const yMin = Math.min(0.9, ...ratios.flat().map((r) => Math.floor(r * 10) / 10));
  const tp = inner(PANEL_H + 10, [1, budget], [yMin, yMax]);
  const step = Math.ceil((budget - 1) / 8);
  axes(out, tp, 'search trace: loss ÷ uniform schedule\'s loss (dots; best so far: line)',
    Array.from({ length: Math.floor((budget - 1) / step) + 1 }, (_, i) => 1 + i * step),
    ticks(yMin, yMax, Math.round((yMax - yMin) * 10)), 'evaluation', `${bo[0]?.lossKind ?? 'loss'} ratio`);
  const one = tp.y(1);
  out.push(`<line x1="${tp.x(1)}" x2="${tp.x(budget)}" y1="${one}" y2="${one}" stroke="#666" stroke-dasharray="2 2"/>`);
  bo.forEach((level, i) => {
    const c = COLORS[i % COLORS.length]!;
    const r = ratios[i]!;
    let best = Infinity;
    const line = r.map((v, e) => { best = Math.min(best, v); return `${tp.x(e + 1)},${tp.y(best)}`; });
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.5" points="${line.join(' ')}"/>`);
    for (const [e, v] of r.entries()) {
      const clipped = Math.min(v, yMax);
      out.push(`<circle cx="${tp.x(e + 1)}" cy="${tp.y(clipped)}" r="2" fill="${c}" fill-opacity="${v > yMax ? 0.3 : 0.7}"><title>evaluation ${e + 1}: ${fmt(level.search.trace[e]!, 5)}</title></circle>`);
    }
  });

  // Legend: one row per target with the loss it went from and to.
  bo.forEach((level, i) => {
    const c = COLORS[i % COLORS.length]!;
    const y = M.top + 14 + i * 30;
    const u = level.search.trace[0]!;
    const gain = 100 * (level.calibrationLoss! / u - 1);
    out.push(`<rect x="${W - M.right + 12}" y="${y - 9}" width="10" height="10" fill="${c}"/>`);
    out.push(`<text x="${W - M.right + 28}" y="${y}">target ${fmt(level.target, 2)}: ${fmt(u, 4)} → ${fmt(level.calibrationLoss!, 4)}</text>`);
    out.push(`<text x="${W - M.right + 28}" y="${y + 13}" fill="#555">${gain.toFixed(1)} %, skipped ${(100 * level.skippedWeightFraction).toFixed(1)} %</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
