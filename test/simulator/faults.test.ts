import { describe, expect, it } from 'vitest';
import { FAULTS, DEVICE_COMMANDS, faultsForType } from '../../simulator/faults/catalogue.ts';
import { MODELS } from '../../simulator/models/index.ts';
import { DAY } from '../../simulator/time.ts';
import { mean, oneDevice, run, START } from './helpers.ts';

function setup(type: string) {
  const durationMs = type === 'washing-machine' ? 40 * DAY : 14 * DAY;
  const intervalMs = type === 'washing-machine' ? undefined : { [type]: 120_000 };
  return { durationMs, intervalMs, onsetTs: START + durationMs * 0.1, failureTs: START + durationMs * 0.9 };
}

describe('fault catalogue', () => {
  it('is data the diagnosis engine can import: every field set, codes unique, one remedy each', () => {
    expect(new Set(FAULTS.map((f) => f.code)).size).toBe(FAULTS.length);
    for (const type of Object.keys(MODELS)) {
      const faults = faultsForType(type);
      expect(faults.length).toBeGreaterThanOrEqual(4);
      expect(faults.map((f) => f.code).sort()).toEqual([...MODELS[type]!.faults].sort());
      for (const cls of ['command', 'owner', 'technician'] as const) expect(faults.some((f) => f.remedyClass === cls)).toBe(true);
    }
    const metricNames = (type: string) => MODELS[type]!.metrics.map((m) => m.name);
    for (const f of FAULTS) {
      expect(f.affectedMetrics.length).toBeGreaterThan(0);
      for (const m of f.affectedMetrics) expect(metricNames(f.deviceType)).toContain(m.metric);
      expect(f.command !== null).toBe(f.remedyClass === 'command');
      expect(f.ownerGuide !== null).toBe(f.remedyClass === 'owner');
      expect(f.sparePart !== null).toBe(f.remedyClass === 'technician');
      if (f.command) expect(DEVICE_COMMANDS[f.deviceType]!.map((c) => c.name)).toContain(f.command);
    }
    expect(FAULTS.some((f) => f.eventCodes.length === 0)).toBe(true);
  });

  describe.each(FAULTS.map((f) => [f.code, f] as const))('%s', (_code, f) => {
    it('shows its signature in the metrics it names, growing from onset to functional failure, against the same device without it', () => {
      const { durationMs, intervalMs, onsetTs, failureTs } = setup(f.deviceType);
      const faulty = oneDevice(f.deviceType, [{ code: f.code, onsetTs, failureTs }], { durationMs, intervalMs });
      const twin = oneDevice(f.deviceType, [], { durationMs, intervalMs });
      const a = run(faulty);
      const b = run(twin);
      const span = failureTs - onsetTs;
      // before onset the two are the same device
      for (const m of f.affectedMetrics) {
        const pre = mean(a, m.metric, START, onsetTs) - mean(b, m.metric, START, onsetTs);
        expect(Math.abs(pre), `${m.metric} before onset`).toBeLessThan(1e-9);
      }
      for (const m of f.affectedMetrics) {
        const sign = m.effect === 'up' ? 1 : -1;
        const diff = (x: number, y: number) =>
          sign * (mean(a, m.metric, onsetTs + span * x, onsetTs + span * y) - mean(b, m.metric, onsetTs + span * x, onsetTs + span * y));
        // counters (run hours, load cycles) only need to pull ahead; levels must move by 2% of the twin's mean
        const counter = MODELS[f.deviceType]!.metrics.find((x) => x.name === m.metric)!.max > 1e9;
        const base = counter ? 0 : Math.abs(mean(b, m.metric, onsetTs, failureTs)) || 1;
        const early = diff(0.05, 0.3);
        const late = diff(0.75, 1);
        expect(late, `${m.metric} late shift`).toBeGreaterThan(0.02 * base);
        expect(late, `${m.metric} grows`).toBeGreaterThan(early);
      }
      if (f.eventCodes.length > 0) {
        const raised = new Set(faulty.events.map((e) => e.code));
        expect(f.eventCodes.some((c) => raised.has(c)), `raises one of ${f.eventCodes.join(', ')}`).toBe(true);
      }
    });
  });
});
