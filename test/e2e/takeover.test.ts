/**
 * Many clients fighting over one device's clientId (a device cloned, a firmware
 * reconnect loop): each connect takes over the last. Once they are all gone the
 * device is offline and no connection is counted.
 */
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { useStack } from '../helpers/stack.ts';

describe('clientId takeover churn', () => {
  it('leaves no connection counted and the device offline once every client has gone', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const gauge = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await fetch(`${s.httpUrl}/metrics`).then((r) => r.text()))?.[1]);
    let connects = 0;
    const clients = Array.from({ length: 12 }, () => {
      const c = mqtt.connect(s.mqttUrl, { clientId: id, username: id, password: secret, reconnectPeriod: 20, clean: true });
      c.on('connect', () => connects++);
      c.on('error', () => undefined);
      return c;
    });
    await new Promise((r) => setTimeout(r, 4000));
    await Promise.all(clients.map((c) => c.endAsync(true)));
    // they did fight: far more connects than clients
    expect(connects).toBeGreaterThan(50);
    await expect.poll(() => gauge('fleetdoc_mqtt_connected_clients'), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => gauge('fleetdoc_mqtt_connected_devices'), { timeout: 10_000 }).toBe(0);
    await expect.poll(async () => (await s.http<{ online: boolean }>('GET', `/api/v1/devices/${id}`)).body.online, { timeout: 10_000 }).toBe(false);
  });
});
