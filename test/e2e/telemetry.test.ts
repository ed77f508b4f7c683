import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import { startInflux } from '../helpers/influx.ts';
import { mosquittoPub, mosquittoPubLines } from '../helpers/mosquitto.ts';
import { useStack, type TestStack } from '../helpers/stack.ts';

type Rows = { rows: Array<{ ts: string; values: Record<string, unknown> }> };
type DeadLetters = Array<{ deviceId: string; reason: string; detail: string; payload: string }>;

const T0 = Date.UTC(2026, 10, 20, 8, 0, 0);

async function roundTrip(s: TestStack) {
  const { id, secret } = await s.registerDevice('air-compressor', { model: 'GA30', site: 'plant-7' });
  // one sample via mosquitto_pub, ISO time
  const one = { ts: new Date(T0).toISOString(), seq: 1, metrics: { dischargePressureBar: 7.25, oilTempC: 78.5, loaded: true, loadCycles: 1042 } };
  const r = await mosquittoPub({ port: s.mqttPort, id, secret, topic: topics.telemetry(id), message: JSON.stringify(one) });
  expect(r.code, r.stderr).toBe(0);
  // a batch via mosquitto_pub, epoch ms times (a device back from offline)
  const batch = { samples: [1, 2, 3].map((i) => ({ ts: T0 + i * 1000, seq: 1 + i, metrics: { dischargePressureBar: 7 + i / 10, loaded: i % 2 === 0 } })) };
  expect((await mosquittoPub({ port: s.mqttPort, id, secret, topic: topics.telemetry(id), message: JSON.stringify(batch) })).code).toBe(0);
  expect(await s.stack.ingest.flush()).toBe(true);

  const res = await s.http<Rows>('GET', `/api/v1/devices/${id}/telemetry?from=${new Date(T0 - 1).toISOString()}&to=${T0 + 10_000}`);
  expect(res.status).toBe(200);
  expect(res.body.rows).toEqual([
    { ts: '2026-11-20T08:00:00.000Z', values: { dischargePressureBar: 7.25, oilTempC: 78.5, loaded: true, loadCycles: 1042 } },
    { ts: '2026-11-20T08:00:01.000Z', values: { dischargePressureBar: 7.1, loaded: false } },
    { ts: '2026-11-20T08:00:02.000Z', values: { dischargePressureBar: 7.2, loaded: true } },
    { ts: '2026-11-20T08:00:03.000Z', values: { dischargePressureBar: 7.3, loaded: false } },
  ]);
  const agg = await s.http<Rows>('GET', `/api/v1/devices/${id}/telemetry?metrics=dischargePressureBar&from=${T0}&to=${T0 + 4000}&every=2s&fn=max`);
  expect(agg.status).toBe(200);
  expect(agg.body.rows).toEqual([
    { ts: '2026-11-20T08:00:00.000Z', values: { dischargePressureBar: 7.25 } },
    { ts: '2026-11-20T08:00:02.000Z', values: { dischargePressureBar: 7.3 } },
  ]);
  const dev = await s.http<{ latest: { values: Record<string, unknown> } | null }>('GET', `/api/v1/devices/${id}`);
  expect(dev.body.latest?.values.dischargePressureBar).toBe(7.3);
}

/** Samples without `ts` (the README's first example): each is stored, however close together they arrive. */
async function withoutTimes(s: TestStack) {
  const { id, secret } = await s.registerDevice('air-compressor');
  const from = Date.now();
  const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ seq: i, metrics: { oilTempC: 60 + i / 10 } }));
  const r = await mosquittoPubLines({ port: s.mqttPort, id, secret, topic: topics.telemetry(id), lines });
  expect(r.code, r.stderr).toBe(0);
  // and a batch without times: all five arrive in the same millisecond
  const batch = { samples: [1, 2, 3, 4, 5].map((i) => ({ metrics: { dischargePressureBar: 7 + i / 10 } })) };
  expect((await mosquittoPub({ port: s.mqttPort, id, secret, topic: topics.telemetry(id), message: JSON.stringify(batch) })).code).toBe(0);
  expect(await s.stack.ingest.flush()).toBe(true);
  const res = await s.http<Rows>('GET', `/api/v1/devices/${id}/telemetry?from=${from - 1}&to=${Date.now() + 10_000}`);
  expect(res.body.rows).toHaveLength(305);
  // in the order sent, 1 ms apart where they arrived together
  expect(res.body.rows.slice(0, 300).map((x) => x.values.oilTempC)).toEqual(lines.map((_, i) => 60 + i / 10));
  expect(res.body.rows.slice(300).map((x) => x.values.dischargePressureBar)).toEqual([7.1, 7.2, 7.3, 7.4, 7.5]);
}

/**
 * More samples without times than milliseconds, three messages sent at once: each is stamped only once the last one's
 * stamps are at most a second ahead of the clock, so they run at most that plus one message's samples in ms ahead.
 */
async function fasterThanStamps(s: TestStack) {
  const { id, secret } = await s.registerDevice('air-compressor');
  const c = await s.connectDevice(id, secret);
  const from = Date.now();
  const batch = (k: number) => JSON.stringify({ samples: Array.from({ length: 3000 }, (_, i) => ({ metrics: { oilTempC: k * 10 + i / 1000 } })) });
  await Promise.all([1, 2, 3].map((k) => c.publishAsync(topics.telemetry(id), batch(k), { qos: 1 })));
  const ackedAt = Date.now();
  expect(await s.stack.ingest.flush()).toBe(true);
  const res = await s.http<Rows>('GET', `/api/v1/devices/${id}/telemetry?from=${from - 1}&to=${ackedAt + 3_600_000}`);
  const ts = res.body.rows.map((r) => Date.parse(r.ts));
  expect(new Set(ts).size).toBe(9000);
  expect(Math.max(...ts)).toBeLessThanOrEqual(ackedAt + 1000 + 3000);

  // the same at QoS 0, which has no PUBACK to hold: 5 × 2,000 samples are taken in as their stamps come due
  const q0 = await s.registerDevice('air-compressor');
  const c0 = await s.connectDevice(q0.id, q0.secret);
  const sent = Date.now();
  for (let k = 0; k < 5; k++) await c0.publishAsync(topics.telemetry(q0.id), JSON.stringify({ samples: Array.from({ length: 2000 }, (_, i) => ({ metrics: { oilTempC: k * 10 + i / 1000 } })) }), { qos: 0 });
  const rows0 = async () => (await s.http<Rows>('GET', `/api/v1/devices/${q0.id}/telemetry?from=${sent - 1}&to=${sent + 3_600_000}`)).body.rows;
  await expect.poll(async () => (await rows0()).length, { timeout: 30_000, interval: 200 }).toBe(10_000);
  const storedAt = Date.now();
  // taken in over about 9 s, not all at once with stamps 10 s ahead
  expect(Math.max(...(await rows0()).map((r) => Date.parse(r.ts)))).toBeLessThanOrEqual(storedAt + 1000 + 2000);
}

describe('telemetry: MQTT → ingest → store → API', () => {
  it('round trip into the embedded store with exact values and timestamps (mosquitto_pub)', async () => {
    await roundTrip(await useStack());
  });

  it('samples without a time, many a millisecond, are each stored at their arrival (embedded store)', async () => {
    const s = await useStack();
    await withoutTimes(s);
    await fasterThanStamps(s);
  });

  describe('with a real InfluxDB 2.x', () => {
    let influx: Awaited<ReturnType<typeof startInflux>>;
    beforeAll(async () => {
      influx = await startInflux();
    });
    afterAll(async () => influx?.stop());

    it('round trip MQTT → InfluxDB → API with exact values and timestamps', async () => {
      const s = await useStack({ INFLUX_URL: influx.url, INFLUX_TOKEN: influx.token, INFLUX_ORG: influx.org, INFLUX_BUCKET: influx.bucket });
      expect(s.stack.telemetryStore.kind).toBe('influx');
      await roundTrip(s);
      await withoutTimes(s);
    });
  });

  it('dead-letters every class of bad payload with its reason while good messages from the same device land', async () => {
    const s = await useStack({ MQTT_MAX_PAYLOAD_BYTES: '2048' });
    const { id, secret } = await s.registerDevice('air-compressor');
    const c = await s.connectDevice(id, secret);
    const t = topics.telemetry(id);
    const now = Date.now();
    const bad: Array<[string, string | Buffer]> = [
      ['invalid_json', '{"metrics":'],
      ['invalid_json', Buffer.from([0xde, 0xad, 0xbe, 0xef])],
      ['invalid_shape', '{"values":{"oilTempC":1}}'],
      ['unknown_metric', '{"metrics":{"warpCore":1}}'],
      ['wrong_type', '{"metrics":{"oilTempC":"hot"}}'],
      ['out_of_range', '{"metrics":{"dischargePressureBar":99}}'],
      ['non_finite', '{"metrics":{"oilTempC":1e999}}'],
      ['invalid_ts', '{"ts":"tomorrow-ish","metrics":{"oilTempC":1}}'],
      ['ts_in_future', JSON.stringify({ ts: now + 86_400_000, metrics: { oilTempC: 1 } })],
      ['payload_too_large', JSON.stringify({ metrics: { oilTempC: 1 }, pad: 'x'.repeat(3000) })],
    ];
    let seq = 0;
    for (const [, payload] of bad) {
      await c.publishAsync(t, JSON.stringify({ ts: now - 10_000 + seq, metrics: { oilTempC: 60 + seq } }), { qos: 1 });
      seq++;
      await c.publishAsync(t, payload, { qos: 1 });
    }
    await c.publishAsync(t, JSON.stringify({ ts: now - 10_000 + seq, metrics: { oilTempC: 60 + seq } }), { qos: 1 });
    expect(c.connected).toBe(true);
    expect(await s.stack.ingest.flush()).toBe(true);

    const stored = await s.http<Rows>('GET', `/api/v1/devices/${id}/telemetry?metrics=oilTempC&from=${now - 20_000}&to=${now + 1000}`);
    expect(stored.body.rows.map((r) => r.values.oilTempC)).toEqual(Array.from({ length: bad.length + 1 }, (_, i) => 60 + i));

    const dl = await s.http<DeadLetters>('GET', `/api/v1/dead-letters?deviceId=${id}&limit=100`);
    expect(dl.status).toBe(200);
    expect(dl.body.map((d) => d.reason).sort()).toEqual(bad.map(([r]) => r).sort());
    const binary = dl.body.find((d) => d.payload.startsWith('base64:'));
    expect(binary?.payload).toBe('base64:3q2+7w==');
    const big = dl.body.find((d) => d.reason === 'payload_too_large')!;
    expect(big.payload.length).toBeLessThanOrEqual(4097);
    const byReason = await s.http<DeadLetters>('GET', `/api/v1/dead-letters?deviceId=${id}&reason=out_of_range`);
    expect(byReason.body).toHaveLength(1);
    expect(byReason.body[0]!.detail).toContain('dischargePressureBar');

    const metrics = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/fleetdoc_ingest_dead_letters_total\{reason="invalid_json"\} 2/);
  });

  it('events and status messages are recorded; bad ones dead-lettered', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('refrigerator');
    const c = await s.connectDevice(id, secret);
    await c.publishAsync(topics.events(id), JSON.stringify({ kind: 'error', code: 'E17', message: 'defrost heater open circuit' }), { qos: 1 });
    await c.publishAsync(topics.events(id), '{"kind":"explosion"}', { qos: 1 });
    await c.publishAsync(topics.status(id), 'online', { qos: 1 });
    const ev = await s.http<Array<{ kind: string; code: string | null }>>('GET', `/api/v1/devices/${id}/events?from=0`);
    expect(ev.body.map((e) => [e.kind, e.code]).sort()).toEqual([['error', 'E17'], ['state', 'online']]);
    const dl = await s.http<DeadLetters>('GET', `/api/v1/dead-letters?deviceId=${id}`);
    expect(dl.body.map((d) => d.reason)).toEqual(['invalid_shape']);
  });
});
