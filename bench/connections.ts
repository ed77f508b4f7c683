/**
 * 10,000 simultaneously connected devices: memory and CPU of the broker
 * process (fleetdoc's all-in-one `main.ts`, and bare Mosquitto as the
 * reference) for a connect storm and a steady trickle of telemetry.
 *
 *   npm run bench:connections -- [--devices 10000] [--steady-s 30] [--interval-s 10]
 *
 * Prints one JSON line per target. Loopback only; bounded; stops by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { freePort } from '../scripts/lib/free-port.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    'steady-s': { type: 'string', default: '30' },
    'interval-s': { type: 'string', default: '10' },
    wave: { type: 'string', default: '250' },
  },
});
const DEVICES = Math.min(15_000, Number(args.devices));
const STEADY_S = Math.min(300, Number(args['steady-s']));
const INTERVAL_S = Number(args['interval-s']);
const WAVE = Number(args.wave);
const CLK_TCK = 100;

const log = (...a: unknown[]) => console.error('[bench:connections]', ...a);
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void>> = [];
process.on('SIGINT', () => void shutdown(130));

async function shutdown(code: number): Promise<never> {
  children.forEach((c) => c.kill('SIGKILL'));
  await Promise.allSettled(cleanups.map((f) => f()));
  process.exit(code);
}

/** CPU seconds (user + system) and RSS in MiB of a process, from /proc. */
function usage(pid: number): { cpuS: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuS, rssMiB: rssKb / 1024 };
}

async function waitFor(fn: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function connectAll(url: string, creds: Array<{ id: string; password?: string }>): Promise<{ clients: MqttClient[]; seconds: number }> {
  const clients: MqttClient[] = [];
  const t0 = performance.now();
  for (let i = 0; i < creds.length; i += WAVE) {
    const wave = creds.slice(i, i + WAVE);
    const got = await Promise.all(
      wave.map((c) =>
        mqtt.connectAsync(url, { clientId: c.id, ...(c.password ? { username: c.id, password: c.password } : {}), reconnectPeriod: 0, keepalive: 120, connectTimeout: 30_000 }),
      ),
    );
    clients.push(...got);
    if ((i / WAVE) % 8 === 0) log(`connected ${clients.length}/${creds.length}`);
  }
  return { clients, seconds: (performance.now() - t0) / 1000 };
}

/** Each device publishes one ~200-byte QoS1 sample every INTERVAL_S (spread evenly). */
async function steady(clients: MqttClient[], ids: string[], seconds: number): Promise<number> {
  let sent = 0;
  const perTick = Math.max(1, Math.round(clients.length / (INTERVAL_S * 10)));
  let cursor = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    for (let k = 0; k < perTick; k++) {
      const i = cursor++ % clients.length;
      const payload = JSON.stringify({ ts: Date.now(), seq: sent, metrics: { dischargePressureBar: 7.1, dischargeTempC: 82.4, oilTempC: 71.2, motorCurrentA: 48.3, vibrationRmsMmS: 2.1, loaded: true } });
      clients[i]!.publish(`devices/${ids[i]}/telemetry`, payload, { qos: 1 });
      sent++;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return sent;
}

async function measure(target: string, pid: number, url: string, creds: Array<{ id: string; password?: string }>) {
  const idle = usage(pid);
  const { clients, seconds } = await connectAll(url, creds);
  const afterConnect = usage(pid);
  await new Promise((r) => setTimeout(r, 2000));
  const settled = usage(pid);
  const sent = await steady(clients, creds.map((c) => c.id), STEADY_S);
  const afterSteady = usage(pid);
  await Promise.allSettled(clients.map((c) => c.endAsync(true)));
  const line = {
    scenario: 'connected-devices',
    target,
    devices: clients.length,
    connect_storm_s: +seconds.toFixed(2),
    connect_cpu_ms_per_device: +(((afterConnect.cpuS - idle.cpuS) * 1000) / clients.length).toFixed(3),
    rss_idle_mib: +idle.rssMiB.toFixed(1),
    rss_connected_mib: +settled.rssMiB.toFixed(1),
    rss_per_device_kib: +(((settled.rssMiB - idle.rssMiB) * 1024) / clients.length).toFixed(2),
    steady_msgps: +(sent / STEADY_S).toFixed(1),
    steady_cpu_pct: +(((afterSteady.cpuS - settled.cpuS) / STEADY_S) * 100).toFixed(1),
  };
  return line;
}

async function main(): Promise<void> {
  const root = new URL('..', import.meta.url).pathname;
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-bench-conn-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));

  // --- Mosquitto reference (anonymous, same connection count and traffic)
  const mport = await freePort();
  await writeFile(join(dir, 'mosquitto.conf'), `listener ${mport} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\n`);
  const mosq = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  children.push(mosq);
  await new Promise((r) => setTimeout(r, 500));
  const mosqIds = Array.from({ length: DEVICES }, (_, i) => ({ id: `ref-${String(i).padStart(5, '0')}` }));
  const ref = await measure('mosquitto', mosq.pid!, `mqtt://127.0.0.1:${mport}`, mosqIds);
  mosq.kill('SIGTERM');

  // --- fleetdoc all-in-one
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const adminKey = 'fd_bench_' + Math.random().toString(36).slice(2).padEnd(20, 'x');
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
    cwd: root,
    env: { ...process.env, DATA_DIR: join(dir, 'data'), MQTT_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', MQTT_PORT: String(mqttPort), HTTP_PORT: String(httpPort), MQTT_WS_PORT: 'off', FLEETDOC_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const api = `http://127.0.0.1:${httpPort}`;
  await waitFor(() => fetch(`${api}/health`).then((r) => r.ok), 120_000, 'fleetdoc /health');
  const creds: Array<{ id: string; password: string }> = [];
  for (let i = 0; i < DEVICES; i += 5000) {
    const devices = Array.from({ length: Math.min(5000, DEVICES - i) }, (_, k) => ({ type: 'air-compressor', id: `bench-${String(i + k).padStart(5, '0')}` }));
    const res = await fetch(`${api}/api/v1/devices/bulk`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ devices }) });
    if (res.status !== 201) throw new Error(`bulk register: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { devices: Array<{ device: { id: string }; secret: string }> };
    creds.push(...body.devices.map((d) => ({ id: d.device.id, password: d.secret })));
  }
  log(`registered ${creds.length} devices`);
  const ours = await measure('fleetdoc', child.pid!, `mqtt://127.0.0.1:${mqttPort}`, creds);
  const ratio = (a: number, b: number) => (b > 0 ? +(a / b).toFixed(2) : null);
  console.log(JSON.stringify(ref));
  console.log(
    JSON.stringify({
      ...ours,
      ratio_rss_per_device: ratio(ours.rss_per_device_kib, ref.rss_per_device_kib),
      ratio_connect_cpu: ratio(ours.connect_cpu_ms_per_device, ref.connect_cpu_ms_per_device),
      ratio_steady_cpu: ratio(ours.steady_cpu_pct, ref.steady_cpu_pct),
    }),
  );
  await shutdown(0);
}

main().catch(async (err: unknown) => {
  log('failed:', err);
  await shutdown(1);
});
