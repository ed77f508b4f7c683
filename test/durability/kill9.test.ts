import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInflux, type TestInflux } from '../helpers/influx.ts';
import { fleetdocProcess } from '../helpers/fleetdoc-process.ts';
import { waitFor } from '../helpers/ports.ts';
import { startPublisher } from '../helpers/publisher.ts';

const T0 = Date.UTC(2026, 10, 24, 0, 0, 0);

describe('acknowledged means durable: kill -9', () => {
  let influx: TestInflux;
  let dataDir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    influx = await startInflux();
    dataDir = await mkdtemp(join(tmpdir(), 'fleetdoc-kill9-'));
  });
  afterAll(async () => {
    children.forEach((c) => c.kill('SIGKILL'));
    await influx?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('every point whose PUBACK the publisher received is stored after SIGKILL and restart', { timeout: 480_000 }, async () => {
    const fd = await fleetdocProcess(dataDir, { INFLUX_URL: influx.url, INFLUX_TOKEN: influx.token, INFLUX_ORG: influx.org, INFLUX_BUCKET: influx.bucket });
    const { api, auth, healthy, mqttPort } = fd;

    let child = fd.start();
    children.push(child);
    await healthy();
    const reg = await fetch(`${api}/api/v1/devices`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'air-compressor' }) }).then((r) => r.json() as Promise<{ device: { id: string }; secret: string }>);
    const id = reg.device.id;

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: id, username: id, password: reg.secret, reconnectPeriod: 0 });
    client.on('error', () => undefined);
    const pub = startPublisher(client, id, { t0: T0, ratePerS: 3000, maxInFlight: 1000 });
    await waitFor(() => pub.acked.size > 3000, { timeoutMs: 30_000, what: '3000 PUBACKs' });

    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    pub.stop();
    client.end(true);
    const acked = [...pub.acked];
    expect(acked.length).toBeGreaterThan(3000);

    child = fd.start();
    children.push(child);
    await healthy();
    const query = `${api}/api/v1/devices/${id}/telemetry?metrics=oilTempC&from=${T0}&to=${T0 + pub.sent.length + 1}&limit=100000`;
    let missing: number[] = acked;
    await waitFor(
      async () => {
        const body = (await fetch(query, { headers: auth }).then((r) => r.json())) as { rows: Array<{ ts: string }> };
        const stored = new Set(body.rows.map((r) => Date.parse(r.ts) - T0));
        missing = acked.filter((n) => !stored.has(n));
        return missing.length === 0;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'every acknowledged point in InfluxDB' },
    ).catch(() => undefined);
    expect(missing.slice(0, 20)).toEqual([]);
    console.info(`[kill9] ${acked.length} acknowledged before SIGKILL, ${pub.sent.length - acked.length} sent but unacknowledged; all acknowledged stored`);
    child.kill('SIGTERM');
  });
});
