/**
 * Turns window transitions into diagnoses: which fault, how confident, the
 * evidence (rules with their values, the model's score and top features, the
 * telemetry window to look at) and the remedy.
 */
import { randomUUID } from 'node:crypto';
import { DERIVED_METRICS } from '../core/domain/device-type.ts';
import { MODEL_ONLY_FAULT, type Diagnosis, type ModelEvidence, type RuleEvidence } from '../core/domain/diagnosis.ts';
import type { Remedy, Severity } from '../core/domain/rule.ts';
import type { CompiledRule, Layout } from './rules/compile.ts';
import { evidence } from './rules/evaluate.ts';
import type { DeviceState } from './windows/device-state.ts';

export { MODEL_ONLY_FAULT };

export function popcount(x: number): number {
  let v = x >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export function windowsOf(state: DeviceState, slot: number, n: number): { abnormal: number; of: number } {
  const mask = state.u32[state.layout.u32.mask + slot]!;
  return { abnormal: popcount(n >= 32 ? mask : mask & ((1 << n) - 1)), of: n };
}

function modelEvidence(state: DeviceState, fault: string): ModelEvidence | null {
  const r = state.lastAnomaly;
  if (!r) return null;
  const L = state.layout;
  return {
    anomalyScore: r.anomalyScore,
    threshold: r.threshold,
    topFeatures: r.topFeatures.slice(0, 5),
    faultProbability: r.faultProbabilities?.[fault] ?? null,
    windows: windowsOf(state, L.slots - 1, L.ruleSet.model.n),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A diagnosis raised by a rule at the end of the window that completed k of n. */
export function ruleDiagnosis(state: DeviceState, rule: CompiledRule, at: number, now: number, extraValues?: Record<string, number | null>): Diagnosis {
  const L = state.layout;
  const W = L.ruleSet.windowMs;
  const { k, n } = rule.rule.trigger;
  const windows = rule.presenceAfterMs !== null ? { abnormal: 1, of: 1 } : windowsOf(state, rule.index, n);
  const ctx = { state, ts: state.lastTs };
  const values = { ...evidence(rule.condition, ctx), ...(rule.when ? evidence(rule.when, ctx) : {}), ...extraValues };
  const ruleEvidence: RuleEvidence = { ruleId: rule.rule.id, description: rule.rule.description, values, windows };
  const model = modelEvidence(state, rule.rule.fault);
  const ruleConfidence = rule.presenceAfterMs !== null ? 0.9 : Math.min(0.99, 0.5 + (0.5 * Math.max(windows.abnormal, k)) / n);
  const p = model?.faultProbability ?? null;
  const confidence = p === null ? ruleConfidence : 1 - (1 - ruleConfidence) * (1 - p);
  const span = rule.presenceAfterMs ?? n * W;
  return {
    id: randomUUID(),
    deviceId: state.id,
    type: L.type,
    fault: rule.rule.fault,
    status: 'active',
    severity: rule.rule.severity,
    confidence: Math.round(confidence * 1000) / 1000,
    source: p !== null && p >= L.ruleSet.model.faultProbability ? 'rules+model' : 'rules',
    evidence: {
      rules: [ruleEvidence],
      model,
      telemetry: { from: iso(at - span), to: iso(at), metrics: model ? [...rule.metrics, ...DERIVED_METRICS] : rule.metrics },
    },
    remedy: rule.rule.remedy,
    raisedAt: iso(at),
    clearedAt: null,
    createdAt: iso(now),
  };
}

const INSPECT: Remedy = { class: 'technician', summary: 'Unusual behaviour the rules do not name: inspect the device and its recent telemetry.' };

/** The model's fault: the most probable known fault past the policy's bar, else `anomaly`. */
export function modelFault(state: DeviceState): string {
  const probs = state.lastAnomaly?.faultProbabilities;
  const bar = state.layout.ruleSet.model.faultProbability;
  let best = MODEL_ONLY_FAULT;
  let bestP = -1;
  for (const [fault, p] of Object.entries(probs ?? {})) {
    if (p >= bar && p > bestP) {
      best = fault;
      bestP = p;
    }
  }
  return best;
}

/** A diagnosis raised by the model alone (k of n anomalous windows). */
export function modelDiagnosis(state: DeviceState, fault: string, at: number, now: number): Diagnosis {
  const L: Layout = state.layout;
  const policy = L.ruleSet.model;
  const rule = L.rules.find((r) => r.rule.fault === fault);
  const model = modelEvidence(state, fault);
  const windows = windowsOf(state, L.slots - 1, policy.n);
  const confidence = model?.faultProbability ?? Math.min(0.9, (0.7 * windows.abnormal) / windows.of);
  const severity: Severity = rule?.rule.severity ?? policy.severity;
  const features = (model?.topFeatures ?? []).map((f) => f.feature).filter((f) => L.metricIndex.has(f) || !f.includes(':'));
  return {
    id: randomUUID(),
    deviceId: state.id,
    type: L.type,
    fault,
    status: 'active',
    severity,
    confidence: Math.round(confidence * 1000) / 1000,
    source: 'model',
    evidence: {
      rules: [],
      model,
      telemetry: { from: iso(at - policy.n * L.ruleSet.windowMs), to: iso(at), metrics: [...new Set([...features, ...DERIVED_METRICS])] },
    },
    remedy: rule?.rule.remedy ?? INSPECT,
    raisedAt: iso(at),
    clearedAt: null,
    createdAt: iso(now),
  };
}
