import { describe, expect, it } from 'vitest';
import { decimate, extent, flaggedSpans, formatValue, nearest, niceTicks, seriesOf, typicalInterval, type Series } from '../../web/chart.ts';

const series = (t: number[], v: number[]): Series => ({ t: Float64Array.from(t), v: Float64Array.from(v) });

describe('console chart arithmetic', () => {
  it('reads rows as numbers: booleans 0/1, strings and missing values NaN', () => {
    const s = seriesOf(
      [
        { ts: '2026-01-01T00:00:00Z', values: { a: 2.5, b: true } },
        { ts: '2026-01-01T00:01:00Z', values: { a: null, b: false } },
        { ts: '2026-01-01T00:02:00Z', values: { a: 'wash', b: true } },
        { ts: '2026-01-01T00:03:00Z', values: {} },
      ],
      'a',
    );
    expect(Array.from(s.t)).toEqual([0, 1, 2, 3].map((i) => Date.parse('2026-01-01T00:00:00Z') + i * 60_000));
    expect(Array.from(s.v)).toEqual([2.5, NaN, NaN, NaN]);
    expect(extent(s)).toEqual([2.5, 2.5]);
    expect(extent(series([1], [NaN]))).toBeNull();
  });

  it('keeps every pixel column’s first, lowest, highest and last value, and no more', () => {
    // 1,000 samples over 10 columns: each column holds 100, with a spike inside
    const t = Array.from({ length: 1000 }, (_, i) => i);
    const v = t.map((i) => (i % 100 === 37 ? 50 : i % 100 === 61 ? -50 : i % 7));
    const [seg, ...more] = decimate(series(t, v), 0, 1000, 10);
    expect(more).toEqual([]);
    expect(seg!.length).toBeLessThanOrEqual(40);
    for (let c = 0; c < 10; c++) {
      const col = seg!.filter(([x]) => x === c + 0.5).map(([, y]) => y);
      const inCol = v.slice(c * 100, c * 100 + 100);
      expect(col[0]).toBe(inCol[0]);
      expect(col[col.length - 1]).toBe(inCol[99]);
      expect(Math.min(...col)).toBe(-50);
      expect(Math.max(...col)).toBe(50);
    }
    // a column with a single value gives one point
    expect(decimate(series([0, 5], [1, 2]), 0, 10, 10)).toEqual([
      [
        [0.5, 1],
        [5.5, 2],
      ],
    ]);
  });

  it('breaks the line at a missing value and at a gap longer than allowed, and skips what lies outside the range', () => {
    const s = series([0, 1, 2, 3, 10, 11, 20], [1, 2, NaN, 4, 5, 6, 7]);
    expect(decimate(s, 0, 20, 20, 5).map((seg) => seg.map(([x]) => x - 0.5))).toEqual([[0, 1], [3], [10, 11]]);
    expect(decimate(s, 0, 20, 20).map((seg) => seg.length)).toEqual([2, 3]);
  });

  it('shades flagged samples until the next sample, merging spans that touch', () => {
    const t = Array.from({ length: 100 }, (_, i) => i * 10);
    const flags = t.map((_, i) => (i >= 10 && i < 20) || i === 21 || i === 50 || i === 99 ? 1 : 0);
    // 1,000 ms over 100 px: one sample per pixel
    expect(flaggedSpans(series(t, flags), 0, 1000, 100)).toEqual([
      [10, 20],
      [21, 22],
      [50, 51],
      [99, 100],
    ]);
    // over 10 px the first two merge; a span is at least a pixel wide
    expect(flaggedSpans(series(t, flags), 0, 1000, 10)).toEqual([
      [1, 3],
      [5, 6],
      [9, 10],
    ]);
    expect(flaggedSpans(series(t, flags), 300, 600, 30)).toEqual([[20, 21]]);
    // a flagged sample before a gap in the data shades no more than the gap allowed, not the gap
    expect(flaggedSpans(series([0, 10, 1000], [0, 1, 0]), 0, 1000, 100)).toEqual([[1, 100]]);
    expect(flaggedSpans(series([0, 10, 1000], [0, 1, 0]), 0, 1000, 100, 50)).toEqual([[1, 6]]);
  });

  it('finds the nearest sample, the usual interval, round ticks and short labels', () => {
    const t = Float64Array.from([0, 10, 20, 40]);
    expect([-5, 4, 5, 6, 29, 31, 99].map((x) => nearest(t, x))).toEqual([0, 0, 0, 1, 2, 3, 3]);
    expect(nearest(new Float64Array(0), 1)).toBe(-1);
    expect(typicalInterval(t)).toBe(10);
    expect(niceTicks(0, 1, 4)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(6.1, 7.9, 3)).toEqual([6.5, 7, 7.5]);
    expect(niceTicks(-0.05, 1.05, 3)).toEqual([0, 0.5, 1]);
    expect(niceTicks(3, 3)).toEqual([3]);
    // values a few floating-point steps apart: one tick, not an endless loop
    expect(niceTicks(0.3, 0.1 + 0.2)).toEqual([0.3]);
    expect(niceTicks(1e15, 1e15 + 0.25)).toEqual([1e15]);
    expect(niceTicks(0, 1e300, 4).length).toBeLessThanOrEqual(50);
    expect([0, 1234.5678, 0.5, -2, 1e-5, 2.5e7, NaN].map(formatValue)).toEqual(['0', '1235', '0.5', '-2', '1.00e-5', '2.50e+7', '–']);
  });
});
