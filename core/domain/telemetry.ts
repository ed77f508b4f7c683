import { z } from 'zod';

export const MetricValue = z.union([z.number(), z.boolean(), z.string().max(256)]);

/** One sample as a device sends it on devices/{id}/telemetry. */
export const SamplePayload = z
  .object({
    ts: z.union([z.number(), z.string().max(40)]).optional().describe('Event time: ISO 8601 or epoch ms; receive time when missing'),
    seq: z.number().int().nonnegative().optional(),
    metrics: z.record(z.string().max(64), MetricValue),
  })
  .strict();

/** The most samples one telemetry message may carry. */
export const MAX_BATCH_SAMPLES = 10_000;

export const TelemetryPayload = z.union([
  SamplePayload,
  z.object({ samples: z.array(SamplePayload).min(1).max(MAX_BATCH_SAMPLES) }).strict(),
]);

/** Sample times before this are an unset device clock, not historical data: ingest dead-letters them (invalid_ts). */
export const EARLIEST_TS = Date.UTC(2000, 0, 1);

/** A validated sample ready for the telemetry store. */
export const Point = z.object({
  deviceId: z.string(),
  type: z.string().describe('Device type; the InfluxDB measurement'),
  model: z.string().nullable(),
  site: z.string().nullable(),
  ts: z.number().int().describe('Event time, epoch ms'),
  seq: z.number().int().optional(),
  metrics: z.record(z.string(), MetricValue),
});

/** A sample ingest dead-lettered for a reading outside its metric's declared range (min/max, or a string's values). */
export const OutOfRangeSample = z.object({
  deviceId: z.string(),
  type: z.string(),
  model: z.string().nullable(),
  site: z.string().nullable(),
  ts: z.number().int().describe('Event time, epoch ms'),
  metric: z.string().describe('The metric whose reading was out of range'),
});

export const AggregateFn = z.enum(['mean', 'min', 'max', 'last', 'count']);

export const TelemetryRow = z.object({
  ts: z.string().describe('ISO 8601: the sample time, or the window start when aggregated'),
  values: z.record(z.string(), MetricValue.nullable()),
});

export type MetricValue = z.infer<typeof MetricValue>;
export type SamplePayload = z.infer<typeof SamplePayload>;
export type TelemetryPayload = z.infer<typeof TelemetryPayload>;
export type Point = z.infer<typeof Point>;
export type OutOfRangeSample = z.infer<typeof OutOfRangeSample>;
export type AggregateFn = z.infer<typeof AggregateFn>;
export type TelemetryRow = z.infer<typeof TelemetryRow>;
