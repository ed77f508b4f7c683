import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInflux, type TestInflux } from '../helpers/influx.ts';
import { startPublisher } from '../helpers/publisher.ts';
import { useStack, type TestStack } from '../helpers/stack.ts';
import { mosquittoPubLines } from '../helpers/mosquitto.ts';
import { topics } from '../../core/topics.ts';
import { createModelScorer } from '../../diagnosis/model/scorer.ts';

const T0 = Date.UTC(2026, 10, 25, 0, 0, 0);

async function storedTimestamps(s: TestStack, id: string, n: number): Promise<Set<number>> {
  const res = await s.http<{ rows: Array<{ ts: string }> }>('GET', `/api/v1/devices/${id}/telemetry?metrics=oilTempC&from=${T0}&to=${T0 + n + 1}&limit=100000`);
  return new Set(res.body.rows.map((r) => Date.parse(r.ts) - T0));
}

describe('acknowledged means durable: InfluxDB outages', () => {
  let influx: TestInflux;
  beforeAll(async () => {
    influx = await startInflux();
  });
  afterAll(async () => influx?.stop());

  const env = () => ({ INFLUX_URL: influx.url, INFLUX_TOKEN: influx.token, INFLUX_ORG: influx.org, INFLUX_BUCKET: influx.bucket });

  it('keeps acknowledging while InfluxDB is down and drains every acknowledged point, in order, when it returns', async () => {
    const s = await useStack(env());
    const { id, secret } = await s.registerDevice('air-compressor');
    const order: number[] = [];
    s.stack.ingest.onStored((points) => points.forEach((p) => order.push(p.seq!)));
    const client = await s.connectDevice(id, secret);
    const pub = startPublisher(client, id, { t0: T0, ratePerS: 1500 });
    await expect.poll(() => pub.acked.size, { timeout: 10_000 }).toBeGreaterThan(1000);

    await influx.stopServer();
    const ackedBeforeOutage = pub.acked.size;
    await new Promise((r) => setTimeout(r, 3000));
    // the spool kept acknowledging through the outage
    expect(pub.acked.size).toBeGreaterThan(ackedBeforeOutage + 1000);
    const ready = await s.http<{ checks?: unknown }>('GET', '/ready', undefined, null);
    expect(ready.status).toBe(503);
    const metrics = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
    expect(Number(/fleetdoc_spool_bytes (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);

    const restartAt = Date.now();
    await influx.startServer();
    pub.stop();
    await expect.poll(() => pub.inFlight, { timeout: 10_000 }).toBe(0);
    expect(await s.stack.ingest.flush(60_000)).toBe(true);
    const drainMs = Date.now() - restartAt;
    console.info(`[store-outage] ${pub.acked.size} acknowledged, drained ${s.stack.ingest.spoolStats().bytes} bytes left, drain time after restart ${drainMs} ms`);

    const stored = await storedTimestamps(s, id, pub.sent.length);
    const missing = [...pub.acked].filter((n) => !stored.has(n));
    expect(missing).toEqual([]);
    // drained in order: the store saw each sample after every earlier one (replays may repeat, never reorder)
    const firstSeen = new Map<number, number>();
    order.forEach((seq, i) => firstSeen.has(seq) || firstSeen.set(seq, i));
    const seqs = [...firstSeen.keys()];
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('the anomaly model’s per-sample decisions made while InfluxDB is down reach it once it is back', async () => {
    // with the shipped anomaly models (tests run rules only unless they ask)
    const s = await useStack(env(), { scorer: ({ opsStore, logger }) => createModelScorer({ opsStore, logger }) });
    const { id, secret } = await s.registerDevice('air-compressor');
    await influx.stopServer();
    const t0 = T0 + 20_000_000;
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ ts: t0 + i * 1000, metrics: { oilTempC: 70 + (i % 7) / 10, motorCurrentA: 50, loaded: true } }));
    const r = await mosquittoPubLines({ port: s.mqttPort, id, secret, topic: topics.telemetry(id), lines });
    expect(r.code, r.stderr).toBe(0);
    // every sample judged (its decision written back) while the store is still down
    await s.stack.diagnosis.flush();
    expect(s.stack.diagnosis.stats()).toMatchObject({ samples: 300, writeBacks: 300 });
    await influx.startServer();
    expect(await s.stack.ingest.flush(60_000)).toBe(true);
    const res = await s.http<{ rows: Array<{ values: { anomaly?: number } }> }>('GET', `/api/v1/devices/${id}/telemetry?metrics=anomaly&from=${t0}&to=${t0 + 300_000}&limit=100000`);
    expect(res.body.rows.filter((x) => x.values.anomaly !== undefined)).toHaveLength(300);
  });

  it('starts while InfluxDB is unreachable: acknowledges and spools, sets the bucket up once it answers, and drains', async () => {
    await influx.stopServer();
    // a bucket that does not exist yet: created when InfluxDB answers
    const s = await useStack({ ...env(), INFLUX_BUCKET: 'created-later' });
    const { id, secret } = await s.registerDevice('air-compressor');
    const t0 = T0 + 30_000_000;
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ ts: t0 + i * 1000, metrics: { oilTempC: 70 + i / 10 } }));
    const r = await mosquittoPubLines({ port: s.mqttPort, id, secret, topic: topics.telemetry(id), lines });
    expect(r.code, r.stderr).toBe(0);
    expect((await s.http('GET', '/ready', undefined, null)).status).toBe(503);
    await influx.startServer();
    expect(await s.stack.ingest.flush(60_000)).toBe(true);
    const res = await s.http<{ rows: unknown[] }>('GET', `/api/v1/devices/${id}/telemetry?metrics=oilTempC&from=${t0}&to=${t0 + 50_000}`);
    expect(res.body.rows).toHaveLength(50);
  });

  it('at SPOOL_MAX_BYTES stops acknowledging, drops nothing, and resumes when the store is back', async () => {
    const s = await useStack({ ...env(), SPOOL_MAX_BYTES: '200000', SPOOL_SEGMENT_BYTES: '50000' });
    const { id, secret } = await s.registerDevice('air-compressor');
    await influx.stopServer();
    const client = await s.connectDevice(id, secret);
    const pub = startPublisher(client, id, { t0: T0 + 10_000_000, ratePerS: 2000, maxInFlight: 300, limit: 4000 });
    // acknowledgements stop at the bound
    await expect.poll(() => Date.now() - pub.lastAckAt > 1500 && pub.inFlight > 0, { timeout: 20_000 }).toBe(true);
    const ackedAtBound = pub.acked.size;
    expect(ackedAtBound).toBeLessThan(pub.sent.length);
    expect(s.stack.ingest.spoolStats().full).toBe(true);
    expect((await s.http('GET', '/ready', undefined, null)).status).toBe(503);
    const metrics = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
    expect(Number(/fleetdoc_spool_full_waits_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);

    await influx.startServer();
    // acknowledgements resume and every message the device sent is stored
    await expect.poll(() => pub.acked.size, { timeout: 60_000 }).toBe(4000);
    expect(await s.stack.ingest.flush(60_000)).toBe(true);
    const res = await s.http<{ rows: Array<{ ts: string }> }>('GET', `/api/v1/devices/${id}/telemetry?metrics=oilTempC&from=${T0 + 10_000_000}&to=${T0 + 10_004_001}&limit=100000`);
    expect(res.body.rows).toHaveLength(4000);
    expect((await s.http('GET', '/ready', undefined, null)).status).toBe(200);
  });
});
