/**
 * A simulated device's MQTT link across a dropped connection: mqtt.js reconnects
 * it by itself, and asking it to connect meanwhile (as the runner does for a
 * link that is not connected) must not open a second client that would fight
 * the first over the device's clientId.
 */
import { describe, expect, it } from 'vitest';
import { DeviceLink } from '../../simulator/link.ts';
import { useStack } from '../helpers/stack.ts';

describe('device link', () => {
  it('after the platform drops it, one client reconnects: connects (each publishing online) do not multiply', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const statuses = async () => Number(/fleetdoc_mqtt_messages_received_total\{kind="status"\} (\d+)/.exec(await fetch(`${s.httpUrl}/metrics`).then((r) => r.text()))?.[1] ?? 0);
    const link = new DeviceLink({ mqttUrl: s.mqttUrl, id, secret, onCommand: () => undefined });
    try {
      await link.connect();
      await expect.poll(statuses).toBe(1);
      // the platform drops the connection (a restart, a network cut)
      expect(s.stack.broker.disconnectDevice(id)).toBe(true);
      await expect.poll(() => link.connected).toBe(false);
      // the runner asks for a connection while mqtt.js already reconnects (every 3 s)
      await Promise.all([link.connect(), link.connect()]);
      expect(link.connected).toBe(true);
      // two clients with one clientId would take the connection from each other every few seconds, each saying online
      const settled = await statuses();
      await new Promise((r) => setTimeout(r, 8000));
      expect(await statuses()).toBe(settled);
      expect(link.connected).toBe(true);
    } finally {
      await link.close();
    }
  });

  it('keeps reconnecting after a refused reconnect (CONNACK 3 while the platform cannot check credentials)', { timeout: 60_000 }, async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const link = new DeviceLink({ mqttUrl: s.mqttUrl, id, secret, onCommand: () => undefined });
    const store = s.stack.opsStore;
    const getDeviceAuth = store.getDeviceAuth.bind(store);
    let refused = 0;
    try {
      await link.connect();
      // the operational store stops answering credential checks for a while
      store.getDeviceAuth = async () => {
        refused++;
        throw new Error('connection refused');
      };
      // (once the broker has it ready: the client hears its CONNACK a moment before)
      await expect.poll(() => s.stack.broker.disconnectDevice(id)).toBe(true);
      await expect.poll(() => refused, { timeout: 30_000 }).toBeGreaterThan(0);
      store.getDeviceAuth = getDeviceAuth;
      // mqtt.js tries again 3 s after the refusal (without reconnectOnConnackError it gave up for good)
      await expect.poll(() => link.connected, { timeout: 15_000 }).toBe(true);
    } finally {
      store.getDeviceAuth = getDeviceAuth;
      await link.close();
    }
  });

  it('stops reconnecting once refused for good (a disabled device: CONNACK 5), and closes without hanging', { timeout: 60_000 }, async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const refusals = async () => Number(/fleetdoc_mqtt_auth_failures_total\{reason="disabled"\} (\d+)/.exec(await fetch(`${s.httpUrl}/metrics`).then((r) => r.text()))?.[1] ?? 0);
    const link = new DeviceLink({ mqttUrl: s.mqttUrl, id, secret, onCommand: () => undefined });
    await link.connect();
    await expect.poll(async () => (await s.http('POST', `/api/v1/devices/${id}/disable`, {})).status).toBe(200);
    await expect.poll(() => link.connected).toBe(false);
    // a waiting connect() learns it is over instead of waiting for good
    await expect(link.connect()).rejects.toThrow(/ended|refused|not authori[sz]ed/i);
    const after = await refusals();
    expect(after).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 8000));
    expect(await refusals()).toBe(after);
    await link.close();
  });
});
