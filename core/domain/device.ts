import { z } from 'zod';
import { DeviceId, Slug } from './common.ts';

const Label = z.string().min(1).max(128);

export const DeviceStatus = z.enum(['active', 'disabled']);

export const RegisterDevice = z
  .object({
    type: Slug,
    id: DeviceId.optional(),
    model: Label.optional(),
    firmware: Label.optional(),
    site: Label.optional(),
    owner: Label.optional(),
  })
  .strict();

export const BulkRegisterDevices = z
  .object({ devices: z.array(RegisterDevice).min(1).max(10_000) })
  .strict();

export const Device = z.object({
  id: DeviceId,
  type: Slug,
  model: z.string().nullable(),
  firmware: z.string().nullable(),
  site: z.string().nullable(),
  owner: z.string().nullable(),
  status: DeviceStatus,
  online: z.boolean(),
  lastSeenAt: z.string().nullable().describe('ISO 8601; last MQTT activity'),
  createdAt: z.string(),
});

export const UpdateDevice = z
  .object({
    status: DeviceStatus.optional(),
    model: Label.nullable().optional(),
    firmware: Label.nullable().optional(),
    site: Label.nullable().optional(),
    owner: Label.nullable().optional(),
  })
  .strict();

export type DeviceStatus = z.infer<typeof DeviceStatus>;
export type RegisterDevice = z.infer<typeof RegisterDevice>;
export type Device = z.infer<typeof Device>;
export type UpdateDevice = z.infer<typeof UpdateDevice>;
