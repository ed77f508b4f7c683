import { z } from 'zod';

export const CommandStatus = z.enum(['sent', 'accepted', 'done', 'failed', 'expired']);

export const SendCommand = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -; 1–64 chars, starting with a letter')
      .describe('Command name the device understands, e.g. purge-condensate'),
    params: z.record(z.string().max(64), z.unknown()).default({}),
    expiresInS: z.number().int().min(1).max(7 * 24 * 3600).default(300),
  })
  .strict();

export const Command = z.object({
  id: z.string(),
  deviceId: z.string(),
  name: z.string(),
  params: z.record(z.string(), z.unknown()),
  status: CommandStatus,
  detail: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string(),
});

/** What the platform publishes on devices/{id}/commands. */
export const CommandMessage = z.object({
  commandId: z.string(),
  name: z.string(),
  params: z.record(z.string(), z.unknown()),
  expiresAt: z.string(),
});

/** What a device publishes on devices/{id}/commands/ack. */
export const CommandAck = z
  .object({
    commandId: z.string().min(1).max(64),
    status: z.enum(['accepted', 'done', 'failed']),
    detail: z.string().max(1000).optional(),
  })
  .strict();

export type CommandStatus = z.infer<typeof CommandStatus>;
export type SendCommand = z.infer<typeof SendCommand>;
export type Command = z.infer<typeof Command>;
export type CommandMessage = z.infer<typeof CommandMessage>;
export type CommandAck = z.infer<typeof CommandAck>;
