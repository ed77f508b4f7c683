/**
 * Load generator worker for `npm run bench:ingest` (forked by bench/ingest.ts).
 * Holds one MQTT connection per device and publishes QoS 1 air-compressor
 * samples OPEN-LOOP: every ~10 ms it sends however many messages are due by
 * the clock (rate × elapsed), whatever the acks do. `ts` = send time (ms).
 *
 * Client: `raw` (lib/raw-mqtt.ts, a lean QoS 1 publisher: several times less
 * CPU per message than mqtt.js, which matters on 2 cores) or `mqttjs`.
 *
 * IPC requests (lib/ipc.ts): connect {url, devices, client}, run {rate,
 * startAt, windowStart, windowEnd, maxMessages}, finish {waitMs}, close.
 */
import mqtt from 'mqtt';
import { Histogram } from './lib/histogram.ts';
import { serveRpc } from './lib/ipc.ts';
import { RawMqttClient } from './lib/raw-mqtt.ts';

/** What the generator needs of a connection. */
interface Publisher {
  publish(topic: string, payload: string, cb: (err?: Error | null) => void): void;
  end(): Promise<void>;
}

export type ClientKind = 'raw' | 'mqttjs';

async function connectOne(kind: ClientKind, url: string, d: { id: string; secret?: string }, onClose: () => void): Promise<Publisher> {
  if (kind === 'raw') {
    const u = new URL(url);
    const c = await RawMqttClient.connect({
      host: u.hostname,
      port: Number(u.port),
      clientId: d.id,
      ...(d.secret ? { username: d.id, password: d.secret } : {}),
    });
    return {
      publish: (topic, payload, cb) => {
        if (c.closed) onClose();
        c.publish(topic, payload, cb);
      },
      end: () => c.end(),
    };
  }
  const client = await mqtt.connectAsync(url, {
    clientId: d.id,
    ...(d.secret ? { username: d.id, password: d.secret } : {}),
    clean: true,
    protocolVersion: 4,
    keepalive: 60,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  client.on('close', onClose);
  client.on('error', () => undefined);
  return {
    publish: (topic, payload, cb) => void client.publish(topic, payload, { qos: 1 }, (err) => cb(err ?? null)),
    end: () => client.endAsync(true),
  };
}

interface DeviceConn {
  id: string;
  topic: string;
  client: Publisher;
  seq: number;
  lastTs: number;
  loadCycles: number;
}

const TICK_MS = 10;
let conns: DeviceConn[] = [];
let disconnects = 0;
let sent = 0;
let sentInWindow = 0;
let acked = 0;
let ackedInWindow = 0;
let ackErrors = 0;
let maxBacklog = 0;
let maxTickGapMs = 0;
const puback = new Histogram();

/** ~220 bytes, every value inside core/device-types/air-compressor.json ranges; ts first (the mosquitto subscriber reads it from the prefix). */
function samplePayload(d: DeviceConn, ts: number): string {
  const s = d.seq;
  const w = Math.sin(s / 50);
  const loaded = s % 40 < 30;
  if (s % 40 === 0) d.loadCycles++;
  return (
    `{"ts":${ts},"seq":${s},"metrics":{` +
    `"dischargePressureBar":${(7 + 0.4 * w).toFixed(2)},` +
    `"dischargeTempC":${(82 + 3 * w).toFixed(1)},` +
    `"oilTempC":${(76 + 2 * w).toFixed(1)},` +
    `"ambientTempC":${(24 + w).toFixed(1)},` +
    `"motorCurrentA":${(loaded ? 112 + 4 * w : 38 + w).toFixed(1)},` +
    `"vibrationRmsMmS":${(2.2 + 0.3 * w).toFixed(2)},` +
    `"separatorDpBar":${(0.42 + 0.02 * w).toFixed(3)},` +
    `"loaded":${loaded},"loadCycles":${d.loadCycles}}}`
  );
}

async function connectAll(kind: ClientKind, url: string, devices: Array<{ id: string; secret?: string }>): Promise<void> {
  const out: DeviceConn[] = new Array(devices.length);
  let next = 0;
  const closed = new Set<string>();
  const worker = async () => {
    while (next < devices.length) {
      const i = next++;
      const d = devices[i]!;
      const onClose = () => {
        if (!closed.has(d.id)) {
          closed.add(d.id);
          disconnects++;
        }
      };
      const client = await connectOne(kind, url, d, onClose);
      out[i] = { id: d.id, topic: `devices/${d.id}/telemetry`, client, seq: 0, lastTs: 0, loadCycles: 0 };
    }
  };
  await Promise.all(Array.from({ length: Math.min(20, devices.length) }, worker));
  conns = out;
}

function run(rate: number, startAt: number, windowStart: number, windowEnd: number, maxMessages: number): Promise<unknown> {
  sent = sentInWindow = acked = ackedInWindow = ackErrors = maxBacklog = maxTickGapMs = 0;
  puback.reset();
  const n = conns.length;
  return new Promise((resolve) => {
    let lastTick = 0;
    const tick = () => {
      const now = Date.now();
      if (lastTick) maxTickGapMs = Math.max(maxTickGapMs, now - lastTick);
      lastTick = now;
      const until = Math.min(now, windowEnd);
      const due = Math.min(maxMessages, Math.floor(((until - startAt) * rate) / 1000)) - sent;
      if (due > maxBacklog) maxBacklog = due;
      for (let k = 0; k < due; k++) {
        const d = conns[sent % n]!;
        sent++;
        d.seq++;
        // unique per device so (device, ts) never collides in the store
        const ts = Math.max(Date.now(), d.lastTs + 1);
        d.lastTs = ts;
        const inWindow = ts >= windowStart && ts < windowEnd;
        if (inWindow) sentInWindow++;
        const t0 = performance.now();
        d.client.publish(d.topic, samplePayload(d, ts), (err) => {
          if (err) {
            ackErrors++;
            return;
          }
          acked++;
          const now = Date.now();
          if (now >= windowStart && now < windowEnd) ackedInWindow++;
          if (inWindow) puback.record(performance.now() - t0);
        });
      }
      if (now >= windowEnd || sent >= maxMessages) {
        clearInterval(timer);
        resolve({ sent, sentInWindow, maxBacklog, maxTickGapMs, disconnects });
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const begin = () => {
      timer = setInterval(tick, TICK_MS);
      tick();
    };
    setTimeout(begin, Math.max(0, startAt - Date.now()));
  });
}

async function finish(waitMs: number): Promise<unknown> {
  const deadline = Date.now() + waitMs;
  while (acked + ackErrors < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return { sent, sentInWindow, acked, ackedInWindow, ackErrors, disconnects, maxBacklog, maxTickGapMs, puback: puback.snapshot() };
}

async function closeAll(): Promise<void> {
  await Promise.allSettled(conns.map((c) => c.client.end()));
  conns = [];
}

serveRpc({
  connect: (req) => connectAll(req.client === 'mqttjs' ? 'mqttjs' : 'raw', String(req.url), req.devices as Array<{ id: string; secret?: string }>),
  run: (req) => run(Number(req.rate), Number(req.startAt), Number(req.windowStart), Number(req.windowEnd), Number(req.maxMessages)),
  finish: (req) => finish(Number(req.waitMs)),
  close: () => closeAll(),
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
