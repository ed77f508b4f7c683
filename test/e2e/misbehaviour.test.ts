import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import { useStack, type TestStack } from '../helpers/stack.ts';

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => resolve(sock));
    sock.on('error', reject);
  });
}

function closed(sock: Socket, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), timeoutMs);
    sock.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
    sock.on('error', () => undefined);
  });
}

async function healthyDeviceStillWorks(s: TestStack, value: number) {
  const { id, secret } = await s.registerDevice('air-compressor');
  const c = await s.connectDevice(id, secret);
  await c.publishAsync(topics.telemetry(id), JSON.stringify({ metrics: { oilTempC: value } }), { qos: 1 });
  expect(await s.stack.ingest.flush()).toBe(true);
  const rows = (await s.http<{ rows: Array<{ values: { oilTempC?: number } }> }>('GET', `/api/v1/devices/${id}/telemetry?from=0`)).body.rows;
  expect(rows.map((r) => r.values.oilTempC)).toEqual([value]);
}

describe('clients that misbehave are cut off; the broker stays up', () => {
  it('garbage bytes instead of MQTT', async () => {
    const s = await useStack();
    const sock = await rawSocket(s.mqttPort);
    sock.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(await closed(sock)).toBe(true);
    await healthyDeviceStillWorks(s, 41);
  });

  it('a packet header announcing more than the frame limit is refused before it is buffered', async () => {
    const s = await useStack({ MQTT_MAX_PAYLOAD_BYTES: '1024' });
    const sock = await rawSocket(s.mqttPort);
    // PUBLISH with remaining length 268,435,455 (the MQTT maximum)
    sock.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]));
    expect(await closed(sock)).toBe(true);
    const metrics = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/fleetdoc_mqtt_forced_disconnects_total\{reason="packet_too_large"\} 1/);
    await healthyDeviceStillWorks(s, 42);
  });

  it('a device publishing faster than its rate limit is disconnected, others are not', async () => {
    const s = await useStack({ MQTT_MAX_MSGS_PER_S: '50', MQTT_BURST: '100' });
    const { id, secret } = await s.registerDevice('air-compressor');
    const flooder = await s.connectDevice(id, secret);
    const gone = new Promise<void>((resolve) => flooder.once('close', () => resolve()));
    for (let i = 0; i < 1000; i++) flooder.publish(topics.telemetry(id), JSON.stringify({ metrics: { oilTempC: 50 } }), { qos: 0 });
    await gone;
    const metrics = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/fleetdoc_mqtt_forced_disconnects_total\{reason="flood"\} 1/);
    await healthyDeviceStillWorks(s, 43);
  });

  it('a connection that never sends CONNECT is closed; publishing before CONNECT is refused', async () => {
    const s = await useStack();
    const sock = await rawSocket(s.mqttPort);
    // PUBLISH qos0 "a" "x" without CONNECT first [MQTT-3.1.0-1]
    sock.write(Buffer.from([0x30, 0x04, 0x00, 0x01, 0x61, 0x78]));
    expect(await closed(sock, 15_000)).toBe(true);
    await healthyDeviceStillWorks(s, 44);
  });
});
