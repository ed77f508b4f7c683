import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DERIVED_METRICS } from '../../core/domain/device-type.ts';
import { AggregateFn, EARLIEST_TS, TelemetryRow } from '../../core/domain/telemetry.ts';
import { errors } from '../../core/errors.ts';
import type { TelemetryQuery } from '../../core/ports.ts';
import type { RouteDeps } from '../deps.ts';
import { DeviceParams, DurationQuery, MetricListQuery, TimeQuery, notFoundErrors, queryInt } from '../schemas.ts';
import { csvColumns, telemetryCsv } from '../telemetry-csv.ts';
import { requireDevice } from './devices.ts';

const TelemetryQueryString = z.object({
  metrics: MetricListQuery.optional(),
  from: TimeQuery.optional().describe('Inclusive start: ISO 8601 or epoch ms; default the beginning of the device’s history (2000-01-01, the earliest time ingest accepts)'),
  to: TimeQuery.optional().describe('Exclusive end: ISO 8601 or epoch ms; default now'),
  every: DurationQuery.optional(),
  fn: AggregateFn.optional().describe('Aggregate per window (needs `every`); default mean'),
  limit: queryInt({ min: 1, max: 100_000, default: 100_000 }),
  format: z
    .enum(['json', 'csv'])
    .optional()
    .describe(
      'csv: `ts` then one column per metric (those asked for, in that order; else every metric of the type, then anomalyScore and anomaly), as a download; the next page, when there is one, in a `Link: <…>; rel="next"` header. Default json, or csv when the Accept header asks for text/csv and not JSON',
    ),
});

const TelemetryResponse = z.object({
  deviceId: z.string(),
  type: z.string(),
  from: z.string().describe('ISO 8601, inclusive'),
  to: z.string().describe('ISO 8601, exclusive'),
  every: z.number().int().nullable().describe('Window length in ms; null for raw samples'),
  fn: AggregateFn.nullable(),
  rows: z.array(TelemetryRow).describe('Oldest first'),
  next: z
    .string()
    .nullable()
    .describe('When `limit` rows came back: the `from` that asks for the rows after the last one (same `to`; that page may be empty); null when fewer did'),
});

function iso(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw errors.validation('time out of range');
  return d.toISOString();
}

/** Where the next page starts when `limit` rows came back: just after the last row (or its window). */
function nextFrom(rows: readonly TelemetryRow[], limit: number, every: number | undefined, to: number): string | null {
  const last = rows.length >= limit ? rows[rows.length - 1] : undefined;
  if (!last) return null;
  const after = Date.parse(last.ts) + (every ?? 1);
  return after < to ? iso(after) : null;
}

/** This request's path and query for the next CSV page: `from` its start, `to` the end this page resolved, format=csv. */
function pageUrl(url: string, from: string, to: number): string {
  const u = new URL(url, 'http://x');
  u.searchParams.set('from', from);
  u.searchParams.set('to', iso(to));
  u.searchParams.set('format', 'csv');
  return u.pathname + u.search;
}

export function telemetryRoutes({ opsStore, telemetryStore, clock }: RouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/devices/:id/telemetry', {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['telemetry'],
        summary: 'Raw samples, or aggregates per window when `every` is given',
        params: DeviceParams,
        querystring: TelemetryQueryString,
        response: { 200: TelemetryResponse, ...notFoundErrors },
      },
      handler: async (req, reply) => {
        const q = req.query;
        const to = q.to ?? clock.now();
        // without a range, all the device has sent (a replayed recording's decisions, sample by sample), oldest first
        const from = q.from ?? Math.min(EARLIEST_TS, to - 1);
        if (from >= to) throw errors.validation(`from (${iso(from)}) must be before to (${iso(to)})`);
        if (q.fn !== undefined && q.every === undefined) throw errors.validation('fn needs every, e.g. every=5m');

        void reply.header('vary', 'Accept');
        const accept = req.headers.accept ?? '';
        const csv = (q.format ?? (accept.includes('text/csv') && !accept.includes('json') ? 'csv' : 'json')) === 'csv';
        const device = await requireDevice(opsStore, req.params.id);
        // the type's metrics: to check the ones asked for, and as a CSV's columns
        let typeMetrics: string[] = [];
        if (q.metrics || csv) {
          const type = await opsStore.getDeviceType(device.type);
          if (!type) throw errors.deviceTypeNotFound(`device type ${device.type} not found`);
          typeMetrics = type.metrics.map((m) => m.name);
        }
        if (q.metrics) {
          const known = new Set([...typeMetrics, ...DERIVED_METRICS]);
          const unknown = q.metrics.filter((m) => !known.has(m));
          if (unknown.length) {
            throw errors.validation(`unknown metrics for type ${device.type}: ${unknown.join(', ')}`, { details: { unknownMetrics: unknown } });
          }
        }

        const query: TelemetryQuery = { deviceId: device.id, type: device.type, from, to, limit: q.limit };
        if (q.metrics) query.metrics = q.metrics;
        if (q.every !== undefined) {
          query.every = q.every;
          query.fn = q.fn ?? 'mean';
        }
        let rows;
        try {
          rows = await telemetryStore.query(query);
        } catch (err) {
          throw errors.storeUnavailable('telemetry store unavailable', { cause: err });
        }
        const next = nextFrom(rows, q.limit, query.every, to);
        if (csv) {
          const columns = csvColumns(typeMetrics, q.metrics);
          if (next !== null) void reply.header('link', `<${pageUrl(req.url, next, to)}>; rel="next"`);
          // the response schema describes the JSON; this body is text, sent as it is
          return (reply as unknown as FastifyReply)
            .type('text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="${device.id.replace(/[^A-Za-z0-9._-]/g, '_')}-telemetry.csv"`)
            .serializer((body: unknown) => body as string)
            .send(telemetryCsv(rows, columns));
        }
        // Up to 100,000 rows straight from our own store: re-validating them
        // through zod on the way out would triple the serialisation time.
        void reply.type('application/json; charset=utf-8').serializer(JSON.stringify);
        return {
          deviceId: device.id,
          type: device.type,
          from: iso(from),
          to: iso(to),
          every: query.every ?? null,
          fn: query.fn ?? null,
          rows,
          next,
        };
      },
    });
  };
}
