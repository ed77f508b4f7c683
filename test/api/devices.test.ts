import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret, verifySecret } from '../../core/secrets.ts';
import { startTestApi, T0, type TestApi } from './helpers.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
});
afterAll(() => t?.close());

describe('devices', () => {
  it('registers one device and returns its secret once', async () => {
    const res = await t.call('service', {
      method: 'POST',
      url: '/api/v1/devices',
      payload: { type: 'air-compressor', id: 'comp-001', model: 'GA 37', firmware: '1.2.0', site: 'plant-a', owner: 'acme' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json.device).toEqual({
      id: 'comp-001',
      type: 'air-compressor',
      model: 'GA 37',
      firmware: '1.2.0',
      site: 'plant-a',
      owner: 'acme',
      status: 'active',
      online: false,
      lastSeenAt: null,
      createdAt: new Date(T0).toISOString(),
    });
    const secret: string = res.json.secret;
    expect(secret.length).toBeGreaterThanOrEqual(40);
    const auth = await t.opsStore.getDeviceAuth('comp-001');
    expect(verifySecret(secret, auth!.secretHash)).toBe(true);

    const got = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/comp-001' });
    expect(got.statusCode).toBe(200);
    expect(got.body).not.toContain(secret);
    expect(got.body).not.toContain(hashSecret(secret));
    expect(got.json).toMatchObject({ id: 'comp-001', site: 'plant-a', latest: null });

    const list = await t.call('viewer', { method: 'GET', url: '/api/v1/devices' });
    expect(list.body).not.toContain(secret);
    expect(list.body).not.toContain(auth!.secretHash);
  });

  it('generates an id when none is given', async () => {
    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices', payload: { type: 'washing-machine' } });
    expect(res.statusCode).toBe(201);
    expect(res.json.device.id).toMatch(/^washing-machine-[a-z2-7]{10}$/);
  });

  it('refuses a taken id (409) and an unknown type (404)', async () => {
    const dup = await t.call('service', { method: 'POST', url: '/api/v1/devices', payload: { type: 'air-compressor', id: 'comp-001' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json.code).toBe('FLEETDOC_ERR_DEVICE_EXISTS');
    const unknown = await t.call('service', { method: 'POST', url: '/api/v1/devices', payload: { type: 'toaster' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json.code).toBe('FLEETDOC_ERR_DEVICE_TYPE_NOT_FOUND');
  });

  it('registers in bulk, atomically, with one secret per device', async () => {
    const devices = Array.from({ length: 120 }, (_, i) => ({
      type: i % 2 ? 'refrigerator' : 'air-compressor',
      id: `bulk-${String(i).padStart(3, '0')}`,
      site: i < 100 ? 'plant-b' : 'plant-c',
    }));
    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices/bulk', payload: { devices } });
    expect(res.statusCode).toBe(201);
    expect(res.json.devices).toHaveLength(120);
    expect(res.json.devices[7].device).toMatchObject({ id: 'bulk-007', type: 'refrigerator', site: 'plant-b' });
    const secrets = new Set(res.json.devices.map((d: { secret: string }) => d.secret));
    expect(secrets.size).toBe(120);
    const auth = await t.opsStore.getDeviceAuth('bulk-119');
    expect(verifySecret(res.json.devices[119].secret, auth!.secretHash)).toBe(true);

    // One taken id fails the whole batch.
    const again = await t.call('service', {
      method: 'POST',
      url: '/api/v1/devices/bulk',
      payload: { devices: [{ type: 'refrigerator', id: 'bulk-new' }, { type: 'refrigerator', id: 'bulk-000' }] },
    });
    expect(again.statusCode).toBe(409);
    expect(await t.opsStore.getDevice('bulk-new')).toBeNull();

    const twice = await t.call('service', {
      method: 'POST',
      url: '/api/v1/devices/bulk',
      payload: { devices: [{ type: 'refrigerator', id: 'same' }, { type: 'refrigerator', id: 'same' }] },
    });
    expect(twice.statusCode).toBe(400);
  });

  it('accepts 10,000 devices in one bulk request and refuses 10,001', async () => {
    const devices = Array.from({ length: 10_000 }, (_, i) => ({ type: 'refrigerator', id: `fleet-${i}`, site: 'plant-long-site-name-'.repeat(4), owner: 'o'.repeat(100) }));
    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices/bulk', payload: { devices } });
    expect(res.statusCode).toBe(201);
    expect(res.json.devices).toHaveLength(10_000);
    const tooMany = await t.call('service', { method: 'POST', url: '/api/v1/devices/bulk', payload: { devices: [...devices, { type: 'refrigerator' }] } });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json.issues[0].path).toBe('body.devices');
  });

  it('lists with filters, paging and a total', async () => {
    const get = async (qs: string) => (await t.call('viewer', { method: 'GET', url: `/api/v1/devices?${qs}` })).json;
    const plantB = await get('site=plant-b&limit=1000');
    expect(plantB.total).toBe(100);
    expect(plantB.items).toHaveLength(100);
    expect(plantB.items.every((d: { site: string }) => d.site === 'plant-b')).toBe(true);

    const fridgesB = await get('site=plant-b&type=refrigerator&limit=10&offset=40');
    expect(fridgesB.total).toBe(50);
    expect(fridgesB.items).toHaveLength(10);
    expect(fridgesB.items[0].id).toBe('bulk-081'); // sorted by id: 001, 003, … the 41st odd number is 81

    await t.opsStore.setPresence('bulk-003', true, T0);
    const online = await get('online=true');
    expect(online.items.map((d: { id: string }) => d.id)).toEqual(['bulk-003']);
    const offline = await get('online=false&site=plant-c');
    expect(offline.total).toBe(20);

    await t.call('service', { method: 'PATCH', url: '/api/v1/devices/bulk-004', payload: { status: 'disabled' } });
    const disabled = await get('status=disabled');
    expect(disabled.items.map((d: { id: string }) => d.id)).toEqual(['bulk-004']);
  });

  it('rotates a secret: the new one verifies, the old one does not', async () => {
    const created = await t.call('service', { method: 'POST', url: '/api/v1/devices', payload: { type: 'refrigerator', id: 'fridge-rot' } });
    const old: string = created.json.secret;
    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices/fridge-rot/secret' });
    expect(res.statusCode).toBe(200);
    expect(res.json.secret).not.toBe(old);
    const auth = await t.opsStore.getDeviceAuth('fridge-rot');
    expect(verifySecret(res.json.secret, auth!.secretHash)).toBe(true);
    expect(verifySecret(old, auth!.secretHash)).toBe(false);

    expect((await t.call('service', { method: 'POST', url: '/api/v1/devices/nope/secret' })).statusCode).toBe(404);
    expect((await t.call('viewer', { method: 'POST', url: '/api/v1/devices/fridge-rot/secret' })).statusCode).toBe(403);
  });

  it('disables with PATCH or POST …/disable, edits and clears labels', async () => {
    const patched = await t.call('service', { method: 'PATCH', url: '/api/v1/devices/comp-001', payload: { site: 'plant-z', owner: null } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json).toMatchObject({ site: 'plant-z', owner: null, model: 'GA 37', status: 'active' });

    const disabled = await t.call('service', { method: 'POST', url: '/api/v1/devices/comp-001/disable' });
    expect(disabled.statusCode).toBe(200);
    expect(disabled.json.status).toBe('disabled');
    expect((await t.opsStore.getDeviceAuth('comp-001'))!.status).toBe('disabled');

    const enabled = await t.call('service', { method: 'PATCH', url: '/api/v1/devices/comp-001', payload: { status: 'active' } });
    expect(enabled.json.status).toBe('active');

    expect((await t.call('service', { method: 'PATCH', url: '/api/v1/devices/nope', payload: { status: 'disabled' } })).statusCode).toBe(404);
    expect((await t.call('service', { method: 'PATCH', url: '/api/v1/devices/comp-001', payload: { id: 'other' } })).statusCode).toBe(400);
    expect((await t.call('service', { method: 'PATCH', url: '/api/v1/devices/comp-001', payload: { status: 'deleted' } })).statusCode).toBe(400);
  });

  it('shows the latest telemetry with the device', async () => {
    await t.telemetryStore.write([
      { deviceId: 'comp-001', type: 'air-compressor', model: null, site: null, ts: T0 - 60_000, metrics: { dischargePressureBar: 7.1, motorCurrentA: 50 } },
      { deviceId: 'comp-001', type: 'air-compressor', model: null, site: null, ts: T0 - 30_000, metrics: { dischargePressureBar: 7.4 } },
    ]);
    const res = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/comp-001' });
    expect(res.json.latest).toEqual({ ts: new Date(T0 - 30_000).toISOString(), values: { dischargePressureBar: 7.4, motorCurrentA: 50 } });
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/nope' })).statusCode).toBe(404);
  });
});

describe('device types', () => {
  const pump = {
    name: 'heat-pump',
    displayName: 'Heat pump',
    metrics: [
      { name: 'flowTempC', unit: '°C', min: -20, max: 90 },
      { name: 'mode', kind: 'string', values: ['heat', 'cool'] },
    ],
  };

  it('lists and gets the shipped types', async () => {
    const list = await t.call('viewer', { method: 'GET', url: '/api/v1/device-types' });
    expect(list.statusCode).toBe(200);
    expect(list.json.map((d: { name: string }) => d.name)).toEqual(expect.arrayContaining(['air-compressor', 'refrigerator', 'washing-machine']));
    const one = await t.call('viewer', { method: 'GET', url: '/api/v1/device-types/air-compressor' });
    expect(one.statusCode).toBe(200);
    expect(one.json.metrics.map((m: { name: string }) => m.name)).toContain('dischargePressureBar');
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/device-types/toaster' })).statusCode).toBe(404);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/device-types/Not_A_Slug' })).statusCode).toBe(400);
  });

  it('creates a type with defaults filled in, then 409 on the same name', async () => {
    const res = await t.call('service', { method: 'POST', url: '/api/v1/device-types', payload: pump });
    expect(res.statusCode).toBe(201);
    expect(res.json).toEqual({
      name: 'heat-pump',
      displayName: 'Heat pump',
      description: '',
      calibrationSamples: 500,
      metrics: [
        { name: 'flowTempC', unit: '°C', kind: 'number', min: -20, max: 90 },
        { name: 'mode', unit: '', kind: 'string', values: ['heat', 'cool'] },
      ],
    });
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/device-types/heat-pump' })).json.displayName).toBe('Heat pump');
    const again = await t.call('admin', { method: 'POST', url: '/api/v1/device-types', payload: pump });
    expect(again.statusCode).toBe(409);
    expect(again.json.code).toBe('FLEETDOC_ERR_DEVICE_TYPE_EXISTS');
    expect((await t.call('viewer', { method: 'POST', url: '/api/v1/device-types', payload: { ...pump, name: 'other' } })).statusCode).toBe(403);
  });

  it.each([
    ['a bad name', { ...pump, name: 'Heat Pump' }],
    ['no metrics', { ...pump, name: 'p2', metrics: [] }],
    ['a duplicate metric', { ...pump, name: 'p3', metrics: [{ name: 'a' }, { name: 'a' }] }],
    ['min above max', { ...pump, name: 'p4', metrics: [{ name: 'a', min: 5, max: 1 }] }],
    ['an unknown field', { ...pump, name: 'p5', colour: 'red' }],
    ['an unknown metric kind', { ...pump, name: 'p6', metrics: [{ name: 'a', kind: 'float' }] }],
    ['a metric the engine writes (anomaly)', { ...pump, name: 'p7', metrics: [{ name: 'a' }, { name: 'anomaly' }] }],
    ['a boolean declared a counter', { ...pump, name: 'p8', metrics: [{ name: 'a', kind: 'boolean', counter: true }] }],
    // InfluxDB drops a field named time without an error; device, model and site are every sample's tags
    ['a metric named time', { ...pump, name: 'p9', metrics: [{ name: 'a' }, { name: 'time' }] }],
    ['a metric named device', { ...pump, name: 'p10', metrics: [{ name: 'a' }, { name: 'device' }] }],
    ['a metric named model', { ...pump, name: 'p11', metrics: [{ name: 'a' }, { name: 'model' }] }],
    ['a metric named site', { ...pump, name: 'p12', metrics: [{ name: 'a' }, { name: 'site' }] }],
  ])('refuses a type file with %s (400, with issues)', async (_what, body) => {
    const res = await t.call('service', { method: 'POST', url: '/api/v1/device-types', payload: body });
    expect(res.statusCode).toBe(400);
    expect(res.json.code).toBe('FLEETDOC_ERR_VALIDATION');
    expect(res.json.issues.length).toBeGreaterThan(0);
  });
});
