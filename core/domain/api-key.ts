import { z } from 'zod';

export const Role = z.enum(['admin', 'service', 'viewer']);

export const CreateApiKey = z
  .object({ name: z.string().min(1).max(100), role: Role })
  .strict();

export const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});

export type Role = z.infer<typeof Role>;
export type ApiKey = z.infer<typeof ApiKey>;
