import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DEFAULT_INTERVALS, parseIntervals } from '../../scorecard/run.ts';
import { startSimulation } from '../../simulator/runner.ts';
import { DAY, HOUR } from '../../simulator/time.ts';
import { useStack } from '../helpers/stack.ts';

type Cmd = { id: string; status: string; detail: string | null };

describe('simulate against the real stack', () => {
  it('registers, publishes every sample, obeys a command sent through the API, and re-runs with the same seed', async () => {
    const s = await useStack();
    const out = await mkdtemp(join(tmpdir(), 'sim-e2e-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const durationMs = 6 * HOUR;
    const startTs = Math.floor((Date.now() - durationMs - 60_000) / 1000) * 1000;
    const faulty = 'sime2e-ac-0001';
    const opts = {
      apiUrl: s.httpUrl,
      mqttUrl: s.mqttUrl,
      apiKey: s.adminKey,
      speed: 'max' as const,
      outDir: out,
      progress: false,
      log: () => undefined,
      lingerMs: Infinity,
      maxBatchSamples: 100,
    };
    const sim = await startSimulation({
      ...opts,
      fleet: {
        seed: 'e2e', devices: 4, types: ['air-compressor', 'refrigerator'], faultRate: 0, startTs, durationMs,
        faultPlan: { [faulty]: [{ code: 'ac-inlet-valve-sticking', onsetTs: startTs + HOUR, failureTs: startTs + 4 * HOUR }] },
      },
    });
    onTestFinished(() => sim.stop().then(() => undefined));
    await sim.samplesDone;

    // every generated sample is stored, with its event time
    for (const d of sim.fleet.devices) {
      const res = await s.http<{ rows: { ts: string }[] }>('GET', `/api/v1/devices/${d.id}/telemetry?from=${startTs}&to=${startTs + durationMs + 1}&limit=100000`);
      expect(res.status).toBe(200);
      expect(res.body.rows.length, d.id).toBe(d.seq);
      expect(Date.parse(res.body.rows[0]!.ts)).toBe(startTs);
    }
    expect(sim.stats().samplesSent).toBe(sim.fleet.devices.reduce((n, d) => n + d.seq, 0));
    const dead = await s.http<unknown[]>('GET', '/api/v1/dead-letters?limit=10');
    expect(dead.body).toEqual([]);

    // a command sent through the API is obeyed and acknowledged done; the fault is fixed in the ground truth
    const sent = await s.http<Cmd>('POST', `/api/v1/devices/${faulty}/commands`, { name: 'exercise-inlet-valve', expiresInS: 60 });
    expect(sent.status).toBe(201);
    await expect
      .poll(async () => (await s.http<Cmd>('GET', `/api/v1/devices/${faulty}/commands/${sent.body.id}`)).body.status, { timeout: 10_000, interval: 100 })
      .toBe('done');
    const unknown = await s.http<Cmd>('POST', `/api/v1/devices/${faulty}/commands`, { name: 'self-destruct' });
    await expect
      .poll(async () => (await s.http<Cmd>('GET', `/api/v1/devices/${faulty}/commands/${unknown.body.id}`)).body.status, { timeout: 10_000, interval: 100 })
      .toBe('failed');
    await expect
      .poll(async () => JSON.parse((await readFile(join(out, 'ground-truth.jsonl'), 'utf8')).trim()) as { fixedAt: string | null }, { timeout: 5000 })
      .toMatchObject({ device: faulty, faultCode: 'ac-inlet-valve-sticking', fixedAt: new Date(startTs + durationMs).toISOString(), fixedBy: 'command:exercise-inlet-valve' });
    const summary = await sim.stop();
    expect(summary).toMatchObject({ devices: 4, commandsObeyed: 1, commandsFailed: 1, faultsFixed: 1 });

    // same seed again: the devices exist, their secrets are rotated, and the run works
    const again = await startSimulation({ ...opts, lingerMs: 0, fleet: { seed: 'e2e', devices: 4, types: ['air-compressor', 'refrigerator'], faultRate: 0, startTs: startTs + durationMs - HOUR, durationMs: HOUR } });
    const second = await again.done;
    expect(second.samplesSent).toBe(again.fleet.devices.reduce((n, d) => n + d.seq, 0));
    expect(second.samplesSent).toBeGreaterThan(0);
  });

  it('devices replayed at their own pace (a compressor batch spans hours, a washer batch days) are never raised offline', async () => {
    // the presence check runs every 50 ms, so it also runs while a compressor waits for its next batch behind the washers
    const s = await useStack({}, { diagnosisOptions: { presenceCheckMs: 50 } });
    const out = await mkdtemp(join(tmpdir(), 'sim-pace-'));
    onTestFinished(() => rm(out, { recursive: true, force: true }));
    const durationMs = 3 * DAY;
    const startTs = Math.floor((Date.now() - durationMs - 60_000) / 60_000) * 60_000;
    const sim = await startSimulation({
      apiUrl: s.httpUrl, mqttUrl: s.mqttUrl, apiKey: s.adminKey, speed: 'max', outDir: out, progress: false, log: () => undefined, lingerMs: 0,
      maxBatchSamples: 20,
      fleet: { seed: 'pace', devices: 6, types: ['air-compressor', 'washing-machine'], faultRate: 0, startTs, durationMs, intervalMs: parseIntervals(DEFAULT_INTERVALS) },
    });
    const summary = await sim.done;
    expect(summary.samplesDropped).toBe(0);
    await expect.poll(() => s.stack.diagnosis.stats().samples, { timeout: 30_000, interval: 100 }).toBe(summary.samplesSent);
    // every sample arrived, stored ones included: no device was silent in event time
    const offline = await s.http<unknown[]>('GET', `/api/v1/diagnoses?fault=offline&from=${startTs}`);
    expect(offline.status).toBe(200);
    expect(offline.body).toEqual([]);
  });
});
