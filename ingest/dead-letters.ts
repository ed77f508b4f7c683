import type { NewDeadLetter } from '../core/domain/dead-letter.ts';
import type { Rejection } from './validate.ts';

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
  const raw = rejection.fragment === undefined ? args.payload : Buffer.from(JSON.stringify(rejection.fragment) ?? '');
  return {
    deviceId: args.deviceId,
    topic: args.topic,
    reason: rejection.reason,
    detail: rejection.detail.slice(0, 1000),
    payload: renderPayload(raw, args.maxPayloadBytes),
    payloadBytes: args.payload.length,
    receivedAt: new Date(args.receivedAt).toISOString(),
  };
}
