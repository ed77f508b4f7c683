import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/ports.ts';
import { startTestApi, T0, type TestApi } from './helpers.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi({ options: { commandExpiryIntervalMs: 50 } });
  await t.opsStore.registerDevices([{ type: 'air-compressor', id: 'cmd-1' }, { type: 'air-compressor', id: 'cmd-off' }]);
  await t.opsStore.updateDevice('cmd-off', { status: 'disabled' });
});
afterAll(() => t?.close());

const send = (id: string, payload: unknown, role: 'service' | 'viewer' | 'admin' = 'service') =>
  t.call(role, { method: 'POST', url: `/api/v1/devices/${id}/commands`, payload: payload as object });

describe('commands', () => {
  it('stores the command as sent, publishes it with its id, and answers 201', async () => {
    const before = t.publisher.sent.length;
    const res = await send('cmd-1', { name: 'purge_condensate', params: { seconds: 5 }, expiresInS: 60 });
    expect(res.statusCode).toBe(201);
    expect(res.json).toMatchObject({
      deviceId: 'cmd-1',
      name: 'purge_condensate',
      params: { seconds: 5 },
      status: 'sent',
      detail: null,
      createdAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 60_000).toISOString(),
    });
    expect(t.publisher.sent.slice(before)).toEqual([
      { deviceId: 'cmd-1', message: { commandId: res.json.id, name: 'purge_condensate', params: { seconds: 5 }, expiresAt: new Date(T0 + 60_000).toISOString() } },
    ]);
    expect((await t.opsStore.getCommand(res.json.id))?.status).toBe('sent');
    expect(await t.metrics.commandsSent.get()).toMatchObject({ values: [{ value: 1 }] });
  });

  it('defaults params to {} and expiry to 300 s', async () => {
    t.clock.advance(1000);
    const res = await send('cmd-1', { name: 'reboot' });
    expect(res.statusCode).toBe(201);
    expect(res.json.params).toEqual({});
    expect(Date.parse(res.json.expiresAt) - Date.parse(res.json.createdAt)).toBe(300_000);
  });

  it('refuses a disabled device (409), an unknown one (404) and a viewer (403), publishing nothing', async () => {
    const before = t.publisher.sent.length;
    const off = await send('cmd-off', { name: 'reboot' });
    expect(off.statusCode).toBe(409);
    expect(off.json.code).toBe('FLEETDOC_ERR_DEVICE_DISABLED');
    expect((await send('nope', { name: 'reboot' })).statusCode).toBe(404);
    expect((await send('cmd-1', { name: 'reboot' }, 'viewer')).statusCode).toBe(403);
    expect(t.publisher.sent.length).toBe(before);
    expect(await t.opsStore.listCommands('cmd-off', 10)).toEqual([]);
  });

  it.each([
    ['no name', {}],
    ['a name with spaces', { name: 'do it' }],
    ['expiry 0', { name: 'x', expiresInS: 0 }],
    ['expiry above a week', { name: 'x', expiresInS: 7 * 24 * 3600 + 1 }],
    ['params as a list', { name: 'x', params: [1, 2] }],
    ['an unknown field', { name: 'x', priority: 'high' }],
  ])('refuses a command with %s (400)', async (_what, body) => {
    const res = await send('cmd-1', body);
    expect(res.statusCode).toBe(400);
    expect(res.json.code).toBe('FLEETDOC_ERR_VALIDATION');
  });

  it('lists newest first and gets one by id, only under its own device', async () => {
    t.clock.advance(1000);
    const newest = await send('cmd-1', { name: 'load' });
    const list = await t.call('viewer', { method: 'GET', url: '/api/v1/devices/cmd-1/commands' });
    expect(list.statusCode).toBe(200);
    expect(list.json[0].id).toBe(newest.json.id);
    expect(list.json.map((c: { name: string }) => c.name)).toEqual(['load', 'reboot', 'purge_condensate']);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/cmd-1/commands?limit=1' })).json).toHaveLength(1);

    const one = await t.call('viewer', { method: 'GET', url: `/api/v1/devices/cmd-1/commands/${newest.json.id}` });
    expect(one.statusCode).toBe(200);
    expect(one.json).toEqual(newest.json);
    const elsewhere = await t.call('viewer', { method: 'GET', url: `/api/v1/devices/cmd-off/commands/${newest.json.id}` });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json.code).toBe('FLEETDOC_ERR_COMMAND_NOT_FOUND');
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices/cmd-1/commands/not-a-command' })).statusCode).toBe(404);
  });

  it('marks a command failed and answers 503 when publishing fails', async () => {
    t.clock.advance(1000);
    t.publisher.fail(new Error('broker down'));
    try {
      const res = await send('cmd-1', { name: 'unload' });
      expect(res.statusCode).toBe(503);
      expect(res.json.code).toBe('FLEETDOC_ERR_COMMAND_PUBLISH_FAILED');
    } finally {
      t.publisher.fail(null);
    }
    const [latest] = await t.opsStore.listCommands('cmd-1', 1);
    expect(latest).toMatchObject({ name: 'unload', status: 'failed' });
  });

  it('expires unacknowledged commands once the clock passes their expiry (timer in start())', async () => {
    const short = await send('cmd-1', { name: 'short', expiresInS: 10 });
    const long = await send('cmd-1', { name: 'long', expiresInS: 3600 });
    const acked = await send('cmd-1', { name: 'acked', expiresInS: 10 });
    await t.opsStore.advanceCommand('cmd-1', acked.json.id, 'done', null, t.clock.now());

    await t.api.start();
    expect(t.api.address().port).toBeGreaterThan(0);
    const status = async (id: string) => (await t.call('viewer', { method: 'GET', url: `/api/v1/devices/cmd-1/commands/${id}` })).json.status;

    // Not yet due: a few timer ticks change nothing.
    await new Promise((r) => setTimeout(r, 200));
    expect(await status(short.json.id)).toBe('sent');

    t.clock.advance(10_000);
    await waitFor(async () => (await status(short.json.id)) === 'expired', { what: 'short command expired' });
    expect(await status(long.json.id)).toBe('sent');
    expect(await status(acked.json.id)).toBe('done');

    await t.api.stop();
    await t.api.stop(); // idempotent
  });
});
