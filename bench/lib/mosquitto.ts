/**
 * The reference: Debian's mosquitto on a free loopback port (anonymous, no
 * persistence, deep queues) and one QoS 1 subscriber on devices/+/telemetry
 * that records publish → received latency from the sample's own ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Histogram } from './histogram.ts';
import { freePort, log, makeTempDir, pipeLines, removeTempDir, terminate, track, waitFor } from './proc.ts';
import { RawMqttClient } from './raw-mqtt.ts';

export const MOSQUITTO_BIN = '/usr/sbin/mosquitto';

export interface MosquittoRef {
  url: string;
  pid: number;
  /** Messages the subscriber received in total / inside the wall-clock window. */
  received(): number;
  /** Sets the window: latency counts samples whose ts is in [from, to); wall counts arrivals in it. */
  setWindow(from: number, to: number): void;
  windowStats(): { inWindow: number; arrivedInWindow: number; hist: Histogram };
  stop(): Promise<void>;
}

/** ts is the first field the generator writes: `{"ts":1764130000000,` */
const TS_PREFIX = Buffer.from('{"ts":');

function tsOf(payload: Buffer): number {
  if (payload.length > 20 && payload.compare(TS_PREFIX, 0, TS_PREFIX.length, 0, TS_PREFIX.length) === 0) {
    return Number(payload.toString('latin1', 6, 19));
  }
  const v = JSON.parse(payload.toString('utf8')) as { ts?: unknown };
  return typeof v.ts === 'number' ? v.ts : NaN;
}

export async function startMosquitto(): Promise<MosquittoRef> {
  if (!existsSync(MOSQUITTO_BIN)) throw new Error(`${MOSQUITTO_BIN} not found (apt-get install mosquitto)`);
  const dir = makeTempDir('fleetdoc-bench-mosquitto-');
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 1000000',
      'max_queued_bytes 0',
      // default 20 in-flight QoS 1 messages per subscriber would throttle the reference
      'max_inflight_messages 1000',
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = track(spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }), 'mosquitto');
  pipeLines(child.stdout, '[mosquitto]');
  pipeLines(child.stderr, '[mosquitto]');
  const url = `mqtt://127.0.0.1:${port}`;
  let sub: RawMqttClient | undefined;
  let received = 0;
  let from = Infinity;
  let to = -Infinity;
  let inWindow = 0;
  let arrivedInWindow = 0;
  const hist = new Histogram();
  const onMessage = (_topic: string, payload: Buffer) => {
    const now = Date.now();
    received++;
    if (now >= from && now < to) arrivedInWindow++;
    const ts = tsOf(payload);
    if (ts >= from && ts < to) {
      inWindow++;
      hist.record(now - ts);
    }
  };
  const stop = async () => {
    if (sub) await sub.end().catch(() => undefined);
    await terminate(child);
    removeTempDir(dir);
  };
  try {
    // the same lean client as the generator, so the subscriber steals little CPU
    sub = await waitFor(() => RawMqttClient.connect({ host: '127.0.0.1', port, clientId: 'bench-sub', connectTimeoutMs: 2000 }), 'mosquitto to accept connections', 10_000, 100);
    await sub.subscribe('devices/+/telemetry', onMessage);
  } catch (err) {
    await stop();
    throw err;
  }
  log(`mosquitto ready on ${url} (pid ${child.pid})`);
  return {
    url,
    pid: child.pid!,
    received: () => received,
    setWindow(f, t) {
      from = f;
      to = t;
      inWindow = 0;
      arrivedInWindow = 0;
      hist.reset();
    },
    windowStats: () => ({ inWindow, arrivedInWindow, hist }),
    stop,
  };
}
