import { z } from 'zod';

/** Device ids travel in MQTT topics, so no `/`, `+`, `#` and no leading `$`. */
export const DeviceId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'letters, digits, _ . : - ; 1–64 chars, starting with a letter or digit')
  .describe('Device id, also its MQTT clientId and username');

/** Machine-readable names: device types, metrics, fault codes. */
export const Slug = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and -; 1–63 chars, starting with a letter');

export const MetricName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'letters, digits and _; 1–64 chars, starting with a letter');

/** A point in time given as ISO 8601 or epoch milliseconds; parsed to epoch ms. */
export const TimeInput = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseTime(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected ISO 8601 time or epoch milliseconds' });
    return z.NEVER;
  }
  return ms;
});

const ISO_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const DIGITS_RE = /^-?\d{1,16}$/;

/** Whether PostgreSQL text and jsonb can hold this string: no U+0000, no lone surrogate (half an emoji). */
export function storableText(s: string): boolean {
  return s.isWellFormed() && !s.includes('\u0000');
}

/** Epoch ms from ISO 8601 text, a digit string or a number; undefined if it is neither. */
export function parseTime(v: unknown): number | undefined {
  if (typeof v === 'number') {
    return Number.isFinite(v) && Number.isInteger(v) && Math.abs(v) < 8.64e15 ? v : undefined;
  }
  if (typeof v !== 'string') return undefined;
  if (DIGITS_RE.test(v)) return parseTime(Number(v));
  const m = ISO_RE.exec(v);
  if (!m) return undefined;
  // a date-time without a zone is UTC: ECMAScript reads it in the process's own zone (TZ), a space-separated one too
  const text = m[1] !== undefined && m[4] === undefined ? `${v.replace(' ', 'T')}Z` : v.replace(' ', 'T');
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
