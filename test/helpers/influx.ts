/**
 * A real InfluxDB 2.x for a test file: an external one when INFLUX_URL is set
 * (a fresh bucket per call), otherwise our own influxd on a free port in a
 * temp dir, onboarded and torn down by stop().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { freePort } from './ports.ts';

export interface TestInflux {
  url: string;
  token: string;
  org: string;
  bucket: string;
  /** Stops the server (if ours) and removes its data, or drops the bucket on an external server. */
  stop(): Promise<void>;
  /** Takes our influxd down, keeping port and data; unsupported with INFLUX_URL. */
  stopServer(): Promise<void>;
  /** Brings it back on the same port and data dir; resolves once /health passes. */
  startServer(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const STDERR_KEEP = 16 * 1024;

export async function startInflux(): Promise<TestInflux> {
  const external = process.env.INFLUX_URL;
  if (external) return externalInflux(external.replace(/\/+$/, ''), process.env.INFLUX_TOKEN ?? '', process.env.INFLUX_ORG ?? 'fleetdoc');
  const bin = inject('influxdBin');
  if (!bin) throw new Error('no influxd binary: set INFLUX_URL or let test/global-setup.ts build one');
  return ownInflux(bin);
}

async function ownInflux(bin: string): Promise<TestInflux> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-influx-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const org = 'fleetdoc';
  const bucket = 'telemetry';
  const token = randomBytes(24).toString('hex');
  let child: ChildProcess | null = null;
  // A crashed test runner must not leave influxd behind.
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function startServer(): Promise<void> {
    if (child) return;
    const proc = spawn(
      bin,
      [
        '--bolt-path', join(dir, 'influxd.bolt'),
        '--engine-path', join(dir, 'engine'),
        '--sqlite-path', join(dir, 'influxd.sqlite'),
        '--http-bind-address', `127.0.0.1:${port}`,
        '--reporting-disabled',
        '--log-level', 'error',
      ],
      // cwd: influxd reads a config.* file from its working directory
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, INFLUXD_CONFIG_PATH: dir } },
    );
    child = proc;
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_KEEP);
    });
    let exited: string | null = null;
    proc.once('error', (err) => (exited = `cannot run ${bin}: ${err.message}`));
    proc.once('exit', (code, signal) => {
      exited ??= `influxd exited early (code ${code}, signal ${signal}):\n${stderr}`;
      if (child === proc) child = null;
    });
    try {
      // Not waitFor(): an early exit must fail at once with influxd's own words.
      const deadline = Date.now() + STARTUP_TIMEOUT_MS;
      for (;;) {
        if (exited) throw new Error(exited);
        if (await healthy(url)) break;
        if (Date.now() > deadline) throw new Error(`influxd on ${url} not healthy after ${STARTUP_TIMEOUT_MS} ms:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await stopServer();
      throw err;
    }
  }

  async function stopServer(): Promise<void> {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) {
      child = null;
      return;
    }
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
    child = null;
  }

  try {
    await startServer();
    const res = await fetch(`${url}/api/v2/setup`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'fleetdoc', password: 'fleetdoc-test-password', org, bucket, token, retentionPeriodSeconds: 0 }),
    });
    if (res.status !== 201) throw new Error(`influxd onboarding failed (${res.status}): ${await res.text()}`);
  } catch (err) {
    await stopServer();
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url,
    token,
    org,
    bucket,
    startServer,
    stopServer,
    async stop() {
      await stopServer();
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function externalInflux(url: string, token: string, org: string): Promise<TestInflux> {
  const headers = { Authorization: `Token ${token}`, 'Content-Type': 'application/json' };
  const orgs = await fetch(`${url}/api/v2/orgs?${new URLSearchParams({ org })}`, { headers });
  const orgID = ((await orgs.json()) as { orgs?: Array<{ id: string }> }).orgs?.[0]?.id;
  if (!orgID) throw new Error(`INFLUX_ORG ${org} not found on ${url} (${orgs.status})`);
  const bucket = `fleetdoc_test_${randomBytes(6).toString('hex')}`;
  const created = await fetch(`${url}/api/v2/buckets`, { method: 'POST', headers, body: JSON.stringify({ orgID, name: bucket, retentionRules: [] }) });
  if (created.status !== 201) throw new Error(`cannot create bucket on ${url} (${created.status}): ${await created.text()}`);
  const { id } = (await created.json()) as { id: string };
  const unsupported = async () => {
    throw new Error('stopServer/startServer need our own influxd; unset INFLUX_URL');
  };
  return {
    url,
    token,
    org,
    bucket,
    stopServer: unsupported,
    startServer: unsupported,
    async stop() {
      await fetch(`${url}/api/v2/buckets/${id}`, { method: 'DELETE', headers });
    },
  };
}
