import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewDeadLetter } from '../../core/domain/dead-letter.ts';
import { startTestApi, T0, type TestApi } from './helpers.ts';

let t: TestApi;
let storeUp = true;
beforeAll(async () => {
  t = await startTestApi({
    options: { readyTimeoutMs: 200 },
    healthChecks: [
      { name: 'ops-store', check: () => t.opsStore.ping() },
      { name: 'flaky-store', check: async () => storeUp },
      { name: 'hanging-store', check: () => (storeUp ? Promise.resolve(true) : new Promise<boolean>(() => {})) },
    ],
  });
});
afterAll(() => t?.close());

describe('health, readiness, metrics', () => {
  it('/health is 200 without a key', async () => {
    const res = await t.call(null, { method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({ status: 'ok' });
  });

  it('/ready is 200 when every check passes and 503 naming the ones that fail or hang', async () => {
    storeUp = true;
    const ok = await t.call(null, { method: 'GET', url: '/ready' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json).toEqual({ status: 'ok', checks: { 'ops-store': true, 'flaky-store': true, 'hanging-store': true }, failed: [] });

    storeUp = false;
    const started = Date.now();
    const down = await t.call(null, { method: 'GET', url: '/ready' });
    expect(down.statusCode).toBe(503);
    expect(down.json.status).toBe('unavailable');
    expect(down.json.failed.sort()).toEqual(['flaky-store', 'hanging-store']);
    expect(down.json.checks['ops-store']).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    storeUp = true;
  });

  it('/ready fails a check that throws', async () => {
    const thrower = await startTestApi({ healthChecks: [{ name: 'boom', check: () => Promise.reject(new Error('down')) }] });
    try {
      const res = await thrower.call(null, { method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json.failed).toEqual(['boom']);
    } finally {
      await thrower.close();
    }
  });

  it('/metrics serves the Prometheus registry as text', async () => {
    t.metrics.commandsSent.inc(3);
    const res = await t.call(null, { method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
    expect(res.body).toMatch(/^fleetdoc_commands_sent_total 3$/m);
    expect(res.body).toMatch(/^# TYPE fleetdoc_process_\w*cpu_user_seconds_total counter$/m);
  });
});

describe('OpenAPI and docs', () => {
  it('/openapi.json is a valid OpenAPI document listing the /api/v1 paths with bearer auth', async () => {
    const res = await t.call(null, { method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body);
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const paths = Object.keys(doc.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/devices',
        '/api/v1/devices/bulk',
        '/api/v1/devices/{id}',
        '/api/v1/devices/{id}/secret',
        '/api/v1/devices/{id}/disable',
        '/api/v1/devices/{id}/telemetry',
        '/api/v1/devices/{id}/events',
        '/api/v1/devices/{id}/commands',
        '/api/v1/devices/{id}/commands/{commandId}',
        '/api/v1/device-types',
        '/api/v1/device-types/{name}',
        '/api/v1/dead-letters',
        '/api/v1/api-keys',
        '/api/v1/api-keys/{id}',
        '/health',
        '/ready',
        '/metrics',
      ]),
    );
    expect(paths).not.toContain('/openapi.json');
    expect(paths.some((p) => p.startsWith('/docs'))).toBe(false);

    const register = doc.paths['/api/v1/devices'].post;
    expect(register.security).toEqual([{ bearerAuth: [] }]);
    const body = register.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['type']);
    expect(Object.keys(body.properties)).toEqual(expect.arrayContaining(['type', 'id', 'model', 'firmware', 'site', 'owner']));
    expect(register.responses['201'].content['application/json'].schema.properties.secret.type).toBe('string');

    const telemetry = doc.paths['/api/v1/devices/{id}/telemetry'].get;
    const names = telemetry.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`);
    expect(names).toEqual(expect.arrayContaining(['path:id', 'query:metrics', 'query:from', 'query:to', 'query:every', 'query:fn', 'query:limit']));
    expect(doc.paths['/health'].get.security).toBeUndefined();
  });

  it('/docs serves Swagger UI', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs' });
    const final = res.statusCode === 302 ? await t.app.inject({ method: 'GET', url: String(res.headers.location).replace(/^\.\//, '/docs/') }) : res;
    expect(final.statusCode).toBe(200);
    const page = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('swagger-ui');
  });
});

describe('dead letters', () => {
  const letter = (deviceId: string, reason: NewDeadLetter['reason'], ageMs: number): NewDeadLetter => ({
    deviceId,
    topic: `devices/${deviceId}/telemetry`,
    reason,
    detail: `${reason} for ${deviceId}`,
    payload: '{"metrics":{"x":"y"}}',
    payloadBytes: 21,
    receivedAt: new Date(T0 - ageMs).toISOString(),
  });

  beforeAll(async () => {
    await t.opsStore.addDeadLetters([
      letter('dl-1', 'invalid_json', 5 * 60_000),
      letter('dl-1', 'out_of_range', 4 * 60_000),
      letter('dl-2', 'unknown_metric', 3 * 60_000),
      letter('dl-2', 'out_of_range', 2 * 60_000),
      letter('ghost', 'unknown_device', 60_000),
    ]);
  });

  const list = async (qs = '') => t.call('viewer', { method: 'GET', url: `/api/v1/dead-letters${qs}` });

  it('lists newest first with reason, detail and payload', async () => {
    const res = await list();
    expect(res.statusCode).toBe(200);
    expect(res.json.map((d: { detail: string }) => d.detail)).toEqual([
      'unknown_device for ghost',
      'out_of_range for dl-2',
      'unknown_metric for dl-2',
      'out_of_range for dl-1',
      'invalid_json for dl-1',
    ]);
    expect(res.json[0]).toMatchObject({ deviceId: 'ghost', topic: 'devices/ghost/telemetry', reason: 'unknown_device', payloadBytes: 21, receivedAt: new Date(T0 - 60_000).toISOString() });
  });

  it('filters by device, reason, time window and limit', async () => {
    const ids = (r: { json: Array<{ deviceId: string; reason: string }> }) => r.json.map((d) => `${d.deviceId}/${d.reason}`);
    expect(ids(await list('?deviceId=dl-1'))).toEqual(['dl-1/out_of_range', 'dl-1/invalid_json']);
    expect(ids(await list('?reason=out_of_range'))).toEqual(['dl-2/out_of_range', 'dl-1/out_of_range']);
    expect(ids(await list('?deviceId=dl-2&reason=out_of_range'))).toEqual(['dl-2/out_of_range']);
    expect(ids(await list(`?from=${new Date(T0 - 4 * 60_000).toISOString()}&to=${T0 - 2 * 60_000}`))).toEqual(['dl-2/unknown_metric', 'dl-1/out_of_range']);
    expect(ids(await list('?limit=2'))).toEqual(['ghost/unknown_device', 'dl-2/out_of_range']);
    expect((await list(`?from=${T0}&to=${T0 - 1}`)).statusCode).toBe(400);
    expect((await t.call(null, { method: 'GET', url: '/api/v1/dead-letters' })).statusCode).toBe(401);
  });
});

describe('lifecycle', () => {
  it('listens on port 0 over a real socket, and stop() is idempotent', async () => {
    await t.api.start();
    const { port } = t.api.address();
    expect(port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/devices?limit=1`, { headers: { authorization: `Bearer ${t.keys.viewer}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { total: number }).total).toBeGreaterThanOrEqual(0);
    await Promise.all([t.api.stop(), t.api.stop()]);
    await t.api.stop();
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });

  it('buildApp gives a fastify app for inject() without listening', async () => {
    const { buildApp } = await import('../../api/create-api.ts');
    const app = buildApp({
      config: { api: { host: '127.0.0.1', port: 0, adminKey: undefined } },
      logger: (await import('../../core/logger.ts')).nullLogger(),
      clock: t.clock,
      opsStore: t.opsStore,
      telemetryStore: t.telemetryStore,
      commands: t.publisher,
      metrics: t.metrics,
      healthChecks: [],
    });
    try {
      expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/api/v1/devices' })).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });
});
