/** Duration: the inner condition has held continuously for at least forMs of event time. */
import type { CNode } from './compile.ts';
import type { EvalContext, Values } from './context.ts';

type Duration = Extract<CNode, { kind: 'duration' }>;

export function testDuration(node: Duration, ctx: EvalContext, inner: boolean): boolean {
  const at = ctx.state.layout.f64.nodes + node.slot;
  if (!inner) {
    ctx.state.f64[at] = NaN;
    return false;
  }
  const since = ctx.state.f64[at]!;
  if (Number.isNaN(since)) {
    ctx.state.f64[at] = ctx.ts;
    return node.forMs <= 0;
  }
  return ctx.ts - since >= node.forMs;
}

export function durationEvidence(node: Duration, ctx: EvalContext, out: Values): void {
  const since = ctx.state.f64[ctx.state.layout.f64.nodes + node.slot]!;
  out['heldForMs'] = Number.isNaN(since) ? null : ctx.ts - since;
}
