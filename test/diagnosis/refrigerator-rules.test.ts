/**
 * The shipped refrigerator rules on a unit with a small condenser approach
 * (9 °C, the low end of the range): a dusty coil lifts the approach well past
 * the unit's own normal while it never nears the 15 °C a unit with a 14 °C
 * approach shows when clean. Dust and a worn seal together: the seal's extra
 * duty is judged on its own size, however far the dust moved the condenser.
 */
import { describe, expect, it } from 'vitest';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { DAY, MIN, T0, engineWith, feed, firstRaise, ramp, series } from './helpers.ts';

const STEP = 15 * MIN;
const shipped = loadShippedRuleSets().get('refrigerator')!;

interface Opts {
  /** Condenser approach added at full severity, °C. */
  approachRise: number;
  /** Relative rise of the duty at full severity. */
  dutyRise: number;
  /** The dust starts on this day and is fully there 6 days later (default: from day 6 over 12 days, as the duty). */
  dustFrom?: number;
  /** The condenser sensor reads this much too high over [from, to). */
  glitch?: { from: number; to: number; by: number };
}

/**
 * A fridge sampled every 15 minutes for 20 days in a kitchen swinging 19–23 °C:
 * the compressor runs two samples of every four, a 30-minute defrost every 12 h
 * warms the evaporator to +5 °C.
 */
function fridge(opts: Opts) {
  return series(
    'f',
    T0,
    (20 * DAY) / STEP,
    STEP,
    (i, ts) => {
      const room = 21 + 2 * Math.sin((2 * Math.PI * (ts - T0)) / DAY);
      const f = ramp(ts, 6, 12);
      const dust = opts.dustFrom === undefined ? f : ramp(ts, opts.dustFrom, 6);
      const defrost = i % 48 === 46 || i % 48 === 47;
      const on = !defrost && i % 4 < 2;
      const glitch = opts.glitch && ts >= opts.glitch.from && ts < opts.glitch.to ? opts.glitch.by + Math.sin(i) : 0;
      return {
        cabinetTempC: 4 + (on ? -0.4 : 0.4) + 0.05 * Math.sin(i / 3),
        freezerTempC: -18 + 0.1 * Math.cos(i / 5),
        evaporatorTempC: defrost ? 5 : on ? -25 + 0.2 * Math.sin(i / 7) : -15,
        condenserTempC: room + (on ? 9 + opts.approachRise * dust : 1) + 0.2 * Math.cos(i / 2) + glitch,
        ambientTempC: room,
        compressorOn: on,
        compressorDutyPct: 40 * (1 + opts.dutyRise * f) + 0.5 * Math.sin(i / 11),
        compressorCurrentA: on ? 1 : 0.03,
        doorOpen: false,
        defrostActive: defrost,
      };
    },
    'refrigerator',
  );
}

const raise = (opts: Opts, fault: string) => firstRaise(feed(engineWith(shipped), fridge(opts)), fault);
const raisedFaults = (opts: Opts) => feed(engineWith(shipped), fridge(opts)).raised().map((r) => r.fault);

describe('refrigerator rules on a unit with a small condenser approach', () => {
  it('the approach 4 °C above this unit’s normal, never above 13 °C: condenser dust, by condenser-approach-high', () => {
    const opts = { approachRise: 4, dutyRise: 0.1 };
    const r = raise(opts, 'rf-condenser-dust');
    expect(r?.evidence.rules.map((x) => x.ruleId)).toEqual(['condenser-approach-high']);
    const approaches = fridge(opts).filter((p) => p.metrics.compressorOn).map((p) => (p.metrics.condenserTempC as number) - (p.metrics.ambientTempC as number));
    expect(Math.max(...approaches)).toBeLessThan(13.5);
  });

  it('a healthy unit stays quiet', () => {
    expect(raisedFaults({ approachRise: 0, dutyRise: 0 })).toEqual([]);
  });

  it('a condenser sensor reading 30 °C high for two hours is no dust: the approach is back to normal at once', () => {
    const from = T0 + 10 * DAY;
    expect(raisedFaults({ approachRise: 0, dutyRise: 0, glitch: { from, to: from + 2 * 60 * MIN, by: 30 } })).not.toContain('rf-condenser-dust');
  });

  it('dust first, then a worn seal: duty 90 % up, sealed system normal, the condenser already 4 °C up — a door seal leak as well', () => {
    const opts = { approachRise: 4, dutyRise: 0.9, dustFrom: 3 };
    const r = raise(opts, 'rf-door-seal-leak');
    expect(r?.evidence.rules.map((x) => x.ruleId)).toEqual(['duty-up-sealed-system-normal']);
    expect(raisedFaults(opts)).toContain('rf-condenser-dust');
  });

  it('heavy dust alone, the approach 9 °C and the duty 50 % up with it (past the 40 % a clean condenser would make a seal leak): no door seal leak', () => {
    expect(raisedFaults({ approachRise: 9, dutyRise: 0.5, dustFrom: 3 })).not.toContain('rf-door-seal-leak');
  });
});
