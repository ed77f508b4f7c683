import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import { useStack } from '../helpers/stack.ts';
import { runQos0Flood, stillServes } from './qos0-flood.ts';

const CHILD = fileURLToPath(new URL('./fixtures/flood-child.ts', import.meta.url));

function runChild(mode: 'bare' | 'fleetdoc'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (stdout: string) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('QoS0 flood towards a stalled subscriber that then disconnects', () => {
  it('kills a bare Aedes 1.x broker: RangeError in mqemitter (the bug fleetdoc guards against)', { timeout: 60_000 }, async () => {
    const r = await runChild('bare');
    expect(r.code, r.stderr.slice(-2000)).not.toBe(0);
    expect(r.stderr).toMatch(/RangeError: Maximum call stack size exceeded/);
    expect(r.stderr).toMatch(/mqemitter\/mqemitter\.js/);
    expect(r.stdout).not.toMatch(/"survived":true/);
  });

  it("fleetdoc's broker survives the same flood and keeps serving", { timeout: 60_000 }, async () => {
    const r = await runChild('fleetdoc');
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(lines(r.stdout).at(-1)).toEqual({ phase: 'done', survived: true, served: true });
  });

  it('the whole stack survives it, drops QoS0 for the stalled subscriber, and still stores acknowledged telemetry', { timeout: 60_000 }, async () => {
    const s = await useStack({ MQTT_SUBSCRIBER_BACKLOG_BYTES: String(256 * 1024) });
    const reg = await s.http<{ devices: Array<{ device: { id: string }; secret: string }> }>('POST', '/api/v1/devices/bulk', {
      devices: Array.from({ length: 25 }, (_, i) => ({ type: 'air-compressor', id: `flood-${i}` })),
    });
    expect(reg.status).toBe(201);
    const svc = await s.http<{ key: string }>('POST', '/api/v1/api-keys', { name: 'slow-consumer', role: 'service' });
    const service = (clientId: string) => ({ clientId, username: 'apikey', password: svc.body.key, filter: 'devices/+/telemetry' });
    const devices = reg.body.devices.map(({ device, secret }) => ({ clientId: device.id, username: device.id, password: secret, topic: topics.telemetry(device.id) }));

    const dropped = async () => (await s.stack.metrics.forwardsDropped.get()).values.reduce((n, v) => n + v.value, 0);
    await runQos0Flood({
      port: s.mqttPort,
      subscriber: service('slow-consumer'),
      publishers: devices.slice(1),
      messagesPerPublisher: 400,
      // valid JSON padded to 4 KiB: enough bytes to overflow the kernel's socket buffers, few samples to store
      payload: Buffer.from(JSON.stringify({ metrics: { oilTempC: 70.5, dischargePressureBar: 7.1, loaded: true } }).padEnd(4096, ' ')),
      // go on once the broker is shedding for the stalled subscriber
      backlog: dropped,
      minBacklog: 1,
    });

    const metrics = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
    expect(Number(/fleetdoc_mqtt_forwards_dropped_total\{reason="slow_subscriber"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
    expect((await fetch(`${s.httpUrl}/health`)).status).toBe(200);
    expect(await stillServes(s.mqttPort, service('after-storm'), devices[0]!, Buffer.from('{"metrics":{"oilTempC":42.5}}'))).toBe(true);

    const { id, secret } = await s.registerDevice('air-compressor');
    const c = await s.connectDevice(id, secret);
    await c.publishAsync(topics.telemetry(id), JSON.stringify({ metrics: { oilTempC: 43 } }), { qos: 1 });
    expect(await s.stack.ingest.flush()).toBe(true);
    const rows = (await s.http<{ rows: Array<{ values: { oilTempC?: number } }> }>('GET', `/api/v1/devices/${id}/telemetry?from=0`)).body.rows;
    expect(rows.map((r) => r.values.oilTempC)).toEqual([43]);
  });
});
