/**
 * A rule condition's own state in a device's typed arrays, back to what a new
 * device starts with: a mean's average and the baseline it learns, a
 * duration's hold timer, an error code's remembered event, a threshold's or a
 * mean's hysteresis latch and recent average. Rates and missing-data checks read the device's
 * shared windows and last-seen times, which stay. Used when a repair of a
 * fault is recorded (Engine.forget with faults): the rules of the repaired
 * faults start over, and the k-of-n windows of their slots with them.
 */
import type { DeviceState } from '../windows/device-state.ts';
import { meanSlots, type CNode } from './compile.ts';

/**
 * The rules of `faults` back to a new device's: their conditions' own state, k-of-n masks, streaks and
 * evaluation counters; with `release` their slots stop holding too (their diagnoses were resolved).
 */
export function resetFaultRules(state: DeviceState, faults: ReadonlySet<string>, release: boolean): void {
  const L = state.layout;
  for (const r of L.rules) {
    if (!faults.has(r.rule.fault)) continue;
    state.resetSlot(r.index);
    state.u32[L.u32.mask + r.index] = 0;
    if (release) state.u8[L.u8.active + r.index] = 0;
    for (const n of [r.when, r.condition]) if (n) resetNode(state, n);
  }
}

/** The model's slot (the layout's last) back to holding nothing, with empty k-of-n windows and no remembered result. */
export function releaseModelSlot(state: DeviceState): void {
  const L = state.layout;
  const model = L.slots - 1;
  state.u8[L.u8.active + model] = 0;
  state.u32[L.u32.mask + model] = 0;
  state.resetSlot(model);
  state.lastAnomaly = undefined;
}

/** A condition's own state back to a new device's: averages and baselines, hold timers, remembered events, latches. */
function resetNode(state: DeviceState, n: CNode): void {
  const at = state.layout.f64.nodes;
  switch (n.kind) {
    case 'threshold':
      state.u8[state.layout.u8.latch + n.latch] = 0;
      return;
    case 'mean':
      state.f64.fill(NaN, at + n.slot, at + n.slot + meanSlots(n));
      state.u8[state.layout.u8.latch + n.latch] = 0;
      if (n.where) resetNode(state, n.where);
      return;
    case 'duration':
      state.f64.fill(NaN, at + n.slot, at + n.slot + (n.readings ? 2 : 1));
      resetNode(state, n.child);
      return;
    case 'error-code':
      state.f64.fill(NaN, at + n.slot, at + n.slot + 2);
      return;
    case 'all':
    case 'any':
      for (const c of n.of) resetNode(state, c);
      return;
    case 'rate':
    case 'missing':
      // they read the device's shared windows and last-seen times, which stay
      return;
  }
}
