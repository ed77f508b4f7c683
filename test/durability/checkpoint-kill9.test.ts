/**
 * Diagnosis checkpoints through the real process: `npm start`'s entry point
 * with embedded storage, a compressor calibrates its anomaly model (720
 * samples), the process is SIGKILLed after a checkpoint interval, and on
 * restart the device's next sample is scored against the calibration it had
 * — not treated as the first of a new calibration.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import { fleetdocProcess } from '../helpers/fleetdoc-process.ts';
import { waitFor } from '../helpers/ports.ts';

const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);
const SEC = 1000;

/** A full compressor sample, n seconds after T0, steady with small variation. */
function sample(n: number) {
  return {
    ts: T0 + n * SEC,
    metrics: {
      dischargePressureBar: 7 + 0.2 * Math.sin(n / 7),
      dischargeTempC: 84 + Math.sin(n / 11),
      oilTempC: 70 + 0.5 * Math.cos(n / 13),
      ambientTempC: 21 + 0.3 * Math.sin(n / 17),
      motorCurrentA: 60 + 2 * Math.sin(n / 5),
      vibrationRmsMmS: 2.1 + 0.05 * Math.cos(n / 3),
      airFilterDpMbar: 22 + 0.5 * Math.sin(n / 9),
      separatorDpBar: 0.3 + 0.01 * Math.cos(n / 4),
      loaded: true,
      loadCycles: 1000 + Math.floor(n / 60),
      runHours: 5000 + n / 3600,
    },
  };
}

describe('diagnosis checkpoints: kill -9', () => {
  let dataDir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fleetdoc-ckpt-kill9-'));
  });
  afterAll(async () => {
    children.forEach((c) => c.kill('SIGKILL'));
    await rm(dataDir, { recursive: true, force: true });
  });

  it('a device calibrated before SIGKILL is scored at its first sample after the restart', { timeout: 300_000 }, async () => {
    const fd = await fleetdocProcess(dataDir, { DIAGNOSIS_CHECKPOINT_S: '1' });
    const { api, auth, healthy, mqttPort } = fd;
    const decision = async (id: string, n: number) => {
      const q = `${api}/api/v1/devices/${id}/telemetry?metrics=anomalyScore,anomaly&from=${T0 + n * SEC}&to=${T0 + n * SEC + 1}`;
      const body = (await fetch(q, { headers: auth }).then((r) => r.json())) as { rows: Array<{ values: Record<string, number> }> };
      return body.rows[0]?.values;
    };
    const publish = async (id: string, secret: string, samples: ReturnType<typeof sample>[]) => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: id, username: id, password: secret, reconnectPeriod: 0 });
      for (let i = 0; i < samples.length; i += 200) await client.publishAsync(topics.telemetry(id), JSON.stringify({ samples: samples.slice(i, i + 200) }), { qos: 1 });
      await client.endAsync();
    };

    let child = fd.start();
    children.push(child);
    await healthy();
    const reg = await fetch(`${api}/api/v1/devices`, { method: 'POST', headers: auth, body: JSON.stringify({ type: 'air-compressor' }) }).then(
      (r) => r.json() as Promise<{ device: { id: string }; secret: string }>,
    );
    const id = reg.device.id;
    await publish(id, reg.secret, Array.from({ length: 800 }, (_, n) => sample(n)));
    // calibrated (720 samples) and scored, as the write-back shows; then a checkpoint interval passes
    await waitFor(async () => (await decision(id, 799))?.anomalyScore !== undefined, { timeoutMs: 60_000, intervalMs: 250, what: 'sample 799 scored' });
    expect(await decision(id, 700)).toEqual({ anomaly: 0 });
    await new Promise((r) => setTimeout(r, 3000));

    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;

    child = fd.start();
    children.push(child);
    await healthy();
    await publish(id, reg.secret, [sample(800)]);
    await waitFor(async () => (await decision(id, 800)) !== undefined, { timeoutMs: 60_000, intervalMs: 250, what: 'a decision on sample 800' });
    // scored against the calibration from before the kill (a fresh device would still be calibrating: { anomaly: 0 })
    expect(Object.keys((await decision(id, 800))!).sort()).toEqual(['anomaly', 'anomalyScore']);
    child.kill('SIGTERM');
  });
});
