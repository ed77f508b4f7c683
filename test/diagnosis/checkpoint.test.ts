/**
 * Diagnosis checkpoints: a restart of the service resumes each device's
 * learnt baselines, windows and model calibration from the ops store instead
 * of relearning them from whatever the device sends next (which, on a device
 * already drifting, would teach it that the fault is its normal).
 * Engine round trip in isolation, then the service over the real PGlite ops
 * store and SQLite telemetry with the real ONNX model scorer, stopped and
 * started again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Diagnosis as DiagnosisT } from '../../core/domain/diagnosis.ts';
import type { Point } from '../../core/domain/telemetry.ts';
import { nullLogger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { createDiagnosis } from '../../diagnosis/create-diagnosis.ts';
import { layoutKey } from '../../diagnosis/windows/device-state.ts';
import { createModelScorer } from '../../diagnosis/model/scorer.ts';
import { startTestApi, type TestApi } from '../api/helpers.ts';
import { CURRENT_UP_RULE, MIN, T0, compressorSample, engineWith, feed, ruleSet, series } from './helpers.ts';

/** Motor current up (CURRENT_UP_RULE); and offline after 10 min without data. */
const RULES = ruleSet({
  windowMs: MIN,
  buckets: 30,
  baselineSamples: 20,
  rules: [
    CURRENT_UP_RULE,
    {
      id: 'offline',
      fault: 'offline',
      severity: 'warning',
      condition: { kind: 'missing', afterMs: 10 * MIN },
      remedy: { class: 'technician', summary: 'check the link' },
      trigger: { k: 1, n: 1, clearAfterWindows: 1 },
    },
  ],
});


describe('engine snapshot and restore', () => {
  it('a restored device continues exactly where the checkpoint left it; a fresh one relearns the fault as normal', () => {
    const before = series('ac-1', T0, 30, MIN, (i) => compressorSample(50, i));
    const after = series('ac-1', T0 + 30 * MIN, 30, MIN, (i) => compressorSample(65, 30 + i));

    // the uninterrupted run
    const whole = engineWith(RULES);
    const ref = feed(whole, [...before, ...after]);
    expect(ref.raised().map((r) => r.fault)).toEqual(['ac-test-current-up']);

    // checkpoint after `before`, restored into a new engine
    const first = engineWith(RULES);
    feed(first, before);
    expect(first.takeDirty()).toEqual(['ac-1']);
    expect(first.takeDirty()).toEqual([]);
    const snap = first.snapshot('ac-1')!;
    expect(snap.key).toBe(layoutKey(first.layout('air-compressor')!));
    const second = engineWith(RULES);
    expect(second.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(true);
    const resumed = feed(second, after);
    expect(resumed.raised()).toEqual(ref.raised());
    expect(second.snapshot('ac-1')!.state).toEqual(whole.snapshot('ac-1')!.state);

    // without the checkpoint the device learns 65 A as its normal and says nothing
    expect(feed(engineWith(RULES), after).raised()).toEqual([]);
  });

  it('refuses a checkpoint of other rules, of the wrong size, or for a device already running', () => {
    const e = engineWith(RULES);
    feed(e, series('ac-1', T0, 5, MIN, (i) => compressorSample(50, i)));
    const snap = e.snapshot('ac-1')!;
    const other = engineWith(ruleSet({ ...RULES, baselineSamples: 30 }));
    expect(other.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(false);
    const same = engineWith(RULES);
    expect(same.restore('ac-1', 'air-compressor', snap.key, snap.state.subarray(8))).toBe(false);
    expect(same.restore('ac-1', 'refrigerator', snap.key, snap.state)).toBe(false);
    expect(same.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(true);
    expect(same.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(false);
  });

  it('reconciles the checkpoint with the diagnoses the store holds: one raised after it starts its hold, one cleared after it needs fresh evidence', () => {
    const e = engineWith(RULES);
    feed(e, series('ac-1', T0, 30, MIN, (i) => compressorSample(50, i)));
    const quiet = e.snapshot('ac-1')!;
    // the store says the fault is active (raised after the checkpoint): the normal windows before it do not clear it at once
    const b = engineWith(RULES);
    b.restoreActive([{ id: 'd-1', deviceId: 'ac-1', fault: 'ac-test-current-up', source: 'rules' } as DiagnosisT]);
    expect(b.restore('ac-1', 'air-compressor', quiet.key, quiet.state)).toBe(true);
    const cleared = feed(b, series('ac-1', T0 + 30 * MIN, 10, MIN, (i) => compressorSample(50, 30 + i))).cleared();
    // clearAfterWindows 4: windows [30,31) … [33,34) are its first four normal ones (the checkpoint's streak of
    // normal windows would have cleared it when the open one closed, at minute 30)
    expect(cleared).toEqual([{ fault: 'ac-test-current-up', at: new Date(T0 + 34 * MIN).toISOString() }]);

    // raised before the checkpoint, cleared in the store after it (a technician closed it): raised again only on k fresh windows
    const c = engineWith(RULES);
    const raised = feed(c, series('ac-1', T0, 40, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i))).raised();
    expect(raised.map((r) => r.fault)).toEqual(['ac-test-current-up']);
    const hot = c.snapshot('ac-1')!;
    const d = engineWith(RULES);
    d.restoreActive([]);
    expect(d.restore('ac-1', 'air-compressor', hot.key, hot.state)).toBe(true);
    const again = feed(d, series('ac-1', T0 + 40 * MIN, 6, MIN, (i) => compressorSample(65, 40 + i))).raised();
    // k = 3 of n = 5: the window open at the checkpoint [39,40) and [40,41), [41,42) — not at minute 40 from the spent mask
    expect(again).toEqual([{ fault: 'ac-test-current-up', at: new Date(T0 + 42 * MIN).toISOString() }]);
  });

  it('a fault held by one of its rules at the checkpoint clears as it would have without the restart (its sibling rule is not bound)', () => {
    const twoRules = ruleSet({
      ...RULES,
      rules: [RULES.rules[0]!, { ...RULES.rules[0]!, id: 'current-very-high', condition: { kind: 'threshold', metric: 'motorCurrentA', op: 'above', value: 150 } }],
    });
    const history = series('ac-1', T0, 44, MIN, (i) => compressorSample(i >= 30 && i < 42 ? 65 : 50, i));
    const rest = series('ac-1', T0 + 44 * MIN, 12, MIN, (i) => compressorSample(50, 44 + i));
    const whole = feed(engineWith(twoRules), [...history, ...rest]);
    expect(whole.raised().map((r) => r.fault)).toEqual(['ac-test-current-up']);
    expect(whole.cleared()).toHaveLength(1);

    const first = engineWith(twoRules);
    const raised = feed(first, history);
    const snap = first.snapshot('ac-1')!;
    const d = raised.intents.find((i) => i.kind === 'raise')!;
    const second = engineWith(twoRules);
    second.restoreActive([d.kind === 'raise' ? d.diagnosis : (undefined as never)]);
    expect(second.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(true);
    expect(feed(second, rest).cleared()).toEqual(whole.cleared());
  });

  it('replaces a running state only with a checkpoint that fits, keeping its pacing; raises by the presence check mark the device for the next checkpoint', () => {
    const e = engineWith(RULES);
    feed(e, series('ac-1', T0, 5, MIN, (i) => compressorSample(50, i)));
    const snap = e.snapshot('ac-1')!;
    const running = engineWith(RULES);
    feed(running, series('ac-1', T0 + 60 * MIN, 3, MIN, (i) => compressorSample(65, i)), 0); // live
    const before = running.states.get('ac-1')!;
    expect(running.restore('ac-1', 'air-compressor', 'air-compressor:other', snap.state, true)).toBe(false);
    expect(running.states.get('ac-1')).toBe(before);
    expect(running.restore('ac-1', 'air-compressor', snap.key, snap.state, true)).toBe(true);
    const after = running.states.get('ac-1')!;
    expect(after).not.toBe(before);
    expect(after.samples).toBe(5);
    expect(after.lastTs).toBe(before.lastTs);

    // still live (its pacing carried over): silent for a day of wall-clock time, it is offline
    running.takeDirty();
    running.checkPresence(T0 + 24 * 60 * MIN);
    expect(running.drainIntents().map((i) => (i.kind === 'raise' ? i.diagnosis.fault : i.kind))).toEqual(['offline']);
    expect(running.takeDirty()).toEqual(['ac-1']);
  });

  it('only the resume at start (live devices) counts silence from the start; a device resumed later by an event or a recalibration waits for its next sample', () => {
    const e = engineWith(RULES);
    feed(e, series('ac-1', T0, 5, MIN, (i) => compressorSample(50, i)), 1000); // live
    const snap = e.snapshot('ac-1')!;
    const start = T0 + 120 * MIN;
    const atStart = engineWith(RULES);
    atStart.startedAt = start;
    expect(atStart.restore('ac-1', 'air-compressor', snap.key, snap.state, false, undefined, true)).toBe(true);
    const later = engineWith(RULES);
    later.startedAt = start;
    expect(later.restore('ac-1', 'air-compressor', snap.key, snap.state)).toBe(true);
    for (const x of [atStart, later]) x.checkPresence(start + 11 * MIN);
    expect(atStart.drainIntents().flatMap((i) => (i.kind === 'raise' ? [i.diagnosis.raisedAt] : []))).toEqual([new Date(start + 10 * MIN).toISOString()]);
    expect(later.drainIntents()).toEqual([]);
  });

  it('a checkpoint taken under other rules is refused, but a device live then is still watched for silence from the start', () => {
    const e = engineWith(RULES);
    feed(e, series('ac-1', T0, 5, MIN, (i) => compressorSample(50, i)), 1000); // live
    feed(e, series('ac-2', T0, 5, MIN, (i) => compressorSample(50, i))); // replayed
    // the rule set changed while the service was down (another limit of the current rule)
    const changed = ruleSet({ ...RULES, rules: RULES.rules.map((r) => (r.id === CURRENT_UP_RULE.id ? { ...r, description: 'reworded' } : r)) });
    const start = T0 + 120 * MIN;
    const next = engineWith(changed);
    next.startedAt = start;
    for (const id of ['ac-1', 'ac-2']) {
      const snap = e.snapshot(id)!;
      expect(next.restore(id, 'air-compressor', snap.key, snap.state, false, undefined, true)).toBe(false);
      // handed over at any offset of a larger buffer, as a store returns it
      const shifted = new Uint8Array(snap.state.byteLength + 3).subarray(3);
      shifted.set(snap.state);
      expect(next.resumePresence(id, 'air-compressor', shifted, { model: null, site: null })).toBe(id === 'ac-1');
    }
    expect(next.states.get('ac-1')?.samples).toBe(0);
    next.checkPresence(start + 11 * MIN);
    expect(next.drainIntents().flatMap((i) => (i.kind === 'raise' ? [`${i.diagnosis.deviceId} ${i.diagnosis.raisedAt}`] : []))).toEqual([`ac-1 ${new Date(start + 10 * MIN).toISOString()}`]);
  });

  it("the first sample after a restore does not count the service's downtime as the device going offline; later gaps do", () => {
    const e = engineWith(RULES);
    feed(e, series('ac-1', T0, 25, MIN, (i) => compressorSample(50, i)));
    const snap = e.snapshot('ac-1')!;
    const r = engineWith(RULES);
    r.restore('ac-1', 'air-compressor', snap.key, snap.state);
    // back two hours later (the service was down), then a real 30-minute silence
    const f = feed(r, [...series('ac-1', T0 + 120 * MIN, 5, MIN, (i) => compressorSample(50, i)), ...series('ac-1', T0 + 155 * MIN, 3, MIN, (i) => compressorSample(50, i))]);
    expect(f.raised()).toEqual([{ fault: 'offline', at: new Date(T0 + 124 * MIN + 10 * MIN).toISOString() }]);
  });
});

describe('the service resumes from checkpoints after a restart', () => {
  let t: TestApi;
  beforeAll(async () => {
    t = await startTestApi();
    await t.opsStore.registerDevices([{ id: 'ac-ck-1', type: 'air-compressor' }, { id: 'ac-ck-2', type: 'air-compressor' }]);
  });
  afterAll(() => t?.close());

  function service(opts: { checkpointMs?: number; opsStore?: OpsStore; presenceCheckMs?: number; rules?: typeof RULES } = {}) {
    const accepted = new Set<(p: readonly Point[]) => void>();
    const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: 10 });
    const d = createDiagnosis({
      logger: nullLogger(),
      clock: t.clock,
      opsStore: opts.opsStore ?? t.opsStore,
      telemetryStore: t.telemetryStore,
      source: { onAccepted: (l) => (accepted.add(l), () => accepted.delete(l)) },
      scorer,
      options: { tickMs: 5, rulesPollMs: 60_000, presenceCheckMs: opts.presenceCheckMs ?? 60_000, checkpointMs: opts.checkpointMs ?? 0, shippedRuleSets: new Map([['air-compressor', opts.rules ?? RULES]]) },
    });
    const raised: DiagnosisT[] = [];
    d.bus.on('raised', (x) => raised.push(x));
    return { d, scorer, raised, push: (p: readonly Point[]) => accepted.forEach((l) => l(p)) };
  }

  /** The ops store, its first `failures` checkpoint reads failing (and, with noneAtStart, no device listed for the read at start). */
  function flakyReads(failures: number, noneAtStart = false): OpsStore {
    return Object.create(t.opsStore, {
      loadDiagnosisStates: {
        value: async (ids: readonly string[]) => {
          if (failures-- > 0) throw new Error('connection reset');
          return t.opsStore.loadDiagnosisStates(ids);
        },
      },
      ...(noneAtStart ? { listCheckpointedDevices: { value: async () => [] } } : {}),
    }) as OpsStore;
  }

  /** A live device's five minutes, checkpointed at stop; returns the time it stopped sending. */
  async function checkpointLive(id: string): Promise<number> {
    await t.opsStore.registerDevices([{ id, type: 'air-compressor' }]);
    const a = service();
    await a.d.start();
    const now = t.clock.now();
    a.push(series(id, now - 5 * MIN, 5, MIN, (i) => compressorSample(50, i)));
    await a.d.flush();
    await a.d.stop();
    await a.scorer.close();
    return now;
  }

  /** When `id` was raised offline by this service. */
  const offlineAt = (x: ReturnType<typeof service>, id: string) => x.raised.filter((d) => d.fault === 'offline' && d.deviceId === id).map((d) => d.raisedAt);

  it('baselines and model calibration survive stop and start; a device without a checkpoint starts afresh', { timeout: 60_000 }, async () => {
    const a = service();
    await a.d.start();
    a.push(series('ac-ck-1', T0, 30, MIN, (i) => compressorSample(50, i)));
    await a.d.flush();
    expect(a.raised).toEqual([]);
    await a.d.stop();
    await a.scorer.close();
    expect(a.d.stats().checkpointed).toBe(1);
    const saved = await t.opsStore.loadDiagnosisStates(['ac-ck-1', 'ac-ck-2']);
    expect(saved.map((s) => `${s.deviceId}:${s.part}`).sort()).toEqual(['ac-ck-1:model', 'ac-ck-1:rules']);

    // two hours later: the current runs 15 A high on both devices; only ac-ck-1 knows its normal was 50 A
    const b = service();
    await b.d.start();
    const from = T0 + 150 * MIN;
    b.push([...series('ac-ck-1', from, 20, MIN, (i) => compressorSample(65, 30 + i)), ...series('ac-ck-2', from, 20, MIN, (i) => compressorSample(65, i))]);
    await b.d.flush();
    expect(b.d.stats().restored).toBe(1);
    // the rule against the remembered baseline, and the model against the remembered calibration; ac-ck-2 learns 65 A as normal
    expect(b.raised.map((d) => `${d.deviceId} ${d.fault}`).sort()).toEqual(['ac-ck-1 ac-test-current-up', 'ac-ck-1 anomaly']);

    // the model scored ac-ck-1's first sample after the restart (calibrated before it); ac-ck-2 calibrates first
    const score = async (id: string) =>
      (await t.telemetryStore.query({ deviceId: id, type: 'air-compressor', from, to: from + 1, metrics: ['anomalyScore', 'anomaly'], limit: 1 }))[0]?.values;
    expect(Object.keys((await score('ac-ck-1')) ?? {}).sort()).toEqual(['anomaly', 'anomalyScore']);
    expect(await score('ac-ck-2')).toEqual({ anomaly: 0 });
    await b.d.stop();
    await b.scorer.close();
    expect((await t.opsStore.loadDiagnosisStates(['ac-ck-2'])).map((s) => s.part).sort()).toEqual(['model', 'rules']);
  });

  it('a failed checkpoint read neither loses nor overwrites the stored state: a retry resumes it', { timeout: 60_000 }, async () => {
    const a = service();
    await a.d.start();
    a.push(series('ac-ck-4', T0, 30, MIN, (i) => compressorSample(50, i)));
    await a.d.flush();
    await a.d.stop();
    await a.scorer.close();
    const stored = await t.opsStore.loadDiagnosisStates(['ac-ck-4']);
    expect(stored).toHaveLength(2);

    // the read at start (devices live at their checkpoint) is not this test's: the failure is for the device's own
    const b = service({ opsStore: flakyReads(1, true) });
    await b.d.start();
    const from = T0 + 150 * MIN;
    b.push(series('ac-ck-4', from, 3, MIN, (i) => compressorSample(65, 30 + i)));
    await b.d.flush();
    expect(b.d.stats().restored).toBe(0);
    await b.d.checkpoint();
    // the device ran afresh meanwhile, but its checkpoint in the store is the one from before the restart
    expect(await t.opsStore.loadDiagnosisStates(['ac-ck-4'])).toEqual(stored);
    await new Promise((r) => setTimeout(r, 2100));
    b.push(series('ac-ck-4', from + 3 * MIN, 20, MIN, (i) => compressorSample(65, 33 + i)));
    await b.d.flush();
    expect(b.d.stats().restored).toBe(1);
    expect(b.raised.map((d) => d.fault)).toContain('ac-test-current-up');
    await b.d.stop();
    await b.scorer.close();
  });

  it('a device live at the checkpoint and silent after the restart goes offline, counted from the start; a replayed one does not', { timeout: 60_000 }, async () => {
    await t.opsStore.registerDevices([{ id: 'ac-ck-live', type: 'air-compressor' }, { id: 'ac-ck-old', type: 'air-compressor' }]);
    const a = service();
    await a.d.start();
    const now = t.clock.now();
    a.push(series('ac-ck-live', now - 5 * MIN, 5, MIN, (i) => compressorSample(50, i)));
    a.push(series('ac-ck-old', now - 2 * 24 * 60 * MIN, 5, MIN, (i) => compressorSample(50, i)));
    await a.d.flush();
    await a.d.stop();
    await a.scorer.close();

    // the service is down for an hour; back, nothing is heard from either device
    t.clock.set(now + 60 * MIN);
    const b = service({ presenceCheckMs: 10 });
    const offline = () => b.raised.filter((d) => d.fault === 'offline' && ['ac-ck-live', 'ac-ck-old'].includes(d.deviceId)).map((d) => `${d.deviceId} ${d.raisedAt}`);
    await b.d.start();
    await new Promise((r) => setTimeout(r, 100));
    // not at once: the hour the service was down is not the device's silence
    expect(offline()).toEqual([]);
    t.clock.set(now + 71 * MIN);
    await new Promise((r) => setTimeout(r, 100));
    // as of the service's start + 10 minutes, not of its last sample before the downtime
    expect(offline()).toEqual([`ac-ck-live ${new Date(now + 60 * MIN + 10 * MIN).toISOString()}`]);
    await b.d.stop();
    await b.scorer.close();

    // again, with the rule set changed while the service was down: its checkpoint is refused, its silence still counts
    const now2 = await checkpointLive('ac-ck-live2');
    t.clock.set(now2 + 60 * MIN);
    const changed = ruleSet({ ...RULES, rules: RULES.rules.map((r) => (r.id === CURRENT_UP_RULE.id ? { ...r, description: 'reworded' } : r)) });
    const d = service({ presenceCheckMs: 10, rules: changed });
    await d.d.start();
    t.clock.set(now2 + 71 * MIN);
    await new Promise((r) => setTimeout(r, 150));
    expect(offlineAt(d, 'ac-ck-live2')).toEqual([new Date(now2 + 70 * MIN).toISOString()]);
    expect(d.d.stats().restored).toBe(0);
    await d.d.stop();
    await d.scorer.close();
  });

  it('a failed read of the checkpoints at start is tried again: a live device silent since still goes offline', { timeout: 60_000 }, async () => {
    const now = await checkpointLive('ac-ck-live3');
    t.clock.set(now + 60 * MIN);
    const b = service({ presenceCheckMs: 10, opsStore: flakyReads(1) });
    await b.d.start();
    // the retry comes 2 s after the failed read
    await new Promise((r) => setTimeout(r, 2500));
    t.clock.set(now + 71 * MIN);
    await new Promise((r) => setTimeout(r, 150));
    expect(offlineAt(b, 'ac-ck-live3')).toEqual([new Date(now + 70 * MIN).toISOString()]);
    await b.d.stop();
    await b.scorer.close();
  });

  it('saves on its interval while running; a failed save keeps the devices for the next one', { timeout: 60_000 }, async () => {
    let failures = 1;
    const flaky: OpsStore = Object.create(t.opsStore, {
      saveDiagnosisStates: {
        value: async (items: Parameters<OpsStore['saveDiagnosisStates']>[0]) => {
          if (failures-- > 0) throw new Error('database went away');
          return t.opsStore.saveDiagnosisStates(items);
        },
      },
    }) as OpsStore;
    const s = service({ checkpointMs: 100, opsStore: flaky });
    await s.d.start();
    s.push(series('ac-ck-3', T0, 5, MIN, (i) => compressorSample(50, i)));
    await s.d.flush();
    const deadline = Date.now() + 10_000;
    while (s.d.stats().checkpointed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(s.d.stats()).toMatchObject({ checkpointErrors: 1, checkpointed: 1 });
    const [rules] = (await t.opsStore.loadDiagnosisStates(['ac-ck-3'])).filter((r) => r.part === 'rules');
    // what was saved is the device after its 5 samples, and the store lost nothing while it failed
    const e = engineWith(RULES);
    expect(e.restore('ac-ck-3', 'air-compressor', rules!.key, rules!.state)).toBe(true);
    expect(e.states.get('ac-ck-3')?.samples).toBe(5);
    await s.d.stop();
    await s.scorer.close();
  });
});
