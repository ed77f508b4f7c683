/**
 * The fleetdoc side of `npm run bench:ingest`: bench/fleetdoc-server.ts forked
 * with a clean fleetdoc config for one (target, rate) run, and its readiness,
 * RPC and shutdown.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HistogramSnapshot } from './histogram.ts';
import type { Influxd } from './influxd.ts';
import type { Options, Target } from './ingest-options.ts';
import { createRpc, type Rpc } from './ipc.ts';
import { makeTempDir, pipeLines, removeTempDir, terminate, track } from './proc.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = fileURLToPath(new URL('../fleetdoc-server.ts', import.meta.url));

export function forkTs(script: string, name: string, env: NodeJS.ProcessEnv, extraExecArgv: string[] = []): ChildProcess {
  const child = fork(script, [], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', ...extraExecArgv],
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  track(child, name);
  pipeLines(child.stdout, `[${name}]`);
  pipeLines(child.stderr, `[${name}]`);
  return child;
}

/** fleetdoc config keys the bench sets itself; none leaks in from the caller's shell. */
const CONFIG_KEY = /^(LOG_LEVEL|DATA_DIR|MQTT_|TLS_|HTTP_|FLEETDOC_ADMIN_KEY|INFLUX_|DATABASE_URL|INGEST_|DEAD_LETTER_|SPOOL_)/;

export interface FleetdocServer {
  child: ChildProcess;
  rpc: Rpc;
  mqttUrl: string;
  store: string;
  devices: Array<{ id: string; secret: string }>;
  stop(): Promise<void>;
}

export interface ServerStats {
  storedTotal: number;
  acceptedTotal: number;
  batches: number;
  storedInWallWindow: number;
  storedInWindow: number;
  hist: HistogramSnapshot;
  rssMb: number;
  loopDelayMs: { p50: number; p99: number; max: number } | null;
}

export async function startFleetdoc(o: Options, target: Target, rate: number, influx: Influxd | null, label: string): Promise<FleetdocServer> {
  const dataDir = makeTempDir('fleetdoc-bench-data-');
  const perDevice = Math.ceil(rate / o.devices);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !CONFIG_KEY.test(k)));
  Object.assign(env, {
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_WS_PORT: 'off',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    // the per-connection token bucket must not cut off a device at its bench rate (plus catch-up bursts)
    MQTT_MAX_MSGS_PER_S: String(Math.max(2000, perDevice * 20)),
    MQTT_BURST: String(Math.max(10_000, perDevice * 20)),
    FLEETDOC_ADMIN_KEY: `fd_bench_${randomBytes(24).toString('base64url')}`,
    BENCH_DEVICES: String(o.devices),
    ...(o.profileDir ? { BENCH_PROFILE_FILE: resolve(o.profileDir, `fleetdoc-${label}.cpuprofile`) } : {}),
    ...(target === 'influx' && influx ? { INFLUX_URL: influx.url, INFLUX_TOKEN: influx.token, INFLUX_ORG: influx.org, INFLUX_BUCKET: influx.bucket } : {}),
    ...o.set,
  });
  const child = forkTs(SERVER, `fleetdoc ${label}`, env);
  const rpc = createRpc(child, 'fleetdoc-server');
  const stop = async () => {
    if (child.connected) await rpc('shutdown', {}, 2000).catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => void terminate(child, 3000).then(resolve), 20_000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    removeTempDir(dataDir);
  };
  try {
    const ready = await new Promise<{ mqttPort: number; store: string; devices: Array<{ id: string; secret: string }> }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('fleetdoc-server did not become ready within 90 s')), 90_000);
      child.on('message', (m: { event?: string }) => {
        if (m.event === 'ready') {
          clearTimeout(t);
          resolve(m as never);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`fleetdoc-server exited during start (code ${code})`));
      });
    });
    if (ready.store !== target) throw new Error(`fleetdoc-server runs the ${ready.store} store, expected ${target}`);
    return { child, rpc, mqttUrl: `mqtt://127.0.0.1:${ready.mqttPort}`, store: ready.store, devices: ready.devices, stop };
  } catch (err) {
    await terminate(child, 3000);
    removeTempDir(dataDir);
    throw err;
  }
}
