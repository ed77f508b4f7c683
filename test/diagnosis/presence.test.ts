/**
 * Missing data and offline devices: live devices against the wall clock,
 * replayed ones against the event-time watermark of replayed traffic.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../diagnosis/engine.ts';
import { MIN, T0, engineWith, feed, iso, oneRule, point, remedy, ruleSet, series } from './helpers.ts';

describe('missing data / offline', () => {
  const offline = ruleSet({ windowMs: MIN, rules: [{ id: 'off', fault: 'offline', severity: 'warning', condition: { kind: 'missing', afterMs: 15 * MIN }, remedy, trigger: { k: 1, n: 1, clearAfterWindows: 2 } }] });

  it('live device: raised by wall-clock time while silent, at lastTs + afterMs; cleared once data flows again', () => {
    const e = engineWith(offline);
    const f = feed(e, series('d', T0, 5, MIN, () => ({ oilTempC: 70 })), 1000);
    e.checkPresence(T0 + 10 * MIN);
    expect(e.drainIntents()).toEqual([]);
    e.checkPresence(T0 + 20 * MIN);
    f.intents.push(...e.drainIntents());
    expect(f.raised()).toEqual([{ fault: 'offline', at: iso(T0 + 4 * MIN + 15 * MIN) }]);
    e.checkPresence(T0 + 25 * MIN);
    expect(e.drainIntents()).toEqual([]); // not re-raised while active
    feed(e, series('d', T0 + 30 * MIN, 5, MIN, () => ({ oilTempC: 70 })), 1000, f);
    expect(f.cleared()).toEqual([{ fault: 'offline', at: iso(T0 + 32 * MIN) }]);
  });

  it('replaying device: wall-clock silence means nothing; a gap in event time is found on arrival', () => {
    const e = engineWith(offline);
    const f = feed(e, series('d', T0, 5, MIN, () => ({ oilTempC: 70 })));
    e.checkPresence(T0 + 365 * 24 * 3600_000);
    expect(e.drainIntents()).toEqual([]);
    feed(e, series('d', T0 + 30 * MIN, 5, MIN, () => ({ oilTempC: 70 })), undefined, f);
    expect(f.raised()).toEqual([{ fault: 'offline', at: iso(T0 + 19 * MIN) }]);
    expect(f.cleared()).toEqual([{ fault: 'offline', at: iso(T0 + 32 * MIN) }]);
  });

  it('one metric missing from a flowing stream', () => {
    const e = engineWith(oneRule({ kind: 'missing', metric: 'vibrationRmsMmS', afterMs: 5 * MIN }, { trigger: { k: 2, n: 3, clearAfterWindows: 2 } }));
    const f = feed(e, series('d', T0, 20, MIN, (i): Record<string, number> => (i < 3 ? { oilTempC: 70, vibrationRmsMmS: 2 } : { oilTempC: 70 })));
    expect(f.raised()).toEqual([{ fault: 'test-fault', at: iso(T0 + 10 * MIN) }]);
  });
});

describe('the replay watermark', () => {
  const offline = ruleSet({ windowMs: MIN, rules: [{ id: 'off', fault: 'offline', severity: 'warning', condition: { kind: 'missing', afterMs: 15 * MIN }, remedy, trigger: { k: 1, n: 1, clearAfterWindows: 2 } }] });
  const W = T0 + 365 * 24 * 60 * MIN; // wall clock a year after the data: a replay
  const send = (e: Engine, id: string, fromMin: number, n: number, wall: number) => {
    for (let i = 0; i < n; i++) e.sample(point(id, T0 + (fromMin + i) * MIN, { oilTempC: 70 }), undefined, wall);
  };
  const raised = (e: Engine) => e.drainIntents().flatMap((i) => (i.kind === 'raise' ? [`${i.diagnosis.deviceId} ${i.diagnosis.raisedAt}`] : []));

  it('a device whose replay lags behind another one is not silent; one that stopped sending is, once idle', () => {
    const e = engineWith(offline);
    // replayed devices hand over their stored samples in batches of their own size
    send(e, 'ahead', 0, 600, W); // ten hours at once
    send(e, 'lagging', 0, 300, W); // its first five so far
    send(e, 'stopped', 0, 60, W); // one hour, then nothing more
    e.checkPresence(W + 5_000);
    expect(raised(e)).toEqual([]);
    send(e, 'lagging', 300, 300, W + 20_000);
    send(e, 'ahead', 600, 60, W + 40_000);
    e.checkPresence(W + 45_000);
    expect(raised(e)).toEqual([]); // 'stopped' has been quiet for 45 s, within replayIdleMs (60 s)
    send(e, 'lagging', 600, 120, W + 80_000);
    send(e, 'ahead', 660, 60, W + 80_000);
    e.checkPresence(W + 90_000);
    // quiet for 90 s, it no longer holds the watermark (now eleven hours) back: raised at its last sample + 15 min
    expect(raised(e)).toEqual([`stopped ${iso(T0 + 74 * MIN)}`]);
    e.checkPresence(W + 30 * 60_000);
    expect(raised(e)).toEqual([]); // every replay has stopped: the latest time replayed, 'lagging' and 'ahead' ended together
  });

  it("a device that usually sends every few minutes (wall clock) is not idle after one minute's quiet", () => {
    const e = engineWith(offline);
    for (let k = 0; k < 4; k++) {
      send(e, 'slow', k * 60, 60, W + k * 180_000); // an hour of data every three minutes
      send(e, 'fast', k * 60, 60, W + k * 180_000);
    }
    send(e, 'fast', 240, 240, W + 200_000);
    e.checkPresence(W + 3 * 180_000 + 120_000);
    expect(raised(e)).toEqual([]);
    e.checkPresence(W + 3 * 180_000 + 4 * 180_000 + 1_000);
    expect(raised(e)).toEqual([`slow ${iso(T0 + 239 * MIN + 15 * MIN)}`]);
  });
});
