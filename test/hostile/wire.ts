/**
 * MQTT 3.1.1 on raw sockets for hostile-input tests: encoders for the few
 * packets we need (valid or deliberately broken), and a socket wrapper that
 * reads whole packets and reports when the broker closes on us.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connectPacket, mqttString, packet, remainingLength } from '../helpers/raw-mqtt.ts';

export { connectPacket, mqttString, packet, remainingLength };

/** PUBLISH; `topic` may be raw bytes (e.g. invalid UTF-8). */
export function publishPacket(topic: string | Buffer, payload: Buffer | string, qos: 0 | 1 = 0, messageId = 1): Buffer {
  const id = Buffer.alloc(qos > 0 ? 2 : 0);
  if (qos > 0) id.writeUInt16BE(messageId);
  return packet(0x30 | (qos << 1), Buffer.concat([mqttString(topic), id, typeof payload === 'string' ? Buffer.from(payload) : payload]));
}

export function subscribePacket(messageId: number, filters: ReadonlyArray<{ topic: string; qos: 0 | 1 }>): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(0x82, Buffer.concat([id, ...filters.flatMap((f) => [mqttString(f.topic), Buffer.from([f.qos])])]));
}

export const disconnectPacket = Buffer.from([0xe0, 0x00]);

export interface RawPacket {
  type: number;
  flags: number;
  body: Buffer;
}

/** A raw MQTT connection that parses what the broker sends back. */
export interface Wire {
  socket: Socket;
  packets: RawPacket[];
  closed: Promise<void>;
  isClosed(): boolean;
  /** Resolves with the next packet of `type` (by its number), or undefined if the socket closes first. */
  next(type: number, timeoutMs?: number): Promise<RawPacket | undefined>;
  send(buf: Buffer): void;
}

export function openWire(port: number, opts: { localAddress?: string } = {}): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const packets: RawPacket[] = [];
    const waiters = new Set<() => void>();
    let buf: Buffer = Buffer.alloc(0);
    let isClosed = false;
    const wake = () => [...waiters].forEach((w) => w());
    socket.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        if (buf.length < 2) break;
        let len = 0;
        let mul = 1;
        let i = 1;
        let complete = false;
        for (; i < Math.min(buf.length, 5); i++) {
          len += (buf[i]! & 0x7f) * mul;
          mul *= 128;
          if ((buf[i]! & 0x80) === 0) {
            complete = true;
            i++;
            break;
          }
        }
        if (!complete || buf.length < i + len) break;
        packets.push({ type: buf[0]! >> 4, flags: buf[0]! & 0x0f, body: buf.subarray(i, i + len) });
        buf = buf.subarray(i + len);
      }
      wake();
    });
    const closed = new Promise<void>((r) =>
      socket.on('close', () => {
        isClosed = true;
        wake();
        r();
      }),
    );
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({
        socket,
        packets,
        closed,
        isClosed: () => isClosed,
        send: (b) => void socket.write(b),
        next(type, timeoutMs = 5000) {
          return new Promise((done) => {
            const check = () => {
              const idx = packets.findIndex((p) => p.type === type);
              if (idx >= 0) return finish(packets.splice(idx, 1)[0]);
              if (isClosed) return finish(undefined);
            };
            const t = setTimeout(() => finish(undefined), timeoutMs);
            const finish = (p: RawPacket | undefined) => {
              clearTimeout(t);
              waiters.delete(check);
              done(p);
            };
            waiters.add(check);
            check();
          });
        },
      }),
    );
    socket.once('error', reject);
  });
}

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;

/** CONNECTs and returns the CONNACK return code, or -1 when the socket closed without one. */
export async function connackCode(w: Wire, connect: Buffer, timeoutMs = 5000): Promise<number> {
  w.send(connect);
  const p = await w.next(CONNACK, timeoutMs);
  return p ? p.body[1]! : -1;
}

/** Resolves true once the broker has closed the socket, false after the timeout. */
export function closedWithin(w: Wire, timeoutMs: number): Promise<boolean> {
  return Promise.race([w.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
}
