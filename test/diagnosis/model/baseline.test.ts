/**
 * Each device is judged against its own normal: two compressors whose
 * normals differ see the same absolute readings differently.
 */
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../../core/logger.ts';
import type { MetricValue } from '../../../core/domain/telemetry.ts';
import { createModelScorer } from '../../../diagnosis/model/scorer.ts';
import type { ScoreInput, ScoreOutput } from '../../../diagnosis/model/types.ts';
import { python, readBenchmark } from './helpers.ts';

const CAL = 720;
// A healthy benchmark device's stream: site A as recorded; site B runs hotter and at higher pressure.
const healthy = (() => {
  const all = readBenchmark();
  const id = all.find((s) => s.fault === '')?.deviceId;
  return all.filter((s) => s.deviceId === id);
})();
const SHIFT: Record<string, number> = { dischargePressureBar: 1.5, dischargeTempC: 12, oilTempC: 10, motorCurrentA: 25 };

function atSiteB(metrics: Readonly<Record<string, MetricValue>>): Record<string, MetricValue> {
  const out: Record<string, MetricValue> = { ...metrics };
  for (const [k, d] of Object.entries(SHIFT)) if (typeof out[k] === 'number') out[k] = (out[k] as number) + d;
  return out;
}

function flaggedShare(outs: ScoreOutput[]): number {
  const scored = outs.filter((o) => o.status === 'scored');
  return scored.filter((o) => o.status === 'scored' && o.result.anomaly).length / scored.length;
}

describe('per-device baseline', () => {
  it('learns each device its own normal during calibration', async () => {
    const scorer = createModelScorer({ logger: nullLogger() });
    try {
      const calib = healthy.slice(0, CAL);
      const first = await scorer.scoreBatch(
        calib.flatMap((s) => [
          { deviceId: 'site-a', type: s.type, ts: s.ts, metrics: s.metrics },
          { deviceId: 'site-b', type: s.type, ts: s.ts, metrics: atSiteB(s.metrics) },
        ]),
      );
      expect(first.every((o) => o.status === 'calibrating')).toBe(true);
      expect(first.at(-1)).toEqual({ status: 'calibrating', samplesSeen: CAL, samplesNeeded: CAL });

      // After calibration both see site B's readings: normal for B, far off A's normal.
      const rest = healthy.slice(CAL, CAL + 400);
      const inputs: ScoreInput[] = rest.flatMap((s) => [
        { deviceId: 'site-a', type: s.type, ts: s.ts, metrics: atSiteB(s.metrics) },
        { deviceId: 'site-b', type: s.type, ts: s.ts, metrics: atSiteB(s.metrics) },
      ]);
      const outs = await scorer.scoreBatch(inputs);
      const a = outs.filter((_, i) => i % 2 === 0);
      const b = outs.filter((_, i) => i % 2 === 1);
      expect(flaggedShare(b)).toBeLessThan(0.1);
      expect(flaggedShare(a)).toBeGreaterThan(0.95);
      const topA = a.at(-1);
      expect(topA?.status === 'scored' && topA.result.topFeatures.map((f) => f.feature.split('.')[0])).toEqual(
        expect.arrayContaining([expect.stringMatching(/dischargePressureBar|dischargeTempC|oilTempC|motorCurrentA/)]),
      );

      // After a repair the device recalibrates on its new normal.
      scorer.resetDevice('site-a');
      const again = await scorer.scoreBatch([{ deviceId: 'site-a', type: 'air-compressor', ts: 1, metrics: atSiteB(healthy[0]!.metrics) }]);
      expect(again[0]).toEqual({ status: 'calibrating', samplesSeen: 1, samplesNeeded: CAL });
    } finally {
      await scorer.close();
    }
  });

  it('judges a device without a metric it never reported during calibration, instead of against the type’s level', async () => {
    const scorer = createModelScorer({ logger: nullLogger() });
    try {
      const without = (m: Readonly<Record<string, MetricValue>>) => {
        const out: Record<string, MetricValue> = { ...m };
        delete out.oilTempC;
        return out;
      };
      await scorer.scoreBatch(healthy.slice(0, CAL).map((s) => ({ deviceId: 'late', type: s.type, ts: s.ts, metrics: without(s.metrics) })));
      // the oil sensor joins after calibration, reading 25 °C above any level the type was trained on
      const outs = await scorer.scoreBatch(
        healthy.slice(CAL, CAL + 400).map((s) => ({ deviceId: 'late', type: s.type, ts: s.ts, metrics: { ...s.metrics, oilTempC: (s.metrics.oilTempC as number) + 25 } })),
      );
      expect(flaggedShare(outs)).toBeLessThan(0.1);
      // a reading beyond float32 on the left-out metric changes nothing (over an infinite scale it would be NaN for good)
      const glitch = await scorer.scoreBatch(
        healthy.slice(CAL + 400, CAL + 410).map((s, i) => ({ deviceId: 'late', type: s.type, ts: s.ts, metrics: { ...s.metrics, ...(i === 0 ? { oilTempC: 1e39 } : {}) } })),
      );
      for (const o of glitch) expect(o.status === 'scored' && Number.isFinite(o.result.anomalyScore)).toBe(true);
      // the device's other metrics still count: site B's pressure and current on it alarm
      const shifted = await scorer.scoreBatch(
        healthy.slice(CAL + 410, CAL + 610).map((s) => ({ deviceId: 'late', type: s.type, ts: s.ts, metrics: atSiteB(s.metrics) })),
      );
      expect(flaggedShare(shifted)).toBeGreaterThan(0.9);
    } finally {
      await scorer.close();
    }
  });

  it('carries missing metrics forward, treats a metric constant in calibration with the floor, and says no-model for unknown types', async () => {
    const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: 50 });
    try {
      // always loaded during calibration: a constant boolean, then it unloads once
      const cal = healthy.slice(0, 50).map((s) => ({ deviceId: 'c1', type: s.type, ts: s.ts, metrics: { ...s.metrics, loaded: true } }));
      await scorer.scoreBatch(cal);
      const next = healthy.slice(50, 60).map((s, i) => {
        const m: Record<string, MetricValue> = { ...s.metrics, loaded: i !== 3 };
        if (i > 5) delete m.oilTempC; // missing metric: last value carried
        return { deviceId: 'c1', type: s.type, ts: s.ts, metrics: m };
      });
      const outs = await scorer.scoreBatch(next);
      for (const o of outs) {
        expect(o.status).toBe('scored');
        if (o.status === 'scored') expect(Number.isFinite(o.result.anomalyScore)).toBe(true);
      }
      expect(await scorer.scoreBatch([{ deviceId: 'x', type: 'no-such-type', ts: 0, metrics: {} }])).toEqual([{ status: 'no-model' }]);
      expect(scorer.hasModel('air-compressor')).toBe(true);
      expect(scorer.hasModel('no-such-type')).toBe(false);
    } finally {
      await scorer.close();
    }
  });

  it('the Python reference calibrates the same way: infinite scale for a feature with no calibration reading, the type’s with no calibration', () => {
    expect(
      python([
        'from fleetdoc_ml.features import calibrate',
        'f = lambda m, **kw: {"name": m + ".level", "metric": m, "transform": "level", **kw}',
        'card = {"typeMean": [5.0, 7.0, 0.2], "typeScale": [2.0, 3.0, 0.4], "minScale": [0.1, 0.1, 0.1], "features": [f("a"), f("b"), f("bit", typeNormal=True)]}',
        'b = calibrate(np.array([[1.0, np.nan, np.nan], [3.0, np.nan, np.nan]]), card)',
        'n = calibrate(np.zeros((0, 3)), card)',
        'print(json.dumps([list(b.mean), [str(v) for v in b.scale], list(n.mean), list(n.scale)]))',
      ]),
    ).toEqual([[2, 7, 0.2], ['1.0', 'inf', '0.4'], [5, 7, 0.2], [2, 3, 0.4]]);
    // a glitch past float32 leaves its feature out there too
    expect(
      python([
        'from fleetdoc_ml.features import calibrate',
        'f = lambda m: {"name": m + ".level", "metric": m, "transform": "level"}',
        'card = {"typeMean": [5.0, 7.0], "typeScale": [2.0, 3.0], "minScale": [0.1, 0.1], "features": [f("a"), f("b")]}',
        'b = calibrate(np.array([[1.0, 1e42], [3.0, 2.0]]), card)',
        'print(json.dumps([list(b.mean), [str(v) for v in b.scale]]))',
      ]),
    ).toEqual([[2, 0], ['1.0', 'inf']]);
  });
});

describe('a model reloaded while a batch is scored', () => {
  it('the batch finishes on the sessions it started with: every row scored, none lost to a released session', async () => {
    const scorer = createModelScorer({ logger: nullLogger() });
    try {
      await scorer.scoreBatch(healthy.slice(0, CAL).map((s) => ({ deviceId: 'r-1', type: s.type, ts: s.ts, metrics: s.metrics })));
      // one device's 400 rows: 400 rounds of run(), one after another
      const rows = healthy.slice(CAL, CAL + 400).map((s) => ({ deviceId: 'r-1', type: s.type, ts: s.ts, metrics: s.metrics }));
      const batch = scorer.scoreBatch(rows);
      // a registration's reload (POST /models) swaps the models meanwhile
      await scorer.reload();
      const outs = await batch;
      expect(outs.filter((o) => o.status === 'scored')).toHaveLength(400);
    } finally {
      await scorer.close();
    }
  });
});

describe('a glitch beyond float32 during calibration', () => {
  it('leaves that feature out of the device’s score (its mean past float32), not the whole score NaN for good', async () => {
    const scorer = createModelScorer({ logger: nullLogger() });
    try {
      const cal = healthy.slice(0, CAL).map((s, i) => ({ deviceId: 'g-1', type: s.type, ts: s.ts, metrics: i === 100 ? { ...s.metrics, dischargePressureBar: 1e42 } : s.metrics }));
      await scorer.scoreBatch(cal);
      const outs = await scorer.scoreBatch(healthy.slice(CAL, CAL + 200).map((s) => ({ deviceId: 'g-1', type: s.type, ts: s.ts, metrics: atSiteB(s.metrics) })));
      const scores = outs.map((o) => (o.status === 'scored' ? o.result.anomalyScore : NaN));
      expect(scores.every(Number.isFinite)).toBe(true);
      // site B's hotter oil and discharge still show without the pressure (a NaN score never alarms)
      expect(flaggedShare(outs)).toBeGreaterThan(0.2);
    } finally {
      await scorer.close();
    }
  });
});
