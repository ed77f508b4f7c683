/**
 * Replays a recorded CSV time series as one device: registers the device if
 * needed, maps columns to the type's metrics, and publishes the rows over
 * MQTT with their original timestamps — paced by --speed, or in batches as
 * fast as the broker acknowledges with `max`. A row whose time cannot be read
 * is reported with its line number and skipped; a cell that cannot be read as
 * its metric is left out of its row and counted per column.
 */
import { createReadStream } from 'node:fs';
import { topics } from '../../core/topics.ts';
import { DeviceLink } from '../link.ts';
import { ApiError, createPlatformClient } from '../platform.ts';
import { readCsv } from './csv.ts';
import { awaitDecisions, hasModel, newestRefusal, refusedAfter, type Refused } from './readback.ts';
import { RecordingClock, parseTimestamp } from './timestamps.ts';

export interface ReplayOptions {
  file: string;
  type: string;
  device: string;
  /** The column holding each row's time; without it, `intervalMs` times the rows. */
  timeColumn?: string;
  /** A recording without times: row i (from 0) was taken i × intervalMs after the first (which starts at startTs, else 2000-01-01). */
  intervalMs?: number;
  separator?: string;
  /** CSV column → metric name; columns named like a metric map by themselves. */
  map?: Record<string, string>;
  speed: number | 'max';
  /** Zone of times written without one, minutes east of UTC. */
  utcOffsetMin?: number;
  /** Shift the recording so that its earliest row is at this time (epoch ms); see RecordingClock. */
  startTs?: number;
  apiUrl: string;
  mqttUrl: string;
  apiKey: string;
  maxBatchSamples?: number;
  maxBatchBytes?: number;
  onBadRow?: (line: number, reason: string) => void;
  /** Called every 1,000 published samples. */
  onProgress?: (published: number) => void;
  /**
   * Where the type has an anomaly model, return only once every published sample has its decision readable
   * through the telemetry API (default true), or the count has not grown for DECISION_IDLE_MS.
   */
  waitForDecisions?: boolean;
}

export interface ReplaySummary {
  rows: number;
  published: number;
  /** The first MAX_BAD_KEPT rows skipped (no readable time), with why; badRowCount counts them all. */
  badRows: { line: number; reason: string }[];
  badRowCount: number;
  /** Cells that could not be read as their metric's kind, per column: left out, the rest of the row is sent. */
  unreadable: Record<string, { count: number; example: string; line: number }>;
  /** How far the recording's times were moved (RecordingClock: before 2000 or --start), ms; 0 when not. */
  shiftMs: number;
  /** Rows whose time repeated the previous row's, sent a millisecond after it. */
  nudged: number;
  /** Samples whose anomaly decision could be read back when replay returned (null: not waited for, no model). */
  decided: number | null;
  /** What ingest refused from this replay (the device's dead letters newer than its newest before), by reason, with the first few details. */
  refused: Refused;
  /** The first and the last published row's time, in the file's order (lastTs is the sample sent last). */
  firstTs: string | null;
  lastTs: string | null;
  /** The recording's span: the earliest and the latest time published, wherever their rows are in the file. */
  earliestTs: string | null;
  latestTs: string | null;
  /** Published rows whose time is before the previous published row's (0: the file is in time order). */
  outOfOrder: number;
  registered: boolean;
}

export interface MetricInfo {
  name: string;
  kind: 'number' | 'integer' | 'boolean' | 'string';
}

const MISSING = new Set(['', 'na', 'n/a', 'nan', 'null', 'none', '-', '--', '?', '#n/a', '#na', 'inf', '+inf', '-inf', 'infinity', '-infinity']);
const TRUE = new Set(['true', '1', 'yes', 'on', 'y', 't']);
const FALSE = new Set(['false', '0', 'no', 'off', 'n', 'f']);
const MAX_BAD_KEPT = 1000;

/**
 * A number as a CSV writes it. Where the separator is not a comma a comma may be the decimal mark: with both
 * marks in one number the last is the decimal one (1.234,5 or 1,234.5); a lone comma is decimal (3,5).
 */
export function numberText(v: string, separator: string): string {
  if (separator === ',' || !v.includes(',')) return v;
  if (v.includes('.') && v.lastIndexOf('.') > v.lastIndexOf(',')) return v.replace(/[\s,]/g, '');
  return v.replace(/[\s.]/g, '').replace(',', '.');
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** What a cell holds, as replay (and training, ml/byom_eval.py column_kinds) read it. */
export function cellKind(raw: string, separator: string): 'missing' | 'number' | 'boolean' | 'text' {
  const v = raw.trim();
  const l = v.toLowerCase();
  if (MISSING.has(l)) return 'missing';
  if (NUMBER.test(numberText(v, separator))) return 'number';
  return (TRUE.has(l) || FALSE.has(l)) ? 'boolean' : 'text';
}

/** A cell as its metric's value: undefined when empty or a missing-value word; ok false when it cannot be read. */
export function parseValue(raw: string, m: MetricInfo, separator: string): { ok: true; value: number | boolean | string | undefined } | { ok: false } {
  const v = raw.trim();
  if (MISSING.has(v.toLowerCase())) return { ok: true, value: undefined };
  if (m.kind === 'string') return { ok: true, value: v };
  const text = numberText(v, separator);
  const n = NUMBER.test(text) ? Number(text) : NaN;
  if (m.kind === 'boolean') {
    const l = v.toLowerCase();
    // 1.0 / 0.0 as a table tool writes a 0/1 column
    if (TRUE.has(l) || n === 1) return { ok: true, value: true };
    if (FALSE.has(l) || n === 0) return { ok: true, value: false };
    return { ok: false };
  }
  if (!Number.isFinite(n) || (m.kind === 'integer' && !Number.isInteger(n))) return { ok: false };
  return { ok: true, value: n };
}

function timeColumnMissing(timeColumn: string, names: string[]): Error {
  return new Error(`time column ${timeColumn} not in the header (${names.join(', ')})`);
}

/**
 * The earliest readable time in a recording's time column (RecordingClock's origin); undefined when no row has
 * one. Throws when the header has no such column.
 */
export async function recordingOrigin(file: string, separator: string | undefined, timeColumn: string, utcOffsetMin = 0): Promise<number | undefined> {
  let at = -1;
  let min = Infinity;
  for await (const rec of readCsv(createReadStream(file), separator)) {
    if (at < 0) {
      const names = rec.fields.map((f) => f.trim());
      at = names.indexOf(timeColumn);
      if (at < 0) throw timeColumnMissing(timeColumn, names);
      continue;
    }
    const t = parseTimestamp(rec.fields[at] ?? '', utcOffsetMin);
    if (t !== undefined && t < min) min = t;
  }
  return min === Infinity ? undefined : min;
}

interface Layout {
  separator: string;
  /** -1 for a recording timed by the interval. */
  timeIndex: number;
  columns: { index: number; name: string; metric: MetricInfo }[];
}

/** The file's header checked against the options and the type's metrics: where the time is, which columns are sent as what. */
async function readLayout(o: ReplayOptions, metrics: Map<string, MetricInfo>): Promise<Layout> {
  for await (const rec of readCsv(createReadStream(o.file), o.separator)) {
    const names = rec.fields.map((f) => f.trim());
    let timeIndex = -1;
    if (o.timeColumn !== undefined) {
      timeIndex = names.indexOf(o.timeColumn);
      if (timeIndex < 0) throw timeColumnMissing(o.timeColumn, names);
    }
    const mapped = new Set<string>();
    const columns = names.flatMap((name, index) => {
      if (index === timeIndex) return [];
      const metric = metrics.get(o.map?.[name] ?? name);
      if (!metric || (o.map?.[name] === undefined && Object.values(o.map ?? {}).includes(name))) return [];
      mapped.add(name);
      return [{ index, name, metric }];
    });
    for (const col of Object.keys(o.map ?? {})) if (!mapped.has(col)) throw new Error(`--map: no column ${col} in the header`);
    if (columns.length === 0) throw new Error(`no column maps to a metric of ${o.type}; use --map column=metric`);
    return { separator: rec.separator, timeIndex, columns };
  }
  throw new Error(`${o.file} has no header`);
}

export async function replayCsv(o: ReplayOptions): Promise<ReplaySummary> {
  // before anything is registered
  if ((o.timeColumn === undefined) === (o.intervalMs === undefined)) throw new Error('give either a time column or an interval between rows');
  if (o.intervalMs !== undefined && !(Number.isInteger(o.intervalMs) && o.intervalMs > 0)) throw new Error('the interval between rows must be a whole number of milliseconds, at least 1');
  const platform = createPlatformClient({ apiUrl: o.apiUrl, apiKey: o.apiKey });
  const type = await platform.call<{ metrics: MetricInfo[] }>('GET', `/device-types/${encodeURIComponent(o.type)}`);
  const metrics = new Map(type.metrics.map((m) => [m.name, m]));
  for (const [col, metric] of Object.entries(o.map ?? {})) {
    if (!metrics.has(metric)) throw new Error(`--map ${col}=${metric}: ${o.type} has no metric ${metric}`);
  }
  // the file too (it exists, its header has the columns asked for, some row has a readable time), so that a bad invocation changes nothing on the platform
  const { separator, timeIndex, columns } = await readLayout(o, metrics);
  // rows timed by the interval count from 0 (1970): the clock starts them at --start, else 2000-01-01
  const origin = o.timeColumn === undefined ? 0 : await recordingOrigin(o.file, separator, o.timeColumn, o.utcOffsetMin);
  if (origin === undefined) throw new Error(`no row has a readable time in column ${o.timeColumn}`);

  // the device: register it, or take over an existing one with a fresh secret
  let secret: string;
  let registered = false;
  try {
    const d = await platform.call<{ type: string }>('GET', `/devices/${encodeURIComponent(o.device)}`);
    if (d.type !== o.type) throw new Error(`device ${o.device} exists with type ${d.type}, not ${o.type}`);
    secret = (await platform.call<{ secret: string }>('POST', `/devices/${encodeURIComponent(o.device)}/secret`)).secret;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    secret = (await platform.call<{ secret: string }>('POST', '/devices', { type: o.type, id: o.device })).secret;
    registered = true;
  }

  const refusedBefore = registered ? undefined : await newestRefusal(platform, o.device);
  const summary: ReplaySummary = { rows: 0, published: 0, badRows: [], badRowCount: 0, unreadable: {}, shiftMs: 0, nudged: 0, decided: null, refused: { count: 0, byReason: {}, examples: [], capped: false }, firstTs: null, lastTs: null, earliestTs: null, latestTs: null, outOfOrder: 0, registered };
  const bad = (line: number, reason: string) => {
    summary.badRowCount++;
    if (summary.badRows.length < MAX_BAD_KEPT) summary.badRows.push({ line, reason });
    o.onBadRow?.(line, reason);
  };
  const clock = new RecordingClock({ utcOffsetMin: o.utcOffsetMin, startTs: o.startTs, origin });
  /** The earliest and latest time sent (rows may be out of order). */
  const span = { min: Infinity, max: -Infinity };
  const link = new DeviceLink({ mqttUrl: o.mqttUrl, id: o.device, secret, onCommand: () => undefined });
  await link.connect();
  const maxBatch = o.speed === 'max' ? (o.maxBatchSamples ?? 1000) : 1;
  const maxBytes = o.maxBatchBytes ?? 200_000;
  let batch: string[] = [];
  let bytes = 0;
  let lastProgress = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const payload = batch.length === 1 ? batch[0]! : `{"samples":[${batch.join(',')}]}`;
    const n = batch.length;
    batch = [];
    bytes = 0;
    await link.publish(topics.telemetry(o.device), payload);
    summary.published += n;
    if (summary.published - lastProgress >= 1000) {
      lastProgress = summary.published;
      o.onProgress?.(summary.published);
    }
  };

  let header = true;
  let seq = 0;
  let prevTs: number | undefined;
  let prevSent: number | undefined;
  let wall0 = 0;
  let ts0 = 0;
  try {
    for await (const rec of readCsv(createReadStream(o.file), separator)) {
      if (header) {
        header = false; // read by readLayout
        continue;
      }
      if (rec.fields.length === 1 && rec.fields[0]!.trim() === '') continue; // blank line
      summary.rows++;
      const ts = o.intervalMs !== undefined ? clock.at((summary.rows - 1) * o.intervalMs) : clock.next(rec.fields[timeIndex] ?? '');
      if (ts === undefined) {
        bad(rec.line, `unparsable time ${JSON.stringify(rec.fields[timeIndex] ?? '')} in column ${o.timeColumn}`);
        continue;
      }
      let body = '';
      for (const c of columns) {
        const raw = rec.fields[c.index];
        if (raw === undefined) continue; // a short row: those metrics are missing
        const r = parseValue(raw, c.metric, separator);
        if (!r.ok) {
          // one unreadable cell (#DIV/0!, a unit in the cell) costs that value only, not the row's others
          const u = (summary.unreadable[c.name] ??= { count: 0, example: raw.slice(0, 40), line: rec.line });
          u.count++;
          continue;
        }
        if (r.value !== undefined) body += `${body ? ',' : ''}${JSON.stringify(c.metric.name)}:${JSON.stringify(r.value)}`;
      }
      if (body === '') continue; // nothing measured in this row
      const sample = `{"ts":${ts},"seq":${seq++},"metrics":{${body}}}`;
      if (o.speed !== 'max') {
        // keep the recording's rhythm, compressed by speed
        if (prevTs === undefined) {
          wall0 = Date.now();
          ts0 = ts;
        } else {
          const due = wall0 + (ts - ts0) / o.speed - Date.now();
          if (due > 0) await new Promise((r) => setTimeout(r, due));
        }
        prevTs = ts;
      }
      if (bytes + sample.length > maxBytes) await flush();
      batch.push(sample);
      bytes += sample.length + 1;
      if (ts < span.min) span.min = ts;
      if (ts > span.max) span.max = ts;
      if (prevSent !== undefined && ts < prevSent) summary.outOfOrder++;
      prevSent = ts;
      summary.firstTs ??= new Date(ts).toISOString();
      summary.lastTs = new Date(ts).toISOString();
      if (batch.length >= maxBatch) await flush();
    }
    await flush();
  } finally {
    await link.close();
  }
  summary.shiftMs = clock.shiftMs;
  summary.nudged = clock.nudged;
  if (summary.published > 0) {
    summary.earliestTs = new Date(span.min).toISOString();
    summary.latestTs = new Date(span.max).toISOString();
  }
  if (o.waitForDecisions !== false && summary.published > 0 && (await hasModel(platform, o.type))) {
    summary.decided = await awaitDecisions(platform, o.device, span.min, span.max, Date.parse(summary.lastTs!), summary.published);
  }
  // ingest stores what validation refuses before it acknowledges the message: all of that is readable by now.
  // (A batch the store itself refuses, store_rejected, is dead-lettered later, when the spool flushes it.)
  if (summary.published > 0) summary.refused = await refusedAfter(platform, o.device, refusedBefore);
  return summary;
}
