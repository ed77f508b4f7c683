/**
 * A throwaway InfluxDB 2.x for the bench: scripts/influxd.sh start on a free
 * loopback port with temp dirs, onboarded through POST /api/v2/setup.
 * Never builds the binary (that takes minutes): when it is missing the
 * caller skips the influx target.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, log, makeTempDir, pipeLines, removeTempDir, terminate, track, waitFor } from './proc.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/influxd.sh', import.meta.url));

export interface Influxd {
  url: string;
  token: string;
  org: string;
  bucket: string;
  pid: number;
  stop(): Promise<void>;
}

/** The influxd binary path, or null when it is not installed/built. */
export function influxdPath(): string | null {
  try {
    return execFileSync('bash', [SCRIPT, 'path'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

export async function startInfluxd(): Promise<Influxd> {
  const dir = makeTempDir('fleetdoc-bench-influx-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const token = `bench-${randomBytes(24).toString('base64url')}`;
  const org = 'fleetdoc';
  const bucket = 'telemetry';
  // `start` execs influxd, so this pid is influxd's own (for /proc CPU)
  const child: ChildProcess = track(spawn('bash', [SCRIPT, 'start', dir, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }), 'influxd');
  const output: string[] = [];
  pipeLines(child.stdout, '[influxd]', output);
  pipeLines(child.stderr, '[influxd]', output);
  const stop = async () => {
    await terminate(child, 10_000);
    removeTempDir(dir);
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`influxd exited with ${child.exitCode}: ${output.slice(-5).join(' | ')}`);
        const r = await fetch(`${url}/health`);
        return r.ok;
      },
      'influxd /health',
      60_000,
      200,
    );
    const res = await fetch(`${url}/api/v2/setup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bench', password: randomBytes(16).toString('hex'), org, bucket, token, retentionPeriodSeconds: 0 }),
    });
    if (res.status !== 201) throw new Error(`influxd onboarding failed: ${res.status} ${await res.text()}`);
    log(`influxd ready on ${url} (pid ${child.pid})`);
    return { url, token, org, bucket, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
