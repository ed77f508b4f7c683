/** Device error codes: a matching event (kind and code) within the last withinMs of event time. */
import type { CNode } from './compile.ts';
import type { EvalContext, Values } from './context.ts';
import type { DeviceState } from '../windows/device-state.ts';

type ErrorCode = Extract<CNode, { kind: 'error-code' }>;

export function matchesEvent(node: ErrorCode, kind: string, code: string | null): boolean {
  return node.eventKinds.has(kind) && (node.codes === null || (code !== null && node.codes.has(code)));
}

/** How late (in event time, behind the device's newest sample) an event may arrive and still be judged. */
const LATE_EVENT_MS = 24 * 3_600_000;

/**
 * Events and samples travel on different topics, so an event need not arrive
 * between the samples around it. One that comes before the samples leading up
 * to it (a device handing over a stored batch after a gap, a replay at full
 * speed) is kept as "ahead" until they reach it: one slot holds the event being
 * judged, one the earliest event still ahead (a later one arriving meanwhile is
 * dropped: the earliest decides first). One that comes after later samples
 * counts as just reported, at the newest sample's time, so the next samples
 * judge it; one more than LATE_EVENT_MS late is history.
 */
export function recordEvent(node: ErrorCode, state: DeviceState, ts: number): void {
  const at = state.layout.f64.nodes + node.slot;
  if (ts > state.lastTs) {
    const ahead = state.f64[at + 1]!;
    if (Number.isNaN(ahead) || ts < ahead) state.f64[at + 1] = ts;
    return;
  }
  const judged = state.lastTs - ts <= LATE_EVENT_MS ? state.lastTs : ts;
  const prev = state.f64[at]!;
  if (Number.isNaN(prev) || judged > prev) state.f64[at] = judged;
}

export function testErrorCode(node: ErrorCode, { state, ts }: EvalContext): boolean {
  const at = state.layout.f64.nodes + node.slot;
  const ahead = state.f64[at + 1]!;
  if (!Number.isNaN(ahead) && ahead <= ts) {
    state.f64[at] = ahead;
    state.f64[at + 1] = NaN;
  }
  const last = state.f64[at]!;
  return !Number.isNaN(last) && ts >= last && ts - last <= node.withinMs;
}

export function errorCodeEvidence(node: ErrorCode, { state }: EvalContext, out: Values): void {
  const last = state.f64[state.layout.f64.nodes + node.slot]!;
  out['lastMatchingEventAt'] = Number.isNaN(last) ? null : last;
}
