/**
 * Drives a fleet against a running platform: registers the devices,
 * connects each as its own MQTT client, publishes samples in event time
 * (compressed by `speed`, or as fast as the broker acknowledges with
 * `max`), obeys commands and keeps ground-truth.jsonl current.
 *
 * Back-pressure: one telemetry publish in flight per device (QoS 1); what
 * accumulates meanwhile — or during an offline spell — goes out as one
 * `{"samples":[…]}` batch (≤ maxBatchSamples and ≤ maxBatchBytes).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandMessage } from '../core/domain/command.ts';
import { topics } from '../core/topics.ts';
import type { SimDevice } from './device.ts';
import { createFleet, type Fleet, type FleetOptions, type GroundTruthRow, groundTruthRow } from './fleet.ts';
import { groundTruthWriter, writeGroundTruth } from './ground-truth.ts';
import { DeviceLink } from './link.ts';
import { createPlatformClient } from './platform.ts';
import { createProgress } from './progress.ts';

export interface SimulateOptions {
  fleet: FleetOptions;
  apiUrl: string;
  mqttUrl: string;
  apiKey: string;
  /** Simulated seconds per wall-clock second, or 'max'. */
  speed: number | 'max';
  outDir: string;
  /** Stay connected (obeying commands) this long after the last sample; Infinity = until stop(). */
  lingerMs?: number;
  progress?: boolean;
  maxBatchSamples?: number;
  maxBatchBytes?: number;
  connectConcurrency?: number;
  log?: (msg: string) => void;
}

export interface Summary {
  devices: number;
  faultyDevices: number;
  faultsInjected: number;
  samplesSent: number;
  batchesSent: number;
  eventsSent: number;
  samplesDropped: number;
  commandsReceived: number;
  commandsObeyed: number;
  commandsFailed: number;
  commandsIgnored: number;
  faultsFixed: number;
  publishErrors: number;
  simulatedFrom: string;
  simulatedTo: string;
  wallSeconds: number;
  outDir: string;
}

interface DevState {
  d: SimDevice;
  link: DeviceLink;
  pending: string[];
  events: string[];
  sending: boolean;
}

/** Samples a device keeps while offline (its flash), oldest dropped first. */
const MAX_STORED = 50_000;

export interface SimulationHandle {
  fleet: Fleet;
  /** Resolves when every sample has been acknowledged by the broker. */
  samplesDone: Promise<void>;
  /** Resolves with the summary once the run (and its linger) is over. */
  done: Promise<Summary>;
  stop(): Promise<Summary>;
  /** "The owner cleaned the filter" / "the technician replaced the part". */
  applyRemedy(deviceId: string, faultCode: string, by: 'owner' | 'technician'): Promise<GroundTruthRow | null>;
  stats(): Summary;
}

export async function startSimulation(o: SimulateOptions): Promise<SimulationHandle> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const maxBatch = o.maxBatchSamples ?? 500;
  const maxBytes = o.maxBatchBytes ?? 200_000;
  const fleet = createFleet(o.fleet);
  await mkdir(o.outDir, { recursive: true });
  await writeGroundTruth(o.outDir, fleet);
  const gt = groundTruthWriter(o.outDir, fleet);
  const progress = createProgress(process.stderr, o.progress ?? true);
  const wallStart = Date.now();
  const s: Summary = {
    devices: fleet.devices.length,
    faultyDevices: fleet.devices.length - fleet.healthy().length,
    faultsInjected: fleet.groundTruth().length,
    samplesSent: 0,
    batchesSent: 0,
    eventsSent: 0,
    samplesDropped: 0,
    commandsReceived: 0,
    commandsObeyed: 0,
    commandsFailed: 0,
    commandsIgnored: 0,
    faultsFixed: 0,
    publishErrors: 0,
    simulatedFrom: new Date(fleet.startTs).toISOString(),
    simulatedTo: new Date(fleet.endTs).toISOString(),
    wallSeconds: 0,
    outDir: o.outDir,
  };

  const platform = createPlatformClient({
    apiUrl: o.apiUrl,
    apiKey: o.apiKey,
    onProgress: (done, total, what) => progress.update({ fraction: done / total, text: `${what} ${done}/${total}` }),
  });
  const secrets = await platform.ensureDevices(
    fleet.devices.map((d) => ({ id: d.id, type: d.type, model: d.modelName, site: d.site.id, owner: d.owner })),
  );
  progress.done();

  const states: DevState[] = fleet.devices.map((d) => {
    const secret = secrets.get(d.id);
    if (!secret) throw new Error(`no secret for ${d.id}`);
    const st: DevState = { d, link: null as unknown as DeviceLink, pending: [], events: [], sending: false };
    st.link = new DeviceLink({
      mqttUrl: o.mqttUrl,
      id: d.id,
      secret,
      onCommand: (payload) => void onCommand(st, payload),
      onError: () => s.publishErrors++,
    });
    return st;
  });

  async function onCommand(st: DevState, payload: Buffer): Promise<void> {
    s.commandsReceived++;
    let msg;
    try {
      msg = CommandMessage.safeParse(JSON.parse(payload.toString('utf8')));
    } catch {
      msg = undefined;
    }
    if (!msg?.success) return;
    const { commandId, name, expiresAt } = msg.data;
    const ack = (status: string, detail?: string) =>
      st.link.publish(topics.commandAck(st.d.id), JSON.stringify(detail === undefined ? { commandId, status } : { commandId, status, detail }));
    const outcome = st.d.command(name, expiresAt, Date.now());
    try {
      if (outcome.status === 'ignored') {
        s.commandsIgnored++;
      } else if (outcome.status === 'failed') {
        s.commandsFailed++;
        await ack('failed', outcome.detail);
      } else {
        await ack('accepted');
        await ack('done', outcome.detail);
        s.commandsObeyed++;
        if (outcome.fixed.length) {
          s.faultsFixed += outcome.fixed.length;
          await gt.schedule();
        }
      }
    } catch {
      s.publishErrors++;
    }
  }

  // connect every device that is online at the start
  let connected = 0;
  const queue = states.filter((st) => st.d.isOnlineAt(st.d.nextTs));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(queue.length, o.connectConcurrency ?? 100) }, async () => {
      while (next < queue.length) {
        await queue[next++]!.link.connect();
        connected++;
        if (connected % 100 === 0) progress.update({ fraction: connected / queue.length, text: `connecting ${connected}/${queue.length}` });
      }
    }),
  );
  progress.done();

  const clock0 = Date.now();
  const targetTs = (): number =>
    o.speed === 'max' ? fleet.endTs : Math.min(fleet.endTs, fleet.startTs + (Date.now() - clock0) * o.speed);

  function pump(st: DevState, target: number): void {
    if (st.sending) return;
    const d = st.d;
    let blocked = false;
    while (!d.finished && d.nextTs <= target) {
      if (d.isOnlineAt(d.nextTs) && st.pending.length >= maxBatch) {
        // back online (or connected all along) with a full batch: hand it over first
        blocked = true;
        break;
      }
      d.step();
      st.pending.push(d.sampleJson());
      if (st.pending.length > MAX_STORED) {
        st.pending.shift();
        s.samplesDropped++;
      }
      if (d.events.length) {
        for (const ev of d.events) st.events.push(JSON.stringify(ev));
        d.events.length = 0;
      }
    }
    // at the end of the run every device comes back to hand over what it stored
    if (!d.finished && !blocked && !d.isOnlineAt(d.lastTs)) {
      if (st.link.connected) void st.link.close();
      return;
    }
    if (!st.link.connected) {
      if (!st.link.busy) st.link.connect().then(() => kick(st), () => s.publishErrors++);
      return;
    }
    while (st.events.length) {
      const ev = st.events.shift()!;
      st.link.publish(topics.events(d.id), ev).then(() => s.eventsSent++, () => s.publishErrors++);
    }
    if (st.pending.length === 0) return;
    let n = 0;
    let bytes = 14;
    while (n < st.pending.length && n < maxBatch && (n === 0 || bytes + st.pending[n]!.length + 1 <= maxBytes)) bytes += st.pending[n++]!.length + 1;
    const payload = n === 1 ? st.pending[0]! : `{"samples":[${st.pending.slice(0, n).join(',')}]}`;
    st.sending = true;
    st.link.publish(topics.telemetry(d.id), payload).then(
      () => {
        st.pending.splice(0, n);
        s.samplesSent += n;
        s.batchesSent++;
        st.sending = false;
        kick(st);
      },
      () => {
        st.sending = false;
        s.publishErrors++;
      },
    );
  }

  function kick(st: DevState): void {
    if (o.speed === 'max' || st.pending.length > 0) setImmediate(() => pump(st, targetTs()));
  }

  let resolveSamples!: () => void;
  const samplesDone = new Promise<void>((r) => (resolveSamples = r));
  let samplesFinished = false;
  let lingerTimer: NodeJS.Timeout | undefined;
  let stopped: Promise<Summary> | undefined;
  let resolveDone!: (s: Summary) => void;
  const done = new Promise<Summary>((r) => (resolveDone = r));

  const tick = setInterval(
    () => {
      const target = targetTs();
      let finished = true;
      for (const st of states) {
        pump(st, target);
        if (finished && (!st.d.finished || st.pending.length || st.sending || st.events.length)) finished = false;
      }
      const frac = (Math.min(target, fleet.endTs) - fleet.startTs) / (fleet.endTs - fleet.startTs);
      progress.update({
        fraction: o.speed === 'max' ? doneFraction() : frac,
        text: `${new Date(target).toISOString().slice(0, 16)}Z samples ${s.samplesSent.toLocaleString('en')} commands ${s.commandsObeyed}`,
      });
      if (finished && !samplesFinished) {
        samplesFinished = true;
        progress.update({ fraction: 1, text: `samples ${s.samplesSent.toLocaleString('en')} — all sent` }, true);
        progress.done();
        resolveSamples();
        const linger = o.lingerMs ?? 0;
        if (linger !== Infinity) lingerTimer = setTimeout(() => void stop(), linger);
      }
    },
    o.speed === 'max' ? 250 : 100,
  );

  function doneFraction(): number {
    let sum = 0;
    for (const st of states) sum += Math.min(1, (st.d.lastTs - fleet.startTs) / (fleet.endTs - fleet.startTs));
    return sum / states.length;
  }

  function stats(): Summary {
    return { ...s, wallSeconds: (Date.now() - wallStart) / 1000 };
  }

  function stop(): Promise<Summary> {
    stopped ??= (async () => {
      clearInterval(tick);
      if (lingerTimer) clearTimeout(lingerTimer);
      progress.done();
      let i = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (i < states.length) await states[i++]!.link.close();
        }),
      );
      await gt.schedule();
      const summary = stats();
      await writeFile(join(o.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
      resolveDone(summary);
      return summary;
    })();
    return stopped;
  }

  log(`simulating ${fleet.devices.length} devices from ${s.simulatedFrom} to ${s.simulatedTo} at speed ${o.speed}`);
  return {
    fleet,
    samplesDone,
    done,
    stop,
    stats,
    async applyRemedy(deviceId, faultCode, by) {
      const d = fleet.device(deviceId);
      const f = d?.remedy(faultCode, by);
      if (!d || !f) return null;
      s.faultsFixed++;
      await gt.schedule();
      return groundTruthRow(d, f);
    },
  };
}
