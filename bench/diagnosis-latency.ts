/**
 * Publish → diagnosis latency through the whole platform (`npm run
 * bench:diagnosis` runs it after the model-layer scenarios): its own stack
 * (broker, ingest with the durable spool, embedded stores, diagnosis with the
 * shipped rules and anomaly models, as `npm start` runs), `--devices`
 * compressors each publishing `--rate` QoS 1 samples a second (one in flight)
 * from the simulator's compressor model, in event time one minute apart.
 * During the measured window every device reports a discharge-temperature
 * trip now and then; its trip rule fires when the first 5-minute window the
 * event makes abnormal closes (the event's own window, or the next one when
 * too few samples of its own are left after it), i.e. on the first sample of
 * the window after that. Latency = the
 * diagnosis on the internal bus (persisted first) − the publish of that
 * closing sample. The reference, measured in the same run: bare Mosquitto's
 * publish → subscriber delivery at the same devices and rate (millisecond
 * clock: under 1 ms reads 0, and ratios are against at least 1 ms).
 *
 * stdout: one JSON line. The load generator shares the platform's process
 * (and its two cores here), as in the scorecard.
 *
 *   npm run bench:diagnosis -- --latency-only [--latency-devices 200] [--latency-rate 5] [--latency-seconds 60]
 */
import { rm } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../core/topics.ts';
import { ownStack } from '../scorecard/run.ts';
import { createFleet } from '../simulator/fleet.ts';
import { createPlatformClient } from '../simulator/platform.ts';
import { Histogram } from './lib/histogram.ts';
import { startMosquitto } from './lib/mosquitto.ts';
import { sleep } from './lib/proc.ts';

const MIN = 60_000;
const WINDOW_MS = 5 * MIN; // the compressor rule set's window
/** Samples (minutes of event time) between a device's trips: more than the trip diagnosis takes to clear (1 h held + 24 windows). */
const TRIP_EVERY = 200;
/** The reference's clock is Date.now(): a delivery under 1 ms reads 0, so ratios are taken against at least 1 ms (a lower bound). */
const REF_FLOOR_MS = 1;

export interface LatencyOptions {
  devices: number;
  rate: number;
  seconds: number;
  warmupSeconds: number;
}

/**
 * Runs `fn(device index)` once per device every 1000/rate ms, one call in
 * flight per device, until stopped. A device that falls behind skips the
 * missed slots instead of bursting to catch up; latency is timed from the
 * actual publish, so a stall in the generator itself is not counted.
 */
function pace(devices: number, rate: number, fn: (i: number) => Promise<void>): { stop(): Promise<void>; sent(): number } {
  let running = true;
  let sent = 0;
  let failure: unknown;
  const period = 1000 / rate;
  const loops = Array.from({ length: devices }, async (_, i) => {
    let next = Date.now() + (i * period) / devices; // spread the devices over one period
    while (running) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + period, Date.now());
      try {
        await fn(i);
      } catch (err) {
        failure ??= err;
        running = false;
      }
      sent++;
    }
  });
  return {
    async stop() {
      running = false;
      // a publish whose connection dropped never settles (no reconnects here): give up on it after 10 s
      const settled = await Promise.race([Promise.all(loops).then(() => true), sleep(10_000).then(() => false)]);
      if (failure) throw failure;
      if (!settled) throw new Error('publishes still unacknowledged 10 s after the load stopped');
    },
    sent: () => sent,
  };
}

function connect(url: string, id: string, secret?: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: id, username: secret ? id : undefined, password: secret, clean: true, reconnectPeriod: 0, connectTimeout: 30_000 });
}

function percentiles(h: Histogram): { p50: number | null; p99: number | null; max: number | null } {
  const r = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return { p50: r(h.percentile(0.5)), p99: r(h.percentile(0.99)), max: h.count ? r(h.max) : null };
}

async function measureFleetdoc(o: LatencyOptions) {
  const own = await ownStack('warn');
  const { stack, target } = own;
  const clients: MqttClient[] = [];
  try {
    const steps = Math.ceil((o.warmupSeconds + o.seconds + 10) * o.rate * 1.2) + 10;
    // event time: one minute a sample, ending before now (a replay, judged on event time)
    const startTs = Math.floor((Date.now() - steps * MIN - 3_600_000) / WINDOW_MS) * WINDOW_MS;
    const fleet = createFleet({ seed: 'latency', devices: o.devices, types: ['air-compressor'], faultRate: 0, startTs, durationMs: steps * MIN, intervalMs: { 'air-compressor': MIN } });
    const secrets = await createPlatformClient({ apiUrl: target.apiUrl, apiKey: target.apiKey }).ensureDevices(fleet.devices.map((d) => ({ id: d.id, type: d.type, model: d.modelName })));
    for (const d of fleet.devices) clients.push(await connect(target.mqttUrl, d.id, secrets.get(d.id)));

    // publish wall time of each device's samples after a trip, by event time
    const closing = fleet.devices.map(() => new Map<number, number>());
    const indexOf = new Map(fleet.devices.map((d, i) => [d.id, i]));
    const lat = new Histogram();
    const puback = new Histogram();
    let measuring = false;
    let trips = 0;
    const off = stack.diagnosis.bus.on('raised', (d) => {
      if (d.fault !== 'ac-overheat-trip') return;
      const at = Date.now();
      const i = indexOf.get(d.deviceId);
      if (i === undefined) return;
      const raisedAt = Date.parse(d.raisedAt);
      // the first sample at or after the window's end closed it
      let best = Infinity;
      for (const ts of closing[i]!.keys()) if (ts >= raisedAt && ts < best) best = ts;
      const wall = closing[i]!.get(best);
      if (wall !== undefined) lat.record(at - wall);
      closing[i]!.clear();
    });
    const tripDue = fleet.devices.map((_, i) => Math.floor((i / o.devices) * TRIP_EVERY));
    const gen = pace(o.devices, o.rate, async (i) => {
      const d = fleet.devices[i]!;
      const c = clients[i]!;
      d.step();
      d.events.length = 0;
      const ts = d.lastTs;
      if (measuring && d.seq >= tripDue[i]!) {
        tripDue[i] = d.seq + TRIP_EVERY;
        trips++;
        await c.publishAsync(topics.events(d.id), JSON.stringify({ ts: ts + 1000, kind: 'error', code: 'E-HIGH-DISCHARGE-TEMP', message: 'discharge temperature trip' }), { qos: 1 });
        for (const k of closing[i]!.keys()) if (k < ts) closing[i]!.delete(k);
      }
      const t0 = Date.now();
      if (measuring && closing[i]!.size < 20 && tripDue[i]! - d.seq > TRIP_EVERY - 20) closing[i]!.set(ts, t0);
      await c.publishAsync(topics.telemetry(d.id), d.sampleJson(), { qos: 1 });
      if (measuring) puback.record(Date.now() - t0);
    });
    await sleep(o.warmupSeconds * 1000);
    measuring = true;
    const sent0 = gen.sent();
    const w0 = Date.now();
    await sleep(o.seconds * 1000);
    measuring = false;
    const sent = gen.sent() - sent0;
    const wallS = (Date.now() - w0) / 1000;
    // let the last closing windows through
    await sleep(5000);
    await gen.stop();
    off();
    return { sentPerS: Math.round(sent / wallS), trips, diagnoses: lat.count, latency: percentiles(lat), puback: percentiles(puback) };
  } finally {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    await stack.stop();
    await rm(own.dataDir, { recursive: true, force: true });
  }
}

async function measureMosquitto(o: LatencyOptions) {
  const ref = await startMosquitto();
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < o.devices; i++) clients.push(await connect(ref.url, `ref-${i}`));
    const body = JSON.stringify({ seq: 0, metrics: { dischargePressureBar: 7.2, dischargeTempC: 84.1, oilTempC: 71.3, ambientTempC: 22.4, motorCurrentA: 96.2, vibrationRmsMmS: 2.1, airFilterDpMbar: 18.3, separatorDpBar: 0.21, loaded: true, loadCycles: 120344, runHours: 18231.25 } }).slice(1);
    const gen = pace(o.devices, o.rate, async (i) => {
      await clients[i]!.publishAsync(topics.telemetry(`ref-${i}`), `{"ts":${Date.now()},${body}`, { qos: 1 });
    });
    await sleep(o.warmupSeconds * 1000);
    const w0 = Date.now();
    ref.setWindow(w0, w0 + o.seconds * 1000);
    await sleep(o.seconds * 1000 + 1000);
    await gen.stop();
    const { inWindow, hist } = ref.windowStats();
    return { sentPerS: Math.round(inWindow / o.seconds), latency: percentiles(hist) };
  } finally {
    await Promise.allSettled(clients.map((c) => c.endAsync(true)));
    await ref.stop();
  }
}

export async function benchLatency(o: LatencyOptions): Promise<Record<string, unknown>> {
  const f = await measureFleetdoc(o);
  const m = await measureMosquitto(o);
  const ratio = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((a / Math.max(b, REF_FLOOR_MS)) * 10) / 10);
  return {
    scenario: 'publish-to-diagnosis',
    type: 'air-compressor',
    devices: o.devices,
    load_msgps_target: o.devices * o.rate,
    fleetdoc_msgps: f.sentPerS,
    trips_reported: f.trips,
    diagnoses_timed: f.diagnoses,
    fleetdoc_p50_ms: f.latency.p50,
    fleetdoc_p99_ms: f.latency.p99,
    fleetdoc_max_ms: f.latency.max,
    fleetdoc_puback_p50_ms: f.puback.p50,
    fleetdoc_puback_p99_ms: f.puback.p99,
    mosquitto_msgps: m.sentPerS,
    mosquitto_deliver_p50_ms: m.latency.p50,
    mosquitto_deliver_p99_ms: m.latency.p99,
    reference_floor_ms: REF_FLOOR_MS,
    ratio_p50: ratio(f.latency.p50, m.latency.p50),
    ratio_p99: ratio(f.latency.p99, m.latency.p99),
  };
}
