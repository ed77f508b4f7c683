/**
 * Request and response shapes only the api uses. Domain shapes come from
 * core/domain; these add query parsing (strings in, typed values out) and
 * the envelopes around domain objects.
 */
import { z } from 'zod';
import { ApiKey } from '../core/domain/api-key.ts';
import { SendCommand } from '../core/domain/command.ts';
import { DeviceId, parseTime } from '../core/domain/common.ts';
import { MetricDef, DeviceType } from '../core/domain/device-type.ts';
import { Device, DeviceStatus } from '../core/domain/device.ts';
import { MetricValue } from '../core/domain/telemetry.ts';

export const ErrorBody = z
  .object({
    code: z.string().describe('Stable error code, e.g. FLEETDOC_ERR_VALIDATION'),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional().describe('Validation problems, one per field'),
    details: z.unknown().optional(),
  })
  .describe('Error');

/** The error responses every /api/v1 route may give, for the OpenAPI document. */
export const authErrors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody } as const;
export const notFoundErrors = { ...authErrors, 404: ErrorBody } as const;

/** Query integers arrive as text; huge, fractional or non-numeric values fail here, never later. */
export function queryInt(opts: { min: number; max: number; default: number }) {
  return z.coerce.number().int().min(opts.min).max(opts.max).default(opts.default);
}

/**
 * `+` in a query string decodes to a space, so `…T10:00:00+02:00` sent
 * unencoded arrives as `…T10:00:00 02:00`; put the sign back.
 */
function restoreOffsetSign(v: string): string {
  return v.replace(/^(.+\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$/, '$1+$2');
}

// Years 0001–9999: every store (and PostgreSQL's timestamptz) holds them.
const MIN_TIME_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Date.parse rolls 2025-02-31 over to March 3; a date that does not exist is an error. */
function dayExists(v: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  if (!m) return true;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

export const TimeQuery = z
  .string()
  .max(64)
  .transform((v, ctx) => {
    const text = restoreOffsetSign(v.trim());
    const ms = dayExists(text) ? parseTime(text) : undefined;
    if (ms === undefined || ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
      ctx.addIssue({ code: 'custom', message: 'expected ISO 8601 time or epoch milliseconds, years 0001–9999' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('ISO 8601 time or epoch milliseconds');

const DURATION_RE = /^(\d{1,12})(ms|s|m|h|d)?$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_EVERY_MS = 366 * UNIT_MS.d;

export const DurationQuery = z
  .string()
  .max(32)
  .transform((v, ctx) => {
    const m = DURATION_RE.exec(v.trim());
    const ms = m ? Number(m[1]) * UNIT_MS[(m[2] ?? 'ms') as keyof typeof UNIT_MS] : NaN;
    if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_EVERY_MS) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30s, 5m, 1h, 1d or milliseconds, between 1 ms and 366 d' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('Window length: 30s, 5m, 1h, 1d, or milliseconds');

/** `a,b` or `metrics=a&metrics=b`; duplicates and blanks dropped. */
export const MetricListQuery = z
  .union([z.string().max(20_000), z.array(z.string().max(20_000)).max(200)])
  .transform((v) => [...new Set((Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))])
  .pipe(z.array(z.string()).min(1, 'name at least one metric').max(200))
  .describe('Comma-separated metric names; all metrics of the device type when omitted');

export const DeviceParams = z.object({ id: DeviceId });

export const DeviceWithSecretBody = z.object({ device: Device, secret: z.string().describe('Shown once; store it on the device') });

export const LatestTelemetry = z
  .object({ ts: z.string(), values: z.record(z.string(), MetricValue) })
  .nullable()
  .describe('Latest value of each metric, or null when the device has not reported recently');

export const DeviceDetail = Device.extend({ latest: LatestTelemetry });

export const DeviceListQuery = z.object({
  type: z.string().max(63).optional(),
  status: DeviceStatus.optional(),
  site: z.string().max(128).optional(),
  online: z.stringbool().optional().describe('true or false'),
  limit: queryInt({ min: 1, max: 10_000, default: 100 }),
  offset: queryInt({ min: 0, max: 100_000_000, default: 0 }),
});

/**
 * Device types as responses: the stored shape without the strictness and
 * cross-field checks that guard input, so a store adding a column cannot
 * turn a read into a 500.
 */
export const DeviceTypeBody = z.object({ ...DeviceType.shape, metrics: z.array(z.object(MetricDef.shape)) });

export const ApiKeyCreated = z.object({ apiKey: ApiKey, key: z.string().describe('Shown once') });

const MAX_PARAMS_DEPTH = 16;
const MAX_PARAMS_BYTES = 64 * 1024;

/** Walks without recursion, so a hostile nesting depth cannot blow the stack here or later. */
function paramsProblem(params: Record<string, unknown>): string | null {
  const stack: Array<[unknown, number]> = [[params, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_PARAMS_DEPTH) return `nested deeper than ${MAX_PARAMS_DEPTH} levels`;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  const bytes = Buffer.byteLength(JSON.stringify(params));
  return bytes > MAX_PARAMS_BYTES ? `${bytes} bytes as JSON; at most ${MAX_PARAMS_BYTES}` : null;
}

/** SendCommand with bounds on the free-form params, which are stored and published as they are. */
export const SendCommandBody = SendCommand.superRefine((c, ctx) => {
  const problem = paramsProblem(c.params);
  if (problem) ctx.addIssue({ code: 'custom', path: ['params'], message: problem });
});
