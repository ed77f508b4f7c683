/**
 * Bring your own machine, end to end: a new device type, a CSV of its normal
 * operation → npm run model:train (real Python) → registered through the api
 * of a running stack → the scorer picks it up without restart → a device
 * streams normal then faulty samples over MQTT → the anomaly write-back read
 * through GET /devices/:id/telemetry flags the faulty segment.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createModelScorer } from '../../../diagnosis/model/scorer.ts';
import type { ModelScorer } from '../../../diagnosis/model/types.ts';
import { heldOutWarning, modelTrain, numericArgs } from '../../../scripts/model-train.ts';
import { useStack } from '../../helpers/stack.ts';

const TYPE = {
  name: 'vacuum-pump',
  displayName: 'Rotary vane vacuum pump',
  calibrationSamples: 200,
  metrics: [
    { name: 'inletPressureMbar', unit: 'mbar', kind: 'number', min: 0, max: 1100 },
    { name: 'motorCurrentA', unit: 'A', kind: 'number', min: 0, max: 50 },
    { name: 'oilTempC', unit: '°C', kind: 'number', min: -20, max: 150 },
    { name: 'exhaustTempC', unit: '°C', kind: 'number', min: -20, max: 200 },
    { name: 'running', unit: '', kind: 'boolean' },
  ],
};

/** Deterministic pump: load drives pressure, current and temperatures; a fault decouples the exhaust and current. */
function pump(n: number, seed: number, faultFrom = Infinity) {
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  let load = 0.5;
  let lag = 0.5;
  const out: Array<Record<string, number | boolean>> = [];
  for (let i = 0; i < n; i++) {
    load = Math.min(1, Math.max(0, load + 0.05 * gauss() + 0.02 * (0.5 - load)));
    lag += 0.1 * (load - lag);
    const f = i >= faultFrom ? 1 : 0;
    out.push({
      inletPressureMbar: 50 + 30 * load + 1.5 * gauss(),
      motorCurrentA: 8 + 4 * load + 0.2 * gauss() + f * 1.2,
      oilTempC: 55 + 10 * lag + 0.5 * gauss(),
      exhaustTempC: 70 + 15 * load + 0.8 * gauss() + f * 6,
      running: true,
    });
  }
  return out;
}

describe('model:train warns of a threshold blind to the held-out faults', () => {
  it('warns below half of the injected faults caught, and only then', () => {
    // a real bench's normal recording (SKAB anomaly-free) drifted so far that its card caught 2 % of them
    const blind = heldOutWarning({ heldOut: { recall: 0.0195, f1: 0.038 }, calibrationSamples: 400 });
    expect(blind).toMatch(/^the threshold catches only 2 % of .* a 400-sample calibration/);
    expect(heldOutWarning({ heldOut: { recall: 0.5, f1: 0.66 }, calibrationSamples: 400 })).toBeUndefined();
    expect(heldOutWarning({ heldOut: { recall: 0.86 }, calibrationSamples: 200 })).toBeUndefined();
    // no injected check (no numeric metric to inject into): nothing to judge
    expect(heldOutWarning({ heldOut: {}, calibrationSamples: 200 })).toBeUndefined();
  });

  it('warns when held-back normal data alarm on more than 10 % of samples, alone or with a blind threshold', () => {
    expect(heldOutWarning({ heldOut: { recall: 0.9, heldBackNormalFalseAlarmRate: 0.19 }, calibrationSamples: 720 })).toMatch(/^19\.0 % of the held-back normal samples alarm/);
    expect(heldOutWarning({ heldOut: { recall: 0.9, heldBackNormalFalseAlarmRate: 0.1 }, calibrationSamples: 720 })).toBeUndefined();
    expect(heldOutWarning({ heldOut: { recall: 0.2, heldBackNormalFalseAlarmRate: 0.3 }, calibrationSamples: 720 })).toMatch(/^30\.0 % .* Also, the threshold catches only 20 %/);
  });
});

describe('model:train refuses bad options before anything runs', () => {
  it('passes a number on as the number it read, which Python parses whatever way it was written', () => {
    expect(numericArgs({ 'calibration-samples': '4e2', 'target-far': '1e-2', 'alarm-clear-ratio': '1.0' })).toEqual([
      '--calibration-samples', '400', '--target-far', '0.01', '--alarm-clear-ratio', '1',
    ]);
  });

  it.each([
    [['--target-far', '1.5'], /--target-far 1\.5: expected a share of normal samples above 0 and at most 0\.5/],
    [['--calibration-samples', '0'], /--calibration-samples 0: expected a whole number of samples, at least 10/],
    [['--calibration-samples', '12.5'], /--calibration-samples 12\.5: expected a whole number/],
    [['--threshold-margin=-1'], /--threshold-margin -1: expected a factor above 0/],
    [['--threshold-margin', '-1'], /Option '--threshold-margin' argument is ambiguous[\s\S]*usage: npm run model:train/],
    [['--alarm-clear-ratio', '0.2'], /--alarm-clear-ratio 0\.2: expected from 0\.5 to 1/],
    [['--holdout', '0.95'], /--holdout 0\.95: expected the share of each recording held back/],
    [['--no-such-option'], /Unknown option '--no-such-option'[\s\S]*usage:/],
  ])('%j', async (args, message) => {
    await expect(modelTrain(['--type', 'air-compressor', '--csv', 'no-such.csv', ...args], () => {})).rejects.toThrow(message);
  });
});

describe('bring your own machine', () => {
  it('trains from a CSV, registers through the api, and flags the faulty segment of a live device', { timeout: 180_000 }, async () => {
    let scorer: ModelScorer | undefined;
    const t = await useStack({}, { scorer: ({ opsStore, logger }) => (scorer = createModelScorer({ logger, opsStore, versionCheckMs: 600_000 })) }); // no polling in time: registration itself must reload
    expect((await t.http('POST', '/api/v1/device-types', TYPE)).status).toBe(201);
    expect(scorer?.hasModel('vacuum-pump')).toBe(false);

    // 1. a CSV of normal operation (semicolons, ISO times) and the real training pipeline
    const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-byom-'));
    try {
      const normal = pump(900, 1);
      const cols = TYPE.metrics.map((m) => m.name);
      const t0 = Date.parse('2026-01-01T00:00:00Z');
      // a recorder's own column name, mapped to the type's metric as `npm run replay -- --map` does
      const header = cols.map((c) => (c === 'exhaustTempC' ? 'Exhaust temp (°C)' : c));
      const csv = [['time', ...header].join(';'), ...normal.map((r, i) => [new Date(t0 + i * 60_000).toISOString(), ...cols.map((c) => String(r[c]))].join(';'))];
      const file = join(dir, 'normal.csv');
      await writeFile(file, csv.join('\n') + '\n');
      const trained = await modelTrain(['--type', 'vacuum-pump', '--csv', file, '--separator', ';', '--time-column', 'time', '--map', 'Exhaust temp (°C)=exhaustTempC', '--api', t.httpUrl, '--api-key', t.adminKey], () => {});
      expect(trained.registered?.version).toBe(1);
      expect(trained.heldOut.f1).toBeGreaterThan(0.5);
      expect(trained.warning).toBeUndefined(); // the threshold sees the injected faults
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // 2. the card through the api; the scorer uses the model without restart
    const card = await t.http<{ source: string; card: { modelId: string; calibrationSamples: number; features: Array<{ name: string }>; training: { dataSha256: string; options: { calibrationSamples: number } } } }>('GET', '/api/v1/models/vacuum-pump');
    expect(card.status).toBe(200);
    expect(card.body.source).toBe('registered');
    expect(card.body.card.calibrationSamples).toBe(200);
    expect(card.body.card.features.map((f) => f.name)).toContain('exhaustTempC.level'); // the --map'ed column
    expect(card.body.card.training.dataSha256).toMatch(/^[0-9a-f]{64}$/);
    // the id covers the options too: the same CSV trained otherwise is another model
    expect(card.body.card.training.options.calibrationSamples).toBe(200);
    expect(card.body.card.modelId).toMatch(/^vacuum-pump@[0-9a-f]{12}$/);
    const list = await t.http<Array<{ type: string; source: string }>>('GET', '/api/v1/models');
    expect(list.body.map((m) => `${m.type}:${m.source}`)).toEqual(expect.arrayContaining(['vacuum-pump:registered', 'air-compressor:shipped']));
    // registering reloaded this process's scorer before it answered: the device's very first sample is judged
    expect(scorer?.hasModel('vacuum-pump')).toBe(true);

    // 3. a device of the new type: 200 calibration samples, 150 normal, then a fault
    const { id, secret } = await t.registerDevice('vacuum-pump');
    const client = await t.connectDevice(id, secret);
    const CAL = 200;
    const FAULT = 350;
    const live = pump(500, 2, FAULT);
    // five readings beyond the exhaust's declared 200 °C: dead-lettered, yet each sample gets its decision
    const OUT_OF_RANGE = [420, 421, 422, 423, 424];
    for (const i of [...OUT_OF_RANGE, 50]) live[i]!.exhaustTempC = 250; // and one while it calibrates: no alarm then, as for every sample
    const start = Date.now() - 600_000;
    for (let i = 0; i < live.length; i += 50) {
      const samples = live.slice(i, i + 50).map((metrics, k) => ({ ts: start + (i + k) * 1000, seq: i + k, metrics }));
      await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ samples }), { qos: 1 });
    }

    // 4. the engine wrote anomalyScore/anomaly back; read them through the api
    type Rows = { rows: Array<{ ts: string; values: Record<string, number | boolean | string | null> }> };
    const path = `/api/v1/devices/${id}/telemetry?metrics=anomalyScore,anomaly&from=${start}&to=${start + 600_000}&limit=10000`;
    let all: Rows['rows'] = [];
    let rows: Rows['rows'] = [];
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const res = await t.http<Rows>('GET', path);
      expect(res.status).toBe(200);
      all = res.body.rows;
      rows = all.filter((r) => r.values.anomalyScore !== null && r.values.anomalyScore !== undefined);
      if (all.length >= live.length && rows.length >= live.length - (CAL + 1) - OUT_OF_RANGE.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // calibration counts the samples the model saw: the one dead-lettered during it makes it end a sample later
    expect(rows.length).toBe(live.length - (CAL + 1) - OUT_OF_RANGE.length);
    // every sample has a decision: while the device calibrates it is "no alarm", without a score
    expect(all.length).toBe(live.length);
    expect(all.slice(0, CAL).every((r) => Number(r.values.anomaly) === 0 && r.values.anomalyScore == null)).toBe(true);
    const index = (r: Rows['rows'][number]) => Math.round((Date.parse(r.ts) - start) / 1000);
    const flagged = (a: number, b: number) => {
      const seg = rows.filter((r) => index(r) >= a && index(r) < b);
      return seg.filter((r) => Number(r.values.anomaly) === 1).length / seg.length;
    };
    // the first scored sample is right after calibration; smoothing needs a few samples to cross
    expect(index(rows[0]!)).toBe(CAL + 1);
    expect(flagged(CAL, FAULT)).toBeLessThan(0.1);
    expect(flagged(FAULT + 5, live.length)).toBeGreaterThan(0.8);
    // the out-of-range samples: not stored, dead-lettered with their reason, decided anomalous without a score
    const byIndex = new Map(all.map((r) => [index(r), r]));
    for (const i of OUT_OF_RANGE) expect(byIndex.get(i)?.values).toMatchObject({ anomaly: 1 });
    for (const i of OUT_OF_RANGE) expect(byIndex.get(i)?.values.anomalyScore ?? null).toBeNull();
    const letters = await t.http<Array<{ reason: string; detail: string }>>('GET', `/api/v1/dead-letters?deviceId=${id}&reason=out_of_range`);
    expect(letters.body.length).toBe(OUT_OF_RANGE.length + 1);
    expect(byIndex.get(50)?.values).toMatchObject({ anomaly: 0 });
    expect(letters.body[0]!.detail).toContain('exhaustTempC: 250 is above 200');

    // 5. retraining from what the store holds for a device registers the next version
    // the API's base given with its own prefix, as a user copying it from the docs might
    const fromStore = await modelTrain(
      ['--type', 'vacuum-pump', '--from-store', '--device', id, '--from', String(start), '--to', String(start + 600_000), '--api', `${t.httpUrl}/api/v1/`, '--api-key', t.adminKey],
      () => {},
    );
    expect(fromStore.registered?.version).toBe(2);
  });
});
