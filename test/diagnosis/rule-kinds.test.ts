import { describe, expect, it } from 'vitest';
import type { Condition } from '../../core/domain/rule.ts';
import type { Engine } from '../../diagnosis/engine.ts';
import { DAY, MIN, T0, engineWith, feed, iso, oneRule, point, remedy, ruleSet, series } from './helpers.ts';

describe('threshold', () => {
  const above = { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90, clear: 85 };

  it('raises after k of n windows above the set level, at the end of the window that completed it', () => {
    const e = engineWith(oneRule(above));
    const f = feed(e, series('d1', T0, 12, MIN, (i) => ({ oilTempC: i >= 4 ? 95 : 80 })));
    // samples 4, 5, 6 abnormal: the window of sample 6 closes when sample 7 arrives, at T0 + 7 min
    expect(f.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 7 * MIN) }]);
    expect(f.intents[0]).toMatchObject({ kind: 'raise', diagnosis: { deviceId: 'd1', severity: 'warning', status: 'active', evidence: { rules: [{ ruleId: 'r', values: { oilTempC: 95 } }] } } });
  });

  it('does not fire on a single sample or on fewer than k of n', () => {
    const e = engineWith(oneRule(above));
    const f = feed(e, series('d1', T0, 30, MIN, (i) => ({ oilTempC: i % 3 === 0 ? 99 : 80 })));
    expect(f.raised()).toEqual([]);
  });

  it('hysteresis: a value hovering between clear and set level neither flaps nor clears', () => {
    const e = engineWith(oneRule(above));
    // rise past 90, then hover at 86–89.9 (above the clear level 85) for a long time, then drop to 80
    const f = feed(e, series('d1', T0, 60, MIN, (i) => ({ oilTempC: i < 3 ? 80 : i < 6 ? 91 : i < 50 ? 86 + (i % 2) * 3.9 : 80 })));
    expect(f.raised().length).toBe(1);
    expect(f.cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 54 * MIN) }]);
  });

  it('without hysteresis the same hovering would clear and re-raise', () => {
    const e = engineWith(oneRule({ ...above, clear: 90 }));
    const f = feed(e, series('d1', T0, 60, MIN, (i) => ({ oilTempC: i < 3 ? 80 : i < 6 ? 91 : i < 50 ? (Math.floor(i / 6) % 2 ? 89 : 91) : 80 })));
    expect(f.raised().length).toBeGreaterThan(1);
  });

  it('below, outside a band (with clear band) and equals on booleans and strings', () => {
    const below = feed(engineWith(oneRule({ kind: 'threshold', metric: 'dischargePressureBar', op: 'below', value: 5 })), series('d', T0, 10, MIN, (i) => ({ dischargePressureBar: i > 2 ? 4 : 7 })));
    expect(below.raised().length).toBe(1);
    const band = { kind: 'threshold', metric: 'dischargePressureBar', op: 'outside', low: 6, high: 8, clearLow: 6.5, clearHigh: 7.5 };
    const out = feed(engineWith(oneRule(band)), series('d', T0, 30, MIN, (i) => ({ dischargePressureBar: i < 3 ? 7 : i < 8 ? 8.5 : i < 20 ? 7.8 : 7 })));
    expect(out.raised().length).toBe(1);
    expect(out.cleared().length).toBe(1);
    expect(Date.parse(out.cleared()[0]!.at)).toBeGreaterThan(T0 + 20 * MIN); // 7.8 is outside the clear band
    const bool = feed(engineWith(oneRule({ kind: 'threshold', metric: 'loaded', op: 'equals', value: true })), series('d', T0, 10, MIN, () => ({ loaded: true })));
    expect(bool.raised().length).toBe(1);
    const wm = ruleSet({ type: 'washing-machine', windowMs: MIN, rules: [{ id: 'r', fault: 'f', severity: 'info', condition: { kind: 'threshold', metric: 'phase', op: 'equals', value: 'spin' }, remedy, trigger: { k: 2, n: 2 } }] });
    const str = feed(engineWith(wm), series('w', T0, 6, MIN, (i) => ({ phase: i < 3 ? 'wash' : 'spin' }), 'washing-machine'));
    expect(str.raised()).toEqual([{ fault: 'f', at: iso(T0 + 5 * MIN) }]);
  });

  it('minus another metric and relative to the device baseline', () => {
    // approach = oil − ambient; a hot room moves both and stays quiet, a rising oil temperature fires
    const approach = { kind: 'threshold', metric: 'oilTempC', minus: 'ambientTempC', relativeTo: 'baseline', op: 'above', value: 8 };
    const hot = feed(engineWith(oneRule(approach)), series('d', T0, 40, MIN, (i) => ({ oilTempC: 70 + (i > 15 ? 10 : 0), ambientTempC: 25 + (i > 15 ? 10 : 0) })));
    expect(hot.raised()).toEqual([]);
    const fouled = feed(engineWith(oneRule(approach)), series('d', T0, 40, MIN, (i) => ({ oilTempC: 70 + (i > 15 ? 10 : 0), ambientTempC: 25 })));
    expect(fouled.raised().length).toBe(1);
    expect((fouled.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values).toMatchObject({
      'oilTempC-ambientTempC': 55,
      'oilTempC-ambientTempC:baseline': 45,
      'oilTempC-ambientTempC:deviation': 10,
    });
  });
});

describe('duration', () => {
  it('fires only once the condition held continuously for forMs of event time', () => {
    const cond = { kind: 'duration', forMs: 10 * MIN, condition: { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 } };
    // 9 minutes hot, 1 minute normal, 9 minutes hot: never 10 continuous minutes
    const broken = feed(engineWith(oneRule(cond, { trigger: { k: 1, n: 1, clearAfterWindows: 2 } })), series('d', T0, 40, MIN, (i) => ({ oilTempC: i % 10 === 9 ? 80 : 95 })));
    expect(broken.raised()).toEqual([]);
    const held = feed(engineWith(oneRule(cond, { trigger: { k: 1, n: 1, clearAfterWindows: 2 } })), series('d', T0, 20, MIN, () => ({ oilTempC: 95 })));
    // holds from T0; at T0+10min the duration is met; that window closes at T0+11min
    expect(held.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 11 * MIN) }]);
  });

  it('counts event time, not samples: ten samples a second apart are not ten minutes', () => {
    const cond = { kind: 'duration', forMs: 10 * MIN, condition: { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 } };
    const f = feed(engineWith(oneRule(cond, { trigger: { k: 1, n: 1, clearAfterWindows: 2 } })), series('d', T0, 500, 1000, () => ({ oilTempC: 95 })));
    expect(f.raised()).toEqual([]);
  });
});

describe('rate of change', () => {
  const rising = { kind: 'rate', metric: 'dischargeTempC', windowMs: 20 * MIN, above: 6 };
  it('fires on a sustained slope (least squares per hour), not on noise around a level', () => {
    const creep = feed(engineWith(oneRule(rising)), series('d', T0, 60, MIN, (i) => ({ dischargeTempC: 90 + (i * 12) / 60 + (i % 2 ? 0.8 : -0.8) })));
    expect(creep.raised().length).toBe(1);
    const values = (creep.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    expect(values['dischargeTempC:slopePerHour']).toBeGreaterThan(9);
    expect(values['dischargeTempC:slopePerHour']).toBeLessThan(15);
    const flat = feed(engineWith(oneRule(rising)), series('d', T0, 60, MIN, (i) => ({ dischargeTempC: 90 + (i % 2 ? 1.5 : -1.5) })));
    expect(flat.raised()).toEqual([]);
  });

  it('a stuck sensor is no flat slope: exact repeats from the third on stay out of the rolling windows', () => {
    // "heating stalled": heater on while the water warms by less than 6 °C an hour
    const stalled = { kind: 'all', of: [{ kind: 'threshold', metric: 'loaded', op: 'equals', value: true }, { kind: 'rate', metric: 'oilTempC', windowMs: 20 * MIN, below: 6 }] };
    // the reading froze at 41.3 while the heater ran
    const frozen = feed(engineWith(oneRule(stalled)), series('d', T0, 60, MIN, () => ({ loaded: true, oilTempC: 41.3 })));
    expect(frozen.raised()).toEqual([]);
    // a live but really stalled reading (noise around a level) does raise it
    const slow = feed(engineWith(oneRule(stalled)), series('d', T0, 60, MIN, (i) => ({ loaded: true, oilTempC: 41.3 + (i % 3) * 0.1 })));
    expect(slow.raised().length).toBe(1);
  });
});

describe('device error codes', () => {
  const e17 = () => oneRule({ kind: 'error-code', codes: ['E17'], eventKinds: ['error'], withinMs: 5 * MIN }, { trigger: { k: 1, n: 1, clearAfterWindows: 3 } });
  const report = (e: Engine, minutes: number, kind = 'error', code = 'E17') => e.event({ deviceId: 'd', type: 'air-compressor', ts: T0 + minutes * MIN, kind, code }, 0);

  it('a matching event holds the condition for withinMs; other codes and kinds do not', () => {
    const e = engineWith(e17());
    const f = feed(e, series('d', T0, 3, MIN, () => ({ oilTempC: 70 })));
    report(e, 2.5, 'error', 'E99');
    report(e, 2.6, 'warning');
    feed(e, series('d', T0 + 3 * MIN, 3, MIN, () => ({ oilTempC: 70 })), undefined, f);
    expect(f.raised()).toEqual([]);
    report(e, 5.5);
    feed(e, series('d', T0 + 6 * MIN, 20, MIN, () => ({ oilTempC: 70 })), undefined, f);
    // events do not move the sample clock: the event's window is judged with the next sample
    expect(f.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 7 * MIN) }]);
    expect(f.cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 14 * MIN) }]);
  });

  it('an event that arrives after later samples (another topic, an accelerated replay) is judged with the next sample; one over a day late is not', () => {
    const e = engineWith(e17());
    const f = feed(e, series('d', T0, 40, MIN, () => ({ oilTempC: 70 })));
    // reported at T0 + 10 min, received when the samples are at T0 + 39 min
    report(e, 10);
    feed(e, series('d', T0 + 40 * MIN, 10, MIN, () => ({ oilTempC: 70 })), undefined, f);
    expect(f.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 41 * MIN) }]); // the window the next sample closes

    const late = engineWith(e17());
    const g = feed(late, series('d', T0, 26 * 6, 10 * MIN, () => ({ oilTempC: 70 })));
    report(late, 10);
    feed(late, series('d', T0 + 26 * 60 * MIN, 10, MIN, () => ({ oilTempC: 70 })), undefined, g);
    expect(g.raised()).toEqual([]);
  });

  it('an event that arrives before the samples leading up to it (a stored batch handed over later) is judged when they reach it', () => {
    const e = engineWith(e17());
    const f = feed(e, series('d', T0, 5, MIN, () => ({ oilTempC: 70 })));
    // the device reports errors at T0 + 20 min and T0 + 22 min while its samples are only at T0 + 4 min
    report(e, 20);
    report(e, 22);
    feed(e, series('d', T0 + 5 * MIN, 40, MIN, () => ({ oilTempC: 70 })), undefined, f);
    expect(f.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 21 * MIN) }]);
  });
});

describe('AND / OR combinations and gates', () => {
  const hot = { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 };
  const loaded = { kind: 'threshold', metric: 'loaded', op: 'equals', value: true };
  const run = (cond: unknown, fn: (i: number) => Record<string, number | boolean>, extra = {}) => feed(engineWith(oneRule(cond, extra)), series('d', T0, 20, MIN, fn)).raised().length;

  it('all needs every child, any needs one', () => {
    expect(run({ kind: 'all', of: [hot, loaded] }, () => ({ oilTempC: 95, loaded: false }))).toBe(0);
    expect(run({ kind: 'all', of: [hot, loaded] }, () => ({ oilTempC: 95, loaded: true }))).toBe(1);
    expect(run({ kind: 'any', of: [hot, loaded] }, () => ({ oilTempC: 80, loaded: true }))).toBe(1);
    expect(run({ kind: 'any', of: [hot, loaded] }, () => ({ oilTempC: 80, loaded: false }))).toBe(0);
  });

  it('a gate (when) makes closed-gate samples count neither way', () => {
    // hot only while loaded, which is every third minute: ungated the windows are mostly normal
    const fn = (i: number) => ({ oilTempC: i % 3 === 0 ? 95 : 80, loaded: i % 3 === 0 });
    expect(run(hot, fn)).toBe(0);
    expect(run(hot, fn, { when: loaded })).toBe(1);
    // a sample that leaves the gate's metric out keeps the gate shut, whatever the last value said
    const partial = (i: number): Record<string, number | boolean> => (i % 3 === 0 ? { oilTempC: 95, loaded: true } : { oilTempC: 80 });
    expect(run(hot, partial, { when: loaded })).toBe(1);
    const stale = (i: number): Record<string, number | boolean> => (i < 2 ? { oilTempC: 80, loaded: true } : { oilTempC: 95 });
    expect(run(hot, stale, { when: loaded })).toBe(0);
  });
});

describe('k of n, no re-raise, clear', () => {
  it('one diagnosis while active; clears after the normal windows; a new episode raises again', () => {
    const e = engineWith(oneRule({ kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 }));
    const f = feed(e, series('d', T0, 80, MIN, (i) => ({ oilTempC: (i >= 5 && i < 30) || i >= 50 ? 95 : 80 })));
    expect(f.raised()).toEqual([
      { fault: 'test-fault', at: iso(T0 + 8 * MIN) },
      { fault: 'test-fault', at: iso(T0 + 53 * MIN) },
    ]);
    expect(f.cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 34 * MIN) }]);
    const [a, b] = f.intents.filter((i) => i.kind === 'raise');
    expect(a?.kind === 'raise' && b?.kind === 'raise' && a.diagnosis.id !== b.diagnosis.id).toBe(true);
  });

  it('clearAfterMs: the normal windows must also span that much event time; only a sustained relapse (k of n) restarts it', () => {
    const rule = (clearAfterMs?: number) => oneRule({ kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 }, { trigger: { k: 3, n: 5, clearAfterWindows: 4, clearAfterMs } });
    const run = (clearAfterMs: number | undefined, bad: (i: number) => boolean) =>
      feed(engineWith(rule(clearAfterMs)), series('d', T0, 200, MIN, (i) => ({ oilTempC: (i >= 5 && i < 30) || bad(i) ? 95 : 80 })));
    // abnormal from minute 5 to 29: four normal windows alone clear it at minute 34
    expect(run(undefined, () => false).cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 34 * MIN) }]);
    // an hour: normal from minute 30, cleared at 90
    const steady = run(60 * MIN, () => false);
    expect(steady.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 8 * MIN) }]);
    expect(steady.cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 90 * MIN) }]);
    // one odd reading every 25 minutes (1 of 5 windows) does not restart the hour: still cleared at 90
    expect(run(60 * MIN, (i) => i >= 30 && i % 25 === 0).cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 90 * MIN) }]);
    // three in a row at 60–62 (3 of 5) do: normal again from 63, cleared at 123
    expect(run(60 * MIN, (i) => i >= 60 && i <= 62).cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 123 * MIN) }]);
  });

  it('two rules naming one fault share one diagnosis', () => {
    const rs = ruleSet({
      windowMs: MIN,
      rules: [
        { id: 'a', fault: 'same', severity: 'warning', condition: { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 }, remedy, trigger: { k: 2, n: 3, clearAfterWindows: 3 } },
        { id: 'b', fault: 'same', severity: 'warning', condition: { kind: 'threshold', metric: 'dischargeTempC', op: 'above', value: 100 }, remedy, trigger: { k: 2, n: 3, clearAfterWindows: 3 } },
      ],
    });
    const f = feed(engineWith(rs), series('d', T0, 40, MIN, (i) => ({ oilTempC: i > 3 && i < 20 ? 95 : 80, dischargeTempC: i > 10 && i < 25 ? 105 : 95 })));
    expect(f.raised().length).toBe(1);
    // cleared only once both rules are normal: b is abnormal until minute 24
    expect(f.cleared()).toEqual([{ fault: 'same', at: iso(T0 + 28 * MIN) }]);
  });

  it('out-of-order samples are counted late and ignored', () => {
    const e = engineWith(oneRule({ kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 }));
    feed(e, series('d', T0 + 10 * MIN, 2, MIN, () => ({ oilTempC: 80 })));
    feed(e, series('d', T0, 5, MIN, () => ({ oilTempC: 99 })));
    expect(e.late).toBe(5);
  });
});

describe('mean (a slow shift against the device’s own baseline)', () => {
  const noise = (i: number) => ((i * 7919) % 13) / 13 - 0.5; // deterministic, never three equal in a row
  // intake pressure drop while loaded, 30 % below this unit's normal: only loaded samples count
  const passingLess = {
    kind: 'mean',
    metric: 'airFilterDpMbar',
    where: { kind: 'threshold', metric: 'loaded', op: 'equals', value: true },
    overMs: 10 * MIN,
    relativeTo: 'ratio',
    baselineSamples: 20,
    below: -0.2,
    clearBelow: -0.1,
  };

  it('learns the baseline from counted samples only, then fires on a sustained ratio and clears with hysteresis', () => {
    // loaded every other minute at 20 mbar (unloaded: 2 mbar, not counted); from minute 80 loaded readings sag to 14 (−30 %), from 200 back to 20
    const dp = (i: number) => (i % 2 === 0 ? (i >= 80 && i < 200 ? 14 : 20) + noise(i) : 2 + noise(i));
    const f = feed(engineWith(oneRule(passingLess)), series('d', T0, 320, MIN, (i) => ({ loaded: i % 2 === 0, airFilterDpMbar: dp(i) })));
    const raised = f.raised();
    expect(raised.map((r) => r.fault)).toEqual(['test-fault']);
    // the 10-minute average needs a few loaded samples to cross −20 %, so not at minute 80 itself
    expect(Date.parse(raised[0]!.at)).toBeGreaterThan(T0 + 82 * MIN);
    expect(Date.parse(raised[0]!.at)).toBeLessThan(T0 + 110 * MIN);
    expect(f.cleared().length).toBe(1);
    expect(Date.parse(f.cleared()[0]!.at)).toBeGreaterThan(T0 + 200 * MIN);
    const values = (f.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    expect(values['airFilterDpMbar:baseline']).toBeCloseTo(20, 0);
    expect(values['airFilterDpMbar:ratio']).toBeLessThan(-0.2);
  });

  it('ignores a stuck sensor and single spikes that a plain threshold would take', () => {
    // a reading stuck at 3 mbar for an hour (the sensor froze at an unloaded value), and a lone −90 % spike every 15 minutes
    const dp = (i: number) => (i >= 60 && i < 120 ? 3 : i % 15 === 0 ? 2 : 20 + noise(i));
    const f = feed(engineWith(oneRule(passingLess)), series('d', T0, 200, MIN, (i) => ({ loaded: true, airFilterDpMbar: dp(i) })));
    expect(f.raised()).toEqual([]);
    const plain = feed(engineWith(oneRule({ kind: 'threshold', metric: 'airFilterDpMbar', op: 'below', value: 16 })), series('d', T0, 200, MIN, (i) => ({ loaded: true, airFilterDpMbar: dp(i) })));
    expect(plain.raised().length).toBe(1);
  });

  it('relativeTo baseline over a span of event time: a duty cycle creeping up', () => {
    // loaded 3 minutes in 10 for the first 6 hours (the baseline span), then 6 in 10: +0.3 duty
    const duty = { kind: 'mean', metric: 'loaded', overMs: 60 * MIN, relativeTo: 'baseline', baselineMs: 6 * 60 * MIN, above: 0.15 };
    const f = feed(engineWith(oneRule(duty)), series('d', T0, 12 * 60, MIN, (i) => ({ loaded: i % 10 < (i < 8 * 60 ? 3 : 6) })));
    const raised = f.raised();
    expect(raised.length).toBe(1);
    expect(Date.parse(raised[0]!.at)).toBeGreaterThan(T0 + 8 * 60 * MIN);
    // quiet while it is the same duty as the baseline
    const same = feed(engineWith(oneRule(duty)), series('d', T0, 12 * 60, MIN, (i) => ({ loaded: i % 10 < 3 })));
    expect(same.raised()).toEqual([]);
  });

  it('overDays: whole days take every hour of the week once, so weekends cancel out and a small steady leak shows', () => {
    // loaded 12 minutes in 20 on weekdays, 2 in 20 at weekends (T0 is a Monday); a leak adds 3 in 20 (+0.15) from day 17
    const loadedAt = (i: number, leakFrom: number) => {
      const day = Math.floor(i / (24 * 60));
      const weekend = day % 7 >= 5;
      return i % 20 < (weekend ? 2 : 12) + (day >= leakFrom ? 3 : 0);
    };
    const week = (extra: Record<string, unknown>) => ({ kind: 'mean', metric: 'loaded', relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.08, clearAbove: 0.05, ...extra });
    const days = 35;
    // starting at 13:00, so the first whole day begins at the next midnight
    const run = (rule: unknown, leakFrom: number) => feed(engineWith(oneRule(rule)), series('d', T0 + 13 * 60 * MIN, days * 24 * 60, MIN, (i) => ({ loaded: loadedAt(i + 13 * 60, leakFrom) })));
    expect(run(week({ overDays: 7 }), Infinity).raised()).toEqual([]);
    // a moving average of half a week swings with the weekly rhythm alone past the same limit
    expect(run(week({ overMs: 3.5 * DAY }), Infinity).raised().length).toBeGreaterThan(0);
    const leak = run(week({ overDays: 7 }), 17);
    const raised = leak.raised();
    expect(raised).toHaveLength(1);
    // the whole-day average moves at midnight: past +0.08 once more than half of the last 7 days leaked (day 21)
    expect(Date.parse(raised[0]!.at)).toBeGreaterThanOrEqual(T0 + 21 * DAY);
    expect(Date.parse(raised[0]!.at)).toBeLessThan(T0 + 21 * DAY + 10 * MIN);
    const values = (leak.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    expect(values['loaded:baseline']).toBeCloseTo((5 * 0.6 + 2 * 0.1) / 7, 2);
    expect(values['loaded:deviation']).toBeCloseTo((4 * 0.15) / 7, 3);
  });

  it('clearByWeekday: a repaired leak lets go after its first whole healthy day, not when the week has caught up', () => {
    // weekdays loaded 12 minutes in 20, weekends 2 in 20 (T0 is a Monday), from 13:00; +3 in 20 from day 17, repaired at day 28
    const day = (i: number) => Math.floor((i + 13 * 60) / (24 * 60));
    const loaded = (i: number) => (i + 13 * 60) % 20 < (day(i) % 7 >= 5 ? 2 : 12) + (day(i) >= 17 && day(i) < 28 ? 3 : 0);
    const rule = (byWeekday: boolean) => ({ kind: 'mean', metric: 'loaded', overDays: 7, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.08, clearAbove: 0.05, ...(byWeekday ? { clearByWeekday: true } : {}) });
    const run = (byWeekday: boolean) => feed(engineWith(oneRule(rule(byWeekday))), series('d', T0 + 13 * 60 * MIN, 40 * 24 * 60, MIN, (i) => ({ loaded: loaded(i) })));
    const by = run(true);
    expect(by.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 21 * DAY + 3 * MIN) }]);
    // day 28, the first healthy one, closes at day 29: the condition lets go, and four normal windows clear it
    expect(by.cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 29 * DAY + 4 * MIN) }]);
    const values = (by.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    // day 20 (a Sunday) against the baseline's Sunday: the leak's 0.15 exactly
    expect(values['loaded:lastDay']).toBeCloseTo(0.15, 6);
    // without it, the whole-week average must fall under 0.05 first: two leaky days of seven left, at day 33
    const week = run(false);
    expect(week.raised()).toEqual(by.raised());
    expect(week.cleared()).toEqual([{ fault: 'test-fault', at: iso(T0 + 33 * DAY + 4 * MIN) }]);
  });

  it('a counter’s rise: an idle machine’s repeats are no stuck sensor, and a reset counts nothing', () => {
    // loaded hours every 15 minutes: 60 % loaded from 06:00 to 18:00, motor stopped at night (the counter repeats);
    // from day 14 a leak: 70 % by day and 10 % at night (true duty 0.30 -> 0.40); optionally the counter is reset on day 24
    const rule = { kind: 'mean', metric: 'loadedHours', risePerHour: true, overDays: 7, clearByWeekday: true, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.05, clearAbove: 0.03 };
    const run = (resetOnDay: number) => {
      let h = 10_000;
      const pts = series('d', T0, 40 * 96, 15 * MIN, (i, ts) => {
        const day = Math.floor((ts - T0) / DAY);
        const hour = ((ts - T0) % DAY) / 3_600_000;
        const duty = hour >= 6 && hour < 18 ? (day >= 14 ? 0.7 : 0.6) : day >= 14 ? 0.1 : 0;
        if (i > 0) h += duty * 0.25;
        if (ts === T0 + resetOnDay * DAY) h = 0;
        return { loadedHours: Math.round(h * 1000) / 1000 };
      });
      return feed(engineWith(oneRule(rule)), pts);
    };
    const f = run(Infinity);
    expect(f.raised()).toHaveLength(1);
    const values = (f.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    // the night's flat readings count as no duty: the baseline is the true 0.30
    expect(values['loadedHours:baseline']).toBeCloseTo(0.3, 2);
    const reset = run(24);
    expect(reset.raised()).toEqual(f.raised());
    expect(reset.cleared()).toEqual([]);
  });

  it('overDays after a silence: unknown until the window holds whole days again', () => {
    // steady duty 0.3, then the device is silent for 10 days (days 9–18) and comes back leaking (+0.2)
    const rule = { kind: 'mean', metric: 'loaded', overDays: 7, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.08 };
    const pts = series('d', T0, 30 * 24 * 60, MIN, (i) => ({ loaded: i % 10 < (i >= 19 * 24 * 60 ? 5 : 3) })).filter((p) => p.ts < T0 + 9 * DAY || p.ts >= T0 + 19 * DAY);
    const raised = feed(engineWith(oneRule(rule)), pts).raised();
    expect(raised).toHaveLength(1);
    // the day the silence ends is left out like a first day: days 20–26 are the first 7 whole days after it,
    // judged from the first sample of day 27 (k = 3 of n = 5 one-minute windows)
    expect(raised[0]!.at).toBe(iso(T0 + 27 * DAY + 3 * MIN));
  });

  it('overDays across a silence: a leak diagnosed before it stays diagnosed (the last whole-week average stands)', () => {
    // duty 0.3, +0.2 from day 9, never repaired; the device is silent on days 28 and 29
    const rule = { kind: 'mean', metric: 'loaded', overDays: 7, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.08, clearAbove: 0.05 };
    const pts = series('d', T0, 45 * 24 * 60, MIN, (i) => ({ loaded: i % 10 < (i >= 9 * 24 * 60 ? 5 : 3) })).filter((p) => p.ts < T0 + 28 * DAY || p.ts >= T0 + 30 * DAY);
    const f = feed(engineWith(oneRule(rule)), pts);
    expect(f.raised()).toHaveLength(1);
    expect(f.cleared()).toEqual([]);
  });

  it('adjustFor takes out a covariate learnt over the baseline: a warmer room is not a fault, extra duty at the same room is', () => {
    // a compressor's duty follows the room (+2 points per °C) around a daily cycle; from hour 30 the room runs 6 °C warmer
    const room = (i: number) => 20 + 3 * Math.sin((2 * Math.PI * i) / (24 * 60)) + (i >= 30 * 60 ? 6 : 0);
    const duty = (i: number, extra: number) => Math.round((40 + 2 * (room(i) - 20) + extra + noise(i)) * 10) / 10;
    const rule = (adjust: boolean) => ({
      kind: 'mean', metric: 'motorCurrentA', overMs: 3 * 60 * MIN, relativeTo: 'ratio', baselineMs: 24 * 60 * MIN, above: 0.15,
      ...(adjust ? { adjustFor: 'ambientTempC' } : {}),
    });
    const warm = (i: number) => ({ ambientTempC: Math.round(room(i) * 10) / 10, motorCurrentA: duty(i, 0) });
    const n = 48 * 60;
    expect(feed(engineWith(oneRule(rule(true))), series('d', T0, n, MIN, warm)).raised()).toEqual([]);
    // without the adjustment the warm room alone (+12 points, +30 %) raises it
    expect(feed(engineWith(oneRule(rule(false))), series('d', T0, n, MIN, warm)).raised().length).toBe(1);
    // the same warm room plus 10 points of duty the room does not explain raises it with the adjustment too
    const leaking = (i: number) => ({ ambientTempC: Math.round(room(i) * 10) / 10, motorCurrentA: duty(i, i >= 30 * 60 ? 10 : 0) });
    const f = feed(engineWith(oneRule(rule(true))), series('d', T0, n, MIN, leaking));
    expect(f.raised().length).toBe(1);
    const values = (f.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    expect(values['motorCurrentA:per-ambientTempC']).toBeCloseTo(2, 0);
  });

  it('perLoad and overSamples: spin vibration per unit of imbalance × speed², two readings a spin, one spin a day', () => {
    // vibration = 0.13 g × (1 + 7.5e-6 × imbalance × rpm²) × wear; a heavy load (1.1 kg) every fifth day shakes the drum hard
    const spinning = { kind: 'all', of: [{ kind: 'threshold', metric: 'phase', op: 'equals', value: 'spin' }, { kind: 'threshold', metric: 'drumRpm', op: 'above', value: 500 }] };
    const rule = (perLoad: boolean) => ({
      kind: 'mean', metric: 'drumVibrationG', where: spinning, relativeTo: 'ratio', overSamples: 8, baselineSamples: 8, above: 0.25, clearAbove: 0.15,
      ...(perLoad ? { perLoad: { factors: [{ metric: 'imbalanceKg' }, { metric: 'drumRpm', power: 2 }], gain: 7.5e-6 } } : {}),
    });
    const wm = (condition: unknown) => ruleSet({ type: 'washing-machine', windowMs: MIN, baselineSamples: 8, rules: [{ id: 'r', fault: 'shock', severity: 'warning', when: spinning as Condition, condition: condition as Condition, remedy, trigger: { k: 2, n: 3, clearAfterWindows: 4 } }] });
    /** days of one spin (two samples 5 min apart, an idle sample between spins); `imb(day)` the real imbalance, `read(day)` what its sensor reports */
    const spins = (days: number, wear: (day: number) => number, imb: (day: number) => number, read = imb) =>
      Array.from({ length: days }, (_, d) => {
        const at = T0 + d * DAY;
        const vib = (k: number) => Math.round(0.13 * (1 + 7.5e-6 * imb(d) * 1200 ** 2) * wear(d) * (1 + 0.05 * noise(d * 2 + k)) * 1000) / 1000;
        return [
          point('w', at, { phase: 'spin', drumRpm: 1200, imbalanceKg: read(d), drumVibrationG: vib(0) }, 'washing-machine'),
          point('w', at + 5 * MIN, { phase: 'spin', drumRpm: 1201, imbalanceKg: read(d), drumVibrationG: vib(1) }, 'washing-machine'),
          point('w', at + 60 * MIN, { phase: 'idle', drumRpm: 0, imbalanceKg: read(d), drumVibrationG: 0.01 }, 'washing-machine'),
        ];
      }).flat();
    const imbalance = (d: number) => (d % 5 === 4 ? 1.1 : 0.1 + 0.05 * (d % 3));
    const healthy = spins(40, () => 1, imbalance);
    expect(feed(engineWith(wm(rule(true))), healthy).raised()).toEqual([]);
    // the same data judged on raw vibration: the heavy loads look like wear
    expect(feed(engineWith(wm(rule(false))), healthy).raised().length).toBeGreaterThan(0);
    // worn dampers from day 20 (+50 %): raised within three spins
    const worn = feed(engineWith(wm(rule(true))), spins(40, (d) => (d >= 20 ? 1.5 : 1), imbalance)).raised();
    expect(worn.length).toBe(1);
    expect(Date.parse(worn[0]!.at)).toBeGreaterThan(T0 + 20 * DAY);
    expect(Date.parse(worn[0]!.at)).toBeLessThan(T0 + 23 * DAY);
    // the imbalance sensor stuck at 0.1 kg from day 10 while real loads vary: those readings do not count
    const stuck = spins(40, () => 1, imbalance, (d) => (d >= 10 ? 0.1 : imbalance(d)));
    expect(feed(engineWith(wm(rule(true))), stuck).raised()).toEqual([]);

    // new dampers on day 30: the average of eight readings holds the diagnosis for days after the repair;
    // with clearOverSamples 1 it lets go once the latest reading (the median of three) is back, and raises the same
    const repaired = spins(45, (d) => (d >= 20 && d < 30 ? 1.5 : 1), imbalance);
    const slow = feed(engineWith(wm(rule(true))), repaired);
    const quick = feed(engineWith(wm({ ...rule(true), clearOverSamples: 1 })), repaired);
    expect(quick.raised()).toEqual(slow.raised());
    expect(quick.cleared()).toHaveLength(1);
    expect(slow.cleared()).toHaveLength(1);
    const [quickAt, slowAt] = [quick, slow].map((f) => (Date.parse(f.cleared()[0]!.at) - T0) / DAY) as [number, number];
    // two spins with healthy dampers for the median to turn, then the rule's four normal windows (two more spins)
    expect(quickAt).toBeGreaterThan(30);
    expect(quickAt).toBeLessThan(32.5);
    expect(slowAt).toBeGreaterThan(quickAt + 1.5);
  });

  it('whileLearning: an exclusion whose baseline is not learnt yet does not hold the rule back', () => {
    // hot oil from the first minute; "compression heat not up" needs a day of baseline
    const rule = (whileLearning: boolean) => ({
      kind: 'all',
      of: [
        { kind: 'threshold', metric: 'oilTempC', op: 'above', value: 90 },
        { kind: 'mean', metric: 'dischargeTempC', minus: 'oilTempC', overMs: 60 * MIN, relativeTo: 'baseline', baselineMs: 24 * 60 * MIN, below: 4, whileLearning },
      ],
    });
    const hot = series('d', T0, 30, MIN, (i) => ({ oilTempC: 95 + noise(i), dischargeTempC: 110 + noise(i + 1) }));
    expect(feed(engineWith(oneRule(rule(true))), hot).raised().length).toBe(1);
    expect(feed(engineWith(oneRule(rule(false))), hot).raised()).toEqual([]);
  });

  it('a sample that lacks the gate’s metric counts in no average: a dropped phase does not read as still idle', () => {
    const idleLevel = { kind: 'mean', metric: 'waterLevelMm', where: { kind: 'threshold', metric: 'phase', op: 'equals', value: 'idle' }, overMs: 10 * MIN, relativeTo: 'baseline', baselineSamples: 10, above: 12 };
    const wm = ruleSet({ type: 'washing-machine', windowMs: MIN, baselineSamples: 10, rules: [{ id: 'r', fault: 'level', severity: 'warning', condition: idleLevel as Condition, remedy, trigger: { k: 3, n: 5, clearAfterWindows: 4 } }] });
    // idle with a dry drum; a programme (100 mm of water) whose samples leave the phase out; idle again;
    // from sample 40 the idle level reads 16 mm high (a drifting sensor)
    const level = (i: number) => Math.round(((i >= 5 && i < 15 ? 100 : i >= 40 ? 16.3 : 0.3) + noise(i)) * 10) / 10;
    const run = series('w', T0, 90, MIN, (i) => ({ waterLevelMm: level(i), ...(i >= 5 && i < 15 ? {} : { phase: 'idle' }) }), 'washing-machine');
    // counted as idle, the programme's water would have raised a false alarm while it ran and lifted the
    // baseline to about 40 mm, hiding the drift
    const raised = feed(engineWith(wm), run).raised();
    expect(raised).toHaveLength(1);
    expect(Date.parse(raised[0]!.at)).toBeGreaterThan(T0 + 40 * MIN);
  });

  it('rejects a mean without limits, or with both baseline forms', () => {
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overMs: MIN })).toThrow(/above or below/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overMs: MIN, above: 1, baselineMs: MIN, baselineSamples: 3 })).toThrow(/not both/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', above: 1 })).toThrow(/overMs, overSamples or overDays/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overMs: MIN, overSamples: 3, above: 1 })).toThrow(/overMs, overSamples or overDays/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overMs: MIN, overDays: 7, above: 1 })).toThrow(/overMs, overSamples or overDays/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overDays: 1, above: 1 })).toThrow(/>=2|greater than or equal to 2/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overDays: 7, clearOverSamples: 3, above: 1 })).toThrow(/overDays and clearOverSamples/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overMs: DAY, baselineMs: 7 * DAY, clearByWeekday: true, above: 1 })).toThrow(/clearByWeekday needs/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overDays: 7, baselineMs: 3 * DAY, clearByWeekday: true, above: 1 })).toThrow(/clearByWeekday needs/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overDays: 7, baselineMs: 7 * DAY, clearByWeekday: true, relativeTo: 'zero', above: 1 })).toThrow(/clearByWeekday judges/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overDays: 7, baselineMs: 7 * DAY, clearByWeekday: true, adjustFor: 'ambientTempC', above: 1 })).toThrow(/clearByWeekday judges/);
    expect(() => oneRule({ kind: 'mean', metric: 'loaded', overSamples: 3, clearOverSamples: 3, above: 1 })).toThrow(/clearOverSamples must be below overSamples/);
  });
});
