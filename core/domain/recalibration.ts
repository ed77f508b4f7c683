/**
 * A request to recalibrate a device: the diagnosis engine forgets what it
 * learnt of the device's normal (rule baselines and windows, the anomaly
 * model's calibration) and learns it again from the samples that follow, as
 * after a repair, a part swap or a move. It can also close the device's
 * active diagnoses, which the repair dealt with; a fault still there is
 * raised again on fresh evidence.
 */
import { z } from 'zod';

export const RecalibrateRequest = z
  .object({
    reason: z.string().trim().min(1).max(500).optional().describe('Why: the repair done, the part swapped, the move'),
    resolveActive: z.boolean().default(true).describe("Also clear the device's active diagnoses (the repair dealt with them)"),
  })
  .strict();
export type RecalibrateRequest = z.infer<typeof RecalibrateRequest>;

export const Recalibration = z.object({
  id: z.string(),
  deviceId: z.string(),
  reason: z.string().nullable(),
  resolveActive: z.boolean(),
  requestedAt: z.string(),
  appliedAt: z.string().nullable().describe('When the diagnosis service applied it; null while pending'),
  resolved: z.array(z.string()).describe('Ids of the active diagnoses it cleared'),
});
export type Recalibration = z.infer<typeof Recalibration>;
