import { describe, expect, it } from 'vitest';
import type { DeviceType } from '../../core/domain/device-type.ts';
import { errors } from '../../core/errors.ts';
import { hashSecret, verifySecret } from '../../core/secrets.ts';
import { loadMigrations, migrate } from '../../storage/sql/migrate.ts';
import { BACKENDS, expectCode, GENERATED, iso, nextNo, openContractStore, T0, u } from './ops-store-contract.ts';

describe.each(BACKENDS)('OpsStore contract on $name: schema, device types, devices, API keys', ({ make }) => {
  const ctx = openContractStore(make);

  describe('migrations', () => {
    it('are recorded once and a second init applies nothing', async () => {
      const files = loadMigrations();
      await ctx.store.init();
      expect(await migrate(ctx.client)).toEqual([]);
      const { rows } = await ctx.client.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => r.version)).toEqual(files.map((f) => f.version));
    });

    it('two processes initialising a fresh database at once both succeed', async () => {
      const db = await ctx.backend.freshDatabase();
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
    expect(ctx.store.kind).toBe(ctx.backend.kind);
    expect(await ctx.store.ping()).toBe(true);
  });

  describe('device types', () => {
    it('creates, refuses a taken name, gets, lists and upserts the validated definition', async () => {
      const name = `t${nextNo()}-pump`;
      const created = await ctx.store.createDeviceType({ name, displayName: 'Pump', metrics: [{ name: 'flowLpm', unit: 'l/min' }] } as DeviceType);
      // Defaults filled in by validation are what is stored.
      expect(created).toMatchObject({ name, description: '', calibrationSamples: 500, metrics: [{ name: 'flowLpm', unit: 'l/min', kind: 'number' }] });
      expect(await ctx.store.getDeviceType(name)).toEqual(created);
      await expectCode(ctx.store.createDeviceType(created), errors.deviceTypeExists.code);

      await ctx.store.upsertDeviceType({ ...created, displayName: 'Big pump' });
      expect((await ctx.store.getDeviceType(name))?.displayName).toBe('Big pump');
      expect(await ctx.store.getDeviceType('no-such-type')).toBeNull();

      const names = (await ctx.store.listDeviceTypes()).map((t) => t.name);
      expect(names).toEqual([...names].sort());
      expect(names).toEqual(expect.arrayContaining([name, 'air-compressor', 'refrigerator', 'washing-machine']));
      await expect(ctx.store.upsertDeviceType({ ...created, metrics: [] })).rejects.toThrow();
    });
  });

  describe('devices', () => {
    it('registers one device with its fields, a generated id and a hashed secret', async () => {
      ctx.nowMs = T0 + 1000;
      const [r] = await ctx.store.registerDevices([{ type: 'air-compressor', model: 'GA-30', firmware: '1.2.3', site: 'plant-1', owner: 'acme' }]);
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
      expect(await ctx.store.getDevice(id)).toEqual(r?.device);

      const auth = await ctx.store.getDeviceAuth(id);
      expect(auth).toMatchObject({ id, type: 'air-compressor', model: 'GA-30', site: 'plant-1', status: 'active' });
      expect(verifySecret(r?.secret as string, auth?.secretHash as string)).toBe(true);
      expect(verifySecret(`${r?.secret}x`, auth?.secretHash as string)).toBe(false);
      const raw = await ctx.client.query('SELECT * FROM devices WHERE id = $1', [id]);
      expect(JSON.stringify(raw.rows)).not.toContain(r?.secret);

      expect(await ctx.store.getDevice('nope')).toBeNull();
      expect(await ctx.store.getDeviceAuth('nope')).toBeNull();
    });

    it('uses idPrefix for generated ids and keeps given ids', async () => {
      const given = u('given');
      const out = await ctx.store.registerDevices([{ type: 'refrigerator' }, { type: 'refrigerator', id: given }], 'plant7');
      expect(out[0]?.device.id).toMatch(GENERATED('plant7'));
      expect(out[1]?.device.id).toBe(given);
      expect(out[0]?.secret).not.toBe(out[1]?.secret);
      await expectCode(ctx.store.registerDevices([{ type: 'refrigerator' }], 'bad/prefix'), errors.validation.code);
    });

    it('bulk-registers 10,000 devices in one call', async () => {
      const site = u('bulk');
      const input = Array.from({ length: 10_000 }, (_, i) => ({ type: i % 2 ? 'air-compressor' : 'refrigerator', site, ...(i % 3 ? {} : { id: `${site}-${i}` }) }));
      const t0 = performance.now();
      const out = await ctx.store.registerDevices(input);
      const ms = performance.now() - t0;
      // reported, not asserted: timings belong in bench/, and a loaded machine must not fail the suite
      console.log(JSON.stringify({ scenario: 'bulk-register-10000', store: ctx.backend.kind, ms: Math.round(ms) }));

      expect(out).toHaveLength(10_000);
      expect(new Set(out.map((o) => o.device.id)).size).toBe(10_000);
      expect(new Set(out.map((o) => o.secret)).size).toBe(10_000);
      out.forEach((o, i) => expect(o.device.type).toBe(input[i]?.type));
      expect(out[0]?.device.id).toBe(`${site}-0`);
      expect(out[1]?.device.id).toMatch(GENERATED('air-compressor'));
      for (const i of [0, 4_999, 9_999]) {
        const o = out[i];
        const auth = await ctx.store.getDeviceAuth(o?.device.id as string);
        expect(verifySecret(o?.secret as string, auth?.secretHash as string)).toBe(true);
      }
      const listed = await ctx.store.listDevices({ site, limit: 10, offset: 0 });
      expect(listed.total).toBe(10_000);
      expect((await ctx.store.listDevices({ site, type: 'air-compressor', limit: 1, offset: 0 })).total).toBe(5_000);
    });

    it('refuses an existing id, atomically', async () => {
      const site = u('dup');
      const [first] = await ctx.store.registerDevices([{ type: 'refrigerator', id: u('d'), site }]);
      const fresh = u('d');
      const err = await ctx.store.registerDevices([{ type: 'refrigerator', id: fresh, site }, { type: 'air-compressor', id: first?.device.id, site }]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: errors.deviceExists.code, statusCode: 409 });
      expect(String((err as Error).message)).toContain(first?.device.id);
      expect(await ctx.store.getDevice(fresh)).toBeNull();
      expect((await ctx.store.getDevice(first?.device.id as string))?.type).toBe('refrigerator');
      expect((await ctx.store.listDevices({ site, limit: 10, offset: 0 })).total).toBe(1);
    });

    it('refuses an id repeated within one request', async () => {
      const id = u('twice');
      await expectCode(ctx.store.registerDevices([{ type: 'refrigerator', id }, { type: 'refrigerator', id }]), errors.deviceExists.code);
      expect(await ctx.store.getDevice(id)).toBeNull();
    });

    it('refuses an unknown type, atomically', async () => {
      const ok = u('ok');
      await expectCode(ctx.store.registerDevices([{ type: 'refrigerator', id: ok }, { type: 'no-such-type' }]), errors.deviceTypeNotFound.code);
      expect(await ctx.store.getDevice(ok)).toBeNull();
      expect(await ctx.store.registerDevices([])).toEqual([]);
    });

    it('rotating the secret invalidates the old one', async () => {
      const [r] = await ctx.store.registerDevices([{ type: 'refrigerator' }]);
      const id = r?.device.id as string;
      const next = await ctx.store.rotateDeviceSecret(id);
      expect(next).toEqual(expect.any(String));
      expect(next).not.toBe(r?.secret);
      const hash = (await ctx.store.getDeviceAuth(id))?.secretHash as string;
      expect(verifySecret(r?.secret as string, hash)).toBe(false);
      expect(verifySecret(next as string, hash)).toBe(true);
      expect(await ctx.store.rotateDeviceSecret('nope')).toBeNull();
    });

    it('updates and disables a device', async () => {
      const [r] = await ctx.store.registerDevices([{ type: 'refrigerator', model: 'm1', site: 's1', owner: 'o1' }]);
      const id = r?.device.id as string;
      const updated = await ctx.store.updateDevice(id, { status: 'disabled', site: null, firmware: '2.0' });
      expect(updated).toEqual({ ...r?.device, status: 'disabled', site: null, firmware: '2.0' });
      expect((await ctx.store.getDeviceAuth(id))?.status).toBe('disabled');
      expect(await ctx.store.updateDevice(id, {})).toEqual(updated);
      expect((await ctx.store.updateDevice(id, { status: 'active' }))?.status).toBe('active');
      expect(await ctx.store.updateDevice('nope', { status: 'disabled' })).toBeNull();
    });

    it('lists with filters, paging and a total', async () => {
      const site = u('list');
      const out = await ctx.store.registerDevices([
        { type: 'refrigerator', id: `${site}-c`, site },
        { type: 'refrigerator', id: `${site}-a`, site },
        { type: 'air-compressor', id: `${site}-b`, site },
        { type: 'air-compressor', id: `${site}-d`, site },
      ]);
      await ctx.store.updateDevice(`${site}-d`, { status: 'disabled' });
      await ctx.store.setPresence(`${site}-a`, true, T0);

      const all = await ctx.store.listDevices({ site, limit: 10, offset: 0 });
      expect(all.total).toBe(4);
      expect(all.items.map((d) => d.id)).toEqual([`${site}-a`, `${site}-b`, `${site}-c`, `${site}-d`]);
      const page = await ctx.store.listDevices({ site, limit: 2, offset: 1 });
      expect(page).toMatchObject({ total: 4, items: [{ id: `${site}-b` }, { id: `${site}-c` }] });
      expect((await ctx.store.listDevices({ site, limit: 2, offset: 10 })).items).toEqual([]);
      expect((await ctx.store.listDevices({ site, type: 'air-compressor', limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([`${site}-b`, `${site}-d`]);
      expect((await ctx.store.listDevices({ site, status: 'disabled', limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([`${site}-d`]);
      expect((await ctx.store.listDevices({ site, online: true, limit: 10, offset: 0 })).items.map((d) => d.id)).toEqual([`${site}-a`]);
      expect((await ctx.store.listDevices({ site, online: false, limit: 10, offset: 0 })).total).toBe(3);
      expect((await ctx.store.listDevices({ site: u('empty'), limit: 10, offset: 0 })).total).toBe(0);
      expect(out).toHaveLength(4);
    });

    it('tracks presence, batched last-seen updates and resets presence', async () => {
      const site = u('presence');
      const ids = [`${site}-1`, `${site}-2`, `${site}-3`];
      await ctx.store.registerDevices(ids.map((id) => ({ type: 'refrigerator', id, site })));

      await ctx.store.setPresence(ids[0] as string, true, T0 + 5_000);
      expect(await ctx.store.getDevice(ids[0] as string)).toMatchObject({ online: true, lastSeenAt: iso(T0 + 5_000) });

      await ctx.store.touchLastSeen([
        { id: ids[0] as string, at: T0 + 1_000 }, // older than what is stored: ignored
        { id: ids[1] as string, at: T0 + 7_000 },
        { id: ids[1] as string, at: T0 + 9_000 }, // same device twice: the latest wins
        { id: ids[1] as string, at: T0 + 8_000 },
        { id: 'not-registered', at: T0 },
      ]);
      expect((await ctx.store.getDevice(ids[0] as string))?.lastSeenAt).toBe(iso(T0 + 5_000));
      expect((await ctx.store.getDevice(ids[1] as string))?.lastSeenAt).toBe(iso(T0 + 9_000));
      expect((await ctx.store.getDevice(ids[2] as string))?.lastSeenAt).toBeNull();
      await ctx.store.touchLastSeen([]);

      await ctx.store.setPresence(ids[2] as string, true, T0 + 10_000);
      await ctx.store.setPresence(ids[2] as string, false, T0 + 11_000);
      expect(await ctx.store.getDevice(ids[2] as string)).toMatchObject({ online: false, lastSeenAt: iso(T0 + 11_000) });

      await ctx.store.setPresence(ids[1] as string, true, T0 + 12_000);
      expect((await ctx.store.listDevices({ site, online: true, limit: 10, offset: 0 })).total).toBe(2);
      await ctx.store.resetPresence();
      expect((await ctx.store.listDevices({ site, online: true, limit: 10, offset: 0 })).total).toBe(0);
      expect((await ctx.store.listDevices({ online: true, limit: 1, offset: 0 })).total).toBe(0);
      // Presence reset keeps the last-seen times.
      expect((await ctx.store.getDevice(ids[1] as string))?.lastSeenAt).toBe(iso(T0 + 12_000));
    });
  });

  describe('api keys', () => {
    it('creates, finds by hash, lists, revokes and counts', async () => {
      ctx.nowMs = T0 + 60_000;
      const admins = await ctx.store.countActiveApiKeys('admin');
      const all = await ctx.store.countActiveApiKeys();

      const gen = await ctx.store.createApiKey('ci', 'service');
      expect(gen.key).toMatch(/^fd_[A-Za-z0-9_-]{43}$/);
      expect(gen.apiKey).toEqual({ id: expect.any(String), name: 'ci', role: 'service', createdAt: iso(T0 + 60_000), revokedAt: null });
      const given = await ctx.store.createApiKey('bootstrap', 'admin', 'a-key-chosen-by-the-operator');
      expect(given.key).toBe('a-key-chosen-by-the-operator');

      const raw = await ctx.client.query('SELECT * FROM api_keys');
      expect(JSON.stringify(raw.rows)).not.toContain(gen.key);
      expect(JSON.stringify(raw.rows)).not.toContain(given.key);

      expect(await ctx.store.findApiKeyByHash(hashSecret(gen.key))).toEqual(gen.apiKey);
      expect(await ctx.store.findApiKeyByHash(hashSecret(given.key))).toEqual(given.apiKey);
      expect(await ctx.store.findApiKeyByHash(hashSecret('fd_wrong'))).toBeNull();
      expect(await ctx.store.countActiveApiKeys('admin')).toBe(admins + 1);
      expect(await ctx.store.countActiveApiKeys('service')).toBeGreaterThanOrEqual(1);
      expect(await ctx.store.countActiveApiKeys()).toBe(all + 2);

      await expectCode(ctx.store.createApiKey('again', 'viewer', given.key), errors.validation.code);

      ctx.nowMs = T0 + 120_000;
      expect(await ctx.store.revokeApiKey(given.apiKey.id)).toBe(true);
      expect(await ctx.store.findApiKeyByHash(hashSecret(given.key))).toBeNull();
      expect(await ctx.store.countActiveApiKeys('admin')).toBe(admins);
      ctx.nowMs = T0 + 180_000;
      expect(await ctx.store.revokeApiKey(given.apiKey.id)).toBe(true);
      expect(await ctx.store.revokeApiKey('no-such-key')).toBe(false);

      const listed = await ctx.store.listApiKeys();
      expect(listed.find((k) => k.id === given.apiKey.id)).toEqual({ ...given.apiKey, revokedAt: iso(T0 + 120_000) });
      expect(listed.find((k) => k.id === gen.apiKey.id)).toEqual(gen.apiKey);
    });
  });
});
