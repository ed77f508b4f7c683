/**
 * The InfluxDB 2.x TelemetryStore. Writes go straight to /api/v2/write as line
 * protocol (no client-side buffer or retry: the caller owns retries and must
 * know when a batch is really stored); queries are Flux via the official client.
 */
import { InfluxDB, flux, fluxDateTime, fluxExpression, toFluxValue, type ParameterizedQuery } from '@influxdata/influxdb-client';
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';
import { errors } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { TelemetryQuery, TelemetryStore } from '../../core/ports.ts';
import type { MetricValue, TelemetryRow } from '../../core/domain/telemetry.ts';
import { toLineProtocol } from './line-protocol.ts';

export interface InfluxTelemetryStoreOptions {
  url: string;
  token: string;
  org: string;
  bucket: string;
  logger: Logger;
  clock?: Clock;
  /** Per HTTP request (write, query, admin). */
  timeoutMs?: number;
}

const DEFAULT_LOOKBACK_MS = 30 * 24 * 3600_000;
/** latest() accepts samples up to this far past now: device clocks run ahead. */
const FUTURE_SLACK_MS = 24 * 3600_000;
const PING_TIMEOUT_MS = 2000;

export function createInfluxTelemetryStore(opts: InfluxTelemetryStoreOptions): TelemetryStore {
  const { token, org, bucket, logger } = opts;
  const base = opts.url.replace(/\/+$/, '');
  const clock = opts.clock ?? systemClock;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const auth = { Authorization: `Token ${token}` };
  const writeUrl = `${base}/api/v2/write?${new URLSearchParams({ org, bucket, precision: 'ms' })}`;
  const queryApi = new InfluxDB({ url: base, token, timeout: timeoutMs }).getQueryApi(org);

  async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T | null; text: string }> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? auth : { ...auth, 'Content-Type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw errors.storeUnavailable(`InfluxDB at ${base} is unreachable`, { cause: err, details: { reachable: false } });
    }
    const text = await res.text();
    let json: T | null = null;
    try {
      json = text ? (JSON.parse(text) as T) : null;
    } catch {
      // not JSON (a proxy's error page, say): the caller reports `text`
    }
    return { status: res.status, json, text };
  }

  async function rows(query: ParameterizedQuery): Promise<Array<{ time: number; field: string; value: MetricValue | null }>> {
    const out: Array<{ time: number; field: string; value: MetricValue | null }> = [];
    try {
      for await (const { values, tableMeta } of queryApi.iterateRows(query)) {
        const time = Date.parse(tableMeta.get(values, '_time') as string);
        let value = tableMeta.get(values, '_value') as MetricValue | null;
        // Flux writes CSV with CRLF line ends, turning a stored "\n" into "\r\n" (and dropping a lone "\r").
        if (typeof value === 'string' && value.includes('\r\n')) value = value.replaceAll('\r\n', '\n');
        out.push({ time, field: tableMeta.get(values, '_field') as string, value });
      }
    } catch (err) {
      throw errors.storeUnavailable(`InfluxDB query failed: ${(err as Error).message}`, { cause: err });
    }
    return out;
  }

  /** Series of one device (site or model may have changed: several series) → rows of (_time, _field, _value) per field. */
  function source(q: { deviceId: string; type: string; metrics?: string[] | undefined; start: number; stop: number }): ParameterizedQuery {
    const fields = q.metrics ? fluxExpression(`|> filter(fn: (r) => ${q.metrics.map((m) => `r._field == ${toFluxValue(m)}`).join(' or ')})`) : fluxExpression('');
    return flux`from(bucket: ${bucket})
  |> range(start: ${fluxDateTime(new Date(q.start).toISOString())}, stop: ${fluxDateTime(new Date(q.stop).toISOString())})
  |> filter(fn: (r) => r._measurement == ${q.type} and r.device == ${q.deviceId})
  ${fields}`;
  }

  return {
    kind: 'influx',

    async init() {
      const found = await api<{ buckets?: unknown[] }>('GET', `/api/v2/buckets?${new URLSearchParams({ org, name: bucket })}`);
      if (found.status === 200 && (found.json?.buckets?.length ?? 0) > 0) {
        logger.info({ url: base, org, bucket }, 'InfluxDB telemetry store ready');
        return;
      }
      if (found.status !== 200 && found.status !== 404) {
        throw errors.storeUnavailable(`InfluxDB bucket lookup failed (${found.status}): ${found.text}`);
      }
      const orgs = await api<{ orgs?: Array<{ id: string }> }>('GET', `/api/v2/orgs?${new URLSearchParams({ org })}`);
      const orgID = orgs.json?.orgs?.[0]?.id;
      if (orgs.status !== 200 || !orgID) throw errors.storeUnavailable(`InfluxDB org ${org} not found (${orgs.status}): ${orgs.text}`);
      const created = await api('POST', '/api/v2/buckets', { orgID, name: bucket, retentionRules: [] });
      // 422: created concurrently by another process
      if (created.status !== 201 && created.status !== 422) {
        throw errors.storeUnavailable(`cannot create InfluxDB bucket ${bucket} (${created.status}): ${created.text}`);
      }
      logger.info({ url: base, org, bucket }, 'created InfluxDB bucket');
    },

    async write(points) {
      const { body, lines } = toLineProtocol(points);
      if (lines === 0) return;
      let res: Response;
      try {
        res = await fetch(writeUrl, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'text/plain; charset=utf-8' },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw errors.storeUnavailable(`InfluxDB write failed: ${(err as Error).message}`, { cause: err });
      }
      if (res.status === 204) return;
      const text = await res.text().catch(() => '');
      const details = { status: res.status, body: text.slice(0, 2000) };
      // 400 (bad line / field type conflict) and 422 (outside retention) will fail again on retry:
      // a validation error lets the caller set the batch aside instead of retrying forever.
      if (res.status === 400 || res.status === 422) {
        throw errors.validation(`InfluxDB rejected points (${res.status}): ${details.body}`, { details });
      }
      throw errors.storeUnavailable(`InfluxDB write failed (${res.status}): ${details.body}`, { details });
    },

    async query(q) {
      checkQuery(q);
      if (q.metrics?.length === 0) return [];
      const src = source({ ...q, start: q.from, stop: q.to });
      if (q.every === undefined) {
        // limit per series, then per field after merging series: the first `limit` rows of
        // each field hold every timestamp of the first `limit` rows (pivoted here, not in
        // Flux, so an empty string stays a value and never reads as a missing one).
        return pivot(
          await rows(flux`${src}
  |> limit(n: ${q.limit})
  |> keep(columns: ["_time", "_field", "_value"])
  |> group(columns: ["_field"])
  |> sort(columns: ["_time"])
  |> limit(n: ${q.limit})`),
          q.limit,
          null,
        );
      }
      const fn = q.fn ?? 'mean';
      const numericOnly = fn === 'mean' || fn === 'min' || fn === 'max';
      const fnExpr = fluxExpression(fn);
      return pivot(
        await rows(flux`import "types"
${src}
  ${fluxExpression(numericOnly ? '|> filter(fn: (r) => types.isType(v: r._value, type: "float") or types.isType(v: r._value, type: "int") or types.isType(v: r._value, type: "uint"))' : '')}
  |> keep(columns: ["_start", "_stop", "_time", "_field", "_value"])
  |> group(columns: ["_field"])
  ${fluxExpression(fn === 'last' ? '|> sort(columns: ["_time"])' : '')}
  |> aggregateWindow(every: ${fluxExpression(`${q.every}ms`)}, fn: ${fnExpr}, createEmpty: false, timeSrc: "_start")
  |> keep(columns: ["_time", "_field", "_value"])
  |> sort(columns: ["_time"])
  |> limit(n: ${q.limit})`),
        q.limit,
        q.every,
      );
    },

    async latest(deviceId, type, lookbackMs = DEFAULT_LOOKBACK_MS) {
      const now = clock.now();
      const found = await rows(flux`${source({ deviceId, type, start: now - lookbackMs, stop: now + FUTURE_SLACK_MS })}
  |> last()
  |> keep(columns: ["_time", "_field", "_value"])
  |> group(columns: ["_field"])
  |> sort(columns: ["_time"])
  |> last()`);
      if (found.length === 0) return null;
      let ts = -Infinity;
      const values: Record<string, MetricValue> = {};
      for (const r of found) {
        if (r.value === null) continue;
        values[r.field] = r.value;
        if (r.time > ts) ts = r.time;
      }
      return ts === -Infinity ? null : { ts: new Date(ts).toISOString(), values };
    },

    async ping() {
      try {
        const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
        await res.body?.cancel();
        return res.status === 200;
      } catch {
        return false;
      }
    },

    async close() {
      // Nothing held open: every write and query finishes before its promise settles.
    },
  };
}

function checkQuery(q: TelemetryQuery): void {
  if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw errors.validation(`limit must be a positive integer, got ${q.limit}`);
  if (q.every !== undefined && (!Number.isSafeInteger(q.every) || q.every < 1)) {
    throw errors.validation(`every must be a positive integer of ms, got ${q.every}`);
  }
}

/**
 * Rows of (time, field, value) → one TelemetryRow per time, oldest first. With
 * `every`, times are window starts; Flux clips the first window to the range
 * start, so it is aligned back to the epoch grid the embedded store uses.
 */
function pivot(found: Array<{ time: number; field: string; value: MetricValue | null }>, limit: number, every: number | null): TelemetryRow[] {
  const byTime = new Map<number, Record<string, MetricValue>>();
  for (const r of found) {
    if (r.value === null) continue;
    const t = every === null ? r.time : Math.floor(r.time / every) * every;
    let values = byTime.get(t);
    if (!values) byTime.set(t, (values = {}));
    values[r.field] = r.value;
  }
  return [...byTime.keys()]
    .sort((a, b) => a - b)
    .slice(0, limit)
    .map((t) => ({ ts: new Date(t).toISOString(), values: byTime.get(t) as Record<string, MetricValue> }));
}
