/**
 * A minimal MQTT 3.1.1 client for load generation, written for low CPU per
 * message so the generator leaves the 2-core machine to the system under
 * test: CONNECT/CONNACK, QoS 1 PUBLISH with PUBACK tracking, QoS 1 SUBSCRIBE
 * with PUBACK of incoming PUBLISH. No reconnect, no keepalive (0 = off), no
 * retransmission, no QoS 2. Writes are corked per event-loop turn so the
 * messages a client sends in one tick leave in one syscall.
 */
import { connect as netConnect, type Socket } from 'node:net';

export interface RawOptions {
  host: string;
  port: number;
  clientId: string;
  username?: string;
  password?: string;
  connectTimeoutMs?: number;
}

function encodeLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function connectPacket(o: RawOptions): Buffer {
  let flags = 0x02; // clean session
  const payload = [str(o.clientId)];
  if (o.username !== undefined) {
    flags |= 0x80;
    payload.push(str(o.username));
  }
  if (o.password !== undefined) {
    flags |= 0x40;
    payload.push(str(o.password));
  }
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, 0x00, 0x00]); // "MQTT", level 4, keepalive 0
  const body = Buffer.concat([variable, ...payload]);
  return Buffer.concat([Buffer.from([0x10, ...encodeLength(body.length)]), body]);
}

export type AckCallback = (err: Error | null) => void;
export type MessageHandler = (topic: string, payload: Buffer) => void;

export class RawMqttClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, AckCallback>();
  #nextId = 1;
  #buf: Buffer = Buffer.alloc(0);
  #corked = false;
  #onMessage: MessageHandler | undefined;
  #subAck: (() => void) | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  static connect(o: RawOptions): Promise<RawMqttClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: o.host, port: o.port, noDelay: true });
      const client = new RawMqttClient(socket);
      const timer = setTimeout(() => fail(new Error(`connect timeout (${o.clientId})`)), o.connectTimeoutMs ?? 10_000);
      let connected = false;
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', (err) => {
        if (!connected) fail(err);
      });
      socket.once('connect', () => socket.write(connectPacket(o)));
      socket.on('data', (chunk: Buffer) => {
        if (!connected) {
          // CONNACK: 0x20 0x02 flags rc
          const data = client.#buf.length ? Buffer.concat([client.#buf, chunk]) : chunk;
          if (data.length < 4) {
            client.#buf = data;
            return;
          }
          if (data[0] !== 0x20 || data[3] !== 0) return fail(new Error(`CONNACK refused (${o.clientId}): return code ${data[3]}`));
          connected = true;
          clearTimeout(timer);
          client.#buf = data.subarray(4);
          socket.on('error', () => undefined);
          socket.once('close', () => client.#onClose());
          resolve(client);
          if (client.#buf.length) client.#parse(Buffer.alloc(0));
          return;
        }
        client.#parse(chunk);
      });
    });
  }

  /** Messages sent and not yet acknowledged. */
  get inflight(): number {
    return this.#pending.size;
  }

  #onClose(): void {
    this.closed = true;
    const err = new Error('connection closed');
    for (const cb of this.#pending.values()) cb(err);
    this.#pending.clear();
  }

  #write(b: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.#socket.uncork();
      });
    }
    this.#socket.write(b);
  }

  publish(topic: string, payload: string | Buffer, cb: AckCallback): void {
    if (this.closed) return cb(new Error('connection closed'));
    let id = this.#nextId;
    // skip ids still in flight (65535 outstanding per connection is the protocol limit)
    for (let tries = 0; this.#pending.has(id); tries++) {
      if (tries > 65535) return cb(new Error('no free packet id'));
      id = id === 65535 ? 1 : id + 1;
    }
    this.#nextId = id === 65535 ? 1 : id + 1;
    const topicLen = Buffer.byteLength(topic);
    const payloadLen = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    const remaining = 2 + topicLen + 2 + payloadLen;
    const lenBytes = encodeLength(remaining);
    const b = Buffer.allocUnsafe(1 + lenBytes.length + remaining);
    let o = 0;
    b[o++] = 0x32; // PUBLISH, QoS 1
    for (const x of lenBytes) b[o++] = x;
    b.writeUInt16BE(topicLen, o);
    o += 2;
    o += b.write(topic, o, 'utf8');
    b.writeUInt16BE(id, o);
    o += 2;
    if (typeof payload === 'string') b.write(payload, o, 'utf8');
    else payload.copy(b, o);
    this.#pending.set(id, cb);
    this.#write(b);
  }

  subscribe(filter: string, onMessage: MessageHandler): Promise<void> {
    this.#onMessage = onMessage;
    const body = Buffer.concat([Buffer.from([0x00, 0x01]), str(filter), Buffer.from([0x01])]);
    this.#write(Buffer.concat([Buffer.from([0x82, ...encodeLength(body.length)]), body]));
    return new Promise((resolve) => (this.#subAck = resolve));
  }

  #parse(chunk: Buffer): void {
    const data = this.#buf.length ? (chunk.length ? Buffer.concat([this.#buf, chunk]) : this.#buf) : chunk;
    let off = 0;
    while (off < data.length) {
      // fixed header: type byte + 1–4 length bytes
      let len = 0;
      let mul = 1;
      let i = off + 1;
      let complete = false;
      while (i < data.length && i < off + 5) {
        const b = data[i++]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || i + len > data.length) break;
      const type = data[off]! >> 4;
      const body = data.subarray(i, i + len);
      if (type === 4) {
        const id = body.readUInt16BE(0);
        const cb = this.#pending.get(id);
        if (cb) {
          this.#pending.delete(id);
          cb(null);
        }
      } else if (type === 3) {
        const qos = (data[off]! >> 1) & 3;
        const tl = body.readUInt16BE(0);
        const topic = body.toString('utf8', 2, 2 + tl);
        let p = 2 + tl;
        if (qos > 0) {
          const id = body.readUInt16BE(p);
          p += 2;
          this.#write(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
        }
        this.#onMessage?.(topic, body.subarray(p));
      } else if (type === 9) {
        this.#subAck?.();
        this.#subAck = undefined;
      }
      off = i + len;
    }
    this.#buf = off >= data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(off));
  }

  end(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end(Buffer.from([0xe0, 0x00])); // DISCONNECT
      setTimeout(() => this.#socket.destroy(), 2000).unref();
    });
  }
}
