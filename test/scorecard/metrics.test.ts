import { describe, expect, it } from 'vitest';
import { computeScorecard, quantile, type ScoredDiagnosis, type TruthFault } from '../../scorecard/metrics.ts';

const H = 3_600_000;
const T0 = Date.parse('2025-06-01T00:00:00Z');
const at = (h: number) => new Date(T0 + h * H).toISOString();
const fault = (device: string, faultCode: string, onsetH: number, failureH: number, fixedH: number | null = null): TruthFault => ({
  device, deviceType: 'air-compressor', faultCode, onset: at(onsetH), functionalFailure: at(failureH), fixedAt: fixedH === null ? null : at(fixedH),
});
const diag = (deviceId: string, fault: string, h: number): ScoredDiagnosis => ({ deviceId, fault, raisedAt: at(h) });

describe('scorecard metrics', () => {
  it('quantile interpolates linearly and is null for no values', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([10, 20, 30, 40, 50], 0.1)).toBe(14);
    expect(quantile([10, 20, 30, 40, 50], 0.9)).toBe(46);
  });

  it('matches by device, code and [onset, fix or end + grace]; counts false diagnoses per 1,000 device-days', () => {
    // 10 devices × 100 h; grace 2 h
    const truth = [
      fault('a', 'filter', 10, 60), // detected at 20: delay 10, lead 40
      fault('b', 'filter', 20, 120), // detected at 50 (a diagnosis at 15 is before onset: false): delay 30, lead 70
      fault('c', 'filter', 30, 90, 40), // fixed at 40; a diagnosis at 43 is past fix + grace: missed, false
      fault('d', 'oil', 50, 80), // detected at 101 (end 100 + grace 2): delay 51, lead -21
      fault('e', 'oil', 60, 200), // not detected
    ];
    const diagnoses = [
      diag('a', 'filter', 20),
      diag('a', 'filter', 30), // second diagnosis of the same fault: true, not a new detection
      diag('b', 'filter', 15),
      diag('b', 'filter', 50),
      diag('c', 'filter', 43),
      diag('d', 'oil', 101),
      diag('f', 'oil', 10), // fault-free device
      diag('a', 'oil', 20), // wrong code on a faulty device
      diag('e', 'anomaly', 70), // explained by e's oil fault
      diag('g', 'anomaly', 70), // nothing active: false (overall only)
      diag('g', 'offline', 70), // not a catalogue fault: ignored
    ];
    const sc = computeScorecard({ truth, diagnoses, faultCodes: ['filter', 'oil', 'bearing'], runStartTs: T0, runEndTs: T0 + 100 * H, devices: 10, graceMs: 2 * H });
    const deviceDays = (10 * 100) / 24;
    expect(sc.deviceDays).toBeCloseTo(deviceDays, 12);

    const f = sc.byFault.filter!;
    expect(f).toMatchObject({ faults: 3, detected: 2, diagnoses: 5, trueDiagnoses: 3, falseDiagnoses: 2 });
    expect(f.precision).toBeCloseTo(3 / 5, 12);
    expect(f.recall).toBeCloseTo(2 / 3, 12);
    expect(f.f1).toBeCloseTo((2 * 0.6 * (2 / 3)) / (0.6 + 2 / 3), 12);
    expect(f.falsePer1000DeviceDays).toBeCloseTo((1000 * 2) / deviceDays, 12);
    expect(f.detectionDelayMedianHours).toBeCloseTo(20, 12);
    expect(f.detectionDelayP90Hours).toBeCloseTo(28, 12);
    expect(f.leadTimeMedianHours).toBeCloseTo(55, 12);
    expect(f.leadTimeP10Hours).toBeCloseTo(43, 12);

    const o = sc.byFault.oil!;
    expect(o).toMatchObject({ faults: 2, detected: 1, diagnoses: 3, trueDiagnoses: 1, falseDiagnoses: 2 });
    expect(o.precision).toBeCloseTo(1 / 3, 12);
    expect(o.recall).toBe(0.5);
    expect(o.leadTimeMedianHours).toBeCloseTo(-21, 12);
    expect(o.detectionDelayMedianHours).toBeCloseTo(51, 12);

    // a catalogue fault that never occurred and was never diagnosed: no precision, no recall
    expect(sc.byFault.bearing).toMatchObject({ faults: 0, diagnoses: 0, precision: null, recall: null, f1: null, falsePer1000DeviceDays: 0 });

    const all = sc.overall;
    expect(all).toMatchObject({ faults: 5, detected: 3, diagnoses: 8, trueDiagnoses: 4, falseDiagnoses: 5, anomalyDiagnoses: 2, anomalyFalse: 1 });
    expect(all.precision).toBe(0.5);
    expect(all.recall).toBeCloseTo(0.6, 12);
    expect(all.falsePer1000DeviceDays).toBeCloseTo((1000 * 5) / deviceDays, 12);
    expect(all.leadTimeMedianHours).toBeCloseTo(40, 12);
    expect(sc.ignored).toEqual({ offline: 1 });

    // missed: c (fixed at 40, 10 h into its 60 h to failure) and e (still developing at the end: 40 of 140 h)
    expect(f.missedFailed).toBe(0);
    expect(o.missedFailed).toBe(0);
    expect(sc.misses).toEqual([
      { device: 'c', faultCode: 'filter', onset: at(30), functionalFailure: at(90), developed: 10 / 60, otherFaults: [] },
      { device: 'e', faultCode: 'oil', onset: at(60), functionalFailure: at(200), developed: 40 / 140, otherFaults: [] },
    ]);
  });

  it('a missed fault that reached functional failure before the fix or the end counts as failed unseen', () => {
    const truth = [fault('a', 'oil', 10, 30), fault('a', 'filter', 5, 90), fault('b', 'oil', 10, 80, 40), fault('c', 'oil', 10, 40, 30)];
    const sc = computeScorecard({ truth, diagnoses: [diag('a', 'filter', 20)], faultCodes: ['oil', 'filter'], runStartTs: T0, runEndTs: T0 + 48 * H, devices: 3, graceMs: 0 });
    // a's oil failed at 30, unseen; b's and c's were fixed (at 40 and 30) before their failures (at 80 and 40)
    expect(sc.byFault.oil).toMatchObject({ faults: 3, detected: 0, missedFailed: 1 });
    expect(sc.overall.missedFailed).toBe(1);
    // of the faults whose outcome the run saw (caught, or failed unseen): oil 0 of 1, filter 1 of 1; the fixed ones are left out
    expect(sc.byFault.oil!.recallCaughtOrFailed).toBe(0);
    expect(sc.byFault.filter!.recallCaughtOrFailed).toBe(1);
    expect(sc.overall.recallCaughtOrFailed).toBe(1 / 2);
    expect(sc.overall.recall).toBe(1 / 4);
    expect(sc.misses.map((m) => [m.device, m.developed, m.otherFaults])).toEqual([
      ['b', 30 / 70, []],
      ['c', 20 / 30, []],
      ['a', 1, ['filter']],
    ]);
  });

  it('anomaly diagnoses detect the faults active on their device only when asked to', () => {
    const truth = [fault('a', 'filter', 10, 60), fault('a', 'oil', 12, 40)];
    const diagnoses = [diag('a', 'anomaly', 30), diag('a', 'filter', 35)];
    const input = { truth, diagnoses, faultCodes: ['filter', 'oil'], runStartTs: T0, runEndTs: T0 + 48 * H, devices: 2, graceMs: 0 };
    const off = computeScorecard(input);
    expect(off.byFault.filter).toMatchObject({ detected: 1, precision: 1, recall: 1, detectionDelayMedianHours: 25 });
    expect(off.byFault.oil).toMatchObject({ detected: 0, recall: 0, precision: null });
    const on = computeScorecard({ ...input, anomalyCountsForRecall: true });
    expect(on.anomalyCountsForRecall).toBe(true);
    expect(on.byFault.filter).toMatchObject({ detected: 1, recall: 1, detectionDelayMedianHours: 20, leadTimeMedianHours: 30 });
    expect(on.byFault.oil).toMatchObject({ detected: 1, recall: 1, leadTimeMedianHours: 10, precision: null });
    expect(on.overall).toMatchObject({ falseDiagnoses: 0, anomalyFalse: 0, falsePer1000DeviceDays: 0 });
  });
});
