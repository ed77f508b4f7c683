/**
 * The embedded TelemetryStore: one SQLite file, one row per sample. It mirrors
 * InfluxDB's semantics where fleetdoc relies on them: rewriting a (device, ts)
 * overwrites those metrics, windows align to the epoch, mean/min/max ignore
 * non-numeric values.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { openDatabase, prepareWrites, writePoints } from './sqlite-schema.ts';
import { startWriter, type SqliteWriter } from './sqlite-writer.ts';
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import { errors } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { TelemetryQuery, TelemetryStore } from '../../core/ports.ts';
import type { AggregateFn, MetricValue, TelemetryRow } from '../../core/domain/telemetry.ts';

export interface SqliteTelemetryStoreOptions {
  /** Directory of `telemetry.sqlite` (created when missing). */
  dir: string;
  logger: Logger;
  clock?: Clock;
  /**
   * Run inserts on a worker thread (default) so a 5000-point transaction does
   * not stall the broker's event loop; reads stay on this thread (WAL).
   */
  writerThread?: boolean;
}

const DEFAULT_LOOKBACK_MS = 30 * 24 * 3600_000;
/** latest() accepts samples up to this far past now: device clocks run ahead. */
const FUTURE_SLACK_MS = 24 * 3600_000;


type Row = { ts: number; metrics: string };

export function createSqliteTelemetryStore(opts: SqliteTelemetryStoreOptions): TelemetryStore {
  const { dir, logger } = opts;
  const clock = opts.clock ?? systemClock;
  let db: Database.Database | null = null;
  let stmts: ReturnType<typeof prepare> | null = null;
  let writer: SqliteWriter | null = null;

  function prepare(d: Database.Database) {
    return {
      range: d.prepare<[string, string, number, number], Row>(
        `SELECT ts, metrics FROM samples WHERE device_id = ? AND measurement = ? AND ts >= ? AND ts < ? ORDER BY ts`,
      ),
      latest: d.prepare<[string, string, number, number], { metric: string; ts: number; value: string }>(
        `SELECT metric, ts, value FROM latest WHERE device_id = ? AND measurement = ? AND ts >= ? AND ts < ?`,
      ),
      ...prepareWrites(d),
    };
  }

  function open() {
    if (!db || !stmts) throw errors.storeUnavailable('embedded telemetry store is not open');
    return { db, stmts };
  }

  return {
    kind: 'embedded',

    async init() {
      if (db) return;
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'telemetry.sqlite');
      let d: Database.Database;
      try {
        d = openDatabase(file);
        stmts = prepare(d);
      } catch (err) {
        throw errors.storeUnavailable(`cannot open ${file}`, { cause: err });
      }
      if (opts.writerThread !== false) writer = await startWriter(file);
      db = d;
      logger.info({ file }, 'embedded telemetry store ready');
    },

    async write(points) {
      if (points.length === 0) return;
      const { db: d, stmts: s } = open();
      if (writer) await writer.write(points);
      else writePoints(d, s, points);
    },

    async query(q) {
      const { stmts: s } = open();
      checkQuery(q);
      if (q.metrics?.length === 0) return [];
      // iterate() holds the connection until the loop over it ends (for-of's break/return ends it)
      const rows = s.range.iterate(q.deviceId, q.type, q.from, q.to);
      return q.every === undefined ? rawRows(rows, q) : windowRows(rows, q, q.every, q.fn ?? 'mean');
    },

    async latest(deviceId, type, lookbackMs = DEFAULT_LOOKBACK_MS) {
      const { stmts: s } = open();
      const now = clock.now();
      let ts = -Infinity;
      const values: Record<string, MetricValue> = {};
      for (const r of s.latest.iterate(deviceId, type, now - lookbackMs, now + FUTURE_SLACK_MS)) {
        values[r.metric] = JSON.parse(r.value) as MetricValue;
        if (r.ts > ts) ts = r.ts;
      }
      return ts === -Infinity ? null : { ts: new Date(ts).toISOString(), values };
    },

    async ping() {
      try {
        return db?.prepare('SELECT 1 AS ok').get() !== undefined;
      } catch {
        return false;
      }
    },

    async close() {
      const d = db;
      db = null;
      stmts = null;
      const w = writer;
      writer = null;
      await w?.close();
      d?.close();
    },
  };
}

/** The metrics worth storing; NaN and ±Infinity have no JSON (or line protocol) form. */

function checkQuery(q: TelemetryQuery): void {
  if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw errors.validation(`limit must be a positive integer, got ${q.limit}`);
  if (q.every !== undefined && (!Number.isSafeInteger(q.every) || q.every < 1)) {
    throw errors.validation(`every must be a positive integer of ms, got ${q.every}`);
  }
}

function project(all: Record<string, MetricValue>, wanted: string[] | undefined): Record<string, MetricValue> {
  if (!wanted) return all;
  const out: Record<string, MetricValue> = {};
  for (const m of wanted) if (Object.hasOwn(all, m)) out[m] = all[m] as MetricValue;
  return out;
}

function rawRows(rows: Iterable<Row>, q: TelemetryQuery): TelemetryRow[] {
  const out: TelemetryRow[] = [];
  for (const r of rows) {
    const values = project(JSON.parse(r.metrics) as Record<string, MetricValue>, q.metrics);
    // A sample without any requested metric is no row, as in InfluxDB.
    if (Object.keys(values).length === 0) continue;
    out.push({ ts: new Date(r.ts).toISOString(), values });
    if (out.length >= q.limit) break;
  }
  return out;
}

interface Acc {
  n: number;
  sum: number;
  min: number;
  max: number;
  count: number;
  last: MetricValue | undefined;
}

/** Streams rows (oldest first) through one window at a time, so memory stays bounded. */
function windowRows(rows: Iterable<Row>, q: TelemetryQuery, every: number, fn: AggregateFn): TelemetryRow[] {
  const out: TelemetryRow[] = [];
  let windowStart: number | null = null;
  let accs = new Map<string, Acc>();

  const flush = () => {
    if (windowStart === null) return;
    const values: Record<string, MetricValue> = {};
    for (const [metric, a] of accs) {
      const v = result(a, fn);
      if (v !== undefined) values[metric] = v;
    }
    if (Object.keys(values).length > 0) out.push({ ts: new Date(windowStart).toISOString(), values });
  };

  for (const r of rows) {
    // Epoch-aligned, like Flux's aggregateWindow with offset 0.
    const w = Math.floor(r.ts / every) * every;
    if (w !== windowStart) {
      flush();
      if (out.length >= q.limit) return out;
      windowStart = w;
      accs = new Map();
    }
    const values = project(JSON.parse(r.metrics) as Record<string, MetricValue>, q.metrics);
    for (const [metric, v] of Object.entries(values)) {
      let a = accs.get(metric);
      if (!a) accs.set(metric, (a = { n: 0, sum: 0, min: Infinity, max: -Infinity, count: 0, last: undefined }));
      a.count++;
      a.last = v;
      if (typeof v === 'number') {
        a.n++;
        a.sum += v;
        if (v < a.min) a.min = v;
        if (v > a.max) a.max = v;
      }
    }
  }
  flush();
  return out.slice(0, q.limit);
}

function result(a: Acc, fn: AggregateFn): MetricValue | undefined {
  switch (fn) {
    case 'count':
      return a.count;
    case 'last':
      return a.last;
    case 'mean':
      return a.n > 0 ? a.sum / a.n : undefined;
    case 'min':
      return a.n > 0 ? a.min : undefined;
    case 'max':
      return a.n > 0 ? a.max : undefined;
  }
}
