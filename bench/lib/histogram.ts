/**
 * A mergeable latency histogram: log buckets of 2 % width from 1 µs, plus a
 * bucket for values ≤ 1 µs (e.g. 0 ms from Date.now() differences). Reported
 * percentiles are the upper bound of their bucket, so they err high by < 2 %.
 */
const GROWTH = 1.02;
const MIN_MS = 0.001;
const LN_GROWTH = Math.log(GROWTH);
/** Covers up to ~1.1e5 s, more than any bounded run. */
const BUCKETS = 1200;

export interface HistogramSnapshot {
  /** Sparse counts: [bucketIndex, count] pairs. */
  buckets: Array<[number, number]>;
  count: number;
  max: number;
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;

  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const i = v <= MIN_MS ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(v / MIN_MS) / LN_GROWTH));
    this.counts[i]! += 1;
    this.count++;
    if (v > this.max) this.max = v;
  }

  merge(s: HistogramSnapshot): void {
    for (const [i, c] of s.buckets) this.counts[i]! += c;
    this.count += s.count;
    if (s.max > this.max) this.max = s.max;
  }

  snapshot(): HistogramSnapshot {
    const buckets: Array<[number, number]> = [];
    this.counts.forEach((c, i) => {
      if (c > 0) buckets.push([i, c]);
    });
    return { buckets, count: this.count, max: this.max };
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }

  /** q in [0, 1]; null when empty. */
  percentile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, i === 0 ? MIN_MS : MIN_MS * GROWTH ** i);
    }
    return this.max;
  }

  static from(s: HistogramSnapshot): Histogram {
    const h = new Histogram();
    h.merge(s);
    return h;
  }
}
