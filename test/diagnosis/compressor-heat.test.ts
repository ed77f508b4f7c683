/**
 * The shipped compressor rules on a cold room, where the thermostatic valve
 * holds the oil near its set point: a fouled cooler moves the oil only a few
 * degrees, never near cooler-approach-high's absolute limits, but against the
 * unit's own normal at the same room temperature it shows. Oil loss warms the
 * oil as well, and its compression heat (discharge − oil) with it: not a
 * fouled cooler; it is oil loss once that rise is clear of what a clean unit drifts.
 */
import { describe, expect, it } from 'vitest';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { DAY, MIN, T0, compressorSample, engineWith, feed, firstRaise, ramp, series } from './helpers.ts';

const STEP = 15 * MIN;
const shipped = loadShippedRuleSets().get('air-compressor')!;

/** A loaded compressor in a 9–15 °C room for 20 days: the oil follows the room a little (a proportional valve). */
function coldRoom(opts: { oilRise: number; compressionRise: number }) {
  return series('c', T0, (20 * DAY) / STEP, STEP, (i, ts) => {
    const room = 12 + 3 * Math.sin((2 * Math.PI * (ts - T0)) / DAY);
    const f = ramp(ts, 6, 12); // nothing for 6 days, then fully developed at day 18
    const oil = 69 + 0.12 * (room - 12) + opts.oilRise * f + 0.2 * Math.cos(i / 4);
    return { ...compressorSample(100, i), ambientTempC: room, oilTempC: oil, dischargeTempC: oil + 12 + opts.compressionRise * f + 0.3 * Math.sin(i / 5) };
  });
}

const raisedFaults = (points: ReturnType<typeof coldRoom>) => feed(engineWith(shipped), points).raised().map((r) => r.fault);

describe('a fouled cooler in a cold room', () => {
  it('oil 7 °C warmer than this unit’s normal at the same room temperature, compression heat flat: cooler fouling, by its own-normal rule', () => {
    const raise = firstRaise(feed(engineWith(shipped), coldRoom({ oilRise: 7, compressionRise: 0 })), 'ac-cooler-fouling');
    expect(raise?.evidence.rules.map((r) => r.ruleId)).toEqual(['cooler-oil-warmer-than-normal']);
    // never near the absolute limits the hot-room rule needs
    expect(coldRoom({ oilRise: 7, compressionRise: 0 }).every((p) => (p.metrics.oilTempC as number) < 79)).toBe(true);
  });

  it('a healthy unit in the same room, its oil swinging with the room each day, stays quiet', () => {
    expect(raisedFaults(coldRoom({ oilRise: 0, compressionRise: 0 }))).toEqual([]);
  });

  it('oil loss, the oil as warm but the compression heat 5 °C up with it: not a fouled cooler', () => {
    expect(raisedFaults(coldRoom({ oilRise: 7, compressionRise: 5 }))).not.toContain('ac-cooler-fouling');
  });

  it('a rise short of the rule’s limit (oil 3 °C up) is left alone', () => {
    expect(raisedFaults(coldRoom({ oilRise: 3, compressionRise: 0 }))).not.toContain('ac-cooler-fouling');
  });
});

describe('oil loss before the machine trips', () => {
  it('the compression heat 6.8 °C above this unit’s normal, the oil barely warmer: oil loss', () => {
    expect(raisedFaults(coldRoom({ oilRise: 2, compressionRise: 6.8 }))).toEqual(['ac-oil-loss']);
  });

  it('4 °C of compression heat, as a clean unit may drift, is left alone', () => {
    expect(raisedFaults(coldRoom({ oilRise: 1, compressionRise: 4 }))).toEqual([]);
  });
});

/**
 * The same cold room with the compression heat 6.8 °C up, judged with what
 * else moved. A clogged intake filter heats the compression; long load
 * periods (a leak, a sticking inlet valve) leave fewer of the first minutes
 * after loading, before the discharge has climbed, in its loaded mean. Long
 * load periods are not oil loss, whether or not the machine trips; a clogged
 * filter is not before a trip, but a trip with one cannot rule oil loss out.
 */
function heatedBy(opts: { filterRise?: number; dutyRise?: number; tripAtDay?: number }) {
  const base = coldRoom({ oilRise: 2, compressionRise: 6.8 });
  const points = base.map((p, i) => {
    const f = ramp(p.ts, 6, 12);
    // loaded on a fixed pattern: 45 % of the samples, plus dutyRise of them as the fault develops
    const loaded = ((i * 0.618034) % 1) < 0.45 + (opts.dutyRise ?? 0) * f;
    const m = p.metrics as Record<string, number | boolean>;
    const metrics = loaded
      ? { ...m, airFilterDpMbar: (m.airFilterDpMbar as number) * (1 + (opts.filterRise ?? 0) * f) }
      : { ...m, loaded: false, motorCurrentA: 40, dischargeTempC: (m.oilTempC as number) + 5, airFilterDpMbar: 2 };
    return { ...p, metrics };
  });
  const e = engineWith(shipped);
  const trip = opts.tripAtDay === undefined ? Infinity : T0 + opts.tripAtDay * DAY;
  const f = feed(e, points.filter((p) => p.ts < trip));
  if (Number.isFinite(trip)) {
    e.event({ deviceId: 'c', type: 'air-compressor', ts: trip, kind: 'error', code: 'E-HIGH-DISCHARGE-TEMP' }, trip + 365 * DAY);
    feed(e, points.filter((p) => p.ts >= trip), 365 * DAY, f);
  }
  return f.raised().map((r) => r.fault);
}

describe('compression heat up for another reason', () => {
  it('on a unit cycling 45 % loaded as before, 6.8 °C more compression heat is still oil loss', () => {
    expect(heatedBy({})).toContain('ac-oil-loss');
  });

  it('with the intake filter’s pressure drop 60 % up, it is not oil loss before a trip; a trip still names it (both heat the compression)', () => {
    expect(heatedBy({ filterRise: 0.6 })).not.toContain('ac-oil-loss');
    expect(heatedBy({ filterRise: 0.6, tripAtDay: 17 })).toEqual(expect.arrayContaining(['ac-overheat-trip', 'ac-oil-loss']));
  });

  it('with the unit loaded 30 points more of the time than in its first week, it is not oil loss, tripped or not', () => {
    expect(heatedBy({ dutyRise: 0.3 })).not.toContain('ac-oil-loss');
    const tripped = heatedBy({ dutyRise: 0.3, tripAtDay: 17 });
    expect(tripped).toContain('ac-overheat-trip');
    expect(tripped).not.toContain('ac-oil-loss');
  });
});
