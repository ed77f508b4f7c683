/**
 * A diagnosis: the engine's conclusion that a device has (or had) a fault,
 * with the evidence behind it and what to do about it.
 */
import { z } from 'zod';
import { Remedy, Severity } from './rule.ts';

/** The fault code of a diagnosis only the anomaly model raised, naming no known fault. */
export const MODEL_ONLY_FAULT = 'anomaly';

export const DiagnosisStatus = z.enum(['active', 'cleared']);
export const DiagnosisSource = z.enum(['rules', 'model', 'rules+model']);

export const RuleEvidence = z.object({
  ruleId: z.string(),
  description: z.string(),
  /** Values the rule looked at when it fired: metric values, differences, slopes per hour, gaps in ms. */
  values: z.record(z.string(), z.number().nullable()),
  /** Abnormal windows out of the last n. */
  windows: z.object({ abnormal: z.number().int(), of: z.number().int() }),
});

export const ModelEvidence = z.object({
  anomalyScore: z.number(),
  threshold: z.number(),
  topFeatures: z.array(z.object({ feature: z.string(), contribution: z.number() })),
  faultProbability: z.number().nullable().describe('Classifier probability of this fault, when the model has one'),
  windows: z.object({ abnormal: z.number().int(), of: z.number().int() }),
});

export const Evidence = z.object({
  rules: z.array(RuleEvidence),
  model: ModelEvidence.nullable(),
  /** The telemetry to look at: GET /devices/:id/telemetry?from=&to=&metrics= */
  telemetry: z.object({ from: z.string(), to: z.string(), metrics: z.array(z.string()) }),
});

export const Diagnosis = z.object({
  id: z.string(),
  deviceId: z.string(),
  type: z.string().describe('Device type'),
  fault: z.string().describe('Fault code; `anomaly` when only the model fired and names no known fault'),
  status: DiagnosisStatus,
  severity: Severity,
  confidence: z.number().min(0).max(1),
  source: DiagnosisSource,
  evidence: Evidence,
  remedy: Remedy.nullable(),
  raisedAt: z.string().describe('Event time the condition was established (ISO 8601)'),
  clearedAt: z.string().nullable().describe('Event time the condition had been normal long enough'),
  createdAt: z.string().describe('Wall-clock time the platform raised it'),
});

export type DiagnosisStatus = z.infer<typeof DiagnosisStatus>;
export type DiagnosisSource = z.infer<typeof DiagnosisSource>;
export type RuleEvidence = z.infer<typeof RuleEvidence>;
export type ModelEvidence = z.infer<typeof ModelEvidence>;
export type Evidence = z.infer<typeof Evidence>;
export type Diagnosis = z.infer<typeof Diagnosis>;
