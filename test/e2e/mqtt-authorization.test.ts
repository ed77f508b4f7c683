import { describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import type { MqttClient } from 'mqtt';
import { useStack } from '../helpers/stack.ts';

/** SUBACK return code per topic (MQTT.js rejects on 0x80, carrying the SUBACK). */
async function granted(client: MqttClient, list: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const topic of list) {
    try {
      const g = await client.subscribeAsync(topic, { qos: 1 });
      out.push(g[0]!.qos);
    } catch (err) {
      const packet = (err as { packet?: { granted?: number[] } }).packet;
      if (!packet?.granted) throw err;
      out.push(packet.granted[0]!);
    }
  }
  return out;
}

describe('MQTT authorisation', () => {
  it('a device subscribes only to its own commands; anything else gets SUBACK 0x80', async () => {
    const s = await useStack();
    const a = await s.registerDevice('air-compressor');
    const b = await s.registerDevice('air-compressor');
    const client = await s.connectDevice(a.id, a.secret);
    expect(await granted(client, [topics.commands(a.id), topics.commands(b.id), 'devices/+/telemetry', '#', topics.telemetry(b.id), '$SYS/#'])).toEqual([1, 128, 128, 128, 128, 128]);
    expect(client.connected).toBe(true);
  });

  it('a publish to another device\'s topic is refused, the publisher cut off, and nothing stored', async () => {
    const s = await useStack();
    const a = await s.registerDevice('air-compressor');
    const b = await s.registerDevice('air-compressor');
    const attacker = await s.connectDevice(a.id, a.secret);
    const closed = new Promise<void>((resolve) => attacker.once('close', () => resolve()));
    attacker.publish(topics.telemetry(b.id), JSON.stringify({ metrics: { oilTempC: 55 } }), { qos: 1 });
    await closed;

    // the victim's own message afterwards lands; the forged one never does
    const victim = await s.connectDevice(b.id, b.secret);
    await victim.publishAsync(topics.telemetry(b.id), JSON.stringify({ metrics: { oilTempC: 70 } }), { qos: 1 });
    expect(await s.stack.ingest.flush()).toBe(true);
    const res = await s.http<{ rows: Array<{ values: Record<string, unknown> }> }>('GET', `/api/v1/devices/${b.id}/telemetry?from=0`);
    expect(res.body.rows.map((r) => r.values.oilTempC)).toEqual([70]);
  });

  it('devices may not publish commands, $SYS or topics outside the contract', async () => {
    const s = await useStack();
    const a = await s.registerDevice('refrigerator');
    for (const topic of [topics.commands(a.id), '$SYS/x', `devices/${a.id}/other`, 'anything']) {
      const c = await s.connectDevice(a.id, a.secret);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish(topic, '{}', { qos: 1 });
      await closed;
    }
  });

  it('a service client sees device traffic and may publish commands, but not telemetry', async () => {
    const s = await useStack();
    const a = await s.registerDevice('air-compressor');
    const key = (await s.http<{ key: string }>('POST', '/api/v1/api-keys', { name: 'svc', role: 'service' })).body.key;
    const svc = await s.connectDevice('svc-client', key, { username: 'apikey' });
    expect(await granted(svc, ['devices/+/telemetry', '#'])).toEqual([1, 128]);
    const got = new Promise<string>((resolve) => svc.on('message', (_t, p) => resolve(p.toString())));
    const dev = await s.connectDevice(a.id, a.secret);
    await dev.publishAsync(topics.telemetry(a.id), JSON.stringify({ metrics: { oilTempC: 61.5 } }), { qos: 1 });
    expect(JSON.parse(await got)).toEqual({ metrics: { oilTempC: 61.5 } });
  });
});
