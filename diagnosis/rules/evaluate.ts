/** Evaluates a compiled condition tree on a device's state, and collects its evidence. */
import { combineAll, combineAny } from './combine.ts';
import type { CNode } from './compile.ts';
import type { EvalContext, Values } from './context.ts';
import { durationEvidence, testDuration } from './duration.ts';
import { errorCodeEvidence, matchesEvent, recordEvent, testErrorCode } from './error-code.ts';
import { meanEvidence, testMean } from './mean.ts';
import { missingEvidence, testMissing } from './missing.ts';
import { rateEvidence, testRate } from './rate.ts';
import { testThreshold, thresholdEvidence } from './threshold.ts';
import type { DeviceState } from '../windows/device-state.ts';

export function test(node: CNode, ctx: EvalContext): boolean {
  switch (node.kind) {
    case 'threshold':
      return testThreshold(node, ctx);
    case 'rate':
      return testRate(node, ctx);
    case 'missing':
      return testMissing(node, ctx);
    case 'error-code':
      return testErrorCode(node, ctx);
    case 'duration':
      return testDuration(node, ctx, test(node.child, ctx));
    case 'mean': {
      // `test` runs first so the gate's latches see every sample
      const open = node.where === null || test(node.where, ctx);
      // whether this sample showed the gate at all: only firstInGate asks it of a shut gate
      const known = node.where === null || ((open || node.firstInGate) && reported(node.where, ctx));
      return testMean(node, ctx, open && known, known);
    }
    case 'all':
      return combineAll(node.of.map((c) => test(c, ctx)));
    case 'any':
      return combineAny(node.of.map((c) => test(c, ctx)));
  }
}

/**
 * Whether this sample itself reported every metric a gate compares: a gate on a
 * metric the sample lacks would judge the last value it had (a washer's phase
 * dropped while it fills reads as still idle), so such a sample counts in no
 * average, and a rule's `when` stays shut for it.
 */
export function reported(node: CNode, ctx: EvalContext): boolean {
  switch (node.kind) {
    case 'threshold':
    case 'rate':
      return ctx.state.reported(node.a, ctx.ts) && (node.b < 0 || ctx.state.reported(node.b, ctx.ts));
    case 'all':
    case 'any':
      return node.of.every((c) => reported(c, ctx));
    default:
      return true;
  }
}

/** Values behind a condition, read without changing any state. */
export function evidence(node: CNode, ctx: EvalContext, out: Values = {}): Values {
  switch (node.kind) {
    case 'threshold':
      thresholdEvidence(node, ctx, out);
      break;
    case 'rate':
      rateEvidence(node, ctx, out);
      break;
    case 'missing':
      missingEvidence(node, ctx, out);
      break;
    case 'error-code':
      errorCodeEvidence(node, ctx, out);
      break;
    case 'duration':
      durationEvidence(node, ctx, out);
      evidence(node.child, ctx, out);
      break;
    case 'mean':
      meanEvidence(node, ctx, out);
      break;
    case 'all':
    case 'any':
      for (const c of node.of) evidence(c, ctx, out);
      break;
  }
  return out;
}

/** Feeds a device event to every error-code node of a tree. */
export function feedEvent(node: CNode, state: DeviceState, ts: number, kind: string, code: string | null): void {
  if (node.kind === 'error-code') {
    if (matchesEvent(node, kind, code)) recordEvent(node, state, ts);
  } else if (node.kind === 'duration') feedEvent(node.child, state, ts, kind, code);
  else if (node.kind === 'mean' && node.where) feedEvent(node.where, state, ts, kind, code);
  else if (node.kind === 'all' || node.kind === 'any') for (const c of node.of) feedEvent(c, state, ts, kind, code);
}
