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

  /** Resolves when a QoS1 message is acknowledged (or the connection is gone); at once for QoS0. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void> {
    if (this.wire.isClosed()) return Promise.resolve();
    if (qos === 0) {
      this.wire.send(publishPacket(topic, payload, 0));
      return Promise.resolve();
    }
    const id = this.nextId;
    this.nextId = (this.nextId % 65_535) + 1;
    return new Promise((resolve) => {
      this.inflight.set(id, resolve);
      this.wire.send(publishPacket(topic, payload, 1, id));
    });
  }

  async close(): Promise<void> {
    this.closedBy ??= 'us';
    this.wire.socket.end();
    this.wire.socket.destroy();
  }
}

export interface Tally {
  messages: number;
  qos0: number;
  deadLettersExpected: number;
  samplesExpected: number;
  byLabel: Map<string, number>;
}

export const newTally = (): Tally => ({ messages: 0, qos0: 0, deadLettersExpected: 0, samplesExpected: 0, byLabel: new Map() });

function count(t: Tally, m: FuzzMessage): void {
  t.messages++;
  if (m.qos === 0) t.qos0++;
  t.deadLettersExpected += m.deadLetters;
  t.samplesExpected += m.samples;
  t.byLabel.set(m.label, (t.byLabel.get(m.label) ?? 0) + 1);
}

/** Publishes `n` messages from `next()` with up to `window` QoS1 messages awaiting PUBACK. */
export async function pump(session: DeviceSession, n: number, next: () => FuzzMessage, tally: Tally, window = 64): Promise<void> {
  let sent = 0;
  const worker = async () => {
    while (sent < n && !session.closedByBroker) {
      sent++;
      const m = next();
      count(tally, m);
      await session.publish(m.topic, m.payload, m.qos);
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
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
    const code = await connackCode(w, connectPacket({ clientId: as.id, clean: true, username: as.id, password: as.secret, keepalive: 60 }), timeoutMs);
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
