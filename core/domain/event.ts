import { z } from 'zod';

/** What a device publishes on devices/{id}/events: error codes and state changes. */
export const EventPayload = z
  .object({
    ts: z.union([z.number(), z.string().max(40)]).optional(),
    kind: z.enum(['error', 'warning', 'info', 'state']).default('info'),
    code: z.string().max(64).optional().describe('Maker error code, e.g. E17'),
    message: z.string().max(1000).optional(),
    data: z.record(z.string().max(64), z.union([z.number(), z.boolean(), z.string().max(256), z.null()])).optional(),
  })
  .strict();

export const DeviceEvent = z.object({
  id: z.string(),
  deviceId: z.string(),
  ts: z.string(),
  kind: z.string(),
  code: z.string().nullable(),
  message: z.string().nullable(),
  data: z.record(z.string(), z.unknown()).nullable(),
});

export const StatusPayload = z.union([
  z.enum(['online', 'offline']),
  z.object({ state: z.enum(['online', 'offline']) }).passthrough(),
]);

export type EventPayload = z.infer<typeof EventPayload>;
export type DeviceEvent = z.infer<typeof DeviceEvent>;
export type NewDeviceEvent = Omit<DeviceEvent, 'id'>;
