import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectPacket, rawConnack } from '../helpers/raw-mqtt.ts';
import { useStack } from '../helpers/stack.ts';

/** Connects and returns the CONNACK refusal code, or 0 when accepted. */
async function connackCode(url: string, opts: mqtt.IClientOptions): Promise<number> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    await c.endAsync(true);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

describe('MQTT authentication', () => {
  it('accepts a device with its own id and secret, refuses everything else', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const other = await s.registerDevice('refrigerator');

    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: secret })).toBe(0);
    // wrong password → 4 bad user name or password
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: secret + 'x' })).toBe(4);
    // another device's secret
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: other.secret })).toBe(4);
    // unknown device
    expect(await connackCode(s.mqttUrl, { clientId: 'nobody', username: 'nobody', password: secret })).toBe(4);
    // no password
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id })).toBe(4);
    // clientId must equal the device id → 2 identifier rejected
    expect(await connackCode(s.mqttUrl, { clientId: other.id, username: id, password: secret })).toBe(2);
    // [MQTT-3.1.3-8] empty clientId with cleanSession=false → 2 (MQTT.js refuses to send it, so raw bytes)
    expect(await rawConnack(s.mqttPort, connectPacket({ clientId: '', clean: false, username: id, password: secret }))).toBe(2);
    // empty clientId with clean session is still not the device id
    expect(await rawConnack(s.mqttPort, connectPacket({ clientId: '', clean: true, username: id, password: secret }))).toBe(2);
    // and the raw path itself works for a correct CONNECT
    expect(await rawConnack(s.mqttPort, connectPacket({ clientId: id, clean: true, username: id, password: secret }))).toBe(0);
  });

  it('refuses a disabled device and lets it back in when re-enabled', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('washing-machine');
    expect((await s.http('PATCH', `/api/v1/devices/${id}`, { status: 'disabled' })).status).toBe(200);
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: secret })).toBe(5);
    expect((await s.http('PATCH', `/api/v1/devices/${id}`, { status: 'active' })).status).toBe(200);
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: secret })).toBe(0);
  });

  it('disabling a connected device cuts its live connection', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const c = await s.connectDevice(id, secret);
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    expect((await s.http('PATCH', `/api/v1/devices/${id}`, { status: 'disabled' })).status).toBe(200);
    await closed;
  });

  it('a rotated secret replaces the old one', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('refrigerator');
    const res = await s.http<{ secret: string }>('POST', `/api/v1/devices/${id}/secret`);
    expect(res.status).toBe(200);
    expect(res.body.secret).not.toBe(secret);
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: secret })).toBe(4);
    expect(await connackCode(s.mqttUrl, { clientId: id, username: id, password: res.body.secret })).toBe(0);
  });

  it('service clients authenticate with an API key of role service or admin, not viewer', async () => {
    const s = await useStack();
    const svc = await s.http<{ key: string }>('POST', '/api/v1/api-keys', { name: 'diag', role: 'service' });
    const viewer = await s.http<{ key: string }>('POST', '/api/v1/api-keys', { name: 'ro', role: 'viewer' });
    expect(await connackCode(s.mqttUrl, { clientId: 'svc-1', username: 'apikey', password: svc.body.key })).toBe(0);
    expect(await connackCode(s.mqttUrl, { clientId: 'svc-2', username: 'apikey', password: s.adminKey })).toBe(0);
    expect(await connackCode(s.mqttUrl, { clientId: 'svc-3', username: 'apikey', password: viewer.body.key })).toBe(5);
    expect(await connackCode(s.mqttUrl, { clientId: 'svc-4', username: 'apikey', password: 'fd_wrong' })).toBe(4);
  });

  it('tracks online/offline and last seen', async () => {
    const s = await useStack();
    const { id, secret } = await s.registerDevice('air-compressor');
    const before = await s.http<{ online: boolean; lastSeenAt: string | null }>('GET', `/api/v1/devices/${id}`);
    expect(before.body.online).toBe(false);
    const c = await s.connectDevice(id, secret);
    await expect.poll(async () => (await s.http<{ online: boolean }>('GET', `/api/v1/devices/${id}`)).body.online).toBe(true);
    const seen = (await s.http<{ lastSeenAt: string | null }>('GET', `/api/v1/devices/${id}`)).body.lastSeenAt;
    expect(seen).not.toBeNull();
    await c.endAsync();
    await expect.poll(async () => (await s.http<{ online: boolean }>('GET', `/api/v1/devices/${id}`)).body.online).toBe(false);
  });
});
