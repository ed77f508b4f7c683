/**
 * Recalibration after a repair, in the engine alone: it forgets a device's
 * learnt normal (rule baselines and windows) and learns it again from what the
 * device does next; its active diagnoses clear when asked. Through the api and
 * the diagnosis service: recalibrate-api.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CURRENT_UP_RULE, CURRENT_UP_RULES as RULES, MIN, T0, compressorSample, engineWith, feed, ruleSet, series } from './helpers.ts';

/** RULES plus a second fault on another average: vibration 1 mm/s above the device's own first 20 samples. */
const TWO = ruleSet({
  ...RULES,
  rules: [
    CURRENT_UP_RULE,
    {
      ...CURRENT_UP_RULE,
      id: 'vibration-up',
      fault: 'ac-test-vibration-up',
      condition: { ...CURRENT_UP_RULE.condition, metric: 'vibrationRmsMmS', above: 1 },
      remedy: { class: 'technician', summary: 'look at the bearings' },
    },
  ],
});


describe('Engine.forget', () => {
  it('resolving clears the active diagnoses at the last sample and learns the new normal; without it they clear once the rules find it normal', () => {
    const history = series('ac-1', T0, 40, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i));
    const e = engineWith(RULES);
    const raised = feed(e, history);
    expect(raised.raised().map((r) => r.fault)).toEqual(['ac-test-current-up']);
    const id = raised.intents.find((i) => i.kind === 'raise')!;
    expect(e.takeDirty()).toEqual(['ac-1']);

    // a new motor that draws 65 A: forgotten and resolved, it is learnt as normal, and a rise above it is caught
    const ids = e.forget('ac-1', { resolve: true }, 0);
    expect(ids).toEqual([id.kind === 'raise' ? id.diagnosis.id : '']);
    expect(e.drainIntents()).toEqual([{ kind: 'clear', id: ids[0], deviceId: 'ac-1', fault: 'ac-test-current-up', at: T0 + 39 * MIN }]);
    // its rules start afresh; whether it is sending carries over (its last sample)
    expect(e.states.get('ac-1')?.samples).toBe(0);
    expect(e.states.get('ac-1')?.lastTs).toBe(T0 + 39 * MIN);
    expect(e.takeDirty()).toEqual(['ac-1']);
    const after = feed(e, series('ac-1', T0 + 40 * MIN, 40, MIN, (i) => compressorSample(i < 30 ? 65 : 80, 40 + i)));
    expect(after.cleared()).toEqual([]);
    expect(after.raised()).toEqual([{ fault: 'ac-test-current-up', at: new Date(T0 + 75 * MIN).toISOString() }]);

    // without resolving, the diagnosis stays active until the fresh rules have seen enough normal windows
    const f = engineWith(RULES);
    feed(f, history);
    expect(f.forget('ac-1', { resolve: false }, 0)).toEqual([]);
    expect(f.drainIntents()).toEqual([]);
    const fresh = feed(f, series('ac-1', T0 + 40 * MIN, 30, MIN, (i) => compressorSample(65, 40 + i)));
    expect(fresh.raised()).toEqual([]);
    expect(fresh.cleared()).toHaveLength(1);

    // an unknown device: nothing to forget or clear
    expect(f.forget('ac-none', { resolve: true }, 0)).toEqual([]);
  });

  it("narrowed to the repaired fault, only its rules relearn: the device's other fault stays active and keeps its baseline", () => {
    // the motor draws 15 A more from minute 30 and the bearings vibrate 2 mm/s more from minute 32: both raised
    const g = engineWith(TWO);
    const both = feed(g, series('ac-1', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i, i < 32 ? 2 : 4)));
    expect(both.raised().map((r) => r.fault).sort()).toEqual(['ac-test-current-up', 'ac-test-vibration-up']);
    const vib = both.intents.find((i) => i.kind === 'raise' && i.diagnosis.fault === 'ac-test-vibration-up')!;

    // the motor is repaired back to 50 A, the bearings are not
    const ids = g.forget('ac-1', { resolve: true, faults: new Set(['ac-test-current-up']) }, 0);
    expect(ids).toHaveLength(1);
    expect(g.drainIntents().map((i) => (i.kind === 'clear' ? i.fault : i.kind))).toEqual(['ac-test-current-up']);
    expect(g.takeDirty()).toEqual(['ac-1']);
    const after = feed(g, series('ac-1', T0 + 45 * MIN, 60, MIN, (i) => compressorSample(50, 45 + i, 4)));
    // the vibration diagnosis neither clears (its baseline is still the healthy 2 mm/s) nor is raised again;
    // the current rule relearns 50 A and stays quiet
    expect(after.cleared()).toEqual([]);
    expect(after.raised()).toEqual([]);
    expect(g.activeCount()).toBe(1);
    expect(vib.kind === 'raise' && vib.diagnosis.deviceId).toBe('ac-1');

    // a whole-device recalibration instead learns the 4 mm/s as normal: the vibration fault would vanish
    const h = engineWith(TWO);
    feed(h, series('ac-1', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i, i < 32 ? 2 : 4)));
    h.forget('ac-1', { resolve: true }, 0);
    h.drainIntents();
    expect(feed(h, series('ac-1', T0 + 45 * MIN, 60, MIN, (i) => compressorSample(50, 45 + i, 4))).raised()).toEqual([]);
    expect(h.activeCount()).toBe(0);

    // and the repaired fault, should it come back, is caught against the relearnt baseline
    const again = feed(g, series('ac-1', T0 + 105 * MIN, 10, MIN, (i) => compressorSample(65, 105 + i, 4)));
    expect(again.raised().map((r) => r.fault)).toEqual(['ac-test-current-up']);
  });
});

describe('Engine.forget narrowed to faults, with shared averages and the model', () => {
  it("a repaired fault's averages restart without touching another fault's rule on the same average", () => {
    // two faults judge the same 3-sample current average against different limits
    const shared = ruleSet({
      windowMs: MIN,
      buckets: 30,
      baselineSamples: 20,
      rules: [CURRENT_UP_RULE, { ...CURRENT_UP_RULE, id: 'current-way-up', fault: 'ac-test-current-way-up', condition: { ...CURRENT_UP_RULE.condition, above: 12 } }],
    });
    const e = engineWith(shared);
    const both = feed(e, series('ac-1', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)));
    expect(both.raised().map((r) => r.fault).sort()).toEqual(['ac-test-current-up', 'ac-test-current-way-up']);
    e.forget('ac-1', { resolve: true, faults: new Set(['ac-test-current-up']) }, 0);
    e.drainIntents();
    // the current stays at 65 A: the repaired rule learns it as normal, the other still judges it against 50 A
    const after = feed(e, series('ac-1', T0 + 45 * MIN, 60, MIN, (i) => compressorSample(65, 45 + i)));
    expect(after.cleared()).toEqual([]);
    expect(after.raised()).toEqual([]);
    expect(e.activeCount()).toBe(1);
  });

  it('a cleared fault the model held is raised again by the model while another fault stays active', () => {
    const released: string[] = [];
    const e = engineWith(RULES, { onModelRelease: (id) => released.push(id) });
    // the model flags every sample from minute 35 and its classifier names a fault no rule covers
    const anomalous = (a: boolean) => ({
      anomalyScore: a ? 5 : 0.1,
      anomaly: a,
      threshold: 1,
      topFeatures: [{ feature: 'vibrationRmsMmS.level', contribution: 1 }],
      faultProbabilities: { 'ac-bearing-wear': 0.9 },
    });
    const pts = series('ac-1', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)).map((p, i) => ({ point: p, anomaly: anomalous(i >= 35) }));
    expect(feed(e, pts).raised().map((r) => r.fault).sort()).toEqual(['ac-bearing-wear', 'ac-test-current-up']);
    // the model's diagnosis is resolved, the rule's is kept; the model still flags the device, so it raises again
    e.forget('ac-1', { resolve: true, faults: new Set(['ac-bearing-wear']) }, 0);
    expect(e.drainIntents().map((i) => (i.kind === 'clear' ? i.fault : i.kind))).toEqual(['ac-bearing-wear']);
    // the scorer is told, so that an alarm it holds below the threshold stops (the repair must be seen again)
    expect(released).toEqual(['ac-1']);
    const more = series('ac-1', T0 + 45 * MIN, 10, MIN, (i) => compressorSample(65, 45 + i)).map((p) => ({ point: p, anomaly: anomalous(true) }));
    expect(feed(e, more).raised().map((r) => r.fault)).toEqual(['ac-bearing-wear']);
    expect(e.activeCount()).toBe(2);
  });
  it("the model's own flag, held back while a rule's fault was active, raises once that fault is resolved", () => {
    const e = engineWith(RULES);
    const anomalous = (a: boolean) => ({ anomalyScore: a ? 5 : 0.1, anomaly: a, threshold: 1, topFeatures: [{ feature: 'motorCurrentA.level', contribution: 1 }] });
    // the current rule raises at 65 A; from minute 35 the model flags too, naming no fault: held back behind the rule's
    const pts = series('ac-1', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)).map((p, i) => ({ point: p, anomaly: anomalous(i >= 35) }));
    expect(feed(e, pts).raised().map((r) => r.fault)).toEqual(['ac-test-current-up']);
    e.forget('ac-1', { resolve: true, faults: new Set(['ac-test-current-up']) }, 0);
    e.drainIntents();
    // the current rule relearns 65 A; the model still flags the device, now on its own
    const more = series('ac-1', T0 + 45 * MIN, 10, MIN, (i) => compressorSample(65, 45 + i)).map((p) => ({ point: p, anomaly: anomalous(true) }));
    expect(feed(e, more).raised().map((r) => r.fault)).toEqual(['anomaly']);
  });

  it('an offline diagnosis resolved while the device is still silent is not raised again until it has sent, across a checkpoint too', () => {
    const withOffline = ruleSet({
      ...RULES,
      rules: [
        CURRENT_UP_RULE,
        { id: 'offline', fault: 'offline', severity: 'warning', condition: { kind: 'missing', afterMs: 10 * MIN }, remedy: { class: 'technician', summary: 'check the link' }, trigger: { k: 1, n: 1, clearAfterWindows: 1 } },
      ],
    });
    const e = engineWith(withOffline);
    feed(e, series('ac-1', T0, 5, MIN, (i) => compressorSample(50, i)), 0); // live
    e.checkPresence(T0 + 60 * MIN);
    expect(e.drainIntents().map((i) => (i.kind === 'raise' ? [i.diagnosis.fault, i.diagnosis.raisedAt] : i.kind))).toEqual([['offline', new Date(T0 + 14 * MIN).toISOString()]]);
    // the service team resolves it at minute 70 (the unit is switched off for the season); it stays silent
    e.forget('ac-1', { resolve: true, faults: new Set(['offline']) }, T0 + 70 * MIN);
    expect(e.drainIntents()).toMatchObject([{ kind: 'clear', fault: 'offline', at: T0 + 70 * MIN }]);
    e.checkPresence(T0 + 200 * MIN);
    expect(e.drainIntents()).toEqual([]);
    // nor after a restart from its checkpoint
    const snap = e.snapshot('ac-1')!;
    const r = engineWith(withOffline);
    expect(r.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(true);
    r.checkPresence(T0 + 300 * MIN);
    expect(r.drainIntents()).toEqual([]);
    // back at minute 400: the resolved silence is no gap to raise; a silence after it is
    expect(feed(r, series('ac-1', T0 + 400 * MIN, 3, MIN, (i) => compressorSample(50, 400 + i)), 0).raised()).toEqual([]);
    r.checkPresence(T0 + 430 * MIN);
    expect(r.drainIntents().map((i) => (i.kind === 'raise' ? [i.diagnosis.fault, i.diagnosis.raisedAt] : i.kind))).toEqual([['offline', new Date(T0 + 412 * MIN).toISOString()]]);

    // a repair naming `offline` while no offline diagnosis is active marks nothing: a silence after it is raised
    const g = engineWith(withOffline);
    feed(g, series('ac-1', T0, 5, MIN, (i) => compressorSample(50, i)), 0);
    g.forget('ac-1', { resolve: true, faults: new Set(['offline', 'ac-test-current-up']) }, T0 + 5 * MIN);
    g.checkPresence(T0 + 600 * MIN);
    expect(g.drainIntents().map((i) => (i.kind === 'raise' ? i.diagnosis.fault : i.kind))).toEqual(['offline']);
  });
});
