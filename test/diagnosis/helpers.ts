import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import type { DeviceType } from '../../core/domain/device-type.ts';
import { type Condition, RuleSet, type RuleSetInput } from '../../core/domain/rule.ts';
import type { MetricValue, Point } from '../../core/domain/telemetry.ts';
import { Engine, type Intent } from '../../diagnosis/engine.ts';
import type { AnomalyResult } from '../../diagnosis/model/types.ts';
import { compileRuleSet } from '../../diagnosis/rules/compile.ts';

export const TYPES: ReadonlyMap<string, DeviceType> = new Map(loadDeviceTypeFiles().map((t) => [t.name, t]));
export const T0 = Date.UTC(2025, 5, 2, 0, 0, 0);
export const MIN = 60_000;
export const DAY = 24 * 60 * MIN;

export const remedy = { class: 'technician', summary: 'fix it' } as const;

/** One rule on the compressor, 1-minute windows, one sample per window: k of n = k of n samples. */
export function oneRule(condition: unknown, extra: Record<string, unknown> = {}): RuleSet {
  return ruleSet({ windowMs: MIN, buckets: 30, baselineSamples: 10, rules: [{ id: 'r', fault: 'test-fault', severity: 'warning', condition: condition as Condition, remedy, trigger: { k: 3, n: 5, clearAfterWindows: 4 }, ...extra }] });
}

export function ruleSet(input: Omit<RuleSetInput, 'type'> & { type?: string }): RuleSet {
  return RuleSet.parse({ type: 'air-compressor', ...input });
}

/** An engine with one type's rules, wall clock far ahead (replay) unless told otherwise. */
export function engineWith(rs: RuleSet, opts: { liveLagMs?: number; onModelRelease?: (deviceId: string) => void } = {}): Engine {
  const e = new Engine({ liveLagMs: opts.liveLagMs ?? 5 * MIN, onModelRelease: opts.onModelRelease });
  e.setLayout(rs.type, compileRuleSet(rs, TYPES.get(rs.type)!), 0);
  return e;
}

export function point(deviceId: string, ts: number, metrics: Record<string, MetricValue>, type = 'air-compressor'): Point {
  return { deviceId, type, model: null, site: null, ts, metrics };
}

export interface Feed {
  intents: Intent[];
  raised(): Array<{ fault: string; at: string }>;
  cleared(): Array<{ fault: string; at: string }>;
}

/** Feeds samples (wall clock = event time + lag), collecting every intent. */
export function feed(e: Engine, points: ReadonlyArray<Point | { point: Point; anomaly?: AnomalyResult }>, wallLagMs = 365 * 24 * 3600_000, into?: Feed): Feed {
  const f: Feed = into ?? {
    intents: [],
    raised: () => f.intents.flatMap((i) => (i.kind === 'raise' ? [{ fault: i.diagnosis.fault, at: i.diagnosis.raisedAt }] : [])),
    cleared: () => f.intents.flatMap((i) => (i.kind === 'clear' ? [{ fault: i.fault, at: new Date(i.at).toISOString() }] : [])),
  };
  for (const x of points) {
    const p = 'point' in x ? x.point : x;
    e.sample(p, 'point' in x ? x.anomaly : undefined, p.ts + wallLagMs);
    f.intents.push(...e.drainIntents());
  }
  return f;
}

/** One sample per `stepMs` from `from` for `count` samples, metrics from fn(i, ts). */
export function series(deviceId: string, from: number, count: number, stepMs: number, fn: (i: number, ts: number) => Record<string, MetricValue>, type = 'air-compressor'): Point[] {
  return Array.from({ length: count }, (_, i) => point(deviceId, from + i * stepMs, fn(i, from + i * stepMs), type));
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Motor current 10 A above the device's own first 20 samples (a 3-sample average), sustained 3 of 5 one-minute windows. */
export const CURRENT_UP_RULE = {
  id: 'current-up',
  fault: 'ac-test-current-up',
  severity: 'warning',
  condition: { kind: 'mean', metric: 'motorCurrentA', overSamples: 3, relativeTo: 'baseline', baselineSamples: 20, above: 10 },
  remedy: { class: 'technician', summary: 'look at the motor' },
  trigger: { k: 3, n: 5, clearAfterWindows: 4 },
} as const;

/** Motor current up only (CURRENT_UP_RULE), one-minute windows: the recalibration tests' rule set. */
export const CURRENT_UP_RULES = ruleSet({ windowMs: MIN, buckets: 30, baselineSamples: 20, rules: [CURRENT_UP_RULE] });

/** A full compressor sample of minute i (every metric the anomaly model reads), motor current and vibration as given. */
export function compressorSample(current: number, i: number, vibration = 2) {
  return {
    dischargePressureBar: 7 + 0.1 * Math.sin(i / 3),
    dischargeTempC: 85 + 0.3 * Math.sin(i / 5),
    oilTempC: 70 + 0.2 * Math.cos(i / 4),
    ambientTempC: 22,
    motorCurrentA: current + 0.5 * Math.sin(i / 2),
    vibrationRmsMmS: vibration + 0.05 * Math.cos(i / 3),
    airFilterDpMbar: 20 + 0.3 * Math.sin(i / 6),
    separatorDpBar: 0.3,
    loaded: true,
    loadCycles: 100 + i,
    runHours: 1000 + i / 60,
  };
}

/** How far a fault has developed at ts: 0 until `fromDay` days after T0, then linearly to 1 over `days`. */
export function ramp(ts: number, fromDay: number, days: number): number {
  return Math.min(1, Math.max(0, (ts - T0 - fromDay * DAY) / (days * DAY)));
}

/** The first diagnosis of `fault` a feed raised, if any. */
export function firstRaise(f: Feed, fault: string) {
  for (const i of f.intents) if (i.kind === 'raise' && i.diagnosis.fault === fault) return i.diagnosis;
  return undefined;
}
