/**
 * Missing data and offline devices: live devices against the wall clock,
 * replayed ones against the event-time watermark of replayed traffic.
 */
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../diagnosis/engine.ts';
import { MIN, T0, engineWith, feed, iso, oneRule, point, remedy, ruleSet, series } from './helpers.ts';

describe('missing data / offline', () => {
  const offline = ruleSet({ windowMs: MIN, rules: [{ id: 'off', fault: 'offline', severity: 'warning', condition: { kind: 'missing', afterMs: 15 * MIN }, remedy, trigger: { k: 1, n: 1, clearAfterWindows: 2 } }] });

  it('live device: raised by wall-clock time while silent, as of its last arrival + afterMs; cleared once data flows again', () => {
    const e = engineWith(offline);
    const f = feed(e, series('d', T0, 5, MIN, () => ({ oilTempC: 70 })), 1000);
    e.checkPresence(T0 + 10 * MIN);
    expect(e.drainIntents()).toEqual([]);
    e.checkPresence(T0 + 20 * MIN);
    f.intents.push(...e.drainIntents());
    // its last sample arrived a second after its time
    expect(f.raised()).toEqual([{ fault: 'offline', at: iso(T0 + 4 * MIN + 1000 + 15 * MIN) }]);
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

  it('live: silence is timed by the platform’s clock since the device last arrived, so a device whose own clock runs behind is not offline while it sends', () => {
    const e = engineWith(offline);
    const raised = () => e.drainIntents().flatMap((i) => (i.kind === 'raise' ? [`${i.diagnosis.fault} ${i.diagnosis.raisedAt}`] : []));
    // its clock is 4 minutes slow (still live: within the 5-minute live lag); a sample a minute for an hour
    const slow = 4 * MIN;
    for (let m = 0; m < 60; m++) {
      e.sample(point('d', T0 + m * MIN - slow, { oilTempC: 70 }), undefined, T0 + m * MIN);
      e.checkPresence(T0 + m * MIN + 30_000);
    }
    expect(raised()).toEqual([]);
    // then it stops at minute 59: not offline 13 minutes later by its own clock's reckoning, but 15 after it last arrived
    e.checkPresence(T0 + 59 * MIN + 14 * MIN);
    expect(raised()).toEqual([]);
    e.checkPresence(T0 + 59 * MIN + 16 * MIN);
    // as of the platform's clock: its own would date the silence 4 minutes early
    expect(raised()).toEqual([`offline ${iso(T0 + 59 * MIN + 15 * MIN)}`]);
  });

  it('live: a device whose clock runs far behind (20 minutes) but sends in step with the platform’s clock is live, and goes offline when it stops', () => {
    const e = engineWith(offline);
    const raised = () => e.drainIntents().flatMap((i) => (i.kind === 'raise' ? [`${i.diagnosis.fault} ${i.diagnosis.raisedAt}`] : []));
    const slow = 20 * MIN;
    // a sample a minute for an hour, each arriving a few seconds late on top of the clock's lag
    for (let m = 0; m < 60; m++) {
      e.sample(point('d', T0 + m * MIN - slow, { oilTempC: 70 }), undefined, T0 + m * MIN + ((m * 7) % 5) * 1000);
      e.checkPresence(T0 + m * MIN + 30_000);
    }
    expect(raised()).toEqual([]);
    e.checkPresence(T0 + 59 * MIN + 14 * MIN);
    expect(raised()).toEqual([]);
    e.checkPresence(T0 + 59 * MIN + 16 * MIN);
    // 15 minutes after its last arrival (minute 59, 3 s late)
    expect(raised()).toEqual([`offline ${iso(T0 + 59 * MIN + 3000 + 15 * MIN)}`]);
    // back after an outage with its stored samples in one burst: that burst is a backlog (judged in event time),
    // and the device is live again once it has sent in step for 15 minutes
    const back = T0 + 180 * MIN;
    for (let m = 60; m < 180; m++) e.sample(point('d', T0 + m * MIN - slow, { oilTempC: 70 }), undefined, back);
    for (let m = 181; m < 200; m++) e.sample(point('d', T0 + m * MIN - slow, { oilTempC: 70 }), undefined, T0 + m * MIN);
    e.drainIntents();
    e.checkPresence(T0 + 199 * MIN + 16 * MIN);
    expect(raised()).toEqual([`offline ${iso(T0 + 199 * MIN + 15 * MIN)}`]);
  });

  it('live: a device with a slow clock that sends twice a second is live too (each micro-batch an arrival)', () => {
    const e = engineWith(offline);
    let wall = T0;
    for (; wall < T0 + 30 * MIN; wall += 500) e.sample(point('d', wall - 20 * MIN, { oilTempC: 70 }), undefined, wall);
    e.drainIntents();
    e.checkPresence(wall + 16 * MIN);
    expect(e.drainIntents().flatMap((i) => (i.kind === 'raise' ? [i.diagnosis.raisedAt] : []))).toEqual([iso(wall - 500 + 15 * MIN)]);
  });

  it.each([0.9, 1.05, 1.13, 2])('a recording replayed at %s× real time is never taken for a live device with a slow clock', (speed) => {
    const e = engineWith(offline);
    // two hours old, a sample every 10 s, for an hour of wall clock
    const W0 = T0 + 2 * 60 * MIN;
    let last = W0;
    for (let k = 0; k * 10_000 < 60 * MIN * speed; k++) {
      last = W0 + (k * 10_000) / speed;
      e.sample(point('r', T0 + k * 10_000, { oilTempC: 70 }), undefined, last);
    }
    e.checkPresence(last + 20 * MIN);
    expect(e.drainIntents()).toEqual([]);
  });

  it('a device with a slow clock, live at its checkpoint, is live again after a restart: silent since, it goes offline', () => {
    const e = engineWith(offline);
    const slow = 20 * MIN;
    for (let m = 0; m < 30; m++) e.sample(point('d', T0 + m * MIN - slow, { oilTempC: 70 }), undefined, T0 + m * MIN);
    const snap = e.snapshot('d')!;
    // the service restarts at minute 40; the device sends twice more, in step, then stops
    const restarted = engineWith(offline);
    restarted.startedAt = T0 + 40 * MIN;
    expect(restarted.restore('d', 'air-compressor', snap.key, snap.state, false, undefined, true)).toBe(true);
    for (const m of [41, 42]) restarted.sample(point('d', T0 + m * MIN - slow, { oilTempC: 70 }), undefined, T0 + m * MIN);
    restarted.drainIntents();
    restarted.checkPresence(T0 + 42 * MIN + 16 * MIN);
    expect(restarted.drainIntents().flatMap((i) => (i.kind === 'raise' ? [i.diagnosis.raisedAt] : []))).toEqual([iso(T0 + 42 * MIN + 15 * MIN)]);
  });

  it('a recording replayed faster than real time (here 10×, a sample every 6 s for each minute) stays a replay however steady its pace', () => {
    const e = engineWith(offline);
    const W = T0 + 30 * 24 * 60 * MIN;
    for (let m = 0; m < 60; m++) e.sample(point('r', T0 + m * MIN, { oilTempC: 70 }), undefined, W + m * 6000);
    // an hour of wall clock after it stopped: a replay is judged against the replay's own event time, not the wall
    e.checkPresence(W + 360_000 + 60 * MIN);
    expect(e.drainIntents()).toEqual([]);
  });

  it('a whole-device recalibration forgets what the rules learnt, not whether the device is sending: silent, it goes offline', () => {
    const e = engineWith(offline);
    feed(e, series('d', T0, 3, MIN, () => ({ oilTempC: 70 })), 1000);
    e.forget('d', { resolve: true }, T0 + 3 * MIN);
    e.checkPresence(T0 + 20 * MIN);
    expect(e.drainIntents().flatMap((i) => (i.kind === 'raise' ? [i.diagnosis.raisedAt] : []))).toEqual([iso(T0 + 2 * MIN + 1000 + 15 * MIN)]);
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

  const S = 1000;

  it('a device whose replay lags behind another one is not silent; one that stopped sending is, once idle', () => {
    const e = engineWith(offline);
    // replayed devices hand over their stored samples in batches of their own size
    send(e, 'ahead', 0, 600, W); // ten hours at once
    send(e, 'lagging', 0, 300, W); // its first five so far
    send(e, 'stopped', 0, 60, W); // one hour, then nothing more
    e.checkPresence(W + 5 * S);
    expect(raised(e)).toEqual([]);
    send(e, 'lagging', 300, 300, W + 90 * S); // a busy ingest kept its next batch waiting
    send(e, 'ahead', 600, 60, W + 120 * S);
    e.checkPresence(W + 240 * S);
    expect(raised(e)).toEqual([]); // 'stopped' has been quiet for 4 min, within replayIdleMs (5 min)
    send(e, 'lagging', 600, 120, W + 300 * S);
    send(e, 'ahead', 660, 60, W + 300 * S);
    e.checkPresence(W + 360 * S);
    // quiet for 6 min, it no longer holds the watermark (now twelve hours) back: raised at its last sample + 15 min
    expect(raised(e)).toEqual([`stopped ${iso(T0 + 74 * MIN)}`]);
    e.checkPresence(W + 3600 * S);
    expect(raised(e)).toEqual([]); // every replay has stopped: the latest time replayed, where 'lagging' and 'ahead' ended together
  });

  it('a finished replay is not judged against a later, unrelated one: replayed traffic after every replay had stopped is another replay', () => {
    const e = engineWith(offline);
    // a recording of two hours replayed at once, then nothing for ten minutes
    send(e, 'recording', 0, 120, W);
    e.checkPresence(W + 600 * S);
    expect(raised(e)).toEqual([]);
    // another device hands over a backlog of 200 days later (another recording, a store-and-forward upload)
    const later = 200 * 24 * 60;
    send(e, 'backlog', later, 60, W + 600 * S);
    e.checkPresence(W + 1200 * S);
    expect(raised(e)).toEqual([]);
    // within one replay it still counts: a device of the later one that stops while the other goes on
    send(e, 'backlog', later + 60, 60, W + 1300 * S);
    send(e, 'partner', later, 10, W + 1300 * S);
    send(e, 'backlog', later + 120, 60, W + 1700 * S);
    e.checkPresence(W + 1700 * S + 1);
    expect(raised(e)).toEqual([`partner ${iso(T0 + (later + 9) * MIN + 15 * MIN)}`]);
  });

  it('a device that usually sends every ten minutes (wall clock) is not idle after twenty minutes of quiet', () => {
    const e = engineWith(offline);
    for (let k = 0; k < 4; k++) {
      send(e, 'slow', k * 60, 60, W + k * 600 * S); // an hour of data every ten minutes
      send(e, 'fast', k * 60, 60, W + k * 600 * S);
    }
    for (let k = 0; k < 20; k++) send(e, 'fast', 240 + k * 60, 60, W + (1800 + (k + 1) * 60) * S); // then every minute
    e.checkPresence(W + 3000 * S);
    expect(raised(e)).toEqual([]);
    e.checkPresence(W + (1800 + 4 * 600 + 1) * S);
    expect(raised(e)).toEqual([`slow ${iso(T0 + 239 * MIN + 15 * MIN)}`]);
  });

  it('a batch split over several micro-batches is one arrival: its pieces do not shrink the usual gap', () => {
    const e = engineWith(offline);
    for (let k = 0; k < 4; k++) {
      // sixty samples every 400 s, arriving in ten pieces 20 ms apart
      for (let j = 0; j < 10; j++) send(e, 'bursty', k * 60 + j * 6, 6, W + k * 400 * S + j * 20);
      send(e, 'ahead', k * 60, 60, W + k * 400 * S);
    }
    for (let k = 0; k < 5; k++) send(e, 'ahead', 240 + k * 60, 60, W + (1200 + (k + 1) * 60) * S);
    e.checkPresence(W + (1200 + 350) * S);
    expect(raised(e)).toEqual([]); // quiet for 350 s, well within four of its 400 s gaps
  });

  it('one long pause does not make a device hold the watermark for hours: four usual gaps count up to 30 min', () => {
    const e = engineWith(offline);
    send(e, 'paused', 0, 60, W);
    send(e, 'paused', 60, 60, W + 7200 * S); // back after two hours of wall clock, one batch, then nothing
    for (let k = 0; k < 40; k++) send(e, 'ahead', k * 60, 60, W + 7200 * S + k * 60 * S);
    e.checkPresence(W + (7200 + 29 * 60) * S);
    expect(raised(e)).toEqual([]);
    e.checkPresence(W + (7200 + 31 * 60) * S);
    expect(raised(e)).toEqual([`paused ${iso(T0 + 119 * MIN + 15 * MIN)}`]);
  });

  it('a live device that comes back and uploads part of its backlog, then stops, is judged as a replay that stopped', () => {
    const e = engineWith(offline);
    const at = (d: string, tsMin: number, wallMin: number) => e.sample(point(d, T0 + tsMin * MIN, { oilTempC: 70 }), undefined, T0 + wallMin * MIN);
    for (let k = 0; k <= 4; k++) at('back', k * 15, k * 15); // live every 15 min for an hour, then an outage
    const ahead = (fromMin: number, toMin: number) => {
      // another device, replaying two minutes of data a minute (in step with the wall clock it would be live)
      for (let w = fromMin; w <= toMin; w++) for (const k of [0, 1]) at('ahead', 2 * w - 200 + k, w);
    };
    ahead(170, 180);
    for (let k = 5; k <= 10; k++) at('back', k * 15, 180); // at 3 h: the stored samples up to 2 h 30, then nothing more
    ahead(181, 184);
    e.checkPresence(T0 + 184 * MIN);
    expect(raised(e)).toEqual([]);
    ahead(185, 190);
    // quiet for 10 min: its live cadence (15 min) and the outage (2 h) do not stretch its idle time
    e.checkPresence(T0 + 190 * MIN);
    expect(raised(e)).toEqual([`back ${iso(T0 + 150 * MIN + 15 * MIN)}`]);
  });
});
