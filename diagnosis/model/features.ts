/**
 * Per-device feature state and extraction, as ml/fleetdoc_ml/features.py
 * does it (the parity test holds them together). Per metric a device keeps
 * its last value (carried forward when a sample lacks the metric) and an EWMA
 * of first differences; features are levels, slopes and counter increments.
 */
import type { ModelCard } from '../../core/domain/model-card.ts';
import type { MetricValue } from '../../core/domain/telemetry.ts';

const LEVEL = 0;
const SLOPE = 1;
const DELTA = 2;
const TRANSFORM = { level: LEVEL, slope: SLOPE, delta: DELTA } as const;

export interface FeaturePlan {
  /** Metrics read, in first-use order. */
  metrics: string[];
  /** Per feature: index into metrics, and its transform. */
  metricOf: Int32Array;
  transformOf: Uint8Array;
  slopeAlpha: number;
  /** Number of features. */
  size: number;
}

export function createFeaturePlan(card: Pick<ModelCard, 'features' | 'slopeAlpha'>): FeaturePlan {
  const metrics: string[] = [];
  const metricOf = new Int32Array(card.features.length);
  const transformOf = new Uint8Array(card.features.length);
  card.features.forEach((f, j) => {
    let i = metrics.indexOf(f.metric);
    if (i < 0) i = metrics.push(f.metric) - 1;
    metricOf[j] = i;
    transformOf[j] = TRANSFORM[f.transform];
  });
  return { metrics, metricOf, transformOf, slopeAlpha: card.slopeAlpha, size: card.features.length };
}

/** Booleans as 0/1; strings ("true", numbers) as the CSV parser would; anything else unknown. */
export function toNumber(v: MetricValue | undefined | null): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : NaN;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v !== 'string') return NaN;
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === 'on' || s === 'yes') return 1;
  if (s === 'false' || s === 'off' || s === 'no') return 0;
  if (s === '') return NaN;
  const n = Number(s);
  return Number.isFinite(n) ? n : NaN;
}

/** A device's feature state: [last value × M, slope EWMA × M], NaN until seen. */
export function newFeatureState(plan: FeaturePlan): Float64Array {
  return new Float64Array(plan.metrics.length * 2).fill(NaN);
}

/**
 * Advances the state by one sample and writes the sample's features into
 * out (NaN where still unknown, e.g. a counter's first increment).
 */
export function extractFeatures(plan: FeaturePlan, state: Float64Array, metrics: Readonly<Record<string, MetricValue>>, out: Float64Array): void {
  const m = plan.metrics.length;
  const a = plan.slopeAlpha;
  // deltas of this sample live in out's tail slots only transiently, so keep them on the stack
  const delta = deltaScratch.length >= m ? deltaScratch : (deltaScratch = new Float64Array(m));
  for (let i = 0; i < m; i++) {
    let v = toNumber(metrics[plan.metrics[i] as string]);
    const prev = state[i] as number;
    if (Number.isNaN(v)) v = prev;
    if (!Number.isNaN(v) && !Number.isNaN(prev)) {
      const d = v - prev;
      delta[i] = d;
      const s = state[m + i] as number;
      state[m + i] = Number.isNaN(s) ? d : s + a * (d - s);
    } else {
      delta[i] = NaN;
    }
    state[i] = v;
  }
  for (let j = 0; j < plan.size; j++) {
    const i = plan.metricOf[j] as number;
    const t = plan.transformOf[j];
    out[j] = t === LEVEL ? (state[i] as number) : t === SLOPE ? (state[m + i] as number) : (delta[i] as number);
  }
}

let deltaScratch = new Float64Array(64);
