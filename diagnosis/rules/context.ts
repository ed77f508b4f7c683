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

/** Per evidence object, the averages (f64 slots) seen so far under each operand name. */
const averagesOf = new WeakMap<Values, Map<string, number[]>>();

/**
 * The key prefix of an average in one rule's evidence: the operand's name for its first average, then
 * `name#2`, `name#3`… for others of the same operand (another gate), in the rule's order. Nodes that
 * share one average (the same mean judged against other limits) share its keys.
 */
export function averageName(out: Values, name: string, slot: number): string {
  let byName = averagesOf.get(out);
  if (!byName) averagesOf.set(out, (byName = new Map()));
  let slots = byName.get(name);
  if (!slots) byName.set(name, (slots = []));
  let i = slots.indexOf(slot);
  if (i < 0) i = slots.push(slot) - 1;
  return i === 0 ? name : `${name}#${i + 1}`;
}

export function num(v: number): number | null {
  return Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null;
}
