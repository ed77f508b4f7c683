import { z } from 'zod';

export const DeadLetterReason = z.enum([
  'payload_too_large',
  'invalid_json',
  'invalid_shape',
  'unknown_metric',
  'wrong_type',
  'out_of_range',
  'non_finite',
  'invalid_ts',
  'ts_in_future',
  'unknown_device',
  'store_rejected',
]);

export const DeadLetter = z.object({
  id: z.string(),
  deviceId: z.string(),
  topic: z.string(),
  reason: DeadLetterReason,
  detail: z.string().describe('Human-readable explanation, e.g. which metric and why'),
  payload: z.string().describe('Raw payload as UTF-8 (or base64 when binary), truncated'),
  payloadBytes: z.number().int().describe('Size of the original payload'),
  receivedAt: z.string(),
});

export const NewDeadLetter = DeadLetter.omit({ id: true });

export type DeadLetterReason = z.infer<typeof DeadLetterReason>;
export type DeadLetter = z.infer<typeof DeadLetter>;
export type NewDeadLetter = z.infer<typeof NewDeadLetter>;
