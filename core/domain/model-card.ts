import { z } from 'zod';
import { MetricName, Slug } from './common.ts';

/**
 * A trained anomaly model's card (ml/ writes it beside the ONNX file): what
 * the runtime needs to compute its features and per-device baselines, plus
 * how it was trained and how it did on held-back data (kept as given).
 */
export const ModelFeature = z
  .object({
    name: z.string().min(1).max(140),
    metric: MetricName,
    transform: z.enum(['level', 'slope', 'delta']).describe('level: last value; slope: EWMA of first differences; delta: increment of a counter'),
    typeNormal: z
      .literal(true)
      .optional()
      .describe(
        "A device that never reports this feature during its calibration is judged on it against the type's mean and scale (a boolean's states mean the same on every machine) instead of without it",
      ),
  })
  .strict();

const Finite = z.number().finite();

export const ModelCard = z
  .looseObject({
    schemaVersion: z.literal(1),
    type: Slug,
    modelId: z.string().min(1).max(140),
    features: z.array(ModelFeature).min(1).max(400),
    slopeAlpha: Finite.gt(0).lte(1),
    smoothingAlpha: Finite.gt(0).lte(1),
    clip: Finite.gt(0),
    calibrationSamples: z.number().int().min(0).max(1_000_000),
    typeMean: z.array(Finite),
    typeScale: z.array(Finite.gt(0)),
    minScale: z.array(Finite.gt(0)),
    threshold: Finite,
    deviceThreshold: z
      .object({
        heldBackSamples: z.number().int().min(1).max(100_000),
        margin: Finite.gt(0),
      })
      .strict()
      .optional()
      .describe(
        'Each device’s own threshold: its calibration’s last heldBackSamples are judged against a baseline of the samples before them, and the threshold is lowered to margin × the highest smoothed score they reach when that is below `threshold` (needs a calibration of at least twice heldBackSamples)',
      ),
    alarmClearRatio: Finite.gte(0.5)
      .lte(1)
      .optional()
      .describe('An alarm, once raised, holds until the smoothed score falls to alarmClearRatio × the threshold (hysteresis, so a score hovering at the threshold does not flap); 0.5 to 1 (a lower one would latch alarms long after the score fell); absent: 1, none'),
    classifier: z.looseObject({ classes: z.array(z.string().max(64)).min(1).max(100) }).optional(),
  })
  .superRefine((c, ctx) => {
    for (const key of ['typeMean', 'typeScale', 'minScale'] as const) {
      if (c[key].length !== c.features.length) ctx.addIssue({ code: 'custom', path: [key], message: `needs one value per feature (${c.features.length})` });
    }
  });

export type ModelFeature = z.infer<typeof ModelFeature>;
export type ModelCard = z.infer<typeof ModelCard>;
