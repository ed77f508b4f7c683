import { describe, expect, it } from 'vitest';
import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import { compileType, validateTelemetry, type ValidationContext } from '../../ingest/validate.ts';
import { toDeadLetter } from '../../ingest/dead-letters.ts';

const types = loadDeviceTypeFiles();
const compressor = compileType(types.find((t) => t.name === 'air-compressor')!);
const washer = compileType(types.find((t) => t.name === 'washing-machine')!);
const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

function ctx(over: Partial<ValidationContext> = {}): ValidationContext {
  return {
    device: { id: 'ac-1', type: 'air-compressor', model: 'GA30', site: 'plant-a' },
    type: compressor,
    now: NOW,
    maxFutureMs: 300_000,
    maxPayloadBytes: 4096,
    ...over,
  };
}

const run = (payload: string | Buffer, c = ctx()) => validateTelemetry(Buffer.isBuffer(payload) ? payload : Buffer.from(payload), c);

describe('validateTelemetry', () => {
  it('accepts a single sample with ISO time and keeps exact values', () => {
    const r = run(JSON.stringify({ ts: '2026-11-26T11:59:00.123Z', seq: 7, metrics: { dischargePressureBar: 7.25, loaded: true, loadCycles: 12 } }));
    expect(r.rejections).toEqual([]);
    expect(r.points).toEqual([
      { deviceId: 'ac-1', type: 'air-compressor', model: 'GA30', site: 'plant-a', ts: Date.parse('2026-11-26T11:59:00.123Z'), seq: 7, metrics: { dischargePressureBar: 7.25, loaded: true, loadCycles: 12 } },
    ]);
  });

  it('uses epoch ms and falls back to the receive time when ts is missing', () => {
    expect(run(JSON.stringify({ ts: NOW - 1000, metrics: { oilTempC: 80 } })).points[0]!.ts).toBe(NOW - 1000);
    expect(run(JSON.stringify({ metrics: { oilTempC: 80 } })).points[0]!.ts).toBe(NOW);
  });

  it('accepts a batch and dead-letters only its bad samples', () => {
    const r = run(JSON.stringify({ samples: [
      { ts: NOW - 2000, metrics: { oilTempC: 80 } },
      { ts: NOW - 1000, metrics: { oilTempC: 999 } },
      { ts: NOW, metrics: { oilTempC: 81 } },
    ] }));
    expect(r.points.map((p) => p.metrics.oilTempC)).toEqual([80, 81]);
    expect(r.rejections).toHaveLength(1);
    expect(r.rejections[0]!.reason).toBe('out_of_range');
    expect(r.rejections[0]!.detail).toContain('oilTempC');
  });

  it.each([
    ['not JSON', '{"metrics":', 'invalid_json'],
    ['binary', Buffer.from([0xff, 0x00, 0x13, 0x37]), 'invalid_json'],
    ['wrong shape', '[1,2,3]', 'invalid_shape'],
    ['extra top-level key', '{"metrics":{"oilTempC":1},"x":1}', 'invalid_shape'],
    ['empty metrics', '{"metrics":{}}', 'invalid_shape'],
    ['nested object value', '{"metrics":{"oilTempC":{"a":1}}}', 'invalid_shape'],
    ['unknown metric', '{"metrics":{"flux":1}}', 'unknown_metric'],
    ['__proto__ metric', '{"metrics":{"__proto__":{"polluted":true}}}', 'invalid_shape'],
    ['__proto__ number', '{"metrics":{"__proto__":1}}', 'unknown_metric'],
    ['constructor metric', '{"metrics":{"constructor":1}}', 'unknown_metric'],
    ['wrong type: string for number', '{"metrics":{"oilTempC":"80"}}', 'wrong_type'],
    ['wrong type: number for boolean', '{"metrics":{"loaded":1}}', 'wrong_type'],
    ['wrong type: float for integer', '{"metrics":{"loadCycles":1.5}}', 'wrong_type'],
    ['below range', '{"metrics":{"dischargePressureBar":-1}}', 'out_of_range'],
    ['above range', '{"metrics":{"vibrationRmsMmS":51}}', 'out_of_range'],
    ['Infinity', '{"metrics":{"oilTempC":1e999}}', 'non_finite'],
    ['negative Infinity', '{"metrics":{"oilTempC":-1e999}}', 'non_finite'],
    ['bad ts text', '{"ts":"yesterday","metrics":{"oilTempC":1}}', 'invalid_ts'],
    ['ts before 2000', '{"ts":1000,"metrics":{"oilTempC":1}}', 'invalid_ts'],
    ['ts in the future', `{"ts":${NOW + 3_600_000},"metrics":{"oilTempC":1}}`, 'ts_in_future'],
    ['oversized', JSON.stringify({ metrics: { oilTempC: 1 }, pad: 'x'.repeat(5000) }), 'payload_too_large'],
    ['deeply nested', '['.repeat(2000) + ']'.repeat(2000), 'invalid_shape'],
    ['deeply nested and huge', '['.repeat(100_000) + ']'.repeat(100_000), 'payload_too_large'],
  ])('dead-letters %s as %s', (_name, payload, reason) => {
    const r = run(payload);
    expect(r.points).toEqual([]);
    expect(r.rejections.map((x) => x.reason)).toEqual([reason]);
  });

  it('does not pollute Object.prototype', () => {
    run('{"metrics":{"__proto__":{"polluted":true}},"samples":null}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('checks string metrics against their allowed values', () => {
    const c = ctx({ type: washer, device: { id: 'wm-1', type: 'washing-machine', model: null, site: null } });
    expect(run('{"metrics":{"phase":"spin","drumRpm":1200}}', c).points).toHaveLength(1);
    expect(run('{"metrics":{"phase":"dance"}}', c).rejections[0]!.reason).toBe('out_of_range');
  });
});

describe('a dead letter of one sample of a batch', () => {
  it('shows a non-finite reading as the device sent it, not as null', () => {
    const type = compileType(loadDeviceTypeFiles().find((t) => t.name === 'air-compressor')!);
    const payload = Buffer.from('{"samples":[{"metrics":{"oilTempC":70}},{"metrics":{"oilTempC":1e999}},{"metrics":{"oilTempC":-1e999}}]}');
    const { points, rejections } = validateTelemetry(payload, { device: { id: 'd', type: 'air-compressor', model: null, site: null }, type, now: Date.now(), maxFutureMs: 60_000, maxPayloadBytes: 65_536 });
    expect(points).toHaveLength(1);
    const letters = rejections.map((rejection) => toDeadLetter({ deviceId: 'd', topic: 'devices/d/telemetry', payload, rejection, receivedAt: 0, maxPayloadBytes: 4096 }));
    expect(letters.map((l) => [l.reason, l.payload])).toEqual([
      ['non_finite', '{"metrics":{"oilTempC":"Infinity"}}'],
      ['non_finite', '{"metrics":{"oilTempC":"-Infinity"}}'],
    ]);
  });
});
