import { storableText } from '../core/domain/common.ts';
import type { NewDeadLetter } from '../core/domain/dead-letter.ts';
import type { Rejection } from './validate.ts';

/**
 * Text safe for any store: lone surrogates (a cut emoji) become U+FFFD, and
 * so does U+0000, which PostgreSQL text and jsonb cannot hold.
 */
export function storable(s: string): string {
  if (storableText(s)) return s;
  const w = s.isWellFormed() ? s : s.toWellFormed();
  return w.includes('\u0000') ? w.replaceAll('\u0000', '\uFFFD') : w;
}

/** Raw payload as UTF-8 when it is text, else base64; cut to the bound. */
export function renderPayload(payload: Buffer, maxBytes: number): string {
  const slice = payload.subarray(0, maxBytes);
  const text = slice.toString('utf8');
  // U+FFFD means the bytes were not valid UTF-8 (a cut multi-byte char at the end is fine)
  const binary = text.slice(0, -1).includes('\uFFFD') || /[\u0000-\u0008\u000e-\u001f]/.test(text);
  if (binary) return 'base64:' + slice.toString('base64');
  return payload.length > maxBytes ? text + '…' : text;
}

export function toDeadLetter(args: {
  deviceId: string;
  topic: string;
  payload: Buffer;
  rejection: Rejection;
  receivedAt: number;
  maxPayloadBytes: number;
}): NewDeadLetter {
  const { rejection } = args;
  let raw = args.payload;
  if (rejection.fragment !== undefined) {
    try {
      // JSON has no infinity: 1e999 parsed to Infinity would print as null, hiding what was wrong with it
      raw = Buffer.from(JSON.stringify(rejection.fragment, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) ?? '');
    } catch {
      // too deep to re-serialise: keep the whole raw message instead
    }
  }
  return {
    deviceId: args.deviceId,
    topic: storable(args.topic),
    reason: rejection.reason,
    detail: storable(rejection.detail.slice(0, 1000)),
    payload: storable(renderPayload(raw, args.maxPayloadBytes)),
    payloadBytes: args.payload.length,
    receivedAt: new Date(args.receivedAt).toISOString(),
  };
}
