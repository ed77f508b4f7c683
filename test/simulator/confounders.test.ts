import { describe, expect, it } from 'vitest';
import { DAY, HOUR, MINUTE } from '../../simulator/time.ts';
import { mean, oneDevice, run, START } from './helpers.ts';

/** Confounders: normal events that look like a fault for a while, then go away on their own. */
const CASES = [
  { type: 'air-compressor', kind: 'hot-afternoon', metric: 'oilTempC', during: 0.5, minutes: 300, afterDays: 1 },
  { type: 'air-compressor', kind: 'demand-surge', metric: 'loaded', during: 0.15, minutes: 90, afterDays: 1 },
  { type: 'refrigerator', kind: 'long-door-opening', metric: 'cabinetTempC', during: 1.5, minutes: 10, afterDays: 1 },
  { type: 'refrigerator', kind: 'warm-groceries', metric: 'compressorDutyPct', during: 4, minutes: 240, afterDays: 1 },
  // fill time is reported after each fill, so the washer needs programmes inside and after the episode
  { type: 'washing-machine', kind: 'low-water-pressure', metric: 'fillTimeS', during: 15, minutes: 4 * 1440, afterDays: 5 },
] as const;

describe('confounders', () => {
  it.each(CASES)('$type $kind moves $metric and returns to normal on its own', (c) => {
    const durationMs = 14 * DAY;
    const intervalMs = c.type === 'washing-machine' ? undefined : { [c.type]: 60_000 };
    const o = { durationMs, intervalMs, confounders: false, glitches: false, offline: false };
    const at = START + 3 * DAY + 13 * HOUR;
    const len = c.minutes * MINUTE;
    const d = oneDevice(c.type, [], o);
    d.injectConfounder(c.kind, at, len);
    const a = run(d);
    const b = run(oneDevice(c.type, [], o));
    const diff = (from: number, to: number) => mean(a, c.metric, from, to) - mean(b, c.metric, from, to);
    expect(diff(START, at), 'identical before').toBe(0);
    expect(diff(at + len * 0.3, at + len * 0.8), 'a fault-like deviation during the episode').toBeGreaterThan(c.during);
    const after = at + len + 12 * HOUR;
    expect(Math.abs(diff(after, after + c.afterDays * DAY)), 'back to normal after it').toBeLessThan(c.during * 0.25);
  });
});
