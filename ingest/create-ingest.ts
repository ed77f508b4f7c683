import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import { CommandAck } from '../core/domain/command.ts';
import type { NewDeadLetter } from '../core/domain/dead-letter.ts';
import { EventPayload, StatusPayload, type NewDeviceEvent } from '../core/domain/event.ts';
import { parseTime } from '../core/domain/common.ts';
import { DERIVED_METRICS } from '../core/domain/device-type.ts';
import type { OutOfRangeSample, Point } from '../core/domain/telemetry.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import { topics } from '../core/topics.ts';
import type { InboundGate, InboundMessage, OpsStore, Service, TelemetryStore } from '../core/ports.ts';
import { storable, toDeadLetter } from './dead-letters.ts';
import { createGroupCommit } from './group-commit.ts';
import { createSpool, type Spool } from './spool/spool.ts';
import { Stamps } from './stamps.ts';
import { compileType, parseJson, validateTelemetry, type CompiledType, type Rejection } from './validate.ts';

export interface IngestDeps {
  config: Pick<Config, 'ingest' | 'broker' | 'spool'>;
  logger: Logger;
  clock: Clock;
  metrics: Metrics;
  opsStore: OpsStore;
  telemetryStore: TelemetryStore;
}

/** Event data with every key and string value made storable (see storable()). */
function storableData(data: Record<string, string | number | boolean | null>): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(data)) out[storable(k)] = typeof v === 'string' ? storable(v) : v;
  return out;
}

/**
 * Hears accepted samples. A listener that cannot keep up returns a promise: a QoS1 message is then
 * acknowledged only once it resolves, so a device (or a replay) slows down instead of samples being lost.
 */
export type AcceptedListener = (points: readonly Point[], opts?: { canWait: boolean }) => void | Promise<void>;
const CAN_WAIT = Object.freeze({ canWait: true });
const CANNOT_WAIT = Object.freeze({ canWait: false });

/** A point of derived metrics only (a type may not declare them, so no device sends one). */
function derivedOnly(p: Point): boolean {
  for (const k in p.metrics) if (!(DERIVED_METRICS as readonly string[]).includes(k)) return false;
  return true;
}

export interface Ingest extends Service, InboundGate {
  /** In-process consumers of accepted samples (the diagnosis engine). */
  onAccepted(listener: AcceptedListener): () => void;
  /** In-process consumers of accepted device events and status changes (the diagnosis engine's error-code rules). */
  onEvent(listener: (event: NewDeviceEvent) => void): () => void;
  /**
   * In-process consumers of samples dead-lettered for a reading outside its declared range (the diagnosis
   * engine gives each one a decision: a reading beyond what the type declares valid is anomalous).
   */
  onOutOfRange(listener: (sample: OutOfRangeSample) => void): () => void;
  /** Called after each batch the telemetry store accepted (benchmarks, lag metrics). */
  onStored(listener: AcceptedListener): () => void;
  /**
   * Points the platform derives from the telemetry (the anomaly model's per-sample decisions), written to the store
   * through the same durable spool: kept through a store outage and a restart. Rejects when the spool is full.
   */
  writeDerived(points: readonly Point[]): Promise<void>;
  /** Resolves when every accepted point so far is in the telemetry store. */
  flush(timeoutMs?: number): Promise<boolean>;
  spoolStats(): ReturnType<Spool['stats']>;
}

/**
 * Validates every device → platform message and routes it: telemetry to the
 * telemetry store in batches, events and command acks to the operational
 * store, anything bad to the dead letters — recorded before the broker
 * acknowledges the message.
 */
export function createIngest(deps: IngestDeps): Ingest {
  const { config, clock, metrics, opsStore } = deps;
  const logger = deps.logger.child({ service: 'ingest' });
  const types = new Map<string, Promise<CompiledType | null>>();
  const listeners = new Set<AcceptedListener>();
  const storedListeners = new Set<AcceptedListener>();
  const eventListeners = new Set<(event: NewDeviceEvent) => void>();
  const outOfRangeListeners = new Set<(sample: OutOfRangeSample) => void>();
  // Listeners (diagnosis) hear of an event as soon as it is valid, as they hear of samples, not after
  // the ops store has written it: a busy store would otherwise deliver it behind samples published
  // after it — hours of event time at a replay's pace. The device's acknowledgement still waits for the write.
  const addEvent = async (e: NewDeviceEvent) => {
    for (const l of eventListeners) {
      try {
        l(e);
      } catch (err) {
        logger.error({ err }, 'event listener failed');
      }
    }
    await events.add(e);
  };
  /**
   * One bad row must not fail its whole group commit (and so cut off every
   * device in it): a failed batch is retried row by row, and a row the store
   * refuses while it answers is logged and counted, never thrown back at the
   * device. A store that does not answer (down, unreachable) or cannot write
   * now (read-only, full) fails the rows not yet written: their messages get
   * no PUBACK, and the devices send them again.
   * Resolves to each row's error (undefined: written or dropped for good).
   */
  /**
   * Whether the store, having refused a write, still takes writes: it answers, and its refusal is not one of
   * PostgreSQL's "cannot write now" classes — 08 connection, 25 read-only (a standby after a failover), 53
   * insufficient resources (a full disk), 57 operator intervention (shutting down), 58 system error.
   */
  async function answers(err: unknown): Promise<boolean> {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^(08|25|53|57|58)/.test(code)) return false;
    return opsStore.ping().catch(() => false);
  }

  function resilient<T>(what: string, write: (items: T[]) => Promise<void>) {
    return async (items: T[]): Promise<unknown[] | void> => {
      try {
        await write(items);
        return;
      } catch (batchErr) {
        if (!(await answers(batchErr))) {
          logger.error({ err: batchErr, what, rows: items.length }, 'operational store unavailable; not acknowledged');
          return items.map(() => batchErr);
        }
        logger.warn({ err: batchErr, what, rows: items.length }, 'batch insert failed; retrying row by row');
        const failed: unknown[] = [];
        for (let i = 0; i < items.length; i++) {
          try {
            await write([items[i]!]);
          } catch (err) {
            if (!(await answers(err))) {
              for (let j = i; j < items.length; j++) failed[j] = err;
              logger.error({ err, what, rows: items.length - i }, 'operational store unavailable; not acknowledged');
              break;
            }
            metrics.opsStoreRowsRefused.inc({ what });
            logger.error({ err, what }, 'operational store refused a row; dropped');
          }
        }
        return failed;
      }
    };
  }
  const deadLetters = createGroupCommit<NewDeadLetter>(resilient('dead letters', (items) => opsStore.addDeadLetters(items)), { maxItems: 500, maxDelayMs: 20 });
  const events = createGroupCommit<NewDeviceEvent>(resilient('events', (items) => opsStore.addEvents(items)), { maxItems: 500, maxDelayMs: 20 });
  const spool = createSpool(
    {
      store: deps.telemetryStore,
      logger,
      metrics,
      clock,
      onStored: (points) => {
        if (storedListeners.size === 0) return;
        // what devices sent: the derived points (the model's decisions) go the same way, unannounced
        const sent = points.filter((p) => !derivedOnly(p));
        if (sent.length) storedListeners.forEach((l) => l(sent));
      },
      onRejected: (points, detail) => {
        for (const p of points) {
          // the model's decision, not what the device sent: no dead letter of the device's
          if (derivedOnly(p)) {
            logger.warn({ deviceId: p.deviceId, ts: p.ts, detail }, 'telemetry store refused an anomaly decision; dropped');
            continue;
          }
          metrics.deadLettered.inc({ reason: 'store_rejected' });
          const payload = Buffer.from(JSON.stringify({ ts: p.ts, seq: p.seq, metrics: p.metrics }));
          deadLetters
            .add(toDeadLetter({ deviceId: p.deviceId, topic: topics.telemetry(p.deviceId), payload, rejection: { reason: 'store_rejected', detail }, receivedAt: clock.now(), maxPayloadBytes: config.ingest.deadLetterMaxPayloadBytes }))
            .catch((err: unknown) => logger.error({ err }, 'dead letter write failed'));
        }
      },
    },
    { ...config.spool, batchSize: config.ingest.batchSize, flushMs: config.ingest.flushMs },
  );
  let stopped: Promise<void> | undefined;

  /** Device types are create-only, so a compiled type is cached for good. */
  function typeOf(name: string): Promise<CompiledType | null> {
    let t = types.get(name);
    if (!t) {
      t = opsStore.getDeviceType(name).then((dt) => (dt ? compileType(dt) : null));
      t.catch(() => types.delete(name));
      types.set(name, t);
    }
    return t;
  }

  function deadLetter(msg: InboundMessage, rejections: readonly Rejection[]): Promise<void> {
    return Promise.all(
      rejections.map(async (rejection) => {
        await deadLetters.add(
          toDeadLetter({ deviceId: msg.device.id, topic: msg.topic, payload: msg.payload, rejection, receivedAt: msg.receivedAt, maxPayloadBytes: config.ingest.deadLetterMaxPayloadBytes }),
        );
        // counted once recorded: a letter the store could not take comes again with the device's retry
        metrics.deadLettered.inc({ reason: rejection.reason });
      }),
    ).then(() => undefined);
  }

  const stamps = new Stamps(clock, logger);

  async function acceptTelemetry(msg: InboundMessage): Promise<{ forward: boolean }> {
    const type = await typeOf(msg.device.type);
    if (!type) {
      await deadLetter(msg, [{ reason: 'unknown_device', detail: `device type ${msg.device.type} is not registered` }]);
      return { forward: false };
    }
    await stamps.caughtUp(msg.device.id);
    const now = clock.now();
    const { points, rejections } = validateTelemetry(msg.payload, {
      device: msg.device,
      type,
      now,
      stamps,
      maxFutureMs: config.ingest.maxFutureMs,
      maxPayloadBytes: config.broker.maxPayloadBytes,
    });
    // dead letters first: a message whose letter cannot be written (the ops store down) is sent again, and its good
    // samples must not have been spooled and judged already
    if (rejections.length > 0) await deadLetter(msg, rejections);
    if (points.length > 0) {
      metrics.messagesAccepted.inc({ kind: 'telemetry' });
      metrics.samplesAccepted.inc(points.length);
      if (msg.qos === 0 || config.ingest.ack === 'immediate') {
        // QoS0 carries no delivery promise (nor does INGEST_ACK=immediate):
        // spooled when there is room, else dropped and counted
        if (spool.isFull()) metrics.droppedMessages.inc({ reason: 'spool_full' });
        else spool.append(points, msg.receivedAt).catch((err: unknown) => logger.error({ err }, 'spool append failed (no ack wait)'));
      } else {
        if (spool.isFull()) {
          // no PUBACK until the store drains: the device keeps the message and retries
          metrics.spoolFullWaits.inc();
          await spool.waitForSpace();
        }
        await spool.append(points, msg.receivedAt);
      }
      // QoS0 carries no promise (nor does INGEST_ACK=immediate): such a message never waits for a consumer
      const opts = msg.qos !== 0 && config.ingest.ack !== 'immediate' ? CAN_WAIT : CANNOT_WAIT;
      let waits: Promise<void>[] | undefined; // the common case, no consumer behind, allocates nothing
      for (const l of listeners) {
        try {
          const wait = l(points, opts);
          if (wait) (waits ??= []).push(wait);
        } catch (err) {
          logger.error({ err }, 'accepted-samples listener failed');
        }
      }
      // no PUBACK until the consumers have room
      if (waits && opts.canWait) await Promise.all(waits);
    }
    for (const r of rejections) {
      if (!r.outOfRange) continue;
      for (const l of outOfRangeListeners) {
        try {
          l({ deviceId: msg.device.id, type: type.name, model: msg.device.model, site: msg.device.site, ...r.outOfRange });
        } catch (err) {
          logger.error({ err }, 'out-of-range listener failed');
        }
      }
    }
    return { forward: rejections.length === 0 };
  }

  async function acceptOther(msg: InboundMessage): Promise<{ forward: boolean }> {
    const reject = async (rejection: Rejection) => {
      await deadLetter(msg, [rejection]);
      return { forward: false };
    };
    if (msg.payload.length > config.broker.maxPayloadBytes) {
      return reject({ reason: 'payload_too_large', detail: `${msg.payload.length} bytes exceeds the ${config.broker.maxPayloadBytes}-byte limit` });
    }
    const json = parseJson(msg.payload);
    // status may be the bare word online/offline (a typical last will)
    const value = json.ok ? json.value : msg.kind === 'status' ? msg.payload.toString('utf8').trim() : undefined;
    if (value === undefined) return reject({ reason: 'invalid_json', detail: json.ok ? '' : json.detail });

    switch (msg.kind) {
      case 'events': {
        const e = EventPayload.safeParse(value);
        if (!e.success) return reject({ reason: 'invalid_shape', detail: e.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
        const ts = e.data.ts === undefined ? msg.receivedAt : parseTime(e.data.ts);
        if (ts === undefined) return reject({ reason: 'invalid_ts', detail: `ts ${JSON.stringify(e.data.ts)} is not a valid time` });
        await addEvent({
          deviceId: msg.device.id,
          ts: new Date(ts).toISOString(),
          kind: e.data.kind,
          code: e.data.code === undefined ? null : storable(e.data.code),
          message: e.data.message === undefined ? null : storable(e.data.message),
          data: e.data.data === undefined ? null : storableData(e.data.data),
        });
        break;
      }
      case 'status': {
        const s = StatusPayload.safeParse(value);
        if (!s.success) return reject({ reason: 'invalid_shape', detail: 'expected "online", "offline" or {"state": …}' });
        const state = typeof s.data === 'string' ? s.data : s.data.state;
        await addEvent({ deviceId: msg.device.id, ts: new Date(msg.receivedAt).toISOString(), kind: 'state', code: state, message: `device reported ${state}`, data: null });
        break;
      }
      case 'commandAck': {
        const a = CommandAck.safeParse(value);
        if (!a.success) return reject({ reason: 'invalid_shape', detail: a.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
        const cmd = await opsStore.advanceCommand(msg.device.id, storable(a.data.commandId), a.data.status, a.data.detail === undefined ? null : storable(a.data.detail), clock.now());
        if (!cmd) logger.info({ deviceId: msg.device.id, commandId: a.data.commandId }, 'ack for an unknown command');
        break;
      }
      case 'telemetry':
        break;
    }
    metrics.messagesAccepted.inc({ kind: msg.kind });
    return { forward: true };
  }

  return {
    async start(): Promise<void> {
      metrics.spoolMaxBytes.set(config.spool.maxBytes);
      await spool.open();
    },
    spoolStats: () => spool.stats(),
    accept(msg: InboundMessage): Promise<{ forward: boolean }> {
      return msg.kind === 'telemetry' ? acceptTelemetry(msg) : acceptOther(msg);
    },
    onAccepted(listener: AcceptedListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onOutOfRange(listener: (sample: OutOfRangeSample) => void): () => void {
      outOfRangeListeners.add(listener);
      return () => outOfRangeListeners.delete(listener);
    },
    onEvent(listener: (event: NewDeviceEvent) => void): () => void {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    onStored(listener: AcceptedListener): () => void {
      storedListeners.add(listener);
      return () => storedListeners.delete(listener);
    },
    async writeDerived(points: readonly Point[]): Promise<void> {
      if (spool.isFull()) throw new Error('spool full: SPOOL_MAX_BYTES reached');
      await spool.append(points, clock.now());
    },
    flush: (timeoutMs?: number) => spool.flush(timeoutMs),
    stop(): Promise<void> {
      stopped ??= (async () => {
        await Promise.allSettled([deadLetters.drain(), events.drain()]);
        await spool.close();
        listeners.clear();
        storedListeners.clear();
        eventListeners.clear();
        outOfRangeListeners.clear();
      })();
      return stopped;
    },
  };
}
