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
  let on: boolean;
  switch (node.op) {
    case 'above':
      on = latched ? v > node.clear : v > node.value;
      break;
    case 'below':
      on = latched ? v < node.clear : v < node.value;
      break;
    case 'outside':
      on = latched ? v < node.clearLow || v > node.clearHigh : v < node.low || v > node.high;
      break;
    case 'equals':
      on = v === node.value;
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
