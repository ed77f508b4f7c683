/**
 * The console's charts as SVG: one panel per metric (its line drawn min/max per pixel column, flagged samples
 * shaded, diagnoses marked, a crosshair to move) and the time axis under them. Built with attributes and
 * textContent only.
 */
import { decimate, extent, flaggedSpans, formatValue, niceTicks, valueRange, type Series } from './chart.ts';

const SVG = 'http://www.w3.org/2000/svg';

/** A diagnosis as a panel marks it. */
export interface Mark {
  fault: string;
  severity: string;
  status: string;
  raisedAt: string;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

const PANEL_H = 110;
/** Margins around each panel's plot (px): the value labels on the left, the title on top. */
export const M = { left: 64, right: 12, top: 18, bottom: 6 };

export interface Panel {
  metric: string;
  series: Series;
  svg: SVGSVGElement;
  cross: SVGLineElement;
}

export function drawPanel(metric: string, unit: string, s: Series, t0: number, t1: number, width: number, flags: Series | null, marks: readonly Mark[], gapMs: number): Panel {
  // gapMs: a line breaks, and a flagged sample's shading ends, where samples are further apart than this
  const w = width - M.left - M.right;
  const h = PANEL_H - M.top - M.bottom;
  const root = svg('svg', { width, height: PANEL_H, class: 'panel', 'data-metric': metric, role: 'img', 'aria-label': `${metric} over time` });
  const title = svg('text', { x: M.left, y: 12, class: 'title' });
  title.textContent = unit ? `${metric} (${unit})` : metric;
  root.append(title);
  const plot = svg('g', { transform: `translate(${M.left},${M.top})` });
  root.append(plot);
  plot.append(svg('rect', { x: 0, y: 0, width: w, height: h, class: 'frame' }));
  if (flags) for (const [a, b] of flaggedSpans(flags, t0, t1, w, gapMs)) plot.append(svg('rect', { x: a, y: 0, width: b - a, height: h, class: 'anomaly-span' }));
  const [lo, hi] = valueRange(extent(s) ?? [0, 1]);
  const y = (v: number) => h - ((v - lo) / (hi - lo)) * h;
  for (const tick of niceTicks(lo, hi, 3)) {
    plot.append(svg('line', { x1: 0, x2: w, y1: y(tick), y2: y(tick), class: 'grid' }));
    const label = svg('text', { x: -6, y: y(tick) + 4, class: 'tick', 'text-anchor': 'end' });
    label.textContent = formatValue(tick);
    plot.append(label);
  }
  for (const d of marks) {
    const at = Date.parse(d.raisedAt);
    if (at < t0 || at >= t1) continue;
    const x = ((at - t0) / (t1 - t0)) * w;
    const line = svg('line', { x1: x, x2: x, y1: 0, y2: h, class: 'diagnosis-marker', 'data-fault': d.fault });
    const tip = svg('title');
    tip.textContent = `${d.fault} (${d.severity}, ${d.status}) raised ${d.raisedAt}`;
    line.append(tip);
    plot.append(line);
  }
  for (const seg of decimate(s, t0, t1, w, gapMs)) {
    const d = seg.map(([x, v], i) => `${i ? 'L' : 'M'}${x.toFixed(1)},${y(v).toFixed(1)}`).join('');
    plot.append(svg('path', { d: seg.length === 1 ? `${d}h1` : d, class: 'series', 'data-points': seg.length }));
  }
  const cross = svg('line', { x1: 0, x2: 0, y1: 0, y2: h, class: 'crosshair', visibility: 'hidden' });
  plot.append(cross);
  return { metric, series: s, svg: root, cross };
}

export function timeAxis(t0: number, t1: number, width: number): SVGSVGElement {
  const w = width - M.left - M.right;
  const root = svg('svg', { width, height: 22, class: 'time-axis' });
  const n = Math.max(2, Math.floor(w / 180));
  for (let i = 0; i <= n; i++) {
    const t = t0 + ((t1 - t0) * i) / n;
    const label = svg('text', { x: M.left + (w * i) / n, y: 14, class: 'tick', 'text-anchor': i === 0 ? 'start' : i === n ? 'end' : 'middle' });
    label.textContent = new Date(t).toISOString().replace('T', ' ').replace(/\.000Z$|Z$/, '');
    root.append(label);
  }
  return root;
}
