/**
 * Missing data: one metric absent from a flowing stream for afterMs, or (no
 * metric) the whole device silent — that case is judged by the presence
 * check against wall-clock time for live devices and against the replay
 * watermark for replayed ones (see diagnosis/presence.ts).
 */
import type { CNode } from './compile.ts';
import type { EvalContext, Values } from './context.ts';

type Missing = Extract<CNode, { kind: 'missing' }>;

function gap(node: Missing, { state, ts }: EvalContext): number {
  const last = node.a >= 0 ? state.metricTs(node.a) : state.lastTs;
  return Number.isNaN(last) ? NaN : ts - last;
}

export function testMissing(node: Missing, ctx: EvalContext): boolean {
  return gap(node, ctx) > node.afterMs;
}

export function missingEvidence(node: Missing, ctx: EvalContext, out: Values): void {
  const g = gap(node, ctx);
  out[node.a >= 0 ? `${ctx.state.layout.metrics[node.a]!.name}:gapMs` : 'gapMs'] = Number.isNaN(g) ? null : g;
}
