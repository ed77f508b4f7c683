/**
 * Duration: the inner condition has held continuously for at least forMs of
 * event time. Measured in readings (for a value taken once per programme),
 * the hold runs from the first sample that moved one of the condition's
 * averages to the latest such sample; samples in between that bring no
 * reading neither break nor extend it, so one odd reading followed by an
 * idle spell is not enough.
 */
import type { CNode } from './compile.ts';
import type { EvalContext, Values } from './context.ts';
import { readNow } from './mean.ts';

type Duration = Extract<CNode, { kind: 'duration' }>;

export function testDuration(node: Duration, ctx: EvalContext, inner: boolean): boolean {
  const { f64 } = ctx.state;
  const at = ctx.state.layout.f64.nodes + node.slot;
  if (!inner) {
    f64[at] = NaN;
    if (node.readings) f64[at + 1] = NaN;
    return false;
  }
  if (node.readings) {
    if (readNow(node.child, ctx)) {
      if (Number.isNaN(f64[at]!)) f64[at] = ctx.ts;
      f64[at + 1] = ctx.ts;
    }
    return f64[at + 1]! - f64[at]! >= node.forMs; // NaN before the first reading: false
  }
  const since = f64[at]!;
  if (Number.isNaN(since)) {
    f64[at] = ctx.ts;
    return node.forMs <= 0;
  }
  return ctx.ts - since >= node.forMs;
}

export function durationEvidence(node: Duration, ctx: EvalContext, out: Values): void {
  const at = ctx.state.layout.f64.nodes + node.slot;
  const since = ctx.state.f64[at]!;
  out['heldForMs'] = Number.isNaN(since) ? null : (node.readings ? ctx.state.f64[at + 1]! : ctx.ts) - since;
}
