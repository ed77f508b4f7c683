import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
});
afterAll(() => t?.close());

describe('api keys and roles', () => {
  it('refuses a request without a key with 401 {code,message}', async () => {
    const res = await t.call(null, { method: 'GET', url: '/api/v1/devices' });
    expect(res.statusCode).toBe(401);
    expect(res.json).toEqual({ code: 'FLEETDOC_ERR_UNAUTHORIZED', message: expect.any(String) });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it.each([
    ['an unknown key', 'Bearer fd_not-a-real-key'],
    ['a malformed header', 'Basic dXNlcjpwYXNz'],
    ['an empty bearer', 'Bearer '],
  ])('refuses %s with 401', async (_what, authorization) => {
    const res = await t.call(null, { method: 'GET', url: '/api/v1/devices', headers: { authorization } });
    expect(res.statusCode).toBe(401);
    expect(res.json.code).toBe('FLEETDOC_ERR_UNAUTHORIZED');
  });

  it('checks auth before the body: no key and a bad body is still 401', async () => {
    const res = await t.call(null, { method: 'POST', url: '/api/v1/devices', payload: '{oops', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(401);
  });

  it('lets a viewer read but not write (403)', async () => {
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/devices' })).statusCode).toBe(200);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/device-types' })).statusCode).toBe(200);
    const res = await t.call('viewer', { method: 'POST', url: '/api/v1/devices', payload: { type: 'air-compressor' } });
    expect(res.statusCode).toBe(403);
    expect(res.json.code).toBe('FLEETDOC_ERR_FORBIDDEN');
    expect((await t.opsStore.listDevices({ limit: 10, offset: 0 })).total).toBe(0);
  });

  it('lets a service key register devices but not manage api keys', async () => {
    const res = await t.call('service', { method: 'POST', url: '/api/v1/devices', payload: { type: 'refrigerator', id: 'fridge-auth-1' } });
    expect(res.statusCode).toBe(201);
    expect((await t.call('service', { method: 'GET', url: '/api/v1/api-keys' })).statusCode).toBe(403);
    expect((await t.call('service', { method: 'POST', url: '/api/v1/api-keys', payload: { name: 'x', role: 'admin' } })).statusCode).toBe(403);
    expect((await t.call('viewer', { method: 'GET', url: '/api/v1/api-keys' })).statusCode).toBe(403);
  });

  it('lets an admin create, list and revoke keys; the key is shown once and works at once', async () => {
    const created = await t.call('admin', { method: 'POST', url: '/api/v1/api-keys', payload: { name: 'console', role: 'viewer' } });
    expect(created.statusCode).toBe(201);
    expect(created.json.apiKey).toMatchObject({ name: 'console', role: 'viewer', revokedAt: null });
    const key: string = created.json.key;
    expect(key.length).toBeGreaterThan(30);

    const asNew = await t.app.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: `Bearer ${key}` } });
    expect(asNew.statusCode).toBe(200);

    const list = await t.call('admin', { method: 'GET', url: '/api/v1/api-keys' });
    expect(list.statusCode).toBe(200);
    expect(list.json.map((k: { name: string }) => k.name)).toContain('console');
    expect(list.body).not.toContain(key);
    expect(list.body).not.toMatch(/hash/i);

    const del = await t.call('admin', { method: 'DELETE', url: `/api/v1/api-keys/${created.json.apiKey.id}` });
    expect(del.statusCode).toBe(204);
    // Revoked through this api: the cache is cleared, so it fails right away.
    const asRevoked = await t.app.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: `Bearer ${key}` } });
    expect(asRevoked.statusCode).toBe(401);

    expect((await t.call('admin', { method: 'DELETE', url: '/api/v1/api-keys/no-such-key' })).statusCode).toBe(404);
    expect((await t.call('admin', { method: 'POST', url: '/api/v1/api-keys', payload: { name: 'x', role: 'root' } })).statusCode).toBe(400);
  });

  it('caches key lookups for the TTL, and a key revoked elsewhere stops working after it', async () => {
    const { apiKey, key } = await t.opsStore.createApiKey('cached', 'viewer');
    const get = () => t.app.inject({ method: 'GET', url: '/api/v1/device-types', headers: { authorization: `Bearer ${key}` } });

    let lookups = 0;
    const original = t.opsStore.findApiKeyByHash.bind(t.opsStore);
    t.opsStore.findApiKeyByHash = async (hash) => {
      lookups++;
      return original(hash);
    };
    try {
      const statuses = await Promise.all(Array.from({ length: 50 }, get));
      expect(statuses.every((r) => r.statusCode === 200)).toBe(true);
      expect(lookups).toBe(1);

      await t.opsStore.revokeApiKey(apiKey.id); // another instance revokes it
      expect((await get()).statusCode).toBe(200); // still cached
      t.clock.advance(5_001);
      expect((await get()).statusCode).toBe(401);
      expect(lookups).toBe(2);
    } finally {
      t.opsStore.findApiKeyByHash = original;
    }
  });
});
