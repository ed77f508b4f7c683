/**
 * The diagnosis service over real stores (PGlite ops store, SQLite telemetry)
 * with the real api beside it: rules API, diagnoses API, reload without
 * restart, anomaly write-back, event-time replay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Diagnosis as DiagnosisT } from '../../core/domain/diagnosis.ts';
import { DeviceType } from '../../core/domain/device-type.ts';
import type { NewDeviceEvent } from '../../core/domain/event.ts';
import type { Point } from '../../core/domain/telemetry.ts';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { createDiagnosis } from '../../diagnosis/create-diagnosis.ts';
import type { ModelScorer, ScoreInput, ScoreOutput } from '../../diagnosis/model/types.ts';
import { nullLogger } from '../../core/logger.ts';
import { startTestApi, type TestApi } from '../api/helpers.ts';
import { MIN, iso, series } from './helpers.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  for (const id of ['ac-1', 'ac-2', 'ac-3', 'ac-4', 'ac-5', 'fr-1']) {
    await t.opsStore.registerDevices([{ id, type: id.startsWith('fr') ? 'refrigerator' : 'air-compressor' }]);
  }
});
afterAll(() => t?.close());

function source() {
  const accepted = new Set<(p: readonly Point[]) => void>();
  const events = new Set<(e: NewDeviceEvent) => void>();
  return {
    onAccepted: (l: (p: readonly Point[]) => void) => (accepted.add(l), () => accepted.delete(l)),
    onEvent: (l: (e: NewDeviceEvent) => void) => (events.add(l), () => events.delete(l)),
    push: (points: readonly Point[]) => accepted.forEach((l) => l(points)),
    event: (e: NewDeviceEvent) => events.forEach((l) => l(e)),
  };
}

function service(opts: { scorer?: ModelScorer; metrics?: boolean } = {}) {
  const src = source();
  const d = createDiagnosis({ logger: nullLogger(), clock: t.clock, opsStore: t.opsStore, telemetryStore: t.telemetryStore, source: src, scorer: opts.scorer, metrics: opts.metrics ? t.metrics : undefined, options: { tickMs: 5, rulesPollMs: 60_000, presenceCheckMs: 60_000 } });
  const raised: DiagnosisT[] = [];
  const cleared: DiagnosisT[] = [];
  d.bus.on('raised', (x) => raised.push(x));
  d.bus.on('cleared', (x) => cleared.push(x));
  return { d, src, raised, cleared };
}

/** Cooler fouling on a compressor: loaded, oil climbing well above the room while the room stays at 25 °C. */
function fouling(id: string, from: number, minutes: number, hotFrom = 60) {
  return series(id, from, minutes, MIN, (i) => ({ loaded: true, ambientTempC: 25, oilTempC: i < hotFrom ? 72 : 72 + Math.min(20, (i - hotFrom) / 2), dischargeTempC: (i < hotFrom ? 72 : 72 + Math.min(20, (i - hotFrom) / 2)) + 18, motorCurrentA: 50 }));
}

describe('rules API', () => {
  it('GET gives the shipped set, PUT validates (400 for an invalid file or unknown metric), persists and overrides, DELETE reverts', async () => {
    const shipped = await t.call('viewer', { method: 'GET', url: '/api/v1/rules/air-compressor' });
    expect(shipped.statusCode).toBe(200);
    expect(shipped.json.source).toBe('shipped');
    expect(shipped.json.ruleSet.rules.map((r: { fault: string }) => r.fault)).toContain('ac-cooler-fouling');

    const bad = await t.call('service', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: { type: 'air-compressor', rules: [{ id: 'x', fault: 'f', severity: 'fatal', condition: { kind: 'threshold' }, remedy: {} }] } });
    expect(bad.statusCode).toBe(400);
    const unknownMetric = { type: 'air-compressor', rules: [{ id: 'x', fault: 'f', severity: 'info', condition: { kind: 'threshold', metric: 'nope', op: 'above', value: 1 }, remedy: { class: 'technician', summary: 's' } }] };
    const r2 = await t.call('service', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: unknownMetric });
    expect(r2.statusCode).toBe(400);
    expect(r2.json.message).toMatch(/nope/);
    // 40 two-week averages that cannot share (each of its own metric and number of weeks learnt): 17.6 KB of state per device
    const averaged = ['dischargePressureBar', 'dischargeTempC', 'oilTempC', 'ambientTempC', 'motorCurrentA', 'vibrationRmsMmS', 'airFilterDpMbar', 'separatorDpBar', 'loaded', 'loadedHours'];
    const costly = {
      type: 'air-compressor',
      rules: Array.from({ length: 40 }, (_, i) => ({
        id: `avg-${i}`,
        fault: 'f',
        severity: 'info',
        condition: { kind: 'mean', metric: averaged[i % 10], overDays: 14, clearByWeekday: true, relativeTo: 'baseline', baselineMs: (1 + Math.floor(i / 10)) * 7 * 86_400_000, above: 0.1 },
        remedy: { class: 'technician', summary: 's' },
      })),
    };
    const tooBig = await t.call('service', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: costly });
    expect(tooBig.statusCode).toBe(400);
    expect(tooBig.json.message).toMatch(/needs \d+ bytes of state per device .* at most 16384/);
    expect((await t.call('service', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: { ...costly, rules: costly.rules.slice(0, 30) } })).statusCode).toBe(200);
    expect((await t.call('service', { method: 'DELETE', url: '/api/v1/rules/air-compressor' })).statusCode).toBe(200);
    expect((await t.call('viewer', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: shipped.json.ruleSet })).statusCode).toBe(403);
    expect((await t.call('service', { method: 'GET', url: '/api/v1/rules/no-such-type' })).statusCode).toBe(404);
    expect((await t.opsStore.getRuleSet('air-compressor'))).toBeNull();

    const custom = { ...shipped.json.ruleSet, rules: shipped.json.ruleSet.rules.slice(0, 1) };
    const put = await t.call('service', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: custom });
    expect(put.statusCode).toBe(200);
    const got = await t.call('viewer', { method: 'GET', url: '/api/v1/rules/air-compressor' });
    expect(got.json).toMatchObject({ source: 'custom', ruleSet: { rules: [{ id: custom.rules[0].id }] } });
    const del = await t.call('service', { method: 'DELETE', url: '/api/v1/rules/air-compressor' });
    expect(del.json.source).toBe('shipped');
  });

  it('a PUT rule set is picked up by the running engine without restart and changes what it diagnoses', async () => {
    const { d, src, raised } = service();
    await d.start();
    try {
      const from = Date.UTC(2025, 0, 10);
      // oil at 85 °C, room 25: the shipped cooler rule (oil > 79 and approach > 47) fires
      src.push(series('ac-2', from, 40, MIN, () => ({ loaded: true, ambientTempC: 25, oilTempC: 85, dischargeTempC: 100 })));
      await d.flush();
      expect(raised.map((x) => x.fault)).toEqual(['ac-cooler-fouling']);

      // raise the limit to 95 °C through the API; the engine reloads and a second compressor stays quiet
      const rs = (await t.call('viewer', { method: 'GET', url: '/api/v1/rules/air-compressor' })).json.ruleSet;
      for (const r of rs.rules) if (r.id === 'cooler-approach-high') r.condition.of[0] = { ...r.condition.of[0], value: 95, clear: 93 };
      expect((await t.call('service', { method: 'PUT', url: '/api/v1/rules/air-compressor', payload: rs })).statusCode).toBe(200);
      await d.reloadRules();
      src.push(series('ac-3', from, 40, MIN, () => ({ loaded: true, ambientTempC: 25, oilTempC: 85, dischargeTempC: 100 })));
      await d.flush();
      expect(raised.map((x) => x.deviceId)).toEqual(['ac-2']);
    } finally {
      await d.stop();
      await t.opsStore.deleteRuleSet('air-compressor');
    }
  });

});

describe('diagnoses: persistence, bus and API', () => {
  it('raises once with evidence, publishes on the bus, clears; the API filters by type, fault, severity, status, time', async () => {
    const { d, src, raised, cleared } = service();
    await d.start();
    const from = Date.UTC(2025, 1, 1);
    src.push(fouling('ac-1', from, 200));
    // 75 h of normal oil: the shipped cooler rule clears after three days normal (a fouled cooler does not heal overnight or over a quiet weekend)
    src.push(series('ac-1', from + 200 * MIN, 300, 15 * MIN, () => ({ loaded: true, ambientTempC: 25, oilTempC: 72, dischargeTempC: 90 })));
    // a fridge whose evaporator, while running, turns 16 °C warmer than in its first three days (refrigerant leak)
    // (readings vary a little: a sensor repeating itself exactly is stuck, and skipped; it defrosts every 8 h)
    const fridge = (evap: number) => (i: number) => {
      const defrost = i % 32 < 2;
      return { cabinetTempC: 4, evaporatorTempC: defrost ? 6 + (i % 3) / 10 : evap + ((i * 7) % 5) / 10, compressorDutyPct: 60, ambientTempC: 22, compressorOn: !defrost, defrostActive: defrost };
    };
    src.push(series('fr-1', from, 300, 15 * MIN, fridge(-26), 'refrigerator'));
    src.push(series('fr-1', from + 300 * 15 * MIN, 150, 15 * MIN, fridge(-10), 'refrigerator'));
    await d.flush();
    await d.stop();
    await d.stop(); // idempotent

    expect(raised.map((x) => [x.deviceId, x.fault]).sort()).toEqual([
      ['ac-1', 'ac-cooler-fouling'],
      ['fr-1', 'rf-refrigerant-leak'],
    ]);
    const ac = raised.find((x) => x.deviceId === 'ac-1')!;
    expect(ac.evidence.rules[0]).toMatchObject({ ruleId: 'cooler-approach-high', values: { oilTempC: expect.any(Number), 'oilTempC-ambientTempC': expect.any(Number) } });
    expect(ac.evidence.telemetry.metrics).toEqual(expect.arrayContaining(['oilTempC', 'ambientTempC']));
    expect(Date.parse(ac.evidence.telemetry.to)).toBe(Date.parse(ac.raisedAt));
    expect(ac.remedy).toMatchObject({ class: 'owner', guide: 'Clean the oil cooler fins with compressed air' });
    expect(cleared.map((x) => x.id)).toContain(ac.id);
    expect(cleared.find((x) => x.id === ac.id)).toMatchObject({ status: 'cleared', clearedAt: expect.any(String) });
    // not before three days of normal oil (the shipped clearAfterMs), whatever the sample rate
    const acCleared = cleared.find((x) => x.id === ac.id)!;
    expect(Date.parse(acCleared.clearedAt!) - (from + 200 * MIN)).toBeGreaterThanOrEqual(3 * 24 * 3_600_000);

    const all = await t.call('viewer', { method: 'GET', url: '/api/v1/diagnoses' });
    expect(all.statusCode).toBe(200);
    // with ac-2's diagnosis from the reload test
    expect(all.json.length).toBe(3);
    const q = async (qs: string) => (await t.call('viewer', { method: 'GET', url: `/api/v1/diagnoses?${qs}` })).json.map((x: DiagnosisT) => x.deviceId);
    expect(await q('type=refrigerator')).toEqual(['fr-1']);
    expect(await q('fault=ac-cooler-fouling')).toEqual(['ac-1', 'ac-2']);
    expect(await q('severity=critical')).toEqual(['fr-1']);
    expect(await q('status=active')).toEqual(['fr-1', 'ac-2']);
    expect(await q('status=cleared')).toEqual(['ac-1']);
    expect(await q(`from=${iso(Date.parse(ac.raisedAt) + 1)}`)).toEqual(raised.filter((x) => Date.parse(x.raisedAt) > Date.parse(ac.raisedAt)).map((x) => x.deviceId));
    expect(await q(`to=${iso(from)}`)).toEqual(['ac-2']);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/diagnoses?severity=fatal' })).statusCode).toBe(400);
    // paged one at a time through the Link header: every diagnosis once, in the same order, the last page links none
    const paged: string[] = [];
    let next: string | undefined = '/api/v1/diagnoses?limit=1';
    while (next) {
      const page = await t.call('viewer', { method: 'GET', url: next });
      paged.push(...page.json.map((x: DiagnosisT) => x.id));
      next = /^<([^>]+)>; rel="next"$/.exec(String(page.headers.link ?? ''))?.[1];
      expect(paged.length).toBeLessThanOrEqual(3);
    }
    expect(paged).toEqual(all.json.map((x: DiagnosisT) => x.id));
    expect(all.headers.link).toBeUndefined();
    // the next page is keyed on the last row: a diagnosis cleared between two pages of active ones moves nothing up past it
    const first = await t.call('viewer', { method: 'GET', url: '/api/v1/diagnoses?status=active&limit=1' });
    expect(first.json.map((x: DiagnosisT) => x.deviceId)).toEqual(['fr-1']);
    await t.opsStore.clearDiagnoses([{ id: first.json[0].id, clearedAt: from + 90 * 86_400_000 }]);
    const second = await t.call('viewer', { method: 'GET', url: /^<([^>]+)>/.exec(String(first.headers.link))![1]! });
    expect(second.json.map((x: DiagnosisT) => x.deviceId)).toEqual(['ac-2']);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/diagnoses?after=12_x%27' })).statusCode).toBe(400);
    const dev = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/ac-1/diagnoses' });
    expect(dev.json).toHaveLength(1);
    expect(dev.json[0]).toMatchObject({ id: ac.id, fault: 'ac-cooler-fouling', status: 'cleared' });
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/nope/diagnoses' })).statusCode).toBe(404);
  });

  it('a restart does not raise an active diagnosis again', async () => {
    const from = Date.UTC(2025, 2, 1);
    const a = service();
    await a.d.start();
    // ac-2's cooler fouling is still active from the reload test; its rule holds from the first samples on
    const hot = () => ({ loaded: true, ambientTempC: 25, oilTempC: 85, dischargeTempC: 100 });
    a.src.push(series('ac-2', from, 60, MIN, hot));
    await a.d.stop();
    const b = service();
    await b.d.start();
    b.src.push(series('ac-2', from + 60 * MIN, 60, MIN, hot));
    await b.d.stop();
    expect(a.raised.map((x) => x.fault)).toEqual([]); // already active from the previous test
    expect(b.raised).toHaveLength(0);
    expect((await t.opsStore.listDiagnoses({ deviceId: 'ac-2', limit: 10 })).length).toBe(1);
  });
});

describe('event time', () => {
  it('a sample older than its device’s latest is skipped and counted on /metrics', async () => {
    const { d, src } = service({ metrics: true });
    await d.start();
    try {
      const from = Date.UTC(2025, 0, 25);
      src.push(series('ac-5', from, 3, MIN, () => ({ oilTempC: 70 })));
      await d.flush();
      // event time only moves forward: two samples from before the latest one
      src.push(series('ac-5', from, 2, MIN, () => ({ oilTempC: 70 })));
      await d.flush();
      const text = (await t.call(null, { method: 'GET', url: '/metrics' })).body;
      expect(text).toMatch(/^fleetdoc_diagnosis_late_samples 2$/m);
    } finally {
      await d.stop();
    }
  });

  it('the same series at 1× timing and replayed fast gives the same diagnoses', async () => {
    const from = t.clock.now();
    const pts = [
      ...fouling('ac-4', from, 150, 30),
      ...series('ac-4', from + 200 * MIN, 300, 15 * MIN, () => ({ loaded: true, ambientTempC: 25, oilTempC: 72, dischargeTempC: 90 })),
    ].map((p) => ({ ...p, deviceId: 'ac-4' }));
    const summary = (xs: DiagnosisT[]) => xs.map((x) => [x.fault, x.raisedAt, x.clearedAt, x.severity, x.evidence.rules[0]?.values]);

    // 1×: wall clock moves with event time, one sample at a time (with a 50-minute outage in the middle)
    const live = service();
    await live.d.start();
    for (const p of pts) {
      t.clock.set(p.ts + 500);
      live.src.push([{ ...p, deviceId: 'ac-4' }]);
      await live.d.flush();
    }
    await live.d.stop();
    const liveDiags = await t.opsStore.listDiagnoses({ deviceId: 'ac-4', limit: 10 });

    // fast: the same samples for another device, all at once, wall clock a day later
    const fast = service();
    await fast.d.start();
    t.clock.set(from + 24 * 3600_000);
    fast.src.push(pts.map((p) => ({ ...p, deviceId: 'ac-5' })));
    await fast.d.flush();
    await fast.d.stop();
    const fastDiags = await t.opsStore.listDiagnoses({ deviceId: 'ac-5', limit: 10 });

    expect(liveDiags.map((x) => x.fault).sort()).toEqual(['ac-cooler-fouling', 'offline']);
    expect(summary(fastDiags)).toEqual(summary(liveDiags));
    expect(summary(live.cleared).length).toBe(2);
  });
});

describe('anomaly write-back', () => {
  it('writes anomalyScore and anomaly per scored sample; the telemetry route serves them; sustained anomalies raise `anomaly`', async () => {
    const calls: number[] = [];
    const scorer: ModelScorer = {
      hasModel: (type) => type === 'air-compressor',
      async scoreBatch(inputs: readonly ScoreInput[]): Promise<ScoreOutput[]> {
        calls.push(inputs.length);
        return inputs.map((i) => {
          const score = Number(i.metrics.vibrationRmsMmS ?? 0);
          return { status: 'scored', result: { anomalyScore: score, anomaly: score > 3, threshold: 3, topFeatures: [{ feature: 'vibrationRmsMmS', contribution: 0.8 }] } };
        });
      },
      resetDevice: () => undefined,
      reload: async () => undefined,
      close: async () => undefined,
    };
    // the shipped sets let the model corroborate but not raise alone (raiseAlone: false); this type's operator opts in
    const shipped = loadShippedRuleSets().get('air-compressor')!;
    await t.opsStore.putRuleSet({ ...shipped, model: { ...shipped.model, raiseAlone: true } }, t.clock.now());
    const { d, src, raised } = service({ scorer });
    await d.start();
    const from = Date.UTC(2025, 3, 1);
    // vibration up, but the compressor is off (motor current 0): the bearing rule's gate is closed, only the model sees it
    src.push(series('ac-5', from, 40, MIN, (i) => ({ vibrationRmsMmS: i < 10 ? 1 : 4, motorCurrentA: 0 })));
    await d.flush();
    await d.stop();
    expect(calls.reduce((a, b) => a + b, 0)).toBe(40);
    expect(d.stats().writeBacks).toBe(40);
    expect(raised.map((x) => [x.fault, x.source])).toEqual([['anomaly', 'model']]);
    expect(raised[0]!.evidence.model).toMatchObject({ anomalyScore: 4, threshold: 3, topFeatures: [{ feature: 'vibrationRmsMmS' }] });

    const res = await t.call('viewer', { method: 'GET', url: `/api/v1/devices/ac-5/telemetry?metrics=anomalyScore,anomaly&from=${from}&to=${from + 40 * MIN}` });
    expect(res.statusCode).toBe(200);
    expect(res.json.rows).toHaveLength(40);
    expect(res.json.rows[0]).toEqual({ ts: iso(from), values: { anomalyScore: 1, anomaly: 0 } });
    expect(res.json.rows[39]).toEqual({ ts: iso(from + 39 * MIN), values: { anomalyScore: 4, anomaly: 1 } });
  });
});

// last: its diagnosis would change the counts the diagnoses tests above expect
describe('rules reload', () => {
  it('a set first loaded by a device’s sample is not loaded again by the next poll (which would restart its rules)', async () => {
    // a type no other test here sends, so that no checkpoint installs its rules at start
    await t.opsStore.registerDevices([{ id: 'wm-1', type: 'washing-machine' }]);
    const { d, src, raised } = service();
    await d.start();
    try {
      // stored after the service started, before any washer sent: the poll has not seen it yet
      const hot = { id: 'hot', fault: 'hot-heater', severity: 'warning', condition: { kind: 'threshold', metric: 'heaterTempC', op: 'above', value: 90 }, remedy: { class: 'technician', summary: 'cool it' }, trigger: { k: 3, n: 3 } };
      expect((await t.call('service', { method: 'PUT', url: '/api/v1/rules/washing-machine', payload: { type: 'washing-machine', windowMs: MIN, rules: [hot] } })).statusCode).toBe(200);
      const from = Date.UTC(2025, 0, 20);
      const heater = (n: number, at: number) => series('wm-1', at, n, MIN, () => ({ heaterTempC: 95 }), 'washing-machine');
      // two hot windows: the set is installed for this sample's type, and k-of-n holds 2 of 3
      src.push(heater(2, from));
      await d.flush();
      await d.reloadRules();
      // the third hot window completes 3 of 3 only if the poll left the device's rule state alone
      src.push(heater(2, from + 2 * MIN));
      await d.flush();
      expect(raised.map((x) => [x.deviceId, x.fault])).toEqual([['wm-1', 'hot-heater']]);
    } finally {
      await d.stop();
      await t.opsStore.deleteRuleSet('washing-machine');
    }
  });
});

describe('a type with a model and no rules', () => {
  it('is installed once the registry has been read at start, and once a model is registered after its devices sent', async () => {
    const type = (name: string) => DeviceType.parse({ name, displayName: name, calibrationSamples: 10, metrics: [{ name: 'pressure', kind: 'number', unit: 'mbar' }] });
    await t.opsStore.upsertDeviceType(type('vpump'));
    await t.opsStore.upsertDeviceType(type('vfan'));
    // registered models, unknown to the scorer until it has read the registry (refresh), as at start
    const models = new Set(['vpump']);
    let read = false;
    const scorer: ModelScorer = {
      hasModel: (type) => read && models.has(type),
      refresh: async () => void (read = true),
      async scoreBatch(inputs: readonly ScoreInput[]): Promise<ScoreOutput[]> {
        return inputs.map((i) => {
          const p = Number(i.metrics.pressure);
          return models.has(i.type) ? { status: 'scored', result: { anomalyScore: p, anomaly: p > 3, threshold: 3, topFeatures: [] } } : { status: 'no-model' };
        });
      },
      resetDevice: () => undefined,
      reload: async () => undefined,
      close: async () => undefined,
    };
    const { d, src, raised } = service({ scorer });
    await d.start();
    try {
      const from = Date.UTC(2025, 6, 1);
      const pressure = (id: string, type: string, high: boolean) => series(id, from, 20, MIN, (i) => ({ pressure: high && i >= 5 ? 5 : 1 }), type);
      src.push(pressure('vp-1', 'vpump', true));
      await d.flush();
      expect(raised.map((x) => [x.deviceId, x.fault])).toEqual([['vp-1', 'anomaly']]);
      // a fan sends before its type has a model (trained later from its stored data), then one is registered
      src.push(pressure('vf-1', 'vfan', false));
      await d.flush();
      models.add('vfan');
      src.push(pressure('vf-2', 'vfan', true));
      await d.flush();
      expect(raised.map((x) => [x.deviceId, x.fault])).toEqual([
        ['vp-1', 'anomaly'],
        ['vf-2', 'anomaly'],
      ]);
    } finally {
      await d.stop();
    }
  });
});
