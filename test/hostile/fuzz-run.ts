/**
 * Drives hostile traffic at a running fleetdoc over real sockets: MQTT.js-free
 * raw connections, so a million messages cost little on the client side.
 * Used by test/hostile/fuzz.test.ts and bench/fuzz.ts.
 */
import { fuzzMessage, validTelemetry, type FuzzDevice, type FuzzMessage, type FuzzOptions, type Rng } from './fuzz-cases.ts';
import type { MalformedCase } from './malformed-packets.ts';
import { CONNACK, PUBACK, connackCode, connectPacket, openWire, publishPacket, type Wire } from './wire.ts';

export interface Credentials {
  id: string;
  secret: string;
}

/** A device session that publishes with a window of QoS1 messages in flight. */
export class DeviceSession {
  private nextId = 1;
  private readonly inflight = new Map<number, () => void>();
  private closedBy: 'broker' | 'us' | undefined;
  /** QoS0 messages sent: they count only if the broker never cut this connection (see `settle`). */
  readonly qos0: FuzzMessage[] = [];
  private constructor(readonly wire: Wire) {
    wire.socket.on('data', () => this.drainAcks());
    void wire.closed.then(() => {
      this.closedBy ??= 'broker';
      for (const done of this.inflight.values()) done();
      this.inflight.clear();
    });
  }

  static async open(port: number, c: Credentials, timeoutMs = 30_000): Promise<DeviceSession> {
    const w = await openWire(port);
    const code = await connackCode(w, connectPacket({ clientId: c.id, clean: true, username: c.id, password: c.secret, keepalive: 0 }), timeoutMs);
    if (code !== 0) throw new Error(`${c.id}: CONNACK ${code}`);
    return new DeviceSession(w);
  }

  get closedByBroker(): boolean {
    return this.closedBy === 'broker';
  }

  private drainAcks(): void {
    for (let i = 0; i < this.wire.packets.length; ) {
      const p = this.wire.packets[i]!;
      if (p.type === PUBACK) {
        this.wire.packets.splice(i, 1);
        const id = p.body.readUInt16BE(0);
        const done = this.inflight.get(id);
        this.inflight.delete(id);
        done?.();
      } else i++;
    }
  }

  /**
   * QoS1: resolves true on PUBACK, false when the connection is gone first.
   * QoS0: resolves true once written — whether it counted is only known when
   * the session ends (see `pump`).
   */
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<boolean> {
    if (this.wire.isClosed()) return Promise.resolve(false);
    if (qos === 0) {
      this.wire.send(publishPacket(topic, payload, 0));
      return Promise.resolve(true);
    }
    const id = this.nextId;
    this.nextId = (this.nextId % 65_535) + 1;
    return new Promise((resolve) => {
      this.inflight.set(id, () => resolve(!this.wire.isClosed()));
      this.wire.send(publishPacket(topic, payload, 1, id));
    });
  }

  async close(): Promise<void> {
    this.closedBy ??= 'us';
    this.wire.socket.end();
    this.wire.socket.destroy();
  }
}

/** What a set of messages must have produced, split by whether their fate is known. */
export interface Outcome {
  messages: number;
  deadLetters: number;
  samples: number;
}

export interface Tally {
  messages: number;
  qos0: number;
  /** Acknowledged QoS1, and QoS0 on a connection the broker never cut: exact. */
  certain: Outcome;
  /** Unacknowledged QoS1, and QoS0 on a connection the broker cut: may or may not have counted. */
  uncertain: Outcome;
  /** Connections the broker cut while this tally was being sent. */
  cut: number;
  byLabel: Map<string, number>;
}

const outcome = (): Outcome => ({ messages: 0, deadLetters: 0, samples: 0 });
export const newTally = (): Tally => ({ messages: 0, qos0: 0, certain: outcome(), uncertain: outcome(), cut: 0, byLabel: new Map() });

function add(o: Outcome, m: FuzzMessage): void {
  o.messages++;
  o.deadLetters += m.deadLetters;
  o.samples += m.samples;
}

/**
 * Publishes `n` messages from `next()` with up to `window` QoS1 messages
 * awaiting PUBACK; stops early if the broker cuts the connection.
 */
export async function pump(session: DeviceSession, n: number, next: () => FuzzMessage, tally: Tally, window = 64): Promise<void> {
  let sent = 0;
  const worker = async () => {
    while (sent < n && !session.closedByBroker) {
      sent++;
      const m = next();
      tally.messages++;
      tally.byLabel.set(m.label, (tally.byLabel.get(m.label) ?? 0) + 1);
      if (m.qos === 0) {
        tally.qos0++;
        session.qos0.push(m);
        await session.publish(m.topic, m.payload, 0);
      } else {
        add((await session.publish(m.topic, m.payload, 1)) ? tally.certain : tally.uncertain, m);
      }
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
}

/** Books a session's QoS0 messages: certain unless the broker cut the connection. */
export function settle(session: DeviceSession, tally: Tally): void {
  const cut = session.closedByBroker;
  if (cut) tally.cut++;
  for (const m of session.qos0.splice(0)) add(cut ? tally.uncertain : tally.certain, m);
}

/** What the QoS0 messages of live sessions will add once ingest has judged them. */
export function pendingQos0(sessions: readonly DeviceSession[]): Outcome {
  const o = outcome();
  for (const s of sessions) if (!s.closedByBroker) for (const m of s.qos0) add(o, m);
  return o;
}

export function fuzzStream(rng: Rng, dev: FuzzDevice, opts: () => FuzzOptions): () => FuzzMessage {
  return () => fuzzMessage(rng, dev, opts());
}

export function validStream(rng: Rng, dev: FuzzDevice): () => FuzzMessage {
  return () => validTelemetry(rng, dev, 1);
}

export interface MalformedOutcome {
  label: string;
  closed: boolean;
  /** A CONNACK 0 for the malformed bytes themselves would mean they were accepted. */
  acceptedConnack: boolean;
  /** Why the case could not be set up (the device's own CONNECT was refused). */
  setupFailed?: string;
}

/**
 * Sends one malformed case on a fresh socket (after connecting as `as` when
 * the case needs a session) and waits for the broker to close it.
 */
export async function runMalformed(port: number, c: MalformedCase, as: Credentials, other: string, timeoutMs: number, localAddress?: string): Promise<MalformedOutcome> {
  const w = await openWire(port, localAddress ? { localAddress } : {});
  if (c.afterConnect) {
    // a short keepalive: random bytes may announce a packet longer than what follows, and the
    // broker rightly waits for the rest — until 1.5 × keepalive passes without a whole packet
    const code = await connackCode(w, connectPacket({ clientId: as.id, clean: true, username: as.id, password: as.secret, keepalive: 5 }), timeoutMs);
    if (code !== 0) {
      w.socket.destroy();
      return { label: c.label, closed: false, acceptedConnack: false, setupFailed: `CONNACK ${code}` };
    }
  }
  w.send(c.bytes(as.id, other));
  const closed = await Promise.race([w.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
  const acceptedConnack = w.packets.some((p) => p.type === CONNACK && p.body[1] === 0);
  w.socket.destroy();
  return { label: c.label, closed, acceptedConnack };
}
