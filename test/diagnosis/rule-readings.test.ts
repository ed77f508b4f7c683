/**
 * Readings taken once per programme (a washer's fill time, held until the
 * next fill; a heater's warming while it heats cold water): a duration
 * measured between readings, a mean without the spike filter, and a mean of
 * how fast a reading climbs.
 */
import { describe, expect, it } from 'vitest';
import { DeviceType } from '../../core/domain/device-type.ts';
import type { Condition } from '../../core/domain/rule.ts';
import type { MetricValue } from '../../core/domain/telemetry.ts';
import { Engine } from '../../diagnosis/engine.ts';
import { compileRuleSet, ruleSetProblems } from '../../diagnosis/rules/compile.ts';
import { DAY, MIN, T0, TYPES, engineWith, feed, point, ruleSet } from './helpers.ts';

const HOUR = 60 * MIN;
const remedy = { class: 'owner', guide: 'Clean the inlet hose filter screen', summary: 'clean the screen' } as const;
const rinse = { kind: 'threshold', metric: 'phase', op: 'equals', value: 'rinse' } as const;

/** The rinse fill 30 % slower than the machine's first four, judged on its latest reading. */
const slowRinse = (despike: boolean) => ({ kind: 'mean', metric: 'fillTimeS', where: rinse, relativeTo: 'ratio', overSamples: 1, baselineSamples: 4, above: 0.3, despike });
const rules = (condition: unknown) =>
  ruleSet({
    type: 'washing-machine',
    windowMs: 5 * MIN,
    baselineSamples: 4,
    rules: [{ id: 'r', fault: 'inlet', severity: 'warning', condition: condition as Condition, remedy, trigger: { k: 1, n: 1, clearAfterWindows: 2 } }],
  });
const byReadings = (despike = false) => rules({ kind: 'duration', forMs: 40 * HOUR, readings: true, condition: slowRinse(despike) });

type Sample = [number, Record<string, MetricValue>];
/** One programme at `at`: wash fill then rinse fill (held from then on), `rinseSamples` readings while rinsing, an idle sample after. */
function programme(at: number, rinseFillS: number, rinseSamples = 2): Sample[] {
  const out: Sample[] = [[at, { phase: 'wash', fillTimeS: 90 }]];
  for (let k = 0; k < rinseSamples; k++) out.push([at + 40 * MIN + k * 5 * MIN, { phase: 'rinse', fillTimeS: rinseFillS }]);
  out.push([at + 60 * MIN, { phase: 'idle', fillTimeS: rinseFillS }]);
  return out;
}
/** Idle samples every 2 h from `from` to `to`, holding the last fill time. */
function idle(from: number, to: number, fillTimeS: number): Sample[] {
  const out: Sample[] = [];
  for (let t = from; t < to; t += 2 * HOUR) out.push([t, { phase: 'idle', fillTimeS }]);
  return out;
}
const washer = (samples: Sample[]) => samples.sort((a, b) => a[0] - b[0]).map(([ts, m]) => point('w', ts, m, 'washing-machine'));
/** Four healthy programmes a day apart (the baseline), then `more`. */
const history = (more: Sample[]) => washer([...[0, 1, 2, 3].flatMap((d) => programme(T0 + d * DAY, 65)), ...idle(T0 + 3 * DAY + 2 * HOUR, T0 + 4 * DAY, 65), ...more]);

describe('a duration measured in readings', () => {
  it('one slow programme followed by days of idling is not enough; plain event time would raise it', () => {
    const oneSlow = history([...programme(T0 + 4 * DAY, 130), ...idle(T0 + 4 * DAY + 2 * HOUR, T0 + 9 * DAY, 130)]);
    expect(feed(engineWith(byReadings()), oneSlow).raised()).toEqual([]);
    const plain = rules({ kind: 'duration', forMs: 40 * HOUR, condition: slowRinse(false) });
    expect(feed(engineWith(plain), oneSlow).raised()).toHaveLength(1);
  });

  it('slow again at a programme 40 h or more later: raised at that programme', () => {
    const twice = history([...programme(T0 + 4 * DAY, 120), ...idle(T0 + 4 * DAY + 2 * HOUR, T0 + 6 * DAY, 120), ...programme(T0 + 6 * DAY, 130)]);
    const raised = feed(engineWith(byReadings()), twice).raised();
    expect(raised).toHaveLength(1);
    expect(Date.parse(raised[0]!.at)).toBeGreaterThan(T0 + 6 * DAY + 40 * MIN);
    expect(Date.parse(raised[0]!.at)).toBeLessThanOrEqual(T0 + 6 * DAY + 60 * MIN);
    // a normal programme in between ends the hold
    const recovered = history([...programme(T0 + 4 * DAY, 120), ...programme(T0 + 5 * DAY, 66), ...programme(T0 + 6 * DAY, 130)]);
    expect(feed(engineWith(byReadings()), recovered).raised()).toEqual([]);
  });

  it('a value repeated from before (the programme between ran while offline) is no new reading', () => {
    // slow on day 4; a normal programme on day 5 is lost in an offline gap, so the idle samples after it
    // and the rinse of day 6 repeat its 65 s exactly: a stuck-looking value that moves no average
    const stale = history([
      ...programme(T0 + 4 * DAY, 130),
      ...idle(T0 + 4 * DAY + 2 * HOUR, T0 + 5 * DAY, 130),
      ...idle(T0 + 5 * DAY + 4 * HOUR, T0 + 6 * DAY, 65),
      [T0 + 6 * DAY + 40 * MIN, { phase: 'rinse', fillTimeS: 65 }],
      [T0 + 6 * DAY + 45 * MIN, { phase: 'rinse', fillTimeS: 65 }],
      ...idle(T0 + 6 * DAY + 2 * HOUR, T0 + 9 * DAY, 65),
    ]);
    expect(feed(engineWith(byReadings()), stale).raised()).toEqual([]);
  });

  it('despike: false takes a programme’s single reading at once; the spike filter would hold it back for a second one', () => {
    const single = history([...programme(T0 + 4 * DAY, 120, 1), ...idle(T0 + 4 * DAY + 2 * HOUR, T0 + 6 * DAY, 120), ...programme(T0 + 6 * DAY, 130, 1)]);
    expect(feed(engineWith(byReadings(false)), single).raised()).toHaveLength(1);
    expect(feed(engineWith(byReadings(true)), single).raised()).toEqual([]);
  });

  it('needs an average to read: a duration in readings over a plain threshold is rejected', () => {
    const plain = rules({ kind: 'duration', forMs: HOUR, readings: true, condition: { kind: 'threshold', metric: 'fillTimeS', op: 'above', value: 100 } });
    expect(() => engineWith(plain)).toThrow(/needs a mean/);
    // as a problem the API answers with 400, not an error it would answer with 500
    expect(ruleSetProblems(plain, TYPES.get('washing-machine')!)).toEqual(['rule r: a duration measured in readings needs a mean in its condition']);
  });
});

describe('evidence of two averages of one operand', () => {
  it('each keeps its own keys (fillTimeS, fillTimeS#2), and a node judging the same average again shares them', () => {
    const twoGates = rules({
      kind: 'all',
      of: [
        slowRinse(false),
        // the same average as the first, judged against another limit: no keys of its own
        { ...slowRinse(false), above: 0.1 },
        // every fill, not only the rinse's: another average of fillTimeS
        { kind: 'mean', metric: 'fillTimeS', relativeTo: 'ratio', overSamples: 8, baselineSamples: 4, above: -1, despike: false },
      ],
    });
    const f = feed(engineWith(twoGates), history([...programme(T0 + 4 * DAY, 130)]));
    const values = f.intents.flatMap((i) => (i.kind === 'raise' ? [i.diagnosis.evidence.rules[0]!.values] : []))[0]!;
    expect(Object.keys(values).filter((k) => k.startsWith('fillTimeS')).sort()).toEqual([
      'fillTimeS#2:baseline', 'fillTimeS#2:mean', 'fillTimeS#2:ratio', 'fillTimeS:baseline', 'fillTimeS:mean', 'fillTimeS:ratio',
    ]);
    expect(values['fillTimeS:mean']).toBe(130);
    expect(values['fillTimeS:baseline']).toBe(65);
    expect(values['fillTimeS#2:mean']).toBeGreaterThan(65);
    expect(values['fillTimeS#2:mean']).toBeLessThan(130);
  });
});

describe('risePerHour: an average of how fast a reading climbs', () => {
  const warming = (risePerHour: boolean) => ({
    kind: 'mean',
    metric: 'heaterTempC',
    where: { kind: 'all', of: [{ kind: 'threshold', metric: 'heaterOn', op: 'equals', value: true }, { kind: 'threshold', metric: 'heaterTempC', op: 'below', value: 27 }] },
    risePerHour,
    overSamples: 6,
    baselineSamples: 6,
    relativeTo: 'ratio',
    below: -0.25,
  });
  /** A wash heating 10 °C water by `stepC` every 5 minutes to 30 °C, then holding it; the heater off for one sample at `offAt`. */
  function heating(at: number, stepC: number, offAt = -1): Sample[] {
    const out: Sample[] = [];
    let t = 10;
    for (let k = 0; k < 12; k++) {
      const on = k !== offAt && t < 30;
      out.push([at + k * 5 * MIN, { phase: 'wash', heaterOn: on || k % 2 === 0, heaterTempC: Math.min(30, t) }]);
      if (on) t += stepC;
    }
    return out;
  }
  const days = (n: number, fn: (d: number) => Sample[]) => washer(Array.from({ length: n }, (_, d) => fn(d)).flat());

  it('a heater warming 37 % slower than its own first readings is raised; the water’s level below 27 °C hardly moves', () => {
    const healthy = days(20, (d) => heating(T0 + d * DAY, 8));
    expect(feed(engineWith(rules(warming(true))), healthy).raised()).toEqual([]);
    const weak = days(20, (d) => heating(T0 + d * DAY, d >= 8 ? 5 : 8));
    const raised = feed(engineWith(rules(warming(true))), weak).raised();
    expect(raised).toHaveLength(1);
    expect(Date.parse(raised[0]!.at)).toBeGreaterThan(T0 + 8 * DAY);
    expect(Date.parse(raised[0]!.at)).toBeLessThan(T0 + 11 * DAY);
    expect(feed(engineWith(rules({ ...warming(false), below: -0.1 })), weak).raised()).toEqual([]);
  });

  it('a sample the gate shuts out breaks the pair: a heater pausing mid-heat is not slow', () => {
    const paused = days(20, (d) => heating(T0 + d * DAY, 8, d >= 6 ? 1 : -1));
    expect(feed(engineWith(rules(warming(true))), paused).raised()).toEqual([]);
  });
});

describe('a held value counted once per cycle (firstInGate)', () => {
  const rinseOrSpin = { kind: 'any', of: [rinse, { kind: 'threshold', metric: 'phase', op: 'equals', value: 'spin' }] } as const;
  const drainSlow = (firstInGate: boolean) =>
    ruleSet({
      type: 'washing-machine',
      windowMs: HOUR,
      baselineSamples: 4,
      rules: [
        {
          id: 'drain',
          fault: 'drain',
          severity: 'warning',
          condition: { kind: 'mean', metric: 'drainTimeS', where: rinseOrSpin, relativeTo: 'ratio', firstInGate, despike: true, overSamples: 3, baselineSamples: 4, above: 0.22, clearAbove: 0.15 } as unknown as Condition,
          remedy,
          trigger: { k: 3, n: 5, clearAfterWindows: 3, clearAfterMs: DAY },
        },
      ],
    });
  /** One programme at `at`: the drain time read twice while rinsing and twice while spinning (exactly repeated, as a held value is), then idle samples every 2 h until the next day. */
  function cycle(at: number, rinseDrainS: number, spinDrainS = rinseDrainS): Sample[] {
    return [
      [at, { phase: 'wash', drainTimeS: rinseDrainS }],
      [at + 40 * MIN, { phase: 'rinse', drainTimeS: rinseDrainS }],
      [at + 45 * MIN, { phase: 'rinse', drainTimeS: rinseDrainS }],
      [at + 60 * MIN, { phase: 'spin', drainTimeS: spinDrainS }],
      [at + 65 * MIN, { phase: 'spin', drainTimeS: spinDrainS }],
      ...[2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22].map((h): Sample => [at + h * HOUR, { phase: 'idle', drainTimeS: spinDrainS }]),
    ];
  }
  const days = (from: number, drainS: (d: number) => number, n: number) => Array.from({ length: n }, (_, d) => cycle(T0 + (from + d) * DAY, drainS(from + d))).flat();
  const washerOf = (samples: Sample[]) => samples.map(([ts, m]) => point('w', ts, m, 'washing-machine'));

  it('the shipped washer declares the drain time held: an exact repeat is a reading, not a stuck sensor', () => {
    expect(TYPES.get('washing-machine')!.metrics.find((m) => m.name === 'drainTimeS')!.held).toBe(true);
  });

  it('a clogging pump is raised, and after the repair drains that repeat the healthy 50 s exactly clear it', () => {
    // 4 healthy days, 6 days clogging (+8 s a day), repaired: 50 s every drain from day 10 on
    const drain = (d: number) => (d < 4 ? 50 : d < 10 ? 50 + 8 * (d - 3) : 50);
    const f = feed(engineWith(drainSlow(true)), washerOf(days(0, drain, 16)));
    expect(f.raised().map((r) => r.fault)).toEqual(['drain']);
    expect(Date.parse(f.raised()[0]!.at)).toBeLessThan(T0 + 10 * DAY);
    const cleared = f.cleared();
    expect(cleared.map((c) => c.fault)).toEqual(['drain']);
    // one new reading a programme (the spin repeats the rinse's 50 s): four healthy programmes bring the
    // despiked 3-reading average under its clear limit, then a day's hold
    expect(Date.parse(cleared[0]!.at)).toBeGreaterThan(T0 + 13 * DAY);
    expect(Date.parse(cleared[0]!.at)).toBeLessThan(T0 + 15 * DAY);
    // as a plain analogue reading the repeated 50 s looks like a stuck sensor: the average never moves again
    const washer = TYPES.get('washing-machine')!;
    const notHeld = { ...washer, metrics: washer.metrics.map((m) => (m.name === 'drainTimeS' ? { ...m, held: false } : m)) };
    const e = new Engine({ liveLagMs: 5 * MIN });
    e.setLayout('washing-machine', compileRuleSet(drainSlow(true), notHeld), 0);
    const stuck = feed(e, washerOf(days(0, drain, 16)));
    expect(stuck.raised()).toHaveLength(1);
    expect(stuck.cleared()).toEqual([]);
  });

  it('one slow drain, read four times over its programme, counts once and the spike filter sets it aside', () => {
    const once = (d: number) => (d === 6 ? 110 : 50);
    expect(feed(engineWith(drainSlow(true)), washerOf(days(0, once, 12))).raised()).toEqual([]);
    // counted at every sample that repeats it, the one drain fills the average
    expect(feed(engineWith(drainSlow(false)), washerOf(days(0, once, 12))).raised()).toHaveLength(1);
  });

  it('a sample without the drain time or the phase neither opens the gate again nor makes a repeat new', () => {
    // one slow programme, its 110 s read three times, with a sample lacking the value and one lacking the phase in between
    const slowOnce: Sample[] = [
      [T0 + 6 * DAY, { phase: 'wash', drainTimeS: 50 }],
      [T0 + 6 * DAY + 40 * MIN, { phase: 'rinse', drainTimeS: 110 }],
      [T0 + 6 * DAY + 45 * MIN, { phase: 'rinse' }],
      [T0 + 6 * DAY + 50 * MIN, { phase: 'rinse', drainTimeS: 110 }],
      [T0 + 6 * DAY + 55 * MIN, { drainTimeS: 110 }],
      [T0 + 6 * DAY + 60 * MIN, { phase: 'rinse', drainTimeS: 110 }],
      ...[2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22].map((h): Sample => [T0 + 6 * DAY + h * HOUR, { phase: 'idle', drainTimeS: 110 }]),
    ];
    const healthy = (from: number, n: number) => days(from, () => 50, n);
    expect(feed(engineWith(drainSlow(true)), washerOf([...healthy(0, 6), ...slowOnce, ...healthy(7, 5)])).raised()).toEqual([]);
  });

  it('a sample taken while draining closes the gate: the spin’s reading is the second drain, counted even when equal', () => {
    // both drains of each programme slow (110 s): read while rinsing, then — after a sample during the drain — while spinning
    const bothSlow = (at: number, withDrainSample: boolean): Sample[] => [
      [at, { phase: 'wash', drainTimeS: 50 }],
      [at + 40 * MIN, { phase: 'rinse', drainTimeS: 110 }],
      ...(withDrainSample ? [[at + 50 * MIN, { phase: 'drain', drainTimeS: 110 }] as Sample] : []),
      [at + 60 * MIN, { phase: 'spin', drainTimeS: 110 }],
      ...[2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22].map((h): Sample => [at + h * HOUR, { phase: 'idle', drainTimeS: 110 }]),
    ];
    const healthy = days(0, () => 50, 6);
    // counted twice, the slow drains pass the median-of-three filter; counted once, the one programme is set aside
    expect(feed(engineWith(drainSlow(true)), washerOf([...healthy, ...bothSlow(T0 + 6 * DAY, true), ...days(7, () => 50, 1)])).raised()).toHaveLength(1);
    expect(feed(engineWith(drainSlow(true)), washerOf([...healthy, ...bothSlow(T0 + 6 * DAY, false), ...days(7, () => 50, 1)])).raised()).toEqual([]);
  });

  it('rinse straight into spin (no sample while draining) still counts the spin’s drain when it differs', () => {
    // the rinse reads the healthy first drain, the spin the slow second one: the spin's reading is new
    const secondSlow = [...days(0, () => 50, 4), ...Array.from({ length: 6 }, (_, d) => cycle(T0 + (4 + d) * DAY, 50, 75)).flat()];
    expect(feed(engineWith(drainSlow(true)), washerOf(secondSlow)).raised()).toHaveLength(1);
  });

  it('needs a gate to count in and no rise per hour, and only number metrics can be held', () => {
    const bad = { kind: 'mean', metric: 'drainTimeS', relativeTo: 'ratio', firstInGate: true, overSamples: 3, above: 0.2 };
    expect(() => rules(bad)).toThrow(/firstInGate needs where/);
    expect(() => rules({ ...bad, where: rinse, risePerHour: true })).toThrow(/do not go together/);
    const washer = TYPES.get('washing-machine')!;
    const heldBoolean = { ...washer, metrics: washer.metrics.map((m) => (m.name === 'heaterOn' ? { ...m, held: true } : m)) };
    expect(DeviceType.safeParse(heldBoolean).success).toBe(false);
    expect(DeviceType.safeParse(washer).success).toBe(true);
  });
});
