import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../core/clock.ts';
import type { DeviceType } from '../../core/domain/device-type.ts';
import type { NewDeadLetter } from '../../core/domain/dead-letter.ts';
import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import { errors } from '../../core/errors.ts';
import { nullLogger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { hashSecret, verifySecret } from '../../core/secrets.ts';
import { createPgliteClient } from '../../storage/embedded/pglite-client.ts';
import { createPgClient } from '../../storage/postgres/pg-client.ts';
import { loadMigrations, migrate } from '../../storage/sql/migrate.ts';
import type { SqlClient } from '../../storage/sql/sql-client.ts';
import { createSqlOpsStore } from '../../storage/sql/sql-ops-store.ts';
import { startPostgres } from '../helpers/postgres.ts';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const GENERATED = (prefix: string) => new RegExp(`^${prefix}-[a-z2-7]{10}$`);

let uniq = 0;
/** Ids and sites per test, so tests sharing one database do not see each other. */
const u = (label: string) => `${label}-${process.pid}-${++uniq}`;

async function expectCode(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({ code });
}

interface Backend {
  kind: OpsStore['kind'];
  /** A client on the database shared by most tests. */
  connect(): Promise<SqlClient>;
  /**
   * A new empty database; each `connect()` on it is another client, as another
   * process would have (PGlite in memory is one process: the same client).
   */
  freshDatabase(): Promise<{ connect(): Promise<SqlClient> }>;
  teardown(): Promise<void>;
}

async function pgliteBackend(): Promise<Backend> {
  const fresh = async () => {
    const client = await createPgliteClient({ dir: null });
    return { connect: async () => client };
  };
  return {
    kind: 'pglite',
    connect: () => createPgliteClient({ dir: null }),
    freshDatabase: fresh,
    teardown: async () => {},
  };
}

async function postgresBackend(): Promise<Backend> {
  const server = await startPostgres();
  const extra: string[] = [];
  const admin = async <T>(fn: (c: SqlClient) => Promise<T>) => {
    const c = createPgClient({ url: server.url, max: 1 });
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  };
  return {
    kind: 'postgres',
    connect: async () => createPgClient({ url: server.url }),
    async freshDatabase() {
      const name = `fresh_${extra.length}_${process.pid}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      extra.push(name);
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      return { connect: async () => createPgClient({ url: url.toString() }) };
    },
    async teardown() {
      await admin(async (c) => {
        for (const name of extra) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      await server.stop();
    },
  };
}

describe.each([
  { name: 'pglite', make: pgliteBackend },
  { name: 'postgres', make: postgresBackend },
])('OpsStore contract on $name', ({ make }) => {
  let backend: Backend;
  let client: SqlClient;
  let store: OpsStore;
  let nowMs = T0;
  const clock: Clock = { now: () => nowMs };
  const types = loadDeviceTypeFiles();

  beforeAll(async () => {
    backend = await make();
    client = await backend.connect();
    store = createSqlOpsStore({ client, kind: backend.kind, clock, logger: nullLogger() });
    await store.init();
    for (const t of types) await store.upsertDeviceType(t);
  });

  afterAll(async () => {
    await store?.close();
    await backend?.teardown();
  });

  describe('migrations', () => {
    it('are recorded once and a second init applies nothing', async () => {
      const files = loadMigrations();
      await store.init();
      expect(await migrate(client)).toEqual([]);
      const { rows } = await client.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(files.map((f) => f.version));
    });

    it('two processes initialising a fresh database at once both succeed', async () => {
      const db = await backend.freshDatabase();
      const [a, b] = [await db.connect(), await db.connect()];
      try {
        const results = await Promise.all([migrate(a), migrate(b)]);
        expect(results.map((r) => r.length).sort()).toEqual([0, loadMigrations().length]);
        const { rows } = await a.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
        expect(rows[0]?.n).toBe(loadMigrations().length);
      } finally {
        if (b !== a) await b.close();
        await a.close();
      }
    });
  });

  it('answers ping while open', async () => {
    expect(store.kind).toBe(backend.kind);
    expect(await store.ping()).toBe(true);
  });

  describe('device types', () => {
    it('creates, refuses a taken name, gets, lists and upserts the validated definition', async () => {
      const name = `t${++uniq}-pump`;
      const created = await store.createDeviceType({ name, displayName: 'Pump', metrics: [{ name: 'flowLpm', unit: 'l/min' }] } as DeviceType);
      // Defaults filled in by validation are what is stored.
      expect(created).toMatchObject({ name, description: '', calibrationSamples: 500, metrics: [{ name: 'flowLpm', unit: 'l/min', kind: 'number' }] });
      expect(await store.getDeviceType(name)).toEqual(created);
      await expectCode(store.createDeviceType(created), errors.deviceTypeExists.code);

      await store.upsertDeviceType({ ...created, displayName: 'Big pump' });
      expect((await store.getDeviceType(name))?.displayName).toBe('Big pump');
      expect(await store.getDeviceType('no-such-type')).toBeNull();

      const names = (await store.listDeviceTypes()).map((t) => t.name);
      expect(names).toEqual([...names].sort());
      expect(names).toEqual(expect.arrayContaining([name, 'air-compressor', 'refrigerator', 'washing-machine']));
      await expect(store.upsertDeviceType({ ...created, metrics: [] })).rejects.toThrow();
    });
  });

  describe('devices', () => {
    it('registers one device with its fields, a generated id and a hashed secret', async () => {
      nowMs = T0 + 1000;
      const [r] = await store.registerDevices([{ type: 'air-compressor', model: 'GA-30', firmware: '1.2.3', site: 'plant-1', owner: 'acme' }]);
      expect(r?.device).toEqual({
        id: expect.stringMatching(GENERATED('air-compressor')),
        type: 'air-compressor',
        model: 'GA-30',
        firmware: '1.2.3',
        site: 'plant-1',
        owner: 'acme',
        status: 'active',
        online: false,
        lastSeenAt: null,
        createdAt: iso(T0 + 1000),
      });
      const id = r?.device.id as string;
      expect(await store.getDevice(id)).toEqual(r?.device);

      const auth = await store.getDeviceAuth(id);
      expect(auth).toMatchObject({ id, type: 'air-compressor', model: 'GA-30', site: 'plant-1', status: 'active' });
      expect(verifySecret(r?.secret as string, auth?.secretHash as string)).toBe(true);
      expect(verifySecret(`${r?.secret}x`, auth?.secretHash as string)).toBe(false);
      const raw = await client.query('SELECT * FROM devices WHERE id = $1', [id]);
      expect(JSON.stringify(raw.rows)).not.toContain(r?.secret);

      expect(await store.getDevice('nope')).toBeNull();
      expect(await store.getDeviceAuth('nope')).toBeNull();
    });

    it('uses idPrefix for generated ids and keeps given ids', async () => {
      const given = u('given');
      const out = await store.registerDevices([{ type: 'refrigerator' }, { type: 'refrigerator', id: given }], 'plant7');
      expect(out[0]?.device.id).toMatch(GENERATED('plant7'));
      expect(out[1]?.device.id).toBe(given);
      expect(out[0]?.secret).not.toBe(out[1]?.secret);
      await expectCode(store.registerDevices([{ type: 'refrigerator' }], 'bad/prefix'), errors.validation.code);
    });

    it('bulk-registers 10,000 devices in one call', async () => {
      const site = u('bulk');
      const input = Array.from({ length: 10_000 }, (_, i) => ({ type: i % 2 ? 'air-compressor' : 'refrigerator', site, ...(i % 3 ? {} : { id: `${site}-${i}` }) }));
      const t0 = performance.now();
      const out = await store.registerDevices(input);
      const ms = performance.now() - t0;
      // reported, not asserted: timings belong in bench/, and a loaded machine must not fail the suite
      console.log(JSON.stringify({ scenario: 'bulk-register-10000', store: backend.kind, ms: Math.round(ms) }));

      expect(out).toHaveLength(10_000);
      expect(new Set(out.map((o) => o.device.id)).size).toBe(10_000);
      expect(new Set(out.map((o) => o.secret)).size).toBe(10_000);
      out.forEach((o, i) => expect(o.device.type).toBe(input[i]?.type));
      expect(out[0]?.device.id).toBe(`${site}-0`);
      expect(out[1]?.device.id).toMatch(GENERATED('air-compressor'));
      for (const i of [0, 4_999, 9_999]) {
        const o = out[i];
        const auth = await store.getDeviceAuth(o?.device.id as string);
        expect(verifySecret(o?.secret as string, auth?.secretHash as string)).toBe(true);
      }
      const listed = await store.listDevices({ site, limit: 10, offset: 0 });
      expect(listed.total).toBe(10_000);
      expect((await store.listDevices({ site, type: 'air-compressor', limit: 1, offset: 0 })).total).toBe(5_000);
    });

    it('refuses an existing id, atomically', async () => {
      const site = u('dup');
      const [first] = await store.registerDevices([{ type: 'refrigerator', id: u('d'), site }]);
      const fresh = u('d');
      const err = await store.registerDevices([{ type: 'refrigerator', id: fresh, site }, { type: 'air-compressor', id: first?.device.id, site }]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: errors.deviceExists.code, statusCode: 409 });
      expect(String((err as Error).message)).toContain(first?.device.id);
      expect(await store.getDevice(fresh)).toBeNull();
      expect((await store.getDevice(first?.device.id as string))?.type).toBe('refrigerator');
      expect((await store.listDevices({ site, limit: 10, offset: 0 })).total).toBe(1);
    });

    it('refuses an id repeated within one request', async () => {
      const id = u('twice');
      await expectCode(store.registerDevices([{ type: 'refrigerator', id }, { type: 'refrigerator', id }]), errors.deviceExists.code);
      expect(await store.getDevice(id)).toBeNull();
    });

    it('refuses an unknown type, atomically', async () => {
      const ok = u('ok');
      await expectCode(store.registerDevices([{ type: 'refrigerator', id: ok }, { type: 'no-such-type' }]), errors.deviceTypeNotFound.code);
      expect(await store.getDevice(ok)).toBeNull();
      expect(await store.registerDevices([])).toEqual([]);
    });

    it('rotating the secret invalidates the old one', async () => {
      const [r] = await store.registerDevices([{ type: 'refrigerator' }]);
      const id = r?.device.id as string;
      const next = await store.rotateDeviceSecret(id);
      expect(next).toEqual(expect.any(String));
      expect(next).not.toBe(r?.secret);
      const hash = (await store.getDeviceAuth(id))?.secretHash as string;
      expect(verifySecret(r?.secret as string, hash)).toBe(false);
      expect(verifySecret(next as string, hash)).toBe(true);
      expect(await store.rotateDeviceSecret('nope')).toBeNull();
    });

    it('updates and disables a device', async () => {
      const [r] = await store.registerDevices([{ type: 'refrigerator', model: 'm1', site: 's1', owner: 'o1' }]);
      const id = r?.device.id as string;
      const updated = await store.updateDevice(id, { status: 'disabled', site: null, firmware: '2.0' });
      expect(updated).toEqual({ ...r?.device, status: 'disabled', site: null, firmware: '2.0' });
      expect((await store.getDeviceAuth(id))?.status).toBe('disabled');
      expect(await store.updateDevice(id, {})).toEqual(updated);
      expect((await store.updateDevice(id, { status: 'active' }))?.status).toBe('active');
      expect(await store.updateDevice('nope', { status: 'disabled' })).toBeNull();
    });

    it('lists with filters, paging and a total', async () => {
      const site = u('list');
      const out = await store.registerDevices([
        { type: 'refrigerator', id: `${site}-c`, site },
        { type: 'refrigerator', id: `${site}-a`, site },
        { type: 'air-compressor', id: `${site}-b`, site },
        { type: 'air-compressor', id: `${site}-d`, site },
      ]);
      await store.updateDevice(`${site}-d`, { status: 'disabled' });
      await store.setPresence(`${site}-a`, true, T0);

      const all = await store.listDevices({ site, limit: 10, offset: 0 });
      expect(all.total).toBe(4);
      expect(all.items.map((d) => d.id)).toEqual([`${site}-a`, `${site}-b`, `${site}-c`, `${site}-d`]);
      const page = await store.listDevices({ site, limit: 2, offset: 1 });
      expect(page).toMatchObject({ total: 4, items: [{ id: `${site}-b` }, { id: `${site}-c` }] });
      expect((await store.listDevices({ site, limit: 2, offset: 10 })).items).toEqual([]);
      expect((await store.listDevices({ site, type: 'air-compressor', limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([`${site}-b`, `${site}-d`]);
      expect((await store.listDevices({ site, status: 'disabled', limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([`${site}-d`]);
      expect((await store.listDevices({ site, online: true, limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([`${site}-a`]);
      expect((await store.listDevices({ site, online: false, limit: 10, offset: 0 })).total).toBe(3);
      expect((await store.listDevices({ site: u('empty'), limit: 10, offset: 0 })).total).toBe(0);
      expect(out).toHaveLength(4);
    });

    it('tracks presence, batched last-seen updates and resets presence', async () => {
      const site = u('presence');
      const ids = [`${site}-1`, `${site}-2`, `${site}-3`];
      await store.registerDevices(ids.map((id) => ({ type: 'refrigerator', id, site })));

      await store.setPresence(ids[0] as string, true, T0 + 5_000);
      expect(await store.getDevice(ids[0] as string)).toMatchObject({ online: true, lastSeenAt: iso(T0 + 5_000) });

      await store.touchLastSeen([
        { id: ids[0] as string, at: T0 + 1_000 }, // older than what is stored: ignored
        { id: ids[1] as string, at: T0 + 7_000 },
        { id: ids[1] as string, at: T0 + 9_000 }, // same device twice: the latest wins
        { id: ids[1] as string, at: T0 + 8_000 },
        { id: 'not-registered', at: T0 },
      ]);
      expect((await store.getDevice(ids[0] as string))?.lastSeenAt).toBe(iso(T0 + 5_000));
      expect((await store.getDevice(ids[1] as string))?.lastSeenAt).toBe(iso(T0 + 9_000));
      expect((await store.getDevice(ids[2] as string))?.lastSeenAt).toBeNull();
      await store.touchLastSeen([]);

      await store.setPresence(ids[2] as string, true, T0 + 10_000);
      await store.setPresence(ids[2] as string, false, T0 + 11_000);
      expect(await store.getDevice(ids[2] as string)).toMatchObject({ online: false, lastSeenAt: iso(T0 + 11_000) });

      await store.setPresence(ids[1] as string, true, T0 + 12_000);
      expect((await store.listDevices({ site, online: true, limit: 10, offset: 0 })).total).toBe(2);
      await store.resetPresence();
      expect((await store.listDevices({ site, online: true, limit: 10, offset: 0 })).total).toBe(0);
      expect((await store.listDevices({ online: true, limit: 1, offset: 0 })).total).toBe(0);
      // Presence reset keeps the last-seen times.
      expect((await store.getDevice(ids[1] as string))?.lastSeenAt).toBe(iso(T0 + 12_000));
    });
  });

  describe('api keys', () => {
    it('creates, finds by hash, lists, revokes and counts', async () => {
      nowMs = T0 + 60_000;
      const admins = await store.countActiveApiKeys('admin');
      const all = await store.countActiveApiKeys();

      const gen = await store.createApiKey('ci', 'service');
      expect(gen.key).toMatch(/^fd_[A-Za-z0-9_-]{43}$/);
      expect(gen.apiKey).toEqual({ id: expect.any(String), name: 'ci', role: 'service', createdAt: iso(T0 + 60_000), revokedAt: null });
      const given = await store.createApiKey('bootstrap', 'admin', 'a-key-chosen-by-the-operator');
      expect(given.key).toBe('a-key-chosen-by-the-operator');

      const raw = await client.query('SELECT * FROM api_keys');
      expect(JSON.stringify(raw.rows)).not.toContain(gen.key);
      expect(JSON.stringify(raw.rows)).not.toContain(given.key);

      expect(await store.findApiKeyByHash(hashSecret(gen.key))).toEqual(gen.apiKey);
      expect(await store.findApiKeyByHash(hashSecret(given.key))).toEqual(given.apiKey);
      expect(await store.findApiKeyByHash(hashSecret('fd_wrong'))).toBeNull();
      expect(await store.countActiveApiKeys('admin')).toBe(admins + 1);
      expect(await store.countActiveApiKeys('service')).toBeGreaterThanOrEqual(1);
      expect(await store.countActiveApiKeys()).toBe(all + 2);

      await expectCode(store.createApiKey('again', 'viewer', given.key), errors.validation.code);

      nowMs = T0 + 120_000;
      expect(await store.revokeApiKey(given.apiKey.id)).toBe(true);
      expect(await store.findApiKeyByHash(hashSecret(given.key))).toBeNull();
      expect(await store.countActiveApiKeys('admin')).toBe(admins);
      nowMs = T0 + 180_000;
      expect(await store.revokeApiKey(given.apiKey.id)).toBe(true);
      expect(await store.revokeApiKey('no-such-key')).toBe(false);

      const listed = await store.listApiKeys();
      expect(listed.find((k) => k.id === given.apiKey.id)).toEqual({ ...given.apiKey, revokedAt: iso(T0 + 120_000) });
      expect(listed.find((k) => k.id === gen.apiKey.id)).toEqual(gen.apiKey);
    });
  });

  describe('dead letters', () => {
    it('stores them and filters by device, reason and time, newest first', async () => {
      const [d1, d2] = [u('dl'), u('dl')];
      const dl = (deviceId: string, reason: NewDeadLetter['reason'], at: number, payload = '{}'): NewDeadLetter => ({
        deviceId,
        topic: `devices/${deviceId}/telemetry`,
        reason,
        detail: `${reason} at ${at}`,
        payload,
        payloadBytes: Buffer.byteLength(payload),
        receivedAt: iso(at),
      });
      await store.addDeadLetters([
        dl(d1, 'invalid_json', T0 + 1, 'not json\0with a NUL'),
        dl(d1, 'out_of_range', T0 + 2),
        dl(d2, 'invalid_json', T0 + 3),
        dl(d1, 'invalid_json', T0 + 4),
      ]);
      await store.addDeadLetters([]);

      const ofD1 = await store.listDeadLetters({ deviceId: d1, limit: 10 });
      expect(ofD1.map((d) => d.receivedAt)).toEqual([iso(T0 + 4), iso(T0 + 2), iso(T0 + 1)]);
      expect(ofD1[2]).toEqual({
        id: expect.stringMatching(/^\d+$/),
        deviceId: d1,
        topic: `devices/${d1}/telemetry`,
        reason: 'invalid_json',
        detail: `invalid_json at ${T0 + 1}`,
        payload: 'not json\uFFFDwith a NUL',
        payloadBytes: 19,
        receivedAt: iso(T0 + 1),
      });
      expect((await store.listDeadLetters({ deviceId: d1, reason: 'invalid_json', limit: 10 })).map((d) => d.receivedAt)).toEqual([iso(T0 + 4), iso(T0 + 1)]);
      expect((await store.listDeadLetters({ deviceId: d1, from: T0 + 2, to: T0 + 4, limit: 10 })).map((d) => d.receivedAt)).toEqual([iso(T0 + 2)]);
      expect((await store.listDeadLetters({ deviceId: d1, limit: 1 })).map((d) => d.receivedAt)).toEqual([iso(T0 + 4)]);
      const byReason = await store.listDeadLetters({ reason: 'invalid_json', from: T0, to: T0 + 5, limit: 100 });
      expect(byReason.filter((d) => d.deviceId === d1 || d.deviceId === d2).map((d) => [d.deviceId, d.receivedAt])).toEqual([
        [d1, iso(T0 + 4)],
        [d2, iso(T0 + 3)],
        [d1, iso(T0 + 1)],
      ]);
      expect(await store.listDeadLetters({ deviceId: u('none'), limit: 10 })).toEqual([]);
    });
  });

  describe('events', () => {
    it('stores them and lists a device’s by time, newest first', async () => {
      const [d1, d2] = [u('ev'), u('ev')];
      await store.addEvents([
        { deviceId: d1, ts: iso(T0 + 10), kind: 'error', code: 'E17', message: 'motor overheated', data: { tempC: 98.5, tripped: true } },
        { deviceId: d1, ts: iso(T0 + 20), kind: 'state', code: null, message: null, data: null },
        { deviceId: d2, ts: iso(T0 + 15), kind: 'info', code: null, message: 'hello', data: null },
        { deviceId: d1, ts: iso(T0 + 30), kind: 'warning', code: 'W2', message: null, data: { s: 'x' } },
      ]);
      await store.addEvents([]);
      const all = await store.listEvents(d1, { limit: 10 });
      expect(all.map((e) => e.ts)).toEqual([iso(T0 + 30), iso(T0 + 20), iso(T0 + 10)]);
      expect(all[2]).toEqual({ id: expect.stringMatching(/^\d+$/), deviceId: d1, ts: iso(T0 + 10), kind: 'error', code: 'E17', message: 'motor overheated', data: { tempC: 98.5, tripped: true } });
      expect(all[1]).toMatchObject({ code: null, message: null, data: null });
      expect((await store.listEvents(d1, { from: T0 + 20, to: T0 + 30, limit: 10 })).map((e) => e.ts)).toEqual([iso(T0 + 20)]);
      expect((await store.listEvents(d1, { limit: 2 })).map((e) => e.ts)).toEqual([iso(T0 + 30), iso(T0 + 20)]);
      expect((await store.listEvents(d2, { limit: 10 })).map((e) => e.message)).toEqual(['hello']);
    });
  });

  describe('commands', () => {
    let deviceId: string;
    beforeAll(async () => {
      deviceId = (await store.registerDevices([{ type: 'air-compressor' }]))[0]?.device.id as string;
    });
    const create = (name: string, now: number, ttl = 60_000, device = deviceId) =>
      store.createCommand({ deviceId: device, name, params: { seconds: 5, nested: { a: [1, 2] } }, expiresAt: now + ttl, now });

    it('creates a sent command and refuses an unknown device', async () => {
      const c = await create('purge_condensate', T0);
      expect(c).toEqual({
        id: expect.any(String),
        deviceId,
        name: 'purge_condensate',
        params: { seconds: 5, nested: { a: [1, 2] } },
        status: 'sent',
        detail: null,
        createdAt: iso(T0),
        updatedAt: iso(T0),
        expiresAt: iso(T0 + 60_000),
      });
      expect(await store.getCommand(c.id)).toEqual(c);
      expect(await store.getCommand('nope')).toBeNull();
      await expectCode(store.createCommand({ deviceId: 'no-such-device', name: 'x', params: {}, expiresAt: T0 + 1, now: T0 }), errors.deviceNotFound.code);
    });

    it('moves sent → accepted → done, and a terminal command never moves', async () => {
      const c = await create('restart', T0);
      const accepted = await store.advanceCommand(deviceId, c.id, 'accepted', null, T0 + 1_000);
      expect(accepted).toMatchObject({ status: 'accepted', detail: null, updatedAt: iso(T0 + 1_000) });
      expect((await store.advanceCommand(deviceId, c.id, 'accepted', 'again', T0 + 1_500))?.updatedAt).toBe(iso(T0 + 1_000));
      const done = await store.advanceCommand(deviceId, c.id, 'done', 'restarted in 3 s', T0 + 2_000);
      expect(done).toMatchObject({ status: 'done', detail: 'restarted in 3 s', updatedAt: iso(T0 + 2_000) });
      expect(await store.advanceCommand(deviceId, c.id, 'failed', 'late', T0 + 3_000)).toEqual(done);
      expect(await store.advanceCommand(deviceId, c.id, 'accepted', null, T0 + 3_000)).toEqual(done);
      expect(await store.getCommand(c.id)).toEqual(done);
    });

    it('allows sent → done and sent → failed directly; failed is terminal', async () => {
      const a = await create('a', T0);
      expect((await store.advanceCommand(deviceId, a.id, 'done', null, T0 + 1))?.status).toBe('done');
      const b = await create('b', T0);
      const failed = await store.advanceCommand(deviceId, b.id, 'failed', 'valve stuck', T0 + 1);
      expect(failed).toMatchObject({ status: 'failed', detail: 'valve stuck' });
      expect(await store.advanceCommand(deviceId, b.id, 'done', null, T0 + 2)).toEqual(failed);
    });

    it('returns null for another device’s or an unknown command, and refuses non-ack states', async () => {
      const c = await create('c', T0);
      expect(await store.advanceCommand('other-device', c.id, 'done', null, T0 + 1)).toBeNull();
      expect(await store.advanceCommand(deviceId, 'nope', 'done', null, T0 + 1)).toBeNull();
      // @ts-expect-error — 'expired' is the store's own decision, not an ack
      await expectCode(store.advanceCommand(deviceId, c.id, 'expired', null, T0 + 1), errors.validation.code);
      expect((await store.getCommand(c.id))?.status).toBe('sent');
    });

    it('does not advance past expiry; expireCommands marks unfinished ones and returns them', async () => {
      // Its own device and a later time, so commands of other tests do not interfere.
      const dev = (await store.registerDevices([{ type: 'air-compressor' }]))[0]?.device.id as string;
      const base = T0 + 1_000_000;
      const sent = await create('sent', base, 1_000, dev);
      const accepted = await create('accepted', base, 1_000, dev);
      await store.advanceCommand(dev, accepted.id, 'accepted', null, base + 10);
      const done = await create('done', base, 1_000, dev);
      await store.advanceCommand(dev, done.id, 'done', 'ok', base + 10);
      const later = await create('later', base, 10_000, dev);

      // Past expiry but not yet swept: returned as is.
      expect(await store.advanceCommand(dev, sent.id, 'done', null, base + 1_000)).toEqual(sent);

      const expired = await store.expireCommands(base + 1_000);
      const mine = expired.filter((c) => c.deviceId === dev);
      expect(mine.map((c) => c.id).sort()).toEqual([sent.id, accepted.id].sort());
      for (const c of mine) expect(c).toMatchObject({ status: 'expired', updatedAt: iso(base + 1_000) });
      expect((await store.getCommand(done.id))?.status).toBe('done');
      expect((await store.getCommand(later.id))?.status).toBe('sent');
      expect(await store.expireCommands(base + 1_000)).toEqual([]);

      // Expired is terminal even for an ack that claims an earlier time.
      expect((await store.advanceCommand(dev, sent.id, 'accepted', null, base))?.status).toBe('expired');
    });

    it('lists a device’s commands newest first', async () => {
      const other = (await store.registerDevices([{ type: 'refrigerator' }]))[0]?.device.id as string;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push((await store.createCommand({ deviceId: other, name: `n${i}`, params: {}, expiresAt: T0 + 10_000, now: T0 + i })).id);
      }
      expect((await store.listCommands(other, 10)).map((c) => c.id)).toEqual([...ids].reverse());
      expect((await store.listCommands(other, 2)).map((c) => c.name)).toEqual(['n2', 'n1']);
      expect(await store.listCommands('nobody', 10)).toEqual([]);
    });
  });

  it('ping is false once the store is closed', async () => {
    const c = await (await backend.freshDatabase()).connect();
    const s = createSqlOpsStore({ client: c, kind: backend.kind, logger: nullLogger() });
    await s.init();
    await s.close();
    await s.close();
    expect(await s.ping()).toBe(false);
  });
});

describe('PGlite on disk', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetdoc-pglite-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps its data across close and reopen on the same dir', { timeout: 180_000 }, async () => {
    const open = async () => {
      const s = createSqlOpsStore({ client: await createPgliteClient({ dir }), kind: 'pglite', logger: nullLogger() });
      await s.init();
      return s;
    };
    const first = await open();
    for (const t of loadDeviceTypeFiles()) await first.upsertDeviceType(t);
    const [r] = await first.registerDevices([{ type: 'washing-machine', site: 'home' }]);
    const { key } = await first.createApiKey('persisted', 'viewer');
    await first.close();

    const second = await open();
    try {
      expect(await second.getDevice(r?.device.id as string)).toEqual(r?.device);
      expect(verifySecret(r?.secret as string, (await second.getDeviceAuth(r?.device.id as string))?.secretHash as string)).toBe(true);
      expect((await second.findApiKeyByHash(hashSecret(key)))?.name).toBe('persisted');
      expect((await second.listDeviceTypes()).map((t) => t.name)).toContain('washing-machine');
    } finally {
      await second.close();
    }
  });
});
