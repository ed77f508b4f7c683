import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewDeadLetter } from '../../core/domain/dead-letter.ts';
import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import { errors } from '../../core/errors.ts';
import { nullLogger } from '../../core/logger.ts';
import { hashSecret, verifySecret } from '../../core/secrets.ts';
import { createPgliteClient } from '../../storage/embedded/pglite-client.ts';
import { createSqlOpsStore } from '../../storage/sql/sql-ops-store.ts';
import { BACKENDS, expectCode, iso, openContractStore, T0, u } from './ops-store-contract.ts';

describe.each(BACKENDS)('OpsStore contract on $name: dead letters, events, commands', ({ make }) => {
  const ctx = openContractStore(make);

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
      await ctx.store.addDeadLetters([
        dl(d1, 'invalid_json', T0 + 1, 'not json\0with a NUL'),
        dl(d1, 'out_of_range', T0 + 2),
        dl(d2, 'invalid_json', T0 + 3),
        dl(d1, 'invalid_json', T0 + 4),
      ]);
      await ctx.store.addDeadLetters([]);

      const ofD1 = await ctx.store.listDeadLetters({ deviceId: d1, limit: 10 });
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
      expect((await ctx.store.listDeadLetters({ deviceId: d1, reason: 'invalid_json', limit: 10 })).map((d) => d.receivedAt)).toEqual([iso(T0 + 4), iso(T0 + 1)]);
      expect((await ctx.store.listDeadLetters({ deviceId: d1, from: T0 + 2, to: T0 + 4, limit: 10 })).map((d) => d.receivedAt)).toEqual([iso(T0 + 2)]);
      expect((await ctx.store.listDeadLetters({ deviceId: d1, limit: 1 })).map((d) => d.receivedAt)).toEqual([iso(T0 + 4)]);
      const byReason = await ctx.store.listDeadLetters({ reason: 'invalid_json', from: T0, to: T0 + 5, limit: 100 });
      expect(byReason.filter((d) => d.deviceId === d1 || d.deviceId === d2).map((d) => [d.deviceId, d.receivedAt])).toEqual([
        [d1, iso(T0 + 4)],
        [d2, iso(T0 + 3)],
        [d1, iso(T0 + 1)],
      ]);
      expect(await ctx.store.listDeadLetters({ deviceId: u('none'), limit: 10 })).toEqual([]);
    });
  });

  describe('events', () => {
    it('stores them and lists a device’s by time, newest first', async () => {
      const [d1, d2] = [u('ev'), u('ev')];
      await ctx.store.addEvents([
        { deviceId: d1, ts: iso(T0 + 10), kind: 'error', code: 'E17', message: 'motor overheated', data: { tempC: 98.5, tripped: true } },
        { deviceId: d1, ts: iso(T0 + 20), kind: 'state', code: null, message: null, data: null },
        { deviceId: d2, ts: iso(T0 + 15), kind: 'info', code: null, message: 'hello', data: null },
        { deviceId: d1, ts: iso(T0 + 30), kind: 'warning', code: 'W2', message: null, data: { s: 'x' } },
      ]);
      await ctx.store.addEvents([]);
      const all = await ctx.store.listEvents(d1, { limit: 10 });
      expect(all.map((e) => e.ts)).toEqual([iso(T0 + 30), iso(T0 + 20), iso(T0 + 10)]);
      expect(all[2]).toEqual({ id: expect.stringMatching(/^\d+$/), deviceId: d1, ts: iso(T0 + 10), kind: 'error', code: 'E17', message: 'motor overheated', data: { tempC: 98.5, tripped: true } });
      expect(all[1]).toMatchObject({ code: null, message: null, data: null });
      expect((await ctx.store.listEvents(d1, { from: T0 + 20, to: T0 + 30, limit: 10 })).map((e) => e.ts)).toEqual([iso(T0 + 20)]);
      expect((await ctx.store.listEvents(d1, { limit: 2 })).map((e) => e.ts)).toEqual([iso(T0 + 30), iso(T0 + 20)]);
      expect((await ctx.store.listEvents(d2, { limit: 10 })).map((e) => e.message)).toEqual(['hello']);
    });
  });

  describe('commands', () => {
    let deviceId: string;
    beforeAll(async () => {
      deviceId = (await ctx.store.registerDevices([{ type: 'air-compressor' }]))[0]?.device.id as string;
    });
    const create = (name: string, now: number, ttl = 60_000, device = deviceId) =>
      ctx.store.createCommand({ deviceId: device, name, params: { seconds: 5, nested: { a: [1, 2] } }, expiresAt: now + ttl, now });

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
      expect(await ctx.store.getCommand(c.id)).toEqual(c);
      expect(await ctx.store.getCommand('nope')).toBeNull();
      await expectCode(ctx.store.createCommand({ deviceId: 'no-such-device', name: 'x', params: {}, expiresAt: T0 + 1, now: T0 }), errors.deviceNotFound.code);
    });

    it('moves sent → accepted → done, and a terminal command never moves', async () => {
      const c = await create('restart', T0);
      const accepted = await ctx.store.advanceCommand(deviceId, c.id, 'accepted', null, T0 + 1_000);
      expect(accepted).toMatchObject({ status: 'accepted', detail: null, updatedAt: iso(T0 + 1_000) });
      expect((await ctx.store.advanceCommand(deviceId, c.id, 'accepted', 'again', T0 + 1_500))?.updatedAt).toBe(iso(T0 + 1_000));
      const done = await ctx.store.advanceCommand(deviceId, c.id, 'done', 'restarted in 3 s', T0 + 2_000);
      expect(done).toMatchObject({ status: 'done', detail: 'restarted in 3 s', updatedAt: iso(T0 + 2_000) });
      expect(await ctx.store.advanceCommand(deviceId, c.id, 'failed', 'late', T0 + 3_000)).toEqual(done);
      expect(await ctx.store.advanceCommand(deviceId, c.id, 'accepted', null, T0 + 3_000)).toEqual(done);
      expect(await ctx.store.getCommand(c.id)).toEqual(done);
    });

    it('allows sent → done and sent → failed directly; failed is terminal', async () => {
      const a = await create('a', T0);
      expect((await ctx.store.advanceCommand(deviceId, a.id, 'done', null, T0 + 1))?.status).toBe('done');
      const b = await create('b', T0);
      const failed = await ctx.store.advanceCommand(deviceId, b.id, 'failed', 'valve stuck', T0 + 1);
      expect(failed).toMatchObject({ status: 'failed', detail: 'valve stuck' });
      expect(await ctx.store.advanceCommand(deviceId, b.id, 'done', null, T0 + 2)).toEqual(failed);
    });

    it('returns null for another device’s or an unknown command, and refuses non-ack states', async () => {
      const c = await create('c', T0);
      expect(await ctx.store.advanceCommand('other-device', c.id, 'done', null, T0 + 1)).toBeNull();
      expect(await ctx.store.advanceCommand(deviceId, 'nope', 'done', null, T0 + 1)).toBeNull();
      // @ts-expect-error — 'expired' is the store's own decision, not an ack
      await expectCode(ctx.store.advanceCommand(deviceId, c.id, 'expired', null, T0 + 1), errors.validation.code);
      expect((await ctx.store.getCommand(c.id))?.status).toBe('sent');
    });

    it('does not advance past expiry; expireCommands marks unfinished ones and returns them', async () => {
      // Its own device and a later time, so commands of other tests do not interfere.
      const dev = (await ctx.store.registerDevices([{ type: 'air-compressor' }]))[0]?.device.id as string;
      const base = T0 + 1_000_000;
      const sent = await create('sent', base, 1_000, dev);
      const accepted = await create('accepted', base, 1_000, dev);
      await ctx.store.advanceCommand(dev, accepted.id, 'accepted', null, base + 10);
      const done = await create('done', base, 1_000, dev);
      await ctx.store.advanceCommand(dev, done.id, 'done', 'ok', base + 10);
      const later = await create('later', base, 10_000, dev);

      // Past expiry but not yet swept: returned as is.
      expect(await ctx.store.advanceCommand(dev, sent.id, 'done', null, base + 1_000)).toEqual(sent);

      const expired = await ctx.store.expireCommands(base + 1_000);
      const mine = expired.filter((c) => c.deviceId === dev);
      expect(mine.map((c) => c.id).sort()).toEqual([sent.id, accepted.id].sort());
      for (const c of mine) expect(c).toMatchObject({ status: 'expired', updatedAt: iso(base + 1_000) });
      expect((await ctx.store.getCommand(done.id))?.status).toBe('done');
      expect((await ctx.store.getCommand(later.id))?.status).toBe('sent');
      expect(await ctx.store.expireCommands(base + 1_000)).toEqual([]);

      // Expired is terminal even for an ack that claims an earlier time.
      expect((await ctx.store.advanceCommand(dev, sent.id, 'accepted', null, base))?.status).toBe('expired');
    });

    it('lists a device’s commands newest first', async () => {
      const other = (await ctx.store.registerDevices([{ type: 'refrigerator' }]))[0]?.device.id as string;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push((await ctx.store.createCommand({ deviceId: other, name: `n${i}`, params: {}, expiresAt: T0 + 10_000, now: T0 + i })).id);
      }
      expect((await ctx.store.listCommands(other, 10)).map((c) => c.id)).toEqual([...ids].reverse());
      expect((await ctx.store.listCommands(other, 2)).map((c) => c.name)).toEqual(['n2', 'n1']);
      expect(await ctx.store.listCommands('nobody', 10)).toEqual([]);
    });
  });

  describe('diagnosis checkpoints', () => {
    it('upserts one state per device and part, returns them for the devices asked, bytes intact', async () => {
      const [d1, d2, d3] = [u('ck'), u('ck'), u('ck')];
      const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255);
      // an unaligned view into a larger buffer, as a caller may hand over
      const big = bytes(1001, 7);
      await ctx.store.saveDiagnosisStates([
        { deviceId: d1, part: 'rules', key: 'air-compressor:aaa', state: big.subarray(1) },
        { deviceId: d1, part: 'model', key: 'shipped:m:0', state: bytes(24, 1) },
        { deviceId: d2, part: 'rules', key: 'air-compressor:aaa', state: bytes(0, 0) },
      ]);
      await ctx.store.saveDiagnosisStates([]);
      await ctx.store.saveDiagnosisStates([{ deviceId: d1, part: 'rules', key: 'air-compressor:bbb', state: bytes(16, 3) }]);
      const got = (await ctx.store.loadDiagnosisStates([d1, d2, d3])).sort((a, b) => `${a.deviceId}${a.part}`.localeCompare(`${b.deviceId}${b.part}`));
      expect(got).toEqual([
        { deviceId: d1, part: 'model', key: 'shipped:m:0', state: bytes(24, 1) },
        { deviceId: d1, part: 'rules', key: 'air-compressor:bbb', state: bytes(16, 3) },
        { deviceId: d2, part: 'rules', key: 'air-compressor:aaa', state: bytes(0, 0) },
      ]);
      expect(await ctx.store.loadDiagnosisStates([d3])).toEqual([]);
      expect(await ctx.store.loadDiagnosisStates([])).toEqual([]);
      // more than one INSERT's worth in one call
      const many = Array.from({ length: 1203 }, (_, i) => ({ deviceId: `${d3}-${i}`, part: 'rules' as const, key: 'k', state: bytes(40, i) }));
      await ctx.store.saveDiagnosisStates(many);
      const back = await ctx.store.loadDiagnosisStates(many.map((m) => m.deviceId));
      expect(back).toHaveLength(1203);
      expect(back.find((r) => r.deviceId === `${d3}-1202`)?.state).toEqual(bytes(40, 1202));

      await ctx.store.deleteDiagnosisStates([d1, `${d3}-0`]);
      await ctx.store.deleteDiagnosisStates([]);
      expect((await ctx.store.loadDiagnosisStates([d1, d2, `${d3}-0`, `${d3}-1`])).map((r) => r.deviceId).sort()).toEqual([d2, `${d3}-1`].sort());
    });

    it('a diagnosis never clears before it was raised (a clear at an earlier event time is moved to its raise)', async () => {
      const dev = u('dg');
      const diag = (id: string, raisedAt: number) => ({
        id,
        deviceId: dev,
        type: 'air-compressor',
        fault: `offline-${id}`,
        status: 'active' as const,
        severity: 'warning' as const,
        confidence: 0.9,
        source: 'rules' as const,
        evidence: { rules: [], model: null, telemetry: { from: iso(raisedAt - 1), to: iso(raisedAt), metrics: [] } },
        remedy: { class: 'technician' as const, summary: 'check the link' },
        raisedAt: iso(raisedAt),
        clearedAt: null,
        createdAt: iso(raisedAt),
      });
      const [a, b] = [u('dg'), u('dg')];
      await ctx.store.addDiagnoses([diag(a, T0 + 600_000), diag(b, T0 + 600_000)]);
      const cleared = await ctx.store.clearDiagnoses([
        { id: a, clearedAt: T0 },
        { id: b, clearedAt: T0 + 900_000 },
      ]);
      expect(Object.fromEntries(cleared.map((x) => [x.id, x.clearedAt]))).toEqual({ [a]: iso(T0 + 600_000), [b]: iso(T0 + 900_000) });
    });

    it('recalibration requests: pending oldest first until applied once, listed per device newest first', async () => {
      const [d1, d2] = [u('rc'), u('rc')];
      const a = await ctx.store.requestRecalibration(d1, { reason: 'compressor block swapped', resolveActive: true });
      expect(a).toEqual({ id: expect.any(String), deviceId: d1, reason: 'compressor block swapped', resolveActive: true, faults: null, requestedAt: expect.any(String), appliedAt: null, resolved: [] });
      const b = await ctx.store.requestRecalibration(d2, { resolveActive: false, faults: ['wm-heater-failure', 'wm-heater-failure', 'wm-drain-pump-clog'] });
      expect(b.faults).toEqual(['wm-heater-failure', 'wm-drain-pump-clog']);
      const c = await ctx.store.requestRecalibration(d1, { reason: 'moved to plant 2', resolveActive: true });
      const mine = (await ctx.store.pendingRecalibrations(1000)).filter((r) => r.deviceId === d1 || r.deviceId === d2);
      expect(new Set(mine.map((r) => r.id))).toEqual(new Set([a.id, b.id, c.id]));
      expect(await ctx.store.finishRecalibration(a.id, T0, ['diag-1', 'diag-2'])).toBe(true);
      expect(await ctx.store.finishRecalibration(a.id, T0 + 1, [])).toBe(false);
      const pending = (await ctx.store.pendingRecalibrations(1000)).map((r) => r.id);
      expect(pending).not.toContain(a.id);
      expect(pending).toEqual(expect.arrayContaining([b.id, c.id]));
      const ofD1 = await ctx.store.listRecalibrations(d1, 10);
      expect(ofD1.map((r) => r.id).sort()).toEqual([a.id, c.id].sort());
      expect(ofD1.find((r) => r.id === a.id)).toMatchObject({ appliedAt: iso(T0), resolved: ['diag-1', 'diag-2'] });
      expect(await ctx.store.listRecalibrations(d1, 1)).toHaveLength(1);
      expect(await ctx.store.listRecalibrations(u('rc'), 10)).toEqual([]);
    });
  });

  it('ping is false once the store is closed', async () => {
    const c = await (await ctx.backend.freshDatabase()).connect();
    const s = createSqlOpsStore({ client: c, kind: ctx.backend.kind, logger: nullLogger() });
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
