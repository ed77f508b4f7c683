/**
 * Timestamps as real-world CSVs write them. Times without a zone are read as
 * UTC plus `utcOffsetMin` (the recording's local zone, given by --utc-offset).
 *   ISO 8601 with or without zone: 2025-06-01T10:00:00Z, 2025-06-01T10:00:00.5+02:00, 2025-06-01 10:00:00
 *   DD.MM.YYYY HH:mm[:ss]    MM/DD/YYYY HH:mm[:ss] [AM|PM]    YYYY/MM/DD HH:mm[:ss]
 *   epoch seconds (≤ 11 digits, decimals allowed), milliseconds (12–14), microseconds (15–17) or nanoseconds (18–19)
 */
import { EARLIEST_TS } from '../../core/domain/telemetry.ts';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const DOTTED = /^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,3}))?)?)?$/;
const SLASHED_US = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,3}))?)?\s*(AM|PM)?)?$/i;
const SLASHED_ISO = /^(\d{4})\/(\d{1,2})\/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
const EPOCH = /^-?\d+(\.\d+)?$/;

function build(y: number, mo: number, d: number, h: number, mi: number, s: number, frac: string | undefined, offsetMin: number): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const ms = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
  const t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  const check = new Date(t);
  if (check.getUTCDate() !== d || check.getUTCMonth() !== mo - 1) return undefined; // 31.02. does not exist
  return t - offsetMin * 60_000;
}

function zoneMinutes(z: string): number {
  if (z.toUpperCase() === 'Z') return 0;
  const sign = z[0] === '-' ? -1 : 1;
  const digits = z.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
}

/** Epoch ms, or undefined when the text is no timestamp we know. */
export function parseTimestamp(raw: string, utcOffsetMin = 0): number | undefined {
  const v = raw.trim();
  if (v === '') return undefined;
  if (EPOCH.test(v)) {
    const n = Number(v);
    const intDigits = v.replace(/^-/, '').split('.')[0]!.length;
    const ms = intDigits <= 11 ? n * 1000 : intDigits <= 14 ? n : intDigits <= 17 ? n / 1000 : n / 1e6;
    return Number.isFinite(ms) ? Math.round(ms) : undefined;
  }
  let m = ISO.exec(v);
  if (m) {
    const off = m[8] !== undefined ? zoneMinutes(m[8]) : utcOffsetMin;
    return build(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), m[7], off);
  }
  m = DOTTED.exec(v);
  if (m) return build(+m[3]!, +m[2]!, +m[1]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), m[7], utcOffsetMin);
  m = SLASHED_US.exec(v);
  if (m) {
    let h = +(m[4] ?? 0);
    const ampm = m[8]?.toUpperCase();
    if (ampm) {
      if (h < 1 || h > 12) return undefined;
      h = (h % 12) + (ampm === 'PM' ? 12 : 0);
    }
    return build(+m[3]!, +m[1]!, +m[2]!, h, +(m[5] ?? 0), +(m[6] ?? 0), m[7], utcOffsetMin);
  }
  m = SLASHED_ISO.exec(v);
  if (m) return build(+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), undefined, utcOffsetMin);
  return undefined;
}

/**
 * The times a recording's rows are sent with. A recording whose earliest time is before 2000-01-01 (elapsed
 * seconds from 0, an old bench), which the platform would refuse as an unset device clock, is shifted as a
 * whole so that its earliest row is then, or wherever `startTs` says (always shifted then). `origin` is that
 * earliest time (recordingOrigin reads it; without it the first row's time stands in). A row that does not go
 * back in time but would be sent at or before the previous one (a repeated time, or one after such) is sent a
 * millisecond after it, and any row a millisecond past every time already sent with its own: the store keeps
 * one sample per device and time.
 */
export class RecordingClock {
  /** How far every time was moved (ms; 0 when not shifted). */
  shiftMs = 0;
  /** Rows moved forward off a time already sent. */
  nudged = 0;
  private started = false;
  private lastRaw = NaN;
  private lastTs = NaN;
  /** Every time sent so far (a row may go back in time onto one). */
  private readonly sent = new Set<number>();

  constructor(private readonly o: { utcOffsetMin?: number; startTs?: number; origin?: number } = {}) {}

  /** The time this row is sent with, or undefined when its time cell cannot be read. */
  next(raw: string): number | undefined {
    const t = parseTimestamp(raw, this.o.utcOffsetMin ?? 0);
    return t === undefined ? undefined : this.at(t);
  }

  /** The time a row recorded at t (epoch ms) is sent with. */
  at(t: number): number {
    if (!this.started) {
      this.started = true;
      const base = this.o.origin ?? t;
      if (this.o.startTs !== undefined) this.shiftMs = this.o.startTs - base;
      else if (base < EARLIEST_TS) this.shiftMs = EARLIEST_TS - base;
    }
    let ts = t + this.shiftMs;
    if (t >= this.lastRaw && ts <= this.lastTs) ts = this.lastTs + 1;
    while (this.sent.has(ts)) ts++;
    if (ts !== t + this.shiftMs) this.nudged++;
    this.sent.add(ts);
    this.lastRaw = t;
    this.lastTs = ts;
    return ts;
  }
}
