/** Rate of change: least-squares slope (per hour) of the per-window means over a window of event time. */
import type { CNode } from './compile.ts';
import { num, operandName, type EvalContext, type Values } from './context.ts';

type Rate = Extract<CNode, { kind: 'rate' }>;

export function testRate(node: Rate, { state, ts }: EvalContext): boolean {
  const slope = state.slopePerHour(node, ts, node.windowMs);
  if (Number.isNaN(slope)) return false;
  return slope > node.above || slope < node.below;
}

export function rateEvidence(node: Rate, { state, ts }: EvalContext, out: Values): void {
  out[`${operandName(state, node)}:slopePerHour`] = num(state.slopePerHour(node, ts, node.windowMs));
}
