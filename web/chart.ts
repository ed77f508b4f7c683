/**
 * The console's chart arithmetic, free of the DOM (unit-tested in node):
 * telemetry rows to series, min/max decimation to the pixel, spans of
 * anomalous samples, axis ticks.
 */

export interface Row {
  ts: string;
  values: Record<string, number | boolean | string | null>;
}

/** One metric over time: times (epoch ms, ascending) and values (NaN where the sample lacks it). */
export interface Series {
  t: Float64Array;
  v: Float64Array;
}

/** The rows' times (epoch ms). */
export function timesOf(rows: readonly Row[]): Float64Array {
  return Float64Array.from(rows, (r) => Date.parse(r.ts));
}

/** A metric's values as numbers: booleans 0/1; strings and missing values NaN. */
export function seriesOf(rows: readonly Row[], metric: string, t: Float64Array = timesOf(rows)): Series {
  // (t: the rows' times, when the caller has them already; every metric of the same rows shares them)
  const v = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    const x = r.values[metric];
    v[i] = typeof x === 'number' ? x : typeof x === 'boolean' ? (x ? 1 : 0) : NaN;
  });
  return { t, v };
}

/** Lowest and highest value of a series (NaN skipped); null when it has none. */
export function extent(s: Series): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of s.v) {
    if (Number.isNaN(x)) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * The points a line needs to look exactly like the whole series at `width`
 * pixels (M4: per pixel column its first, lowest, highest and last value).
 * x in pixels [0, width), y as values; a missing value or a gap longer than
 * `maxGapMs` between two samples starts a new line (`segments`).
 */
export function decimate(s: Series, t0: number, t1: number, width: number, maxGapMs = Infinity): Array<Array<[number, number]>> {
  const span = t1 - t0;
  const segments: Array<Array<[number, number]>> = [];
  let seg: Array<[number, number]> = [];
  let col = -1;
  let first = 0;
  let lo = 0;
  let hi = 0;
  let last = 0;
  let prevT = -Infinity;
  const flush = () => {
    if (col < 0) return;
    const x = span > 0 ? (col + 0.5) : 0;
    seg.push([x, first]);
    if (lo !== first && lo !== last) seg.push([x, lo]);
    if (hi !== first && hi !== last && hi !== lo) seg.push([x, hi]);
    if (last !== first) seg.push([x, last]);
    col = -1;
  };
  const breakLine = () => {
    flush();
    if (seg.length) segments.push(seg);
    seg = [];
  };
  for (let i = 0; i < s.t.length; i++) {
    const t = s.t[i]!;
    const y = s.v[i]!;
    if (t < t0 || t >= t1) continue;
    if (Number.isNaN(y)) {
      breakLine();
      continue;
    }
    if (t - prevT > maxGapMs) breakLine();
    prevT = t;
    const c = span > 0 ? Math.min(width - 1, Math.floor(((t - t0) / span) * width)) : 0;
    if (c !== col) {
      flush();
      col = c;
      first = lo = hi = last = y;
    } else {
      if (y < lo) lo = y;
      if (y > hi) hi = y;
      last = y;
    }
  }
  breakLine();
  return segments;
}

/**
 * Pixel spans [x0, x1) where `flag` is 1: a flagged sample covers the time
 * until the next sample, at most `maxGapMs` (a gap in the data is not
 * shaded). Spans that touch or overlap at pixel resolution merge.
 */
export function flaggedSpans(s: Series, t0: number, t1: number, width: number, maxGapMs = Infinity): Array<[number, number]> {
  const span = t1 - t0;
  if (span <= 0) return [];
  const px = (t: number) => Math.max(0, Math.min(width, ((t - t0) / span) * width));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < s.t.length; i++) {
    if (s.v[i] !== 1) continue;
    const a = s.t[i]!;
    const b = Math.min(i + 1 < s.t.length ? s.t[i + 1]! : a + 1, a + maxGapMs);
    if (b <= t0 || a >= t1) continue;
    const x0 = Math.floor(px(a));
    const x1 = Math.max(x0 + 1, Math.ceil(px(b)));
    const prev = out[out.length - 1];
    if (prev && x0 <= prev[1]) prev[1] = Math.max(prev[1], x1);
    else out.push([x0, x1]);
  }
  return out;
}

/** The samples' usual spacing (median interval, ms); 0 with fewer than two. */
export function typicalInterval(t: Float64Array): number {
  if (t.length < 2) return 0;
  const d = Array.from({ length: t.length - 1 }, (_, i) => t[i + 1]! - t[i]!).sort((a, b) => a - b);
  return d[Math.floor(d.length / 2)]!;
}

/** Whether lo and hi are the same value, or a few floating-point steps apart. */
function flat(lo: number, hi: number): boolean {
  return !(hi - lo > Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9);
}

/** The value axis for an extent: 5 % of margin either side, or a band around a flat line's value. */
export function valueRange([lo, hi]: readonly [number, number]): [number, number] {
  const pad = flat(lo, hi) ? Math.abs(lo) * 0.05 || 0.5 : (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** About `n` round values (1, 2 or 5 × 10^k apart) within [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 4): number[] {
  // values a few floating-point steps apart (0.3 and 0.1 + 0.2) make a step that adds nothing: one tick
  if (flat(lo, hi)) return [lo];
  // the 1-2-5 step nearest the raw one on a log scale (as d3's ticks choose)
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const err = raw / mag;
  const step = mag * (err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1);
  const out: number[] = [];
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9 && out.length < 50; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** The index of the sample nearest to time t (series ascending); -1 when empty. */
export function nearest(t: Float64Array, at: number): number {
  if (t.length === 0) return -1;
  let a = 0;
  let b = t.length - 1;
  while (a < b) {
    const m = (a + b) >> 1;
    if (t[m]! < at) a = m + 1;
    else b = m;
  }
  return a > 0 && at - t[a - 1]! <= t[a]! - at ? a - 1 : a;
}

/** A value for an axis label or the readout: up to 4 significant digits, no exponent for everyday sizes. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}
