/**
 * A request to recalibrate a device: the diagnosis engine forgets what it
 * learnt of the device's normal (rule baselines and windows, the anomaly
 * model's calibration) and learns it again from the samples that follow, as
 * after a part swap or a move. It can also close the device's active
 * diagnoses, which a repair dealt with; a fault still there is raised again
 * on fresh evidence. Naming `faults` narrows it to a repair of those faults:
 * only their rules relearn and only their diagnoses close, so a second fault
 * developing on the device is not learnt as its normal.
 */
import { z } from 'zod';
import { Slug } from './common.ts';

export const RecalibrateRequest = z
  .object({
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .refine((v) => !v.includes('\0'), 'must not contain U+0000')
      .optional()
      .describe('Why: the repair done, the part swapped, the move'),
    resolveActive: z.boolean().default(true).describe("Also clear the device's active diagnoses (the repair dealt with them)"),
    faults: z
      .array(Slug)
      .min(1)
      .max(64)
      .optional()
      .describe("Only these faults (codes) were repaired: only their rules relearn and only their diagnoses clear; the anomaly model keeps its calibration. Default: the whole device"),
  })
  .strict();
export type RecalibrateRequest = z.infer<typeof RecalibrateRequest>;

export const Recalibration = z.object({
  id: z.string(),
  deviceId: z.string(),
  reason: z.string().nullable(),
  resolveActive: z.boolean(),
  faults: z.array(z.string()).nullable().describe('The faults it was narrowed to; null for the whole device'),
  requestedAt: z.string(),
  appliedAt: z.string().nullable().describe('When the diagnosis service applied it; null while pending'),
  resolved: z.array(z.string()).describe('Ids of the active diagnoses it cleared'),
});
export type Recalibration = z.infer<typeof Recalibration>;
