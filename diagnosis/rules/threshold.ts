/**
 * Threshold: above, below, outside a band, or equal to a value — with
 * hysteresis: once set, a condition holds until the value is past its
 * separate clear level, so a value hovering at the limit does not flap.
 */
import type { CNode } from './compile.ts';
import { num, operandName, type EvalContext, type Values } from './context.ts';

type Threshold = Extract<CNode, { kind: 'threshold' }>;

export function testThreshold(node: Threshold, { state }: EvalContext): boolean {
  const v = state.operand(node);
  const at = state.layout.u8.latch + node.latch;
  if (Number.isNaN(v)) return state.u8[at] === 1;
  const latched = state.u8[at] === 1;
  // a value within float32 rounding of a limit is at the limit: neither above nor below it, and equal to it
  const tol = state.operandTolerance(node);
  let on: boolean;
  switch (node.op) {
    case 'above':
      on = v > (latched ? node.clear : node.value) + tol;
      break;
    case 'below':
      on = v < (latched ? node.clear : node.value) - tol;
      break;
    case 'outside':
      on = latched ? v < node.clearLow - tol || v > node.clearHigh + tol : v < node.low - tol || v > node.high + tol;
      break;
    case 'equals':
      on = Math.abs(v - node.value) <= tol;
      break;
  }
  state.u8[at] = on ? 1 : 0;
  return on;
}

export function thresholdEvidence(node: Threshold, { state }: EvalContext, out: Values): void {
  const name = operandName(state, node);
  const raw = state.last(node.a) - (node.b >= 0 ? state.last(node.b) : 0);
  out[name] = num(raw);
  if (node.relative) {
    out[`${name}:baseline`] = num(state.baseline(node.a) - (node.b >= 0 ? state.baseline(node.b) : 0));
    out[`${name}:deviation`] = num(state.operand(node));
  }
}
