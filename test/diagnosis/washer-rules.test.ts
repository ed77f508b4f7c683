/**
 * The shipped washing-machine rules on crafted programmes sampled every 5
 * minutes, as the fleet reports them: a heater warming a third slower that
 * gives its two readings below 27 °C only once it is slow, a rinse fill 20 % slower at
 * every programme for days, drains 21 % slower, and a heating timeout whose
 * machine reports again only 35 minutes later.
 */
import { describe, expect, it } from 'vitest';
import type { MetricValue } from '../../core/domain/telemetry.ts';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { DAY, MIN, T0, engineWith, feed, point } from './helpers.ts';

const STEP = 5 * MIN;
const shipped = loadShippedRuleSets().get('washing-machine')!;

type Sample = [number, Record<string, MetricValue>];

interface Programme {
  /** Programme temperature, °C: the element holds the water at one degree below it. */
  tempC: number;
  /** Warming per 5-minute sample while heating, °C. */
  stepC: number;
  rinseFillS: number;
  drainS: number;
}

/** One programme at `at`: wash (heating from 20 °C, then holding), rinse, drain, spin, then idle. */
function programme(at: number, p: Programme): Sample[] {
  const out: Sample[] = [];
  const base = { fillTimeS: 90, waterLevelMm: 105, drumRpm: 50, imbalanceKg: 0.3, drumVibrationG: 0.1, motorCurrentA: 0.9 };
  let t = 20;
  let k = 0;
  // heating: the element on until the water is one degree short of the programme's temperature
  for (; t < p.tempC - 1; k++, t += p.stepC) out.push([at + k * STEP, { ...base, phase: 'wash', drainTimeS: p.drainS, heaterOn: true, heaterTempC: t }]);
  // holding: the element switches on and off around the set point, on at two samples in a row
  for (let j = 0; j < 4; j++, k++) out.push([at + k * STEP, { ...base, phase: 'wash', drainTimeS: p.drainS, heaterOn: j !== 2, heaterTempC: p.tempC - 1 + 0.1 * j }]);
  const rest = { ...base, heaterOn: false, heaterTempC: 25, drainTimeS: p.drainS, fillTimeS: p.rinseFillS };
  out.push([at + k++ * STEP, { ...rest, phase: 'rinse' }]);
  out.push([at + k++ * STEP, { ...rest, phase: 'rinse' }]);
  out.push([at + k++ * STEP, { ...rest, phase: 'drain', drumRpm: 0 }]);
  out.push([at + k++ * STEP, { ...rest, phase: 'spin', drumRpm: 1200, drumVibrationG: 0.5 }]);
  out.push([at + k++ * STEP, { ...rest, phase: 'spin', drumRpm: 1200, drumVibrationG: 0.5 }]);
  out.push([at + 3 * 60 * MIN, { ...rest, phase: 'idle', drumRpm: 0, waterLevelMm: 0, drumVibrationG: 0.01, motorCurrentA: 0.02 }]);
  return out;
}

const healthy: Programme = { tempC: 60, stepC: 9, rinseFillS: 60, drainS: 50 };

/** One programme a day at 08:00 for 20 days, from day `from` on with the given changes. */
function washer(changes: Partial<Programme>, from = 8, tempOf: (d: number) => number = () => 60) {
  const samples = Array.from({ length: 20 }, (_, d) => programme(T0 + d * DAY + 8 * 60 * MIN, { ...healthy, tempC: tempOf(d), ...(d >= from ? changes : {}) })).flat();
  return samples.map(([ts, m]) => point('w', ts, m, 'washing-machine'));
}

const raisedBy = (changes: Partial<Programme>, tempOf?: (d: number) => number) =>
  feed(engineWith(shipped), washer(changes, 8, tempOf))
    .intents.flatMap((i) => (i.kind === 'raise' ? [[i.diagnosis.fault, i.diagnosis.evidence.rules[0]?.ruleId]] : []));

describe('shipped washing-machine rules', () => {
  it('a healthy machine that learnt its warming on 60 °C programmes, then runs 30, 40, 60 and 90 °C ones, stays quiet (the element holding at 29 or 39 °C is no slow heater)', () => {
    expect(raisedBy({}, (d) => (d < 8 ? 60 : [30, 40, 60, 90][d % 4]!))).toEqual([]);
  });

  it('a heater warming a third slower, judged between 31 and 57 °C: healthy, 20 °C water gives no two readings below 27 °C to compare with', () => {
    expect(raisedBy({ stepC: 6 })).toContainEqual(['wm-heater-failure', 'heating-stalled']);
  });

  it('the rinse fill 20 % slower at every programme for days: an inlet screen clogging', () => {
    expect(raisedBy({ rinseFillS: 72 })).toContainEqual(['wm-inlet-valve-clog', 'rinse-fill-slow']);
  });

  it('one rinse fill 50 % slower in a low-pressure spell, normal again the next day: no clog', () => {
    const run = washer({});
    const spell = run.map((p) => (p.ts >= T0 + 10 * DAY && p.ts < T0 + 11 * DAY && p.metrics.phase !== 'wash' ? { ...p, metrics: { ...p.metrics, fillTimeS: 90 } } : p));
    expect(feed(engineWith(shipped), spell).raised()).toEqual([]);
  });

  it('drains 21 % slower than the machine’s first four: a drain pump filter clogging', () => {
    expect(raisedBy({ drainS: 60.5 })).toContainEqual(['wm-drain-pump-clog', 'drain-slow']);
  });

  it('a heating timeout reported by a machine that sends its next sample 35 minutes later is still a heater failure', () => {
    const e = engineWith(shipped);
    const f = feed(e, washer({}).filter((p) => p.ts < T0 + 10 * DAY));
    const at = T0 + 10 * DAY + 9 * 60 * MIN;
    e.event({ deviceId: 'w', type: 'washing-machine', ts: at, kind: 'error', code: 'E-HEATING-TIMEOUT' }, at + 365 * DAY);
    const after = Array.from({ length: 6 }, (_, k) =>
      point('w', at + 35 * MIN + k * STEP, { phase: k < 2 ? 'drain' : 'spin', heaterOn: false, heaterTempC: 30, fillTimeS: 90, drainTimeS: 50, drumRpm: k < 2 ? 0 : 1200, imbalanceKg: 0.3, drumVibrationG: 0.5, waterLevelMm: 0, motorCurrentA: 1 }, 'washing-machine'),
    );
    feed(e, after, 365 * DAY, f);
    expect(f.raised().map((r) => r.fault)).toContain('wm-heater-failure');
  });
});
