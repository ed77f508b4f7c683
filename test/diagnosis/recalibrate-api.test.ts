/**
 * Recalibration after a repair through the real api over the real PGlite ops
 * store and SQLite telemetry, with the diagnosis service and the ONNX scorer:
 * the device forgets its learnt normal (rule baselines and windows, the model's
 * calibration, the checkpoint) and learns it again; its active diagnoses clear
 * when asked. The engine alone: recalibrate.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Diagnosis as DiagnosisT } from '../../core/domain/diagnosis.ts';
import type { Point } from '../../core/domain/telemetry.ts';
import { nullLogger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { createDiagnosis } from '../../diagnosis/create-diagnosis.ts';
import { createModelScorer } from '../../diagnosis/model/scorer.ts';
import { startTestApi, type TestApi } from '../api/helpers.ts';
import { CURRENT_UP_RULES as RULES, MIN, T0, compressorSample, series } from './helpers.ts';

describe('POST /devices/:id/recalibrate', () => {
  let t: TestApi;
  let d: ReturnType<typeof createDiagnosis>;
  let scorer: ReturnType<typeof createModelScorer>;
  const accepted = new Set<(p: readonly Point[]) => void>();
  const raised: DiagnosisT[] = [];
  const cleared: DiagnosisT[] = [];
  const push = async (p: readonly Point[]) => {
    accepted.forEach((l) => l(p));
    await d.flush();
  };

  function makeService() {
    scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: 10 });
    d = createDiagnosis({
      logger: nullLogger(),
      clock: t.clock,
      opsStore: t.opsStore,
      telemetryStore: t.telemetryStore,
      source: { onAccepted: (l) => (accepted.add(l), () => accepted.delete(l)) },
      scorer,
      options: { tickMs: 5, rulesPollMs: 50, presenceCheckMs: 60_000, checkpointMs: 0, shippedRuleSets: new Map([['air-compressor', RULES]]) },
    });
    d.bus.on('raised', (x) => raised.push(x));
    d.bus.on('cleared', (x) => cleared.push(x));
  }

  beforeAll(async () => {
    t = await startTestApi({ onRecalibrationRequested: () => d.applyRecalibrations() });
    await t.opsStore.registerDevices(['ac-rc-1', 'ac-rc-2', 'ac-rc-3', 'ac-rc-4'].map((id) => ({ id, type: 'air-compressor' })));
    makeService();
    await d.start();
  });
  afterAll(async () => {
    await d?.stop();
    await scorer?.close();
    await t?.close();
  });

  const recalibrations = async (id: string) => (await t.call('viewer', { method: 'GET', url: `/api/v1/devices/${id}/recalibrations` })).json;
  const active = async (id: string) => (await t.call('viewer', { method: 'GET', url: `/api/v1/devices/${id}/diagnoses?status=active` })).json as DiagnosisT[];

  it('clears the active diagnoses, drops the checkpoint, and the device calibrates again on its new normal', { timeout: 60_000 }, async () => {
    await push(series('ac-rc-1', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)));
    expect((await active('ac-rc-1')).map((x) => x.fault).sort()).toEqual(['ac-test-current-up', 'anomaly']);
    await d.checkpoint();
    expect(await t.opsStore.loadDiagnosisStates(['ac-rc-1'])).toHaveLength(2);

    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices/ac-rc-1/recalibrate', payload: { reason: 'motor replaced' } });
    expect(res.statusCode).toBe(202);
    expect(res.json).toMatchObject({ deviceId: 'ac-rc-1', reason: 'motor replaced', resolveActive: true });
    await d.applyRecalibrations();
    const [done] = await recalibrations('ac-rc-1');
    expect(done.id).toBe(res.json.id);
    expect(done.appliedAt).not.toBeNull();
    expect(done.resolved).toHaveLength(2);
    expect(await active('ac-rc-1')).toEqual([]);
    expect(cleared.map((x) => x.id).sort()).toEqual([...done.resolved].sort());
    expect(await t.opsStore.loadDiagnosisStates(['ac-rc-1'])).toEqual([]);

    // the new motor draws 65 A: the model calibrates again (no score, anomaly 0), nothing is raised
    raised.length = 0;
    const from = T0 + 45 * MIN;
    await push(series('ac-rc-1', from, 40, MIN, (i) => compressorSample(65, 45 + i)));
    const rows = await t.telemetryStore.query({ deviceId: 'ac-rc-1', type: 'air-compressor', from, to: from + 40 * MIN, metrics: ['anomalyScore', 'anomaly'], limit: 100 });
    expect(rows.slice(0, 10).map((r) => r.values)).toEqual(Array(10).fill({ anomaly: 0 }));
    expect(Object.keys(rows[10]!.values).sort()).toEqual(['anomaly', 'anomalyScore']);
    expect(raised).toEqual([]);
    // and judges against it: 15 A above the new normal is a fault again
    await push(series('ac-rc-1', from + 40 * MIN, 10, MIN, (i) => compressorSample(80, 85 + i)));
    expect(raised.map((x) => x.fault)).toContain('ac-test-current-up');
  });

  it('keeps the diagnoses active when asked to; empty body means resolve', { timeout: 60_000 }, async () => {
    await push(series('ac-rc-2', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)));
    const before = await active('ac-rc-2');
    expect(before.length).toBeGreaterThan(0);
    const keep = await t.call('service', { method: 'POST', url: '/api/v1/devices/ac-rc-2/recalibrate', payload: { resolveActive: false } });
    expect(keep.statusCode).toBe(202);
    await d.applyRecalibrations();
    expect((await recalibrations('ac-rc-2'))[0]).toMatchObject({ resolveActive: false, resolved: [], reason: null });
    expect((await active('ac-rc-2')).map((x) => x.id).sort()).toEqual(before.map((x) => x.id).sort());

    t.clock.advance(1000);
    const empty = await t.call('service', { method: 'POST', url: '/api/v1/devices/ac-rc-2/recalibrate' });
    expect(empty.statusCode).toBe(202);
    expect(empty.json.resolveActive).toBe(true);
    await d.applyRecalibrations();
    expect(await active('ac-rc-2')).toEqual([]);
    expect((await recalibrations('ac-rc-2')).map((r: { resolveActive: boolean }) => r.resolveActive)).toEqual([true, false]);
  });

  it('a request recorded elsewhere (another api process) is applied at the next poll', { timeout: 30_000 }, async () => {
    await push(series('ac-rc-3', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)));
    expect((await active('ac-rc-3')).length).toBeGreaterThan(0);
    const r = await t.opsStore.requestRecalibration('ac-rc-3', { resolveActive: true });
    for (let i = 0; i < 200 && (await recalibrations('ac-rc-3'))[0].appliedAt === null; i++) await new Promise((ok) => setTimeout(ok, 25));
    expect((await recalibrations('ac-rc-3'))[0]).toMatchObject({ id: r.id, resolveActive: true });
    expect((await recalibrations('ac-rc-3'))[0].appliedAt).not.toBeNull();
    expect(await active('ac-rc-3')).toEqual([]);
    expect(await t.opsStore.finishRecalibration(r.id, Date.now(), [])).toBe(false);
  });

  it('narrowed to a fault, only its diagnosis clears and the model keeps its calibration, also for a device this process has not seen yet', { timeout: 60_000 }, async () => {
    await push(series('ac-rc-4', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)));
    expect((await active('ac-rc-4')).map((x) => x.fault).sort()).toEqual(['ac-test-current-up', 'anomaly']);
    // restart: the device's state is only in its checkpoint now
    await d.stop();
    await scorer.close();
    const before = await t.opsStore.loadDiagnosisStates(['ac-rc-4']);
    expect(before).toHaveLength(2);
    makeService();
    await d.start();

    t.clock.advance(1000);
    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices/ac-rc-4/recalibrate', payload: { reason: 'motor rewound', faults: ['ac-test-current-up'] } });
    expect(res.statusCode).toBe(202);
    expect(res.json.faults).toEqual(['ac-test-current-up']);
    await d.applyRecalibrations();
    const [done] = await recalibrations('ac-rc-4');
    expect(done.appliedAt).not.toBeNull();
    expect(done.resolved).toHaveLength(1);
    expect((await active('ac-rc-4')).map((x) => x.fault)).toEqual(['anomaly']);
    // the rules part was read, reset and saved again before the request was marked applied; the model part is untouched
    const after = await t.opsStore.loadDiagnosisStates(['ac-rc-4']);
    const part = (xs: typeof after, p: string) => xs.find((x) => x.part === p)!.state;
    expect(part(after, 'model')).toEqual(part(before, 'model'));
    expect(part(after, 'rules')).not.toEqual(part(before, 'rules'));

    // the model is still calibrated: the next sample is scored at once
    const from = T0 + 45 * MIN;
    await push(series('ac-rc-4', from, 3, MIN, (i) => compressorSample(50, 45 + i)));
    const rows = await t.telemetryStore.query({ deviceId: 'ac-rc-4', type: 'air-compressor', from, to: from + 3 * MIN, metrics: ['anomalyScore', 'anomaly'], limit: 10 });
    expect(Object.keys(rows[0]!.values).sort()).toEqual(['anomaly', 'anomalyScore']);
  });

  it('answers 4xx for bad input, an unknown device or a viewer', async () => {
    const post = (role: 'service' | 'viewer', url: string, payload?: unknown) => t.call(role, { method: 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }) });
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { resolveActive: 'yes' })).statusCode).toBe(400);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { reason: 'x'.repeat(501) })).statusCode).toBe(400);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { reason: 'ok', extra: 1 })).statusCode).toBe(400);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { faults: [] })).statusCode).toBe(400);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { reason: 'a\u0000b' })).statusCode).toBe(400);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { faults: ['not a code!'] })).statusCode).toBe(400);
    // a fault the device's type cannot have (a typo) is refused, naming the ones it can
    const typo = await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { faults: ['ac-cooler-fooling'] });
    expect(typo.statusCode).toBe(400);
    expect(typo.json.message).toMatch(/ac-cooler-fooling is no fault of type air-compressor .*ac-cooler-fouling/);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', { faults: ['ac-cooler-fouling', 'anomaly'] })).statusCode).toBe(202);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', [])).statusCode).toBe(400);
    expect((await post('service', '/api/v1/devices/ac-rc-1/recalibrate', 'text')).statusCode).toBe(415);
    expect((await post('service', '/api/v1/devices/no-such-device/recalibrate', {})).statusCode).toBe(404);
    expect((await post('viewer', '/api/v1/devices/ac-rc-1/recalibrate', {})).statusCode).toBe(403);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/no-such-device/recalibrations' })).statusCode).toBe(404);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/ac-rc-1/recalibrations?limit=0' })).statusCode).toBe(400);
  });

  it('a request is marked applied only once its clears are saved; a retry finishes it without clearing again', { timeout: 60_000 }, async () => {
    await t.opsStore.registerDevices([{ id: 'ac-rc-5', type: 'air-compressor' }]);
    await push(series('ac-rc-5', T0, 45, MIN, (i) => compressorSample(i < 30 ? 50 : 65, i)));
    const diagnosed = (await active('ac-rc-5')).map((x) => x.id).sort();
    expect(diagnosed).toHaveLength(2);
    // this process's service is stopped; another one, on a store that fails once at each step, takes the request
    await d.stop();
    await scorer.close();
    const fail = { clearDiagnoses: 1, finishRecalibration: 1 };
    const flaky = Object.create(t.opsStore, {
      clearDiagnoses: {
        value: async (items: Parameters<OpsStore['clearDiagnoses']>[0]) => {
          if (items.length && fail.clearDiagnoses-- > 0) throw new Error('connection reset');
          return t.opsStore.clearDiagnoses(items);
        },
      },
      finishRecalibration: {
        value: async (...a: Parameters<OpsStore['finishRecalibration']>) => {
          if (fail.finishRecalibration-- > 0) throw new Error('connection reset');
          return t.opsStore.finishRecalibration(...a);
        },
      },
    }) as OpsStore;
    const other = createDiagnosis({
      logger: nullLogger(),
      clock: t.clock,
      opsStore: flaky,
      telemetryStore: t.telemetryStore,
      source: { onAccepted: () => () => undefined },
      options: { tickMs: 5, rulesPollMs: 60_000, presenceCheckMs: 60_000, checkpointMs: 0, shippedRuleSets: new Map([['air-compressor', RULES]]) },
    });
    await other.start();
    try {
      const r = await t.opsStore.requestRecalibration('ac-rc-5', { resolveActive: true });
      await other.applyRecalibrations(); // the clears fail: not applied
      expect((await recalibrations('ac-rc-5'))[0]).toMatchObject({ id: r.id, appliedAt: null });
      expect((await active('ac-rc-5')).length).toBe(2);
      await other.applyRecalibrations(); // the clears land, marking it applied fails
      expect(await active('ac-rc-5')).toEqual([]);
      expect((await recalibrations('ac-rc-5'))[0].appliedAt).toBeNull();
      await other.applyRecalibrations(); // finished, with what the first pass cleared
      const [done] = await recalibrations('ac-rc-5');
      expect(done.appliedAt).not.toBeNull();
      expect([...done.resolved].sort()).toEqual(diagnosed);
    } finally {
      await other.stop();
    }
  });
});
