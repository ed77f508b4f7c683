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
