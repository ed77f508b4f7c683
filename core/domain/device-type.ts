import { z } from 'zod';
import { MetricName, Slug } from './common.ts';

/** Written back per sample by the diagnosis engine for every device type (model output): no type may declare them. */
export const DERIVED_METRICS = ['anomalyScore', 'anomaly'] as const;

/** Names the telemetry store keeps for itself: InfluxDB's `time` (a field of that name is silently dropped) and the tags every sample carries. */
export const STORE_RESERVED = ['time', 'device', 'model', 'site'] as const;

export const MetricKind = z.enum(['number', 'integer', 'boolean', 'string']);

export const MetricDef = z
  .object({
    name: MetricName,
    unit: z.string().max(32).default('').describe('Unit symbol, e.g. bar, °C, A, mm/s; empty when unit-less'),
    kind: MetricKind.default('number'),
    min: z.number().optional().describe('Lowest valid value (inclusive); lower values are dead-lettered'),
    max: z.number().optional().describe('Highest valid value (inclusive); higher values are dead-lettered'),
    values: z.array(z.string().max(64)).max(64).optional().describe('Allowed values of a string metric'),
    held: z
      .boolean()
      .optional()
      .describe(
        'The device repeats this number exactly by design: a value measured once per cycle and reported until the next (the last drain’s duration). Diagnosis then takes an exact repeat for a reading, not for a stuck sensor, and does not median-filter it',
      ),
    counter: z
      .boolean()
      .optional()
      .describe(
        'A cumulative count or meter that only rises (run hours, load cycles, an energy meter): the anomaly model judges its increments, not its level. Unset: model:train decides from the normal recording; true also for a meter whose noise hides its rise',
      ),
    description: z.string().max(500).optional(),
  })
  .strict()
  .refine((m) => m.min === undefined || m.max === undefined || m.min <= m.max, {
    message: 'min must not exceed max',
  })
  .refine((m) => m.held !== true || m.kind === 'number' || m.kind === 'integer', {
    message: 'held applies to number and integer metrics',
    path: ['held'],
  })
  .refine((m) => m.counter === undefined || m.kind === 'number' || m.kind === 'integer', {
    message: 'counter applies to number and integer metrics',
    path: ['counter'],
  });

export const DeviceType = z
  .object({
    name: Slug.describe('Type name, e.g. air-compressor'),
    displayName: z.string().min(1).max(100),
    description: z.string().max(2000).default(''),
    metrics: z.array(MetricDef).min(1).max(200),
    calibrationSamples: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(500)
      .describe('Samples from which each device of this type learns its own normal'),
  })
  .strict()
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    for (const [i, m] of t.metrics.entries()) {
      if (seen.has(m.name)) ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `duplicate metric ${m.name}` });
      if ((DERIVED_METRICS as readonly string[]).includes(m.name))
        ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `${m.name} is written by the diagnosis engine; name the metric otherwise` });
      if ((STORE_RESERVED as readonly string[]).includes(m.name))
        ctx.addIssue({ code: 'custom', path: ['metrics', i, 'name'], message: `${m.name} is reserved by the telemetry store (InfluxDB's time column, or a sample's tag); name the metric otherwise` });
      seen.add(m.name);
    }
  });

export type MetricKind = z.infer<typeof MetricKind>;
export type MetricDef = z.infer<typeof MetricDef>;
export type DeviceType = z.infer<typeof DeviceType>;
export type DeviceTypeInput = z.input<typeof DeviceType>;
