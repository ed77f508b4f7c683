/**
 * Malformed and forbidden MQTT packets on raw sockets, before CONNECT or
 * after a device authenticated. Every one must end with the broker closing
 * the connection (after a CONNACK refusal at most) — and nothing stored.
 */
import { randomBytes, type Rng } from './fuzz-cases.ts';
import { connectPacket, mqttString, packet, publishPacket, remainingLength } from './wire.ts';

export interface MalformedCase {
  label: string;
  /** Sent after a successful CONNECT of the given device (else as the first bytes). */
  afterConnect: boolean;
  bytes(deviceId: string, otherDeviceId: string): Buffer;
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

function rawConnect(o: { protocol?: string; level?: number; flags?: number; clientId?: string; tail?: Buffer; firstByte?: number }): Buffer {
  const body = Buffer.concat([
    mqttString(o.protocol ?? 'MQTT'),
    Buffer.from([o.level ?? 4, o.flags ?? 0x02]),
    u16(30),
    mqttString(o.clientId ?? 'x'),
    o.tail ?? Buffer.alloc(0),
  ]);
  return packet(o.firstByte ?? 0x10, body);
}

export function malformedCases(rng: Rng): MalformedCase[] {
  const before = (label: string, bytes: () => Buffer): MalformedCase => ({ label: `pre-connect/${label}`, afterConnect: false, bytes });
  const after = (label: string, bytes: (id: string, other: string) => Buffer): MalformedCase => ({ label: `connected/${label}`, afterConnect: true, bytes });
  const valid = connectPacket({ clientId: 'someone', clean: true, username: 'someone', password: 'pw' });
  return [
    before('random-bytes', () => randomBytes(rng, 1 + Math.floor(rng() * 2000))),
    before('http', () => Buffer.from('GET / HTTP/1.1\r\nHost: broker\r\n\r\n')),
    before('truncated-fixed-header', () => Buffer.from([0x10])),
    before('truncated-connect', () => valid.subarray(0, Math.max(2, Math.floor(valid.length / 2)))),
    before('remaining-length-5-bytes', () => Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])),
    before('remaining-length-max', () => Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])),
    before('zero-length-connect', () => Buffer.from([0x10, 0x00])),
    before('bad-protocol-name', () => rawConnect({ protocol: 'MQTX' })),
    before('bad-protocol-level', () => rawConnect({ level: 9 })),
    before('reserved-connect-flag', () => rawConnect({ flags: 0x03 })),
    before('password-without-username', () => rawConnect({ flags: 0x42, tail: mqttString('pw') })),
    before('will-qos-3', () => rawConnect({ flags: 0x1e, tail: Buffer.concat([mqttString('t'), mqttString('w')]) })),
    before('connect-bad-header-flags', () => rawConnect({ firstByte: 0x11 })),
    before('client-id-too-long', () => connectPacket({ clientId: 'c'.repeat(70), clean: true, username: 'c'.repeat(70), password: 'pw' })),
    before('publish-first', () => publishPacket('devices/x/telemetry', '{"metrics":{"oilTempC":5}}')),
    before('subscribe-first', () => packet(0x82, Buffer.concat([u16(1), mqttString('#'), Buffer.from([0])]))),
    before('reserved-type-0', () => Buffer.from([0x00, 0x00])),
    before('reserved-type-15', () => Buffer.from([0xf0, 0x00])),
    after('random-bytes', () => randomBytes(rng, 1 + Math.floor(rng() * 2000))),
    after('qos-3-publish', (id) => packet(0x36, Buffer.concat([mqttString(`devices/${id}/telemetry`), u16(1), Buffer.from('{}')]))),
    after('subscribe-no-topics', () => packet(0x82, u16(1))),
    after('subscribe-qos-3', (id) => packet(0x82, Buffer.concat([u16(1), mqttString(`devices/${id}/commands`), Buffer.from([3])]))),
    after('subscribe-bad-flags', (id) => packet(0x80, Buffer.concat([u16(1), mqttString(`devices/${id}/commands`), Buffer.from([0])]))),
    after('unsubscribe-no-topics', () => packet(0xa2, u16(1))),
    after('second-connect', (id) => connectPacket({ clientId: id, clean: true, username: id, password: 'pw' })),
    after('other-devices-topic', (_id, other) => publishPacket(`devices/${other}/telemetry`, '{"metrics":{"oilTempC":5}}', 1)),
    after('platform-topic', (id) => publishPacket(`devices/${id}/commands`, '{"commandId":"x"}', 1)),
    after('sys-topic', () => publishPacket('$SYS/fleetdoc/new/clients', 'x')),
    after('wildcard-topic', (id) => publishPacket(`devices/${id}/#`, '{}')),
    after('plus-topic', () => publishPacket('devices/+/telemetry', '{}')),
    after('empty-topic', () => publishPacket('', '{}')),
    after('oversized-topic', () => publishPacket('t'.repeat(65_535), '{}')),
    after('invalid-utf8-topic', (id) => publishPacket(Buffer.concat([Buffer.from(`devices/${id}/`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('/telemetry')]), '{}', 1)),
    after('nul-in-topic', (id) => publishPacket(`devices/${id}\u0000/telemetry`, '{}', 1)),
    after('deep-topic', () => publishPacket(Array(150).fill('a').join('/'), '{}')),
    after('remaining-length-max', () => Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])),
    after('length-beyond-packet', (id) => Buffer.concat([Buffer.from([0x30]), remainingLength(5), mqttString(`devices/${id}/telemetry`), Buffer.from('{}')])),
  ];
}
