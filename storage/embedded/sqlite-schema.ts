/**
 * The embedded telemetry store's schema and write path, shared by the store
 * (reads, and writes when no writer thread is used) and its writer thread.
 */
import Database from 'better-sqlite3';
import type { MetricValue, Point } from '../../core/domain/telemetry.ts';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS samples (
  device_id   TEXT    NOT NULL,
  ts          INTEGER NOT NULL,
  measurement TEXT    NOT NULL,
  model       TEXT,
  site        TEXT,
  metrics     TEXT    NOT NULL,
  PRIMARY KEY (device_id, ts)
) WITHOUT ROWID;
-- Last value of each metric, kept on write: scanning back for a metric a
-- device sends rarely would read up to the whole lookback.
CREATE TABLE IF NOT EXISTS latest (
  device_id   TEXT    NOT NULL,
  measurement TEXT    NOT NULL,
  metric      TEXT    NOT NULL,
  ts          INTEGER NOT NULL,
  value       TEXT    NOT NULL,
  PRIMARY KEY (device_id, measurement, metric)
) WITHOUT ROWID;
`;

/** Opens (creating) the database file with the pragmas both connections use. */
export function openDatabase(file: string): Database.Database {
  const d = new Database(file);
  try {
    d.pragma('journal_mode = WAL');
    d.pragma('synchronous = NORMAL');
    d.pragma('busy_timeout = 5000');
    d.exec(SCHEMA);
  } catch (err) {
    d.close();
    throw err;
  }
  return d;
}

export function prepareWrites(d: Database.Database) {
  return {
    // json_patch merges, so a rewrite overwrites only the metrics it carries (as InfluxDB does).
    insert: d.prepare(
      `INSERT INTO samples (device_id, ts, measurement, model, site, metrics) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, ts) DO UPDATE SET measurement = excluded.measurement, model = excluded.model,
         site = excluded.site, metrics = json_patch(samples.metrics, excluded.metrics)`,
    ),
    upsertLatest: d.prepare(
      `INSERT INTO latest (device_id, measurement, metric, ts, value) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (device_id, measurement, metric) DO UPDATE SET ts = excluded.ts, value = excluded.value
       WHERE excluded.ts >= latest.ts`,
    ),
  };
}

/** Writes one batch in one transaction. */
export function writePoints(d: Database.Database, s: ReturnType<typeof prepareWrites>, points: readonly Point[]): void {
  // Key order keeps each B-tree page hot while its rows go in (stable: a later duplicate still wins).
  const sorted = points.toSorted((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.ts - b.ts));
  d.transaction(writeBatch)(sorted);

  function writeBatch(batch: readonly Point[]) {
    // Per device, its points oldest first (sorted above): the last one carrying a metric is its latest.
    const byDevice = new Map<string, Point[]>();
    for (const p of batch) {
      const metrics = finiteMetrics(p.metrics);
      if (!metrics) continue;
      s.insert.run(p.deviceId, p.ts, p.type, p.model, p.site, JSON.stringify(metrics));
      const key = `${p.deviceId}\u0000${p.type}`;
      const list = byDevice.get(key);
      if (list) list.push({ ...p, metrics });
      else byDevice.set(key, [{ ...p, metrics }]);
    }
    for (const list of byDevice.values()) {
      const newest: Record<string, Point> = {};
      for (const p of list) for (const m in p.metrics) newest[m] = p;
      for (const [m, p] of Object.entries(newest)) s.upsertLatest.run(p.deviceId, p.type, m, p.ts, JSON.stringify(p.metrics[m]));
    }
  }
}

function finiteMetrics(metrics: Record<string, MetricValue>): Record<string, MetricValue> | null {
  let n = 0;
  let finite = true;
  for (const k in metrics) {
    n++;
    const v = metrics[k];
    if (typeof v === 'number' && !Number.isFinite(v)) finite = false;
  }
  if (finite) return n > 0 ? metrics : null;
  const out = Object.fromEntries(Object.entries(metrics).filter(([, v]) => typeof v !== 'number' || Number.isFinite(v)));
  return Object.keys(out).length > 0 ? out : null;
}
