import { connect, type Socket } from 'node:net';

/** An MQTT UTF-8 string: 2-byte length + bytes (raw bytes allowed, e.g. invalid UTF-8). */
export function mqttString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** The variable-length "remaining length" of a fixed header [MQTT-2.2.3]. */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

export function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

/** Encodes an MQTT 3.1.1 CONNECT by hand, so tests can send what clients refuse to. */
export function connectPacket(o: { clientId: string; clean: boolean; username?: string; password?: string; keepalive?: number }): Buffer {
  let flags = o.clean ? 0x02 : 0;
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const ka = Buffer.alloc(2);
  ka.writeUInt16BE(o.keepalive ?? 30);
  const body = Buffer.concat([
    mqttString('MQTT'),
    Buffer.from([4, flags]),
    ka,
    mqttString(o.clientId),
    ...(o.username !== undefined ? [mqttString(o.username)] : []),
    ...(o.password !== undefined ? [mqttString(o.password)] : []),
  ]);
  return packet(0x10, body);
}

/** Sends raw bytes and resolves with the first CONNACK return code, or -1 if the socket closed without one. */
export function rawConnack(port: number, packet: Buffer, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve) => {
    const sock: Socket = connect(port, '127.0.0.1', () => sock.write(packet));
    const t = setTimeout(() => finish(-1), timeoutMs);
    let buf = Buffer.alloc(0);
    const finish = (code: number) => {
      clearTimeout(t);
      sock.destroy();
      resolve(code);
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf[0] === 0x20) finish(buf[3]!);
    });
    sock.on('error', () => finish(-1));
    sock.on('close', () => finish(-1));
  });
}
