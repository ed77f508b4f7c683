import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTime } from '../../core/domain/common.ts';
import { parseSimulateArgs } from '../../simulator/cli.ts';
import { TimeQuery } from '../../api/schemas.ts';
import { startTestApi, type TestApi } from './helpers.ts';

let t: TestApi;
beforeAll(async () => {
  t = await startTestApi();
  await t.opsStore.registerDevices([{ type: 'air-compressor', id: 'val-1' }]);
});
afterAll(() => t?.close());

const json = { 'content-type': 'application/json' };
const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

// Every one must be a 4xx with {code, message}: bad input is never a 500.
const cases: Array<[string, InjectOptions, number?]> = [
  ['malformed JSON', { method: 'POST', url: '/api/v1/devices', headers: json, payload: '{"type": "refrigerator",' }, 400],
  ['an empty JSON body', { method: 'POST', url: '/api/v1/devices', headers: json, payload: '' }, 400],
  ['no body at all', { method: 'POST', url: '/api/v1/devices' }, 400],
  ['JSON null', { method: 'POST', url: '/api/v1/devices', headers: json, payload: 'null' }, 400],
  ['a JSON array', { method: 'POST', url: '/api/v1/devices', headers: json, payload: '[{"type":"refrigerator"}]' }, 400],
  ['a JSON string', { method: 'POST', url: '/api/v1/devices', headers: json, payload: '"refrigerator"' }, 400],
  ['text/plain', { method: 'POST', url: '/api/v1/devices', headers: { 'content-type': 'text/plain' }, payload: 'type=refrigerator' }, 400],
  ['an unknown content type', { method: 'POST', url: '/api/v1/devices', headers: { 'content-type': 'application/xml' }, payload: '<device/>' }, 415],
  ['a form body', { method: 'POST', url: '/api/v1/devices', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'type=refrigerator' }, 415],
  ['a body over 1 MiB', { method: 'POST', url: '/api/v1/devices', headers: json, payload: JSON.stringify({ type: 'refrigerator', model: 'x'.repeat(1_100_000) }) }, 413],
  ['__proto__ in the body', { method: 'POST', url: '/api/v1/devices', headers: json, payload: '{"type":"refrigerator","__proto__":{"status":"disabled"}}' }, 400],
  ['constructor.prototype in the body', { method: 'POST', url: '/api/v1/devices', headers: json, payload: '{"type":"refrigerator","constructor":{"prototype":{"x":1}}}' }, 400],
  ['a number too large for a double', { method: 'POST', url: '/api/v1/devices/val-1/commands', headers: json, payload: '{"name":"x","expiresInS":1e400}' }, 400],
  ['a huge integer', { method: 'POST', url: '/api/v1/devices/val-1/commands', headers: json, payload: '{"name":"x","expiresInS":123456789012345678901234567890}' }, 400],
  ['deeply nested params', { method: 'POST', url: '/api/v1/devices/val-1/commands', headers: json, payload: `{"name":"x","params":${deep(100_000)}}` }, 400],
  ['oversized params', { method: 'POST', url: '/api/v1/devices/val-1/commands', headers: json, payload: JSON.stringify({ name: 'x', params: { blob: 'x'.repeat(100_000) } }) }, 400],
  ['U+0000 in a device type (PostgreSQL cannot store it)', { method: 'POST', url: '/api/v1/device-types', headers: json, payload: '{"name":"nul-type","displayName":"P\\u0000","calibrationSamples":10,"metrics":[{"name":"p","unit":"bar","kind":"number"}]}' }, 400],
  ['a lone surrogate in a device type', { method: 'POST', url: '/api/v1/device-types', headers: json, payload: '{"name":"sur-type","displayName":"P\\ud800","calibrationSamples":10,"metrics":[{"name":"p","unit":"bar","kind":"number"}]}' }, 400],
  ['U+0000 in a rule set', { method: 'PUT', url: '/api/v1/rules/air-compressor', headers: json, payload: '{"type":"air-compressor","description":"a\\u0000b","rules":[]}' }, 400],
  ['a lone surrogate in a rule set key', { method: 'PUT', url: '/api/v1/rules/air-compressor', headers: json, payload: '{"type":"air-compressor","\\udc00":1,"rules":[]}' }, 400],
  ['a rule condition nested 1,000 deep', { method: 'PUT', url: '/api/v1/rules/air-compressor', headers: json, payload: `{"type":"air-compressor","rules":[{"id":"r","fault":"f","severity":"info","remedy":{"class":"technician","summary":"x"},"condition":${'{"kind":"all","of":['.repeat(1000)}{"kind":"threshold","metric":"oilTempC","op":"above","value":5}${']}'.repeat(1000)}}]}` }, 400],
  ['a wrong field type', { method: 'POST', url: '/api/v1/devices', payload: { type: 42 } }, 400],
  ['an unknown field', { method: 'POST', url: '/api/v1/devices', payload: { type: 'refrigerator', colour: 'white' } }, 400],
  ['a device id with a slash-like char', { method: 'POST', url: '/api/v1/devices', payload: { type: 'refrigerator', id: 'a+b' } }, 400],
  ['a device id of 65 chars', { method: 'POST', url: '/api/v1/devices', payload: { type: 'refrigerator', id: 'a'.repeat(65) } }, 400],
  ['bulk with no devices', { method: 'POST', url: '/api/v1/devices/bulk', payload: { devices: [] } }, 400],
  ['bulk as a bare list', { method: 'POST', url: '/api/v1/devices/bulk', payload: [{ type: 'refrigerator' }] }, 400],
  ['a negative limit', { method: 'GET', url: '/api/v1/devices?limit=-1' }, 400],
  ['a non-numeric limit', { method: 'GET', url: '/api/v1/devices?limit=ten' }, 400],
  ['an astronomically large limit', { method: 'GET', url: '/api/v1/devices?limit=99999999999999999999999999' }, 400],
  ['limit given twice', { method: 'GET', url: '/api/v1/devices?limit=1&limit=2' }, 400],
  ['an empty limit', { method: 'GET', url: '/api/v1/devices?limit=' }, 400],
  ['a negative offset', { method: 'GET', url: '/api/v1/devices?offset=-5' }, 400],
  ['online=maybe', { method: 'GET', url: '/api/v1/devices?online=maybe' }, 400],
  ['an unknown status', { method: 'GET', url: '/api/v1/devices?status=deleted' }, 400],
  ['an invalid device id in the path', { method: 'GET', url: '/api/v1/devices/$SYS' }, 400],
  ['an undecodable path', { method: 'GET', url: '/api/v1/devices/%E0%A4%A' }, 400],
  ['an overlong path parameter', { method: 'GET', url: `/api/v1/devices/${'a'.repeat(300)}` }, 414],
  ['an invalid from', { method: 'GET', url: '/api/v1/devices/val-1/telemetry?from=not-a-time' }, 400],
  ['an ISO time with a bad day', { method: 'GET', url: '/api/v1/devices/val-1/telemetry?from=2025-02-31T00:00:00Z' }, 400],
  ['a negative epoch before year 1', { method: 'GET', url: '/api/v1/devices/val-1/telemetry?from=-8000000000000000' }, 400],
  ['a huge epoch', { method: 'GET', url: '/api/v1/devices/val-1/telemetry?to=99999999999999999999' }, 400],
  ['from twice', { method: 'GET', url: '/api/v1/devices/val-1/telemetry?from=1&from=2' }, 400],
  ['a dead-letter reason that does not exist', { method: 'GET', url: '/api/v1/dead-letters?reason=bored' }, 400],
  ['a dead-letter time before year 1', { method: 'GET', url: '/api/v1/dead-letters?from=-62135596800001' }, 400],
  ['an api key with no name', { method: 'POST', url: '/api/v1/api-keys', payload: { role: 'viewer' } }, 400],
  ['an unknown route', { method: 'GET', url: '/api/v1/nothing-here' }, 404],
  ['an unknown method', { method: 'PUT', url: '/api/v1/devices' }, 404],
  ['a route outside the api', { method: 'GET', url: '/wp-login.php' }, 404],
];

describe('bad input is a 4xx with {code, message}, never a 500', () => {
  it.each(cases)('%s', async (_what, opts, expected) => {
    const res = await t.call('admin', opts);
    const body = res.body.slice(0, 300);
    expect(res.statusCode, body).toBeGreaterThanOrEqual(400);
    expect(res.statusCode, body).toBeLessThan(500);
    if (expected !== undefined) expect(res.statusCode, body).toBe(expected);
    if (res.statusCode >= 400) expect(res.json).toMatchObject({ code: expect.any(String), message: expect.any(String) });
  });

  it('ignores __proto__ and constructor in the query string', async () => {
    const res = await t.call('admin', { method: 'GET', url: '/api/v1/devices?__proto__=1&constructor=2&limit=5' });
    expect(res.statusCode).toBe(200);
    expect(res.json.items).toHaveLength(1);
  });

  it('reports zod issues with their path', async () => {
    const res = await t.call('admin', { method: 'POST', url: '/api/v1/devices', payload: { type: 'Bad Type', site: '' } });
    expect(res.statusCode).toBe(400);
    expect(res.json.code).toBe('FLEETDOC_ERR_VALIDATION');
    expect(res.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body.site', 'body.type']);
    expect(res.json.message).toContain('body.type');
  });

  it('changed nothing while refusing all that', async () => {
    const { items } = await t.opsStore.listDevices({ limit: 100, offset: 0 });
    expect(items.map((d) => d.id)).toEqual(['val-1']);
    expect(await t.opsStore.listCommands('val-1', 10)).toEqual([]);
  });
});

describe('times without a zone', () => {
  it('are UTC whatever the process’s time zone (ECMAScript would read them in local time), in queries and in device payloads', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      expect(new Date(2026, 10, 27).getTimezoneOffset()).toBe(-540);
      const at = Date.UTC(2026, 10, 27, 19, 0, 0);
      expect(parseTime('2026-11-27T19:00:00')).toBe(at);
      expect(parseTime('2026-11-27 19:00')).toBe(at);
      expect(TimeQuery.parse('2026-11-27T19:00:00.000')).toBe(at);
      expect(parseTime('2026-11-27')).toBe(Date.UTC(2026, 10, 27));
      // an explicit zone is kept
      expect(parseTime('2026-11-27T19:00:00+09:00')).toBe(at - 9 * 3_600_000);
      expect(TimeQuery.parse('2026-11-27 19:00:00 01:00')).toBe(at - 3_600_000);
      // and on the command line: a simulation's --start
      expect(parseSimulateArgs(['--start', '2026-11-27T19:00:00'], { FLEETDOC_API_KEY: 'k' }).fleet.startTs).toBe(at);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });
});
