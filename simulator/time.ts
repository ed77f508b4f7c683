/** Durations and calendar helpers shared by the models and the CLIs. */

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;
const UNIT: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };

/** "90s", "15m", "6h", "30d", "2w" → milliseconds; undefined when unparsable. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * (UNIT[m[2] as string] as number));
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/** Local solar hour of day (0–24) for a site at the given UTC offset in hours. */
export function hourOfDay(ts: number, utcOffsetH: number): number {
  const h = ((ts / HOUR + utcOffsetH) % 24 + 24) % 24;
  return h;
}

/** Day of week 0 = Monday … 6 = Sunday, local to the site. */
export function dayOfWeek(ts: number, utcOffsetH: number): number {
  const days = Math.floor((ts + utcOffsetH * HOUR) / DAY);
  // 1970-01-01 was a Thursday (3 with Monday = 0)
  return (((days + 3) % 7) + 7) % 7;
}

/** Fraction of the year (0–1) from 1 January UTC, for seasonal rhythms. */
export function yearFraction(ts: number): number {
  const d = new Date(ts);
  const start = Date.UTC(d.getUTCFullYear(), 0, 1);
  return (ts - start) / (365.25 * DAY);
}

/** Local day index since the epoch, used to key per-day schedules. */
export function localDayIndex(ts: number, utcOffsetH: number): number {
  return Math.floor((ts + utcOffsetH * HOUR) / DAY);
}
