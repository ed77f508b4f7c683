import { describe, expect, it } from 'vitest';
import type { Engine } from '../../diagnosis/engine.ts';
import { MIN, T0, engineWith, feed, iso, oneRule, remedy, ruleSet, series } from './helpers.ts';

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

  it('a decimal limit is met by the same decimal reading (readings are kept as float32): equals fires, below and above do not', () => {
    const at = (op: string, value: number, reading: number, minus?: { ambientTempC: number }) =>
      feed(engineWith(oneRule({ kind: 'threshold', metric: 'oilTempC', ...(minus ? { minus: 'ambientTempC' } : {}), op, value })), series('d', T0, 6, MIN, () => ({ oilTempC: reading, ...minus }))).raised().length;
    expect(at('equals', 7.2, 7.2)).toBe(1);
    expect(at('below', 7.2, 7.2)).toBe(0);
    expect(at('above', 7.2, 7.2)).toBe(0);
    expect(at('below', 7.2, 7.1)).toBe(1);
    expect(at('above', 7.2, 7.3)).toBe(1);
    expect(at('equals', 7.2, 7.3)).toBe(0);
    // the difference of two readings: 72.3 − 25.1 is at 47.2
    expect(at('above', 47.2, 72.3, { ambientTempC: 25.1 })).toBe(0);
    expect(at('below', 47.2, 72.3, { ambientTempC: 25.1 })).toBe(0);
    expect(at('equals', 47.2, 72.3, { ambientTempC: 25.1 })).toBe(1);
    expect(at('above', 47.2, 72.4, { ambientTempC: 25.1 })).toBe(1);
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
