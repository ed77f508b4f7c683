/**
 * End to end on the real stack: samples published over MQTT → broker →
 * ingest → diagnosis → ops store → API, and on the bus.
 */
import { describe, expect, it } from 'vitest';
import type { Diagnosis } from '../../core/domain/diagnosis.ts';
import { topics } from '../../core/topics.ts';
import { useStack } from '../helpers/stack.ts';

const MIN = 60_000;

type Sample = { ts: number; seq: number; metrics: Record<string, number | boolean> };

/** Deterministic sensor noise in [-amp, amp] (analogue readings are never exactly repeated). */
function jitter(i: number, channel: number, amp: number): number {
  const x = Math.sin(i * 12.9898 + channel * 78.233) * 43758.5453;
  return (x - Math.floor(x) - 0.5) * 2 * amp;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/** A compressor under normal load; `oil(i)` and `room(i)` shape the temperatures of minute i. */
function compressor(from: number, minutes: number, shape: (i: number) => { oil: number; room: number; spread?: number }): Sample[] {
  return Array.from({ length: minutes }, (_, i) => {
    const { oil, room, spread = 18 } = shape(i);
    const loaded = i % 4 !== 3;
    return {
      ts: from + i * MIN,
      seq: i,
      metrics: {
        dischargePressureBar: round1((loaded ? 7.1 : 7.6) + jitter(i, 1, 0.05)),
        oilTempC: round1(oil + jitter(i, 2, 0.3)),
        dischargeTempC: round1(oil + (loaded ? spread : 5) + jitter(i, 3, 0.3)),
        ambientTempC: round1(room + jitter(i, 4, 0.2)),
        motorCurrentA: round1((loaded ? 54 : 19) + jitter(i, 5, 0.5)),
        vibrationRmsMmS: round1(1.8 + jitter(i, 6, 0.1)),
        airFilterDpMbar: round1((loaded ? 22 : 2) + jitter(i, 7, 0.4)),
        separatorDpBar: Math.round(((loaded ? 0.22 : 0.06) + jitter(i, 8, 0.008)) * 1000) / 1000,
        loaded,
      },
    };
  });
}

describe('diagnosis end to end', () => {
  it('a sustained cooler-fouling pattern over MQTT raises a diagnosis with evidence (API and bus); a hot afternoon on a healthy unit stays quiet', { timeout: 90_000 }, async () => {
    const s = await useStack();
    const raised: Diagnosis[] = [];
    s.stack.diagnosis.bus.on('raised', (d) => raised.push(d));
    const sick = await s.registerDevice('air-compressor', { id: 'ac-e2e-sick', site: 'plant-1', model: 'SC-37' });
    const healthy = await s.registerDevice('air-compressor', { id: 'ac-e2e-hot', site: 'plant-1', model: 'SC-37' });
    const from = Date.now() - 8 * 3600_000;

    // sick: 2 h normal (oil held at 72 °C by the thermostat), then oil and discharge creep up ~6 °C/h while the room stays at 24 °C and the load is unchanged
    const sickSamples = compressor(from, 420, (i) => ({ oil: i < 120 ? 72 : Math.min(95, 72 + (i - 120) / 10), room: 24 }));
    // healthy: the same hours with a hot afternoon (+10 °C for 3 h): the room rises, the oil follows at the cooler's design approach
    const hotSamples = compressor(from, 420, (i) => {
      const hot = i >= 150 && i < 330 ? 10 : 0;
      return { oil: Math.max(72, 24 + hot + 42), room: 24 + hot };
    });

    const [c1, c2] = [await s.connectDevice(sick.id, sick.secret), await s.connectDevice(healthy.id, healthy.secret)];
    for (let i = 0; i < 420; i += 60) {
      await c1.publishAsync(topics.telemetry(sick.id), JSON.stringify({ samples: sickSamples.slice(i, i + 60) }), { qos: 1 });
      await c2.publishAsync(topics.telemetry(healthy.id), JSON.stringify({ samples: hotSamples.slice(i, i + 60) }), { qos: 1 });
    }

    await expect.poll(async () => (await s.http<Diagnosis[]>('GET', `/api/v1/devices/${sick.id}/diagnoses`)).body, { timeout: 30_000, interval: 200 }).toHaveLength(1);
    const [d] = (await s.http<Diagnosis[]>('GET', `/api/v1/devices/${sick.id}/diagnoses`)).body;
    expect(d).toMatchObject({ deviceId: sick.id, type: 'air-compressor', fault: 'ac-cooler-fouling', status: 'active', severity: 'warning', source: 'rules', remedy: { class: 'owner' } });
    expect(d!.confidence).toBeGreaterThan(0.5);
    const values = d!.evidence.rules[0]!.values;
    expect(values.oilTempC).toBeGreaterThan(79);
    expect(values['oilTempC-ambientTempC']).toBeGreaterThan(47);
    expect(values['dischargeTempC-oilTempC']).toBeLessThan(30);
    // raised in event time, hours before now, once the condition was sustained (not at its first sample)
    const firstAbove = sickSamples.find((x) => (x.metrics.oilTempC as number) > 79 && (x.metrics.oilTempC as number) - 24 > 47)!.ts;
    expect(Date.parse(d!.raisedAt)).toBeGreaterThan(firstAbove + 10 * MIN);
    expect(Date.parse(d!.raisedAt)).toBeLessThan(from + 420 * MIN);
    expect(raised.map((x) => x.id)).toEqual([d!.id]);

    // the evidence's telemetry window can be fetched as it is
    const w = d!.evidence.telemetry;
    const tel = await s.http<{ rows: unknown[] }>('GET', `/api/v1/devices/${sick.id}/telemetry?metrics=${w.metrics.join(',')}&from=${w.from}&to=${w.to}`);
    expect(tel.status).toBe(200);
    expect(tel.body.rows.length).toBeGreaterThan(10);

    // the fleet view, and the quiet healthy unit (its samples were all processed: the engine saw both devices)
    const fleet = await s.http<Diagnosis[]>('GET', '/api/v1/diagnoses?type=air-compressor&status=active');
    expect(fleet.body.map((x) => x.deviceId)).toEqual([sick.id]);
    await expect.poll(() => s.stack.diagnosis.stats().samples, { timeout: 30_000 }).toBe(840);
    expect((await s.http<Diagnosis[]>('GET', `/api/v1/devices/${healthy.id}/diagnoses`)).body).toEqual([]);
  });
});
