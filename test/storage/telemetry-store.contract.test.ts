/**
 * One contract, two TelemetryStores: whatever the embedded store answers,
 * InfluxDB answers too (and the other way round).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Point, TelemetryRow } from '../../core/domain/telemetry.ts';
import { nullLogger } from '../../core/logger.ts';
import type { TelemetryStore } from '../../core/ports.ts';
import { createSqliteTelemetryStore } from '../../storage/embedded/sqlite-telemetry-store.ts';
import { createInfluxTelemetryStore } from '../../storage/influx/influx-telemetry-store.ts';
import { startInflux, type TestInflux } from '../helpers/influx.ts';

interface Harness {
  /** A new, initialised store over the suite's data. */
  open(): Promise<TelemetryStore>;
  cleanup(): Promise<void>;
}

const TYPE = 'compressor';
/** 2024-01-01T00:00:00Z: a multiple of a minute and of a day. */
const T0 = Date.UTC(2024, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();

let seq = 0;
const newDevice = () => `dev-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

function pt(deviceId: string, ts: number, metrics: Point['metrics'], tags: { model?: string | null; site?: string | null } = {}): Point {
  return { deviceId, type: TYPE, model: tags.model === undefined ? 'GA30' : tags.model, site: tags.site === undefined ? 'plant-1' : tags.site, ts, metrics };
}

function describeTelemetryStoreContract(name: string, setup: () => Promise<Harness>, extra?: (ctx: { harness: () => Harness; store: () => TelemetryStore }) => void): void {
  describe(`TelemetryStore contract: ${name}`, () => {
    let harness: Harness;
    let store: TelemetryStore;

    beforeAll(async () => {
      harness = await setup();
      store = await harness.open();
    });
    afterAll(async () => {
      await store?.close();
      await harness?.cleanup();
    });

    const raw = (deviceId: string, from: number, to: number, more: { metrics?: string[]; limit?: number } = {}) =>
      store.query({ deviceId, type: TYPE, from, to, limit: more.limit ?? 10_000, ...(more.metrics ? { metrics: more.metrics } : {}) });

    it('is reachable', async () => {
      expect(await store.ping()).toBe(true);
    });

    it('round-trips numbers, booleans and strings exactly, at exact milliseconds', async () => {
      const dev = newDevice();
      const points = [
        pt(dev, T0 + 1, { f: 7.25, i: 42, neg: -0.1, tiny: 1e-7, big: 1e21, third: 1 / 3, maxSafe: 9007199254740991, zero: 0, on: true, mode: 'auto' }),
        pt(dev, T0 + 999, { off: false, s: 'comma, equals= "quotes" back\\slash\nnew line ü 日本', empty: '', spaced: ' x ' }),
        pt(dev, T0 + 1001, { 'odd key,=x': 1.5 }, { model: 'GA 30\nVSD', site: 'hall 2, bay=3\\' }),
      ];
      await store.write(points);
      const rows = await raw(dev, T0, T0 + 2000);
      expect(rows).toEqual(points.map((p) => ({ ts: iso(p.ts), values: p.metrics })));
      expect(rows.map((r) => r.ts)).toEqual(['2024-01-01T00:00:00.001Z', '2024-01-01T00:00:00.999Z', '2024-01-01T00:00:01.001Z']);
    });

    it('keeps devices (and device types) apart', async () => {
      const [a, b] = [newDevice(), newDevice()];
      await store.write([pt(a, T0, { temp: 1 }), pt(b, T0, { temp: 2 }), pt(b, T0 + 1000, { temp: 3 })]);
      expect(await raw(a, T0, T0 + 10_000)).toEqual([{ ts: iso(T0), values: { temp: 1 } }]);
      expect(await raw(b, T0, T0 + 10_000)).toEqual([
        { ts: iso(T0), values: { temp: 2 } },
        { ts: iso(T0 + 1000), values: { temp: 3 } },
      ]);
      expect(await store.query({ deviceId: a, type: 'other-type', from: T0, to: T0 + 10_000, limit: 10 })).toEqual([]);
    });

    it('projects the requested metrics and drops samples without any of them', async () => {
      const dev = newDevice();
      await store.write([pt(dev, T0, { a: 1, b: true, c: 'x' }), pt(dev, T0 + 1000, { b: false }), pt(dev, T0 + 2000, { a: 2, c: 'y' })]);
      expect(await raw(dev, T0, T0 + 3000, { metrics: ['a', 'c'] })).toEqual([
        { ts: iso(T0), values: { a: 1, c: 'x' } },
        { ts: iso(T0 + 2000), values: { a: 2, c: 'y' } },
      ]);
      expect(await raw(dev, T0, T0 + 3000, { metrics: ['b'] })).toEqual([
        { ts: iso(T0), values: { b: true } },
        { ts: iso(T0 + 1000), values: { b: false } },
      ]);
      expect(await raw(dev, T0, T0 + 3000, { metrics: ['nope'] })).toEqual([]);
      expect(await raw(dev, T0, T0 + 3000, { metrics: [] })).toEqual([]);
    });

    it('treats from as inclusive and to as exclusive', async () => {
      const dev = newDevice();
      await store.write([pt(dev, T0, { v: 0 }), pt(dev, T0 + 1000, { v: 1 }), pt(dev, T0 + 2000, { v: 2 })]);
      expect(await raw(dev, T0 + 1000, T0 + 2000)).toEqual([{ ts: iso(T0 + 1000), values: { v: 1 } }]);
      expect((await raw(dev, T0, T0 + 2001)).map((r) => r.values.v)).toEqual([0, 1, 2]);
      expect(await raw(dev, T0 + 1, T0 + 1000)).toEqual([]);
    });

    it('returns oldest first whatever the write order, and honours limit', async () => {
      const dev = newDevice();
      await store.write([4, 2, 0].map((k) => pt(dev, T0 + k * 1000, { k })));
      await store.write([3, 1].map((k) => pt(dev, T0 + k * 1000, { k })));
      expect((await raw(dev, T0, T0 + 10_000)).map((r) => r.values.k)).toEqual([0, 1, 2, 3, 4]);
      expect(await raw(dev, T0, T0 + 10_000, { limit: 2 })).toEqual([
        { ts: iso(T0), values: { k: 0 } },
        { ts: iso(T0 + 1000), values: { k: 1 } },
      ]);
    });

    describe('aggregation', () => {
      const dev = newDevice();
      // window [T0, +60s): temp 1, 2, 6 · [+60s, +120s): temp 10.5, -0.5 · [+120s, +180s): nothing · [+180s, +240s): a string only
      const samples = [
        pt(dev, T0, { temp: 1, on: true, mode: 'a' }),
        pt(dev, T0 + 20_000, { temp: 2, on: false, mode: 'b' }),
        pt(dev, T0 + 40_000, { temp: 6, on: true, mode: 'c' }),
        pt(dev, T0 + 60_000, { temp: 10.5, mode: 'd' }),
        pt(dev, T0 + 90_000, { temp: -0.5, on: false }),
        pt(dev, T0 + 200_000, { mode: 'e' }),
      ];
      const agg = (q: { fn?: 'mean' | 'min' | 'max' | 'last' | 'count'; every?: number; metrics?: string[]; from?: number; limit?: number }) =>
        store.query({ deviceId: dev, type: TYPE, from: q.from ?? T0, to: T0 + 600_000, every: q.every ?? 60_000, limit: q.limit ?? 100, ...(q.fn ? { fn: q.fn } : {}), ...(q.metrics ? { metrics: q.metrics } : {}) });
      const w = (k: number, values: TelemetryRow['values']) => ({ ts: iso(T0 + k * 60_000), values });

      beforeAll(async () => {
        await store.write(samples);
      });

      it('mean over numeric values only, per window, empty windows left out; mean is the default', async () => {
        const expected = [w(0, { temp: 3 }), w(1, { temp: 5 })];
        expect(await agg({ fn: 'mean' })).toEqual(expected);
        expect(await agg({})).toEqual(expected);
        expect(await agg({ fn: 'mean', metrics: ['mode'] })).toEqual([]);
        expect(await agg({ fn: 'mean', metrics: ['mode', 'temp'] })).toEqual(expected);
      });

      it('min and max', async () => {
        expect(await agg({ fn: 'min' })).toEqual([w(0, { temp: 1 }), w(1, { temp: -0.5 })]);
        expect(await agg({ fn: 'max' })).toEqual([w(0, { temp: 6 }), w(1, { temp: 10.5 })]);
      });

      it('last of every type', async () => {
        expect(await agg({ fn: 'last' })).toEqual([w(0, { temp: 6, on: true, mode: 'c' }), w(1, { temp: -0.5, on: false, mode: 'd' }), w(3, { mode: 'e' })]);
        expect(await agg({ fn: 'last', metrics: ['mode'] })).toEqual([w(0, { mode: 'c' }), w(1, { mode: 'd' }), w(3, { mode: 'e' })]);
      });

      it('count of values of any type', async () => {
        expect(await agg({ fn: 'count' })).toEqual([w(0, { temp: 3, on: 3, mode: 3 }), w(1, { temp: 2, on: 1, mode: 1 }), w(3, { mode: 1 })]);
      });

      it('limits the number of windows, oldest first', async () => {
        expect(await agg({ fn: 'count', limit: 2 })).toEqual([w(0, { temp: 3, on: 3, mode: 3 }), w(1, { temp: 2, on: 1, mode: 1 })]);
        expect(await agg({ fn: 'last', limit: 1, metrics: ['mode'] })).toEqual([w(0, { mode: 'c' })]);
      });

      it('aligns windows to the epoch, not to `from`', async () => {
        // from inside window 0: the row still carries the window start T0, holding only samples ≥ from
        expect(await agg({ fn: 'mean', from: T0 + 30_000 })).toEqual([w(0, { temp: 6 }), w(1, { temp: 5 })]);
        // T0 is 3 s past a multiple of 7 s: windows start at T0 - 3 s + k·7 s
        const seven = (k: number, values: TelemetryRow['values']) => ({ ts: iso(T0 - 3000 + k * 7000), values });
        expect(await agg({ fn: 'count', every: 7000, metrics: ['temp'] })).toEqual([
          seven(0, { temp: 1 }), // T0
          seven(3, { temp: 1 }), // T0 + 20 s in [T0 + 18 s, T0 + 25 s)
          seven(6, { temp: 1 }), // T0 + 40 s in [T0 + 39 s, T0 + 46 s)
          seven(9, { temp: 1 }), // T0 + 60 s in [T0 + 60 s, T0 + 67 s)
          seven(13, { temp: 1 }), // T0 + 90 s in [T0 + 88 s, T0 + 95 s)
        ]);
      });
    });

    it('rewriting the same (device, ts) overwrites and merges metrics instead of adding rows', async () => {
      const dev = newDevice();
      const p = pt(dev, T0 + 5, { temp: 20.5, on: true });
      await store.write([p]);
      await store.write([p]);
      expect(await raw(dev, T0, T0 + 1000)).toEqual([{ ts: iso(T0 + 5), values: { temp: 20.5, on: true } }]);
      await store.write([pt(dev, T0 + 5, { mode: 'eco' })]);
      await store.write([pt(dev, T0 + 5, { temp: 21.25 })]);
      expect(await raw(dev, T0, T0 + 1000)).toEqual([{ ts: iso(T0 + 5), values: { temp: 21.25, on: true, mode: 'eco' } }]);
      // within one batch too: the later point wins
      await store.write([pt(dev, T0 + 5, { temp: 1, x: 1 }), pt(dev, T0 + 5, { temp: 2 })]);
      expect(await raw(dev, T0, T0 + 1000)).toEqual([{ ts: iso(T0 + 5), values: { temp: 2, on: true, mode: 'eco', x: 1 } }]);
      const counts = await store.query({ deviceId: dev, type: TYPE, from: T0, to: T0 + 1000, every: 60_000, fn: 'count', limit: 10 });
      expect(counts).toEqual([{ ts: iso(T0), values: { temp: 1, on: 1, mode: 1, x: 1 } }]);
    });

    it('keeps one row per time when a device moves to another site', async () => {
      const dev = newDevice();
      await store.write([pt(dev, T0, { temp: 1 }, { site: 'plant-1' }), pt(dev, T0 + 1000, { temp: 2 }, { site: 'plant-2', model: null })]);
      await store.write([pt(dev, T0 + 2000, { temp: 3 }, { site: null })]);
      expect(await raw(dev, T0, T0 + 10_000)).toEqual([
        { ts: iso(T0), values: { temp: 1 } },
        { ts: iso(T0 + 1000), values: { temp: 2 } },
        { ts: iso(T0 + 2000), values: { temp: 3 } },
      ]);
      expect(await raw(dev, T0, T0 + 10_000, { limit: 2 })).toEqual([
        { ts: iso(T0), values: { temp: 1 } },
        { ts: iso(T0 + 1000), values: { temp: 2 } },
      ]);
      const q = { deviceId: dev, type: TYPE, from: T0, to: T0 + 10_000, every: 60_000, limit: 10 };
      expect(await store.query({ ...q, fn: 'count' })).toEqual([{ ts: iso(T0), values: { temp: 3 } }]);
      expect(await store.query({ ...q, fn: 'mean' })).toEqual([{ ts: iso(T0), values: { temp: 2 } }]);
      expect(await store.query({ ...q, fn: 'last' })).toEqual([{ ts: iso(T0), values: { temp: 3 } }]);
    });

    it('latest(): the newest value of each metric within the lookback, and the newest time', async () => {
      const dev = newDevice();
      const now = Date.now();
      await store.write([
        pt(dev, now - 60_000, { c: true, z: 2 }),
        pt(dev, now - 10 * 60_000, { a: 1, b: 'x', gone: 0 }),
        pt(dev, now - 5 * 60_000, { a: 2 }),
        pt(dev, now - 3 * 60_000, { z: 1 }),
      ]);
      await store.write([pt(dev, now - 20 * 60_000, { a: 0, old: 9 })]);
      expect(await store.latest(dev, TYPE)).toEqual({ ts: iso(now - 60_000), values: { a: 2, b: 'x', c: true, z: 2, gone: 0, old: 9 } });
      expect(await store.latest(dev, TYPE, 6 * 60_000)).toEqual({ ts: iso(now - 60_000), values: { a: 2, c: true, z: 2 } });
      expect(await store.latest(dev, TYPE, 30_000)).toBeNull();
      expect(await store.latest(dev, 'other-type')).toBeNull();
      expect(await store.latest(newDevice(), TYPE)).toBeNull();
    });

    it('takes a batch of 5000 points with 10 metrics each in one write', async () => {
      const dev = newDevice();
      const points = Array.from({ length: 5000 }, (_, i) =>
        pt(dev, T0 + i * 1000, Object.fromEntries(Array.from({ length: 10 }, (_, m) => [`m${m}`, m === 9 ? i % 2 === 0 : i + m / 4]))),
      );
      await store.write(points);
      const rows = await raw(dev, T0, T0 + 86_400_000, { limit: 5000 });
      expect(rows).toHaveLength(5000);
      expect(rows[0]).toEqual({ ts: iso(T0), values: points[0]?.metrics });
      expect(rows[4999]).toEqual({ ts: iso(T0 + 4_999_000), values: points[4999]?.metrics });
      expect(rows.every((r, i) => r.ts === iso(T0 + i * 1000))).toBe(true);
      const counts = await store.query({ deviceId: dev, type: TYPE, from: T0, to: T0 + 86_400_000, every: 86_400_000, fn: 'count', limit: 10 });
      expect(counts).toEqual([{ ts: iso(T0), values: Object.fromEntries(Array.from({ length: 10 }, (_, m) => [`m${m}`, 5000])) }]);
      const max = await store.query({ deviceId: dev, type: TYPE, metrics: ['m1', 'm9'], from: T0, to: T0 + 86_400_000, every: 3_600_000, fn: 'max', limit: 10 });
      expect(max).toEqual([{ ts: iso(T0), values: { m1: 3599.25 } }, { ts: iso(T0 + 3_600_000), values: { m1: 4999.25 } }]);
    });

    it('rejects a bad query instead of guessing', async () => {
      await expect(store.query({ deviceId: 'x', type: TYPE, from: T0, to: T0 + 1, limit: 0 })).rejects.toThrow(/limit/);
      await expect(store.query({ deviceId: 'x', type: TYPE, from: T0, to: T0 + 1, every: 0, limit: 1 })).rejects.toThrow(/every/);
    });

    extra?.({ harness: () => harness, store: () => store });
  });
}

describeTelemetryStoreContract(
  'embedded (SQLite)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-telemetry-'));
    return {
      async open() {
        const s = createSqliteTelemetryStore({ dir, logger: nullLogger() });
        await s.init();
        return s;
      },
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  ({ harness }) => {
    it('keeps its data across close() and reopen, and refuses work while closed', async () => {
      const s1 = await harness().open();
      const dev = newDevice();
      await s1.write([pt(dev, T0, { temp: 7.25, on: false, mode: 'x' }), pt(dev, Date.now() - 1000, { temp: 8 })]);
      await s1.close();
      await s1.close();
      expect(await s1.ping()).toBe(false);
      await expect(s1.write([pt(dev, T0 + 1, { temp: 1 })])).rejects.toThrow();
      const s2 = await harness().open();
      try {
        expect(s2.kind).toBe('embedded');
        expect(await s2.query({ deviceId: dev, type: TYPE, from: T0, to: T0 + 1, limit: 10 })).toEqual([{ ts: iso(T0), values: { temp: 7.25, on: false, mode: 'x' } }]);
        expect((await s2.latest(dev, TYPE))?.values).toEqual({ temp: 8 });
      } finally {
        await s2.close();
      }
    });
  },
);

let influx: TestInflux | undefined;
describeTelemetryStoreContract(
  'InfluxDB',
  async () => {
    influx = await startInflux();
    const { url, token, org, bucket } = influx;
    return {
      async open() {
        const s = createInfluxTelemetryStore({ url, token, org, bucket, logger: nullLogger(), timeoutMs: 10_000 });
        await s.init();
        return s;
      },
      cleanup: async () => influx?.stop(),
    };
  },
  ({ store }) => {
    it('creates a missing bucket on init()', async () => {
      const { url, token, org } = influx as TestInflux;
      const bucket = `extra_${Math.random().toString(36).slice(2, 8)}`;
      const s = createInfluxTelemetryStore({ url, token, org, bucket, logger: nullLogger() });
      await s.init();
      await s.init();
      const dev = newDevice();
      await s.write([pt(dev, T0, { temp: 1 })]);
      expect(await s.query({ deviceId: dev, type: TYPE, from: T0, to: T0 + 1, limit: 1 })).toEqual([{ ts: iso(T0), values: { temp: 1 } }]);
      expect(s.kind).toBe('influx');
    });

    it('rejects a write InfluxDB refuses (bad token, field type conflict)', async () => {
      const { url, org, bucket } = influx as TestInflux;
      const bad = createInfluxTelemetryStore({ url, token: 'wrong', org, bucket, logger: nullLogger() });
      await expect(bad.write([pt(newDevice(), T0, { temp: 1 })])).rejects.toMatchObject({ code: 'FLEETDOC_ERR_STORE_UNAVAILABLE' });
      const dev = newDevice();
      await store().write([pt(dev, T0, { temp: 1 })]);
      await expect(store().write([pt(dev, T0 + 1000, { temp: 'hot' })])).rejects.toMatchObject({ code: 'FLEETDOC_ERR_VALIDATION' });
    });

    it('rejects writes while InfluxDB is down and works again when it is back, data intact', { timeout: 120_000 }, async () => {
      if (process.env.INFLUX_URL) return;
      const i = influx as TestInflux;
      const dev = newDevice();
      await store().write([pt(dev, T0, { temp: 1 })]);
      await i.stopServer();
      try {
        expect(await store().ping()).toBe(false);
        await expect(store().write([pt(dev, T0 + 1000, { temp: 2 })])).rejects.toMatchObject({ code: 'FLEETDOC_ERR_STORE_UNAVAILABLE' });
        await expect(store().query({ deviceId: dev, type: TYPE, from: T0, to: T0 + 10_000, limit: 10 })).rejects.toThrow();
      } finally {
        await i.startServer();
      }
      expect(await store().ping()).toBe(true);
      await store().write([pt(dev, T0 + 2000, { temp: 3 })]);
      expect(await store().query({ deviceId: dev, type: TYPE, from: T0, to: T0 + 10_000, limit: 10 })).toEqual([
        { ts: iso(T0), values: { temp: 1 } },
        { ts: iso(T0 + 2000), values: { temp: 3 } },
      ]);
    });
  },
);
