/** Device error codes: a matching event (kind and code) within the last withinMs of event time. */
import type { CNode } from './compile.ts';
import type { EvalContext, Values } from './context.ts';
import type { DeviceState } from '../windows/device-state.ts';

type ErrorCode = Extract<CNode, { kind: 'error-code' }>;

export function matchesEvent(node: ErrorCode, kind: string, code: string | null): boolean {
  return node.eventKinds.has(kind) && (node.codes === null || (code !== null && node.codes.has(code)));
}

export function recordEvent(node: ErrorCode, state: DeviceState, ts: number): void {
  const at = state.layout.f64.nodes + node.slot;
  const prev = state.f64[at]!;
  if (Number.isNaN(prev) || ts > prev) state.f64[at] = ts;
}

export function testErrorCode(node: ErrorCode, { state, ts }: EvalContext): boolean {
  const last = state.f64[state.layout.f64.nodes + node.slot]!;
  return !Number.isNaN(last) && ts >= last && ts - last <= node.withinMs;
}

export function errorCodeEvidence(node: ErrorCode, { state }: EvalContext, out: Values): void {
  const last = state.f64[state.layout.f64.nodes + node.slot]!;
  out['lastMatchingEventAt'] = Number.isNaN(last) ? null : last;
}
