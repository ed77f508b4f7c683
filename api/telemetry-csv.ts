/**
 * Telemetry rows as CSV (RFC 4180: comma, CRLF, double quotes), for a
 * spreadsheet or for `npm run replay` (its `ts` column is ISO 8601).
 */
import { DERIVED_METRICS } from '../core/domain/device-type.ts';
import type { MetricValue, TelemetryRow } from '../core/domain/telemetry.ts';

/**
 * The columns after `ts`: the metrics asked for, in that order; without a
 * list, all of the type's in its declared order, then the engine's
 * (anomalyScore, anomaly) — the same on every page, whatever rows it holds.
 */
export function csvColumns(typeMetrics: readonly string[], asked?: readonly string[]): string[] {
  return asked ? [...asked] : [...typeMetrics, ...DERIVED_METRICS];
}

/**
 * One cell. A string a device sent that a spreadsheet would read as a formula
 * (= + - @, tab, CR first) is prefixed with ' (OWASP's CSV injection advice);
 * numbers, negative ones included, are written as numbers.
 */
export function csvCell(v: MetricValue | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  // `;` and tab too: spreadsheets in many locales split on them
  return /[",;\t\r\n]|^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function telemetryCsv(rows: readonly TelemetryRow[], columns: readonly string[]): string {
  const lines = [['ts', ...columns].map(csvCell).join(',')];
  for (const r of rows) lines.push([r.ts, ...columns.map((c) => csvCell(r.values[c]))].join(','));
  return lines.join('\r\n') + '\r\n';
}
