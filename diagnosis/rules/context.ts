import type { DeviceState } from '../windows/device-state.ts';

/** What a rule kind sees: the device's window state at an event time. */
export interface EvalContext {
  state: DeviceState;
  /** Event time of the evaluation (a sample's or an event's ts). */
  ts: number;
}

export type Values = Record<string, number | null>;

export function operandName(state: DeviceState, o: { a: number; b: number }): string {
  const m = state.layout.metrics;
  return o.b >= 0 ? `${m[o.a]!.name}-${m[o.b]!.name}` : m[o.a]!.name;
}

export function num(v: number): number | null {
  return Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null;
}
