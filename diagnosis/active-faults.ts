/**
 * Which faults each device has active, and which of its rule slots (and the
 * model) hold each: a diagnosis is not raised twice, and it clears once no
 * slot holds it. Seeded from the store's active diagnoses on start.
 */
import type { Diagnosis } from '../core/domain/diagnosis.ts';
import type { DeviceState } from './windows/device-state.ts';

export interface ActiveFault {
  id: string;
  fault: string;
  /** The device's type (its rule set names the fault, or no longer does). */
  type: string;
  /** Rule slots currently holding it. */
  rules: Set<number>;
  /** The model holds it (it raised it, or agrees with a rule). */
  model: boolean;
}

export class ActiveFaults {
  private readonly byDevice = new Map<string, Map<string, ActiveFault>>();

  /** Active diagnoses from the store (on start), so a restart does not raise them again. */
  restore(items: readonly Diagnosis[]): void {
    for (const d of items) this.forDevice(d.deviceId).set(d.fault, { id: d.id, fault: d.fault, type: d.type, rules: new Set(), model: d.source === 'model' });
  }

  count(): number {
    let n = 0;
    for (const m of this.byDevice.values()) n += m.size;
    return n;
  }

  of(deviceId: string): Map<string, ActiveFault> | undefined {
    return this.byDevice.get(deviceId);
  }

  /** Every active fault of a type's devices, with its device (a copy: clearing while iterating is safe). */
  ofType(type: string): Array<[string, ActiveFault]> {
    const out: Array<[string, ActiveFault]> = [];
    for (const [deviceId, m] of this.byDevice) for (const af of m.values()) if (af.type === type) out.push([deviceId, af]);
    return out;
  }

  forDevice(deviceId: string): Map<string, ActiveFault> {
    let m = this.byDevice.get(deviceId);
    if (!m) this.byDevice.set(deviceId, (m = new Map()));
    return m;
  }

  remove(deviceId: string, fault: string): void {
    const m = this.byDevice.get(deviceId);
    m?.delete(fault);
    if (m?.size === 0) this.byDevice.delete(deviceId);
  }

  /**
   * Binds a device's state (new, or restored from a checkpoint) to its active faults, fault by fault:
   * one the state already held keeps its slots as they were; one it did not binds every rule slot of
   * its fault and starts their hold as a raise does; a slot whose fault is no longer active has spent
   * its k-of-n evidence. The model slot holds whichever fault it held while the device has any active
   * (that fault is not recorded); otherwise it holds one the model raised. A new state holds nothing,
   * so this simply marks its slots.
   */
  bind(state: DeviceState): void {
    const L = state.layout;
    const model = L.slots - 1;
    const was = state.u8.slice(L.u8.active, L.u8.active + L.slots);
    state.u8.fill(0, L.u8.active, L.u8.active + L.slots);
    const faults = this.byDevice.get(state.id);
    for (const af of faults?.values() ?? []) {
      const slots = L.rules.filter((r) => r.rule.fault === af.fault).map((r) => r.index);
      const held = slots.some((s) => was[s]);
      af.rules.clear();
      for (const s of slots) {
        if (held && !was[s]) continue;
        af.rules.add(s);
        state.u8[L.u8.active + s] = 1;
        if (!held) state.resetSlot(s);
      }
    }
    const anyActive = (faults?.size ?? 0) > 0;
    const modelHeld = [...(faults?.values() ?? [])].some((af) => af.model);
    if (was[model] ? anyActive : modelHeld) state.u8[L.u8.active + model] = 1;
    if (modelHeld && !was[model]) state.resetSlot(model);
    for (let s = 0; s < L.slots; s++) {
      if (was[s] && !state.u8[L.u8.active + s]) {
        state.u32[L.u32.mask + s] = 0;
        state.u32[L.u32.streak + s] = 0;
      }
    }
  }
}
