import { describe, expect, it } from 'vitest';
import type { Condition } from '../../core/domain/rule.ts';
import { evidence } from '../../diagnosis/rules/evaluate.ts';
import { DAY, MIN, T0, engineWith, feed, iso, oneRule, point, remedy, ruleSet, series } from './helpers.ts';

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

  it('a whole-day average of a rise is the counter’s climb over the day, whatever the reporting rate', () => {
    // a healthy unit, 60 % loaded from 06:00 to 18:00 and stopped at night (true duty 0.30); every 15 minutes for two
    // weeks, then its controller reports every minute while it runs and every quarter hour while it is stopped
    const rule = { kind: 'mean', metric: 'loadedHours', risePerHour: true, overDays: 7, clearByWeekday: true, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.05, clearAbove: 0.03 };
    const pts: ReturnType<typeof series> = [];
    let h = 10_000;
    for (let ts = T0; ts < T0 + 30 * DAY; ) {
      const hour = ((ts - T0) % DAY) / 3_600_000;
      const running = hour >= 6 && hour < 18;
      pts.push(point('d', ts, { loadedHours: Math.round(h * 1000) / 1000 }));
      const step = running && ts >= T0 + 14 * DAY ? MIN : 15 * MIN;
      h += ((running ? 0.6 : 0) * step) / 3_600_000;
      ts += step;
    }
    // by sample, the busy minutes would outnumber the idle quarter hours: 0.56 a day, a false leak
    const e = engineWith(oneRule(rule));
    expect(feed(e, pts).raised()).toEqual([]);
    const state = e.states.get('d')!;
    const values = evidence(state.layout.rules[0]!.condition, { state, ts: pts.at(-1)!.ts });
    expect(values['loadedHours:baseline']).toBeCloseTo(0.3, 3);
    // the last seven whole days, all at a minute while running: the same 0.30, and so is the last day alone
    expect(values['loadedHours:mean']).toBeCloseTo(0.3, 3);
    expect(values['loadedHours:lastDay']).toBeCloseTo(0, 2);
  });

  it('a whole-day rise: a counter shown in whole hours still reads its duty under riseAtMost, and a silent weekend while the baseline is learnt is left out', () => {
    // 60 % loaded from 06:00 to 18:00, stopped at night (duty 0.30); a leak adds 0.2 from day 20
    const rule = { kind: 'mean', metric: 'loadedHours', risePerHour: true, riseAtMost: 2, overDays: 7, clearByWeekday: true, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.05, clearAbove: 0.03 };
    const run = (o: { decimals: number; stepMs: number; leakFromDay: number; silent?: [number, number] }) => {
      const pts: ReturnType<typeof series> = [];
      let h = 20_000;
      for (let ts = T0; ts < T0 + 35 * DAY; ts += o.stepMs) {
        const day = (ts - T0) / DAY;
        // switched off and silent: the counter stands still
        if (o.silent && day >= o.silent[0] && day < o.silent[1]) continue;
        const hour = ((ts - T0) % DAY) / 3_600_000;
        pts.push(point('d', ts, { loadedHours: Math.round(h * 10 ** o.decimals) / 10 ** o.decimals }));
        h += (((hour >= 6 && hour < 18 ? 0.6 : 0) + (day >= o.leakFromDay ? 0.2 : 0)) * o.stepMs) / 3_600_000;
      }
      const e = engineWith(oneRule(rule));
      const f = feed(e, pts);
      const state = e.states.get('d')!;
      return { raised: f.raised(), values: evidence(state.layout.rules[0]!.condition, { state, ts: pts.at(-1)!.ts }) };
    };
    // whole hours every minute: each step of 1 h reads as 60 h an hour, which is no leap
    const coarse = run({ decimals: 0, stepMs: MIN, leakFromDay: 20 });
    expect(coarse.raised).toEqual([{ fault: 'test-fault', at: iso(T0 + 22 * DAY + 3 * MIN) }]);
    expect(coarse.values['loadedHours:baseline']).toBeCloseTo(0.3, 2);
    expect(coarse.values['loadedHours:mean']).toBeCloseTo(0.5, 2);
    // off and silent from day 4.5 to day 7: the weekend's standstill is not taken for the unit's normal
    for (const silent of [[4.5, 7], [3.7, 5.3]] as Array<[number, number]>) {
      const quiet = run({ decimals: 3, stepMs: 15 * MIN, leakFromDay: Infinity, silent });
      expect(quiet.raised).toEqual([]);
      expect(quiet.values['loadedHours:baseline']).toBeCloseTo(0.3, 1);
    }
  });

  it('riseAtMost: a counter that leaps forward (a controller swapped for one with more hours) is no week of duty', () => {
    // a healthy unit, 60 % loaded by day and stopped at night, samples every 15 minutes; on day 20 the counter leaps by 8,000 h
    const rule = (cap: Record<string, unknown>) => ({ kind: 'mean', metric: 'loadedHours', risePerHour: true, overDays: 7, relativeTo: 'baseline', baselineMs: 7 * DAY, above: 0.05, ...cap });
    const pts = (leapOnDay: number) => {
      let h = 10_000;
      return series('d', T0, 35 * 96, 15 * MIN, (i, ts) => {
        const hour = ((ts - T0) % DAY) / 3_600_000;
        if (i > 0) h += (hour >= 6 && hour < 18 ? 0.6 : 0) * 0.25;
        if (ts === T0 + leapOnDay * DAY) h += 8_000;
        return { loadedHours: Math.round(h * 1000) / 1000 };
      });
    };
    // without a cap, the one step is 32,000 h an hour in the day's average: a leak for the week it stays in the window
    expect(feed(engineWith(oneRule(rule({}))), pts(20)).raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 20 * DAY + 31 * MIN) }]);
    expect(feed(engineWith(oneRule(rule({ riseAtMost: 2 }))), pts(20)).raised()).toEqual([]);
    // the cap takes nothing from a unit's true duty: the same baseline and whole-day average without the leap
    const evidenceAt = (cap: Record<string, unknown>, leapOnDay: number) => {
      const f = feed(engineWith(oneRule({ ...rule(cap), above: -1 })), pts(leapOnDay));
      return (f.intents[0] as { diagnosis: { evidence: { rules: Array<{ values: Record<string, number> }> } } }).diagnosis.evidence.rules[0]!.values;
    };
    expect(evidenceAt({ riseAtMost: 2 }, Infinity)).toEqual(evidenceAt({}, Infinity));
    expect(() => oneRule({ ...rule({ riseAtMost: 2 }), risePerHour: undefined })).toThrow(/riseAtMost needs risePerHour/);
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
