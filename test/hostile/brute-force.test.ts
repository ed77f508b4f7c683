import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { addressKey, createAuthLimiter } from '../../broker/auth-limiter.ts';
import { createAuthenticate } from '../../broker/authenticate.ts';
import { Principals } from '../../broker/principals.ts';
import { nullLogger } from '../../core/logger.ts';
import { createMetrics } from '../../core/metrics.ts';
import type { OpsStore } from '../../core/ports.ts';
import { hashSecret } from '../../core/secrets.ts';
import { useStack, type TestStack } from '../helpers/stack.ts';
import { connackCode, connectPacket, openWire } from './wire.ts';

const MIN = 60_000;

function fakeClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('auth limiter (unit, fake time)', () => {
  it('allows N failures a minute per device, then refuses until the window lets one more through', () => {
    const clock = fakeClock();
    const l = createAuthLimiter({ perAddressPerMin: 0, perDevicePerMin: 3, maxKeys: 1000, now: clock.now });
    for (let i = 0; i < 3; i++) {
      expect(l.check('10.0.0.1', 'dev-a')).toBeUndefined();
      l.recordFailure('10.0.0.1', 'dev-a');
    }
    expect(l.check('10.0.0.1', 'dev-a')).toBe('device');
    // from anywhere: the device is what is being guessed
    expect(l.check('10.9.9.9', 'dev-a')).toBe('device');
    expect(l.check('10.0.0.1', 'dev-b')).toBeUndefined();
    clock.advance(MIN / 3 - 1);
    expect(l.check('10.0.0.1', 'dev-a')).toBe('device');
    clock.advance(1);
    expect(l.check('10.0.0.1', 'dev-a')).toBeUndefined();
    l.recordFailure('10.0.0.1', 'dev-a');
    expect(l.check('10.0.0.1', 'dev-a')).toBe('device');
    // a quiet full window restores the whole burst
    clock.advance(MIN);
    for (let i = 0; i < 3; i++) {
      expect(l.check('10.0.0.1', 'dev-a')).toBeUndefined();
      l.recordFailure('10.0.0.1', 'dev-a');
    }
    expect(l.check('10.0.0.1', 'dev-a')).toBe('device');
  });

  it('limits an address across devices, and only that address', () => {
    const clock = fakeClock();
    const l = createAuthLimiter({ perAddressPerMin: 5, perDevicePerMin: 0, maxKeys: 1000, now: clock.now });
    for (let i = 0; i < 5; i++) l.recordFailure('192.0.2.7', `dev-${i}`);
    expect(l.check('192.0.2.7', 'dev-new')).toBe('address');
    expect(l.check('192.0.2.7', undefined)).toBe('address');
    expect(l.check('192.0.2.8', 'dev-0')).toBeUndefined();
    expect(l.check('::ffff:192.0.2.7', 'dev-new')).toBe('address');
    clock.advance(MIN / 5);
    expect(l.check('192.0.2.7', 'dev-new')).toBeUndefined();
  });

  it('keys IPv6 clients by /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:ffff:1:2:3'));
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
    expect(addressKey('2001:0db8:0000:0002::1')).toBe('2001:db8:0:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey(undefined)).toBeUndefined();
  });

  it('successful connects never write state; memory stays bounded under a flood of fresh keys', () => {
    const clock = fakeClock();
    const l = createAuthLimiter({ perAddressPerMin: 30, perDevicePerMin: 10, maxKeys: 10_000, now: clock.now });
    // a reconnect storm: 10,000 devices behind one NAT address
    const ids = Array.from({ length: 10_000 }, (_, i) => `dev-${i}`);
    let refused = 0;
    for (const id of ids) if (l.check('203.0.113.1', id) !== undefined) refused++;
    expect(refused).toBe(0);
    expect(l.size()).toEqual({ addresses: 0, devices: 0 });

    const keys = Array.from({ length: 200_000 }, (_, i) => [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `guess-${i}`] as const);
    for (const [address, device] of keys) l.recordFailure(address, device);
    const { addresses, devices } = l.size();
    expect(addresses).toBeLessThanOrEqual(10_000);
    expect(devices).toBeLessThanOrEqual(10_000);
    expect(devices).toBeGreaterThanOrEqual(9_000);
    // amortised O(1) per failure: a full table makes room for a tenth of itself per pass, so 190,000
    // inserts past the bound take ≤ 190 passes of ≤ 10,000 keys; evicting one key per insert (one
    // pass each, 190,000 passes) was quadratic — 13 s here. Counted, not timed: no wall clock in tests.
    const p = l.prunes();
    expect(p.devices).toBeGreaterThan(0);
    expect(p.devices).toBeLessThanOrEqual(190);
    expect(p.addresses).toBeLessThanOrEqual(190);
    // the most recent offenders are the ones remembered
    l.recordFailure('10.3.13.63', 'guess-199999');
    expect(l.check(undefined, 'guess-199999')).toBeUndefined();
    for (let i = 0; i < 10; i++) l.recordFailure('10.3.13.63', 'guess-199999');
    expect(l.check(undefined, 'guess-199999')).toBe('device');
  });
});

describe('authenticate under a limiter (unit)', () => {
  it('refuses a rate-limited CONNECT with code 3 without looking up or checking the secret', async () => {
    const clock = fakeClock();
    const metrics = createMetrics();
    let lookups = 0;
    const opsStore = {
      getDeviceAuth: async (id: string) => {
        lookups++;
        return { id, type: 'air-compressor', model: null, site: null, status: 'active', secretHash: hashSecret('right') };
      },
    } as unknown as OpsStore;
    const limiter = createAuthLimiter({ perAddressPerMin: 100, perDevicePerMin: 2, maxKeys: 100, now: clock.now });
    const authenticate = createAuthenticate({ opsStore, principals: new Principals(), logger: nullLogger(), metrics, limiter, addressOf: () => '198.51.100.1' });
    const client = { id: 'dev-1', clean: true } as unknown as Client;
    const attempt = (pw: string) => authenticate(client, 'dev-1', Buffer.from(pw)).then(() => 0, (err: { returnCode: number }) => err.returnCode);

    expect(await attempt('wrong')).toBe(4);
    expect(await attempt('wrong')).toBe(4);
    expect(lookups).toBe(2);
    expect(await attempt('right')).toBe(3);
    expect(await attempt('wrong')).toBe(3);
    expect(lookups).toBe(2);
    clock.advance(MIN / 2);
    expect(await attempt('right')).toBe(0);
    expect(lookups).toBe(3);
    const failures = await metrics.authFailures.get();
    expect(failures.values.find((v) => v.labels.reason === 'rate_limited')?.value).toBe(2);
    expect(failures.values.find((v) => v.labels.reason === 'bad_credentials')?.value).toBe(2);
  });
});

/** CONNECT from a given loopback address (all of 127/8 is local) and return the CONNACK code. */
async function connectFrom(s: TestStack, localAddress: string, clientId: string, username: string, password: string, timeoutMs = 5000): Promise<number> {
  const w = await openWire(s.mqttPort, { localAddress });
  try {
    return await connackCode(w, connectPacket({ clientId, clean: true, username, password }), timeoutMs);
  } finally {
    w.socket.destroy();
  }
}

async function rateLimitedCount(s: TestStack): Promise<number> {
  const text = await fetch(`${s.httpUrl}/metrics`).then((r) => r.text());
  return Number(/fleetdoc_mqtt_auth_failures_total\{reason="rate_limited"\} (\d+)/.exec(text)?.[1] ?? 0);
}

describe('CONNECT brute force (over TCP)', () => {
  it('per device: guesses from many addresses lock that device only, refusing even its right secret', async () => {
    const s = await useStack({ MQTT_AUTH_DEVICE_FAILURES_PER_MIN: '3', MQTT_AUTH_FAILURES_PER_MIN: '100' });
    const target = await s.registerDevice('air-compressor');
    const other = await s.registerDevice('air-compressor');
    for (const from of ['127.0.0.11', '127.0.0.12', '127.0.0.13']) {
      expect(await connectFrom(s, from, target.id, target.id, 'guess-' + from)).toBe(4);
    }
    expect(await connectFrom(s, '127.0.0.14', target.id, target.id, target.secret)).toBe(3);
    expect(await connectFrom(s, '127.0.0.1', target.id, target.id, target.secret)).toBe(3);
    // the addresses are not limited: other devices connect from them
    expect(await connectFrom(s, '127.0.0.11', other.id, other.id, other.secret)).toBe(0);
    expect(await connectFrom(s, '127.0.0.14', other.id, other.id, other.secret)).toBe(0);
    expect(await rateLimitedCount(s)).toBe(2);
  });

  it('per address: guesses across devices and API keys lock the address, not the devices; success elsewhere does not lift it', async () => {
    const s = await useStack({ MQTT_AUTH_FAILURES_PER_MIN: '5', MQTT_AUTH_DEVICE_FAILURES_PER_MIN: '100' });
    const devices = await Promise.all(Array.from({ length: 5 }, () => s.registerDevice('air-compressor')));
    const victim = devices[0]!;
    const attacker = '127.0.0.21';
    for (const d of devices.slice(1)) expect(await connectFrom(s, attacker, d.id, d.id, 'guess')).toBe(4);
    expect(await connectFrom(s, attacker, 'svc-x', 'apikey', 'fd_guess')).toBe(4);
    // the address is spent: even a right secret from it is refused unchecked
    expect(await connectFrom(s, attacker, victim.id, victim.id, victim.secret)).toBe(3);
    expect(await connectFrom(s, attacker, 'svc-y', 'apikey', s.adminKey)).toBe(3);
    // a legitimate client elsewhere is unaffected, and its success does not reset the attacker
    expect(await connectFrom(s, '127.0.0.22', victim.id, victim.id, victim.secret)).toBe(0);
    expect(await connectFrom(s, '127.0.0.22', 'svc-z', 'apikey', s.adminKey)).toBe(0);
    expect(await connectFrom(s, attacker, victim.id, victim.id, victim.secret)).toBe(3);
    expect(await rateLimitedCount(s)).toBe(3);
  });

  it('a reconnect storm from one address (a NAT) is not throttled: only failures count', async () => {
    const s = await useStack({ MQTT_AUTH_FAILURES_PER_MIN: '5' });
    const reg = await s.http<{ devices: Array<{ device: { id: string }; secret: string }> }>('POST', '/api/v1/devices/bulk', {
      devices: Array.from({ length: 200 }, (_, i) => ({ type: 'refrigerator', id: `nat-${i}` })),
    });
    expect(reg.status).toBe(201);
    // a few misconfigured devices behind the same address, below the limit
    for (let i = 0; i < 4; i++) expect(await connectFrom(s, '127.0.0.31', `nat-${i}`, `nat-${i}`, 'stale-secret')).toBe(4);
    // all at once; the embedded ops store answers them one by one, hence the patient timeout
    const codes = await Promise.all(reg.body.devices.map(({ device, secret }) => connectFrom(s, '127.0.0.31', device.id, device.id, secret, 25_000)));
    expect(codes.filter((c) => c !== 0)).toEqual([]);
    expect(await rateLimitedCount(s)).toBe(0);
  });
});
