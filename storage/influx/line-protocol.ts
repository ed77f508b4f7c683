/**
 * InfluxDB line protocol for fleetdoc points: one measurement per device type,
 * tags device/model/site, every number a float field so a field never changes
 * type (an integer first and a fraction later would be a type conflict).
 * https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
 */
import type { MetricValue, Point } from '../../core/domain/telemetry.ts';

// Outside string fields line protocol has no escape for a newline (a space keeps the line
// intact) nor for a backslash before a delimiter or at the end (the parser would take it as
// escaping the delimiter; it is dropped). Tags are never read back, and metric names are
// plain words (MetricName), so this only ever touches model and site labels.
const NEWLINES = /\r\n|[\r\n]/g;
const DANGLING_BACKSLASH = /\\+(?=[,= ]|$)/g;
const MEASUREMENT_SPECIAL = /[, ]/g;
const KEY_SPECIAL = /[,= ]/g;
const STRING_SPECIAL = /["\\]/g;
// Fast paths: almost every name and value needs no escaping at all.
const MAYBE_SPECIAL = /[,= \\\r\n]/;

export function escapeMeasurement(s: string): string {
  if (!MAYBE_SPECIAL.test(s)) return s;
  return s.replace(NEWLINES, ' ').replace(DANGLING_BACKSLASH, '').replace(MEASUREMENT_SPECIAL, '\\$&');
}

/** Tag keys, tag values and field keys. */
export function escapeKey(s: string): string {
  if (!MAYBE_SPECIAL.test(s)) return s;
  return s.replace(NEWLINES, ' ').replace(DANGLING_BACKSLASH, '').replace(KEY_SPECIAL, '\\$&');
}

function fieldValue(v: MetricValue): string | null {
  switch (typeof v) {
    case 'number':
      // String() gives the shortest text that parses back to the same double; no `i` suffix = float.
      return Number.isFinite(v) ? String(v) : null;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return v.includes('"') || v.includes('\\') ? `"${v.replace(STRING_SPECIAL, '\\$&')}"` : `"${v}"`;
    default:
      return null;
  }
}

/** One line, or null when the point has no storable metric. Timestamps are ms. */
export function toLine(p: Point): string | null {
  let fields = '';
  for (const k in p.metrics) {
    const v = fieldValue(p.metrics[k] as MetricValue);
    if (v === null) continue;
    fields += `${fields ? ',' : ''}${escapeKey(k)}=${v}`;
  }
  if (!fields) return null;
  // Tags in key order (device, model, site) spare the server a sort; empty tag values are not allowed.
  let line = `${escapeMeasurement(p.type)},device=${escapeKey(p.deviceId)}`;
  if (p.model) line += `,model=${escapeKey(p.model)}`;
  if (p.site) line += `,site=${escapeKey(p.site)}`;
  return `${line} ${fields} ${p.ts}`;
}

export function toLineProtocol(points: readonly Point[]): { body: string; lines: number } {
  const out: string[] = [];
  for (const p of points) {
    const l = toLine(p);
    if (l !== null) out.push(l);
  }
  return { body: out.join('\n'), lines: out.length };
}
