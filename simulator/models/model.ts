/**
 * What every device-type model provides. A model is a small state machine
 * advanced in event time; it writes its metric values into a reused array
 * (no per-sample objects) and reads fault severities and confounder
 * magnitudes from typed arrays the device owns.
 */
import type { Rng } from '../rng.ts';
import type { SiteEnv } from './site.ts';

export type SimValue = number | boolean | string;

export interface MetricMeta {
  name: string;
  kind: 'number' | 'integer' | 'boolean' | 'string';
  /** Valid range from the device type; glitches stay inside it. */
  min: number;
  max: number;
  /** Decimals sent (numbers only). */
  decimals: number;
}

export interface ModelEvent {
  ts: number;
  kind: 'error' | 'warning' | 'info' | 'state';
  code?: string;
  message?: string;
  data?: Record<string, number | boolean | string | null>;
}

export interface ConfounderDef {
  kind: string;
  /** Mean episodes per day. */
  perDay: number;
  /** Episode length, minutes. */
  minutes: [number, number];
  /** Magnitude drawn per episode (model-specific unit). */
  magnitude: [number, number];
  /** Local hours in which episodes start. */
  hours?: [number, number];
}

export interface StepContext {
  rng: Rng;
  /** Severity 0…1 per fault, in the order of ModelSpec.faults. */
  fault: Float64Array;
  /** Confounder magnitude now (0 = inactive), in the order of ModelSpec.confounders. */
  conf: Float64Array;
  emit(ev: ModelEvent): void;
}

export interface ModelInstance {
  /** Commercial model name, e.g. SC-37. */
  readonly modelName: string;
  /** Current values in the order of ModelSpec.metrics. */
  readonly values: SimValue[];
  /** Advances the model to `ts` (dtS seconds after the previous step) and writes `values`. */
  step(ts: number, dtS: number, ctx: StepContext): void;
  /** Milliseconds until the next sample (washers sample faster during a programme). */
  nextIntervalMs(ts: number, baseMs: number): number;
  /** Side effects of a known command (a defrost cycle starts, …); returns the ack detail. */
  command(name: string, ts: number): string;
}

export interface ModelSpec {
  type: string;
  abbr: string;
  models: readonly string[];
  metrics: readonly MetricMeta[];
  /** Fault codes this model reacts to, in StepContext.fault order. */
  faults: readonly string[];
  confounders: readonly ConfounderDef[];
  defaultIntervalMs: number;
  create(seed: number, params: Rng, site: SiteEnv, startTs: number): ModelInstance;
}

/** First-order lag towards `target` over dt seconds with time constant tau seconds. */
export function lag(value: number, target: number, dtS: number, tauS: number): number {
  return target + (value - target) * Math.exp(-dtS / tauS);
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Emits a device event unless one with the same code went out less than repeatMs ago (by event time): a
 * controller repeats a standing alarm now and then, it does not send it with every sample.
 */
export function emitThrottled(ctx: StepContext, last: Map<string, number>, ev: ModelEvent, repeatMs: number): void {
  const code = ev.code ?? '';
  const at = last.get(code);
  if (at !== undefined && ev.ts - at < repeatMs) return;
  last.set(code, ev.ts);
  ctx.emit(ev);
}
