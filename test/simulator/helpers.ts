import type { FaultPlan, SimDevice } from '../../simulator/device.ts';
import { createFleet, type FleetOptions } from '../../simulator/fleet.ts';
import { DAY } from '../../simulator/time.ts';

export const START = Date.parse('2025-06-02T00:00:00Z');

/** One device of `type` from seed `seed`, with the given faults (none = its healthy twin). */
export function oneDevice(type: string, faults: Omit<FaultPlan, never>[] = [], o: Partial<FleetOptions> = {}): SimDevice {
  const fleet = createFleet({
    seed: 'twin',
    devices: 1,
    types: [type],
    faultRate: 0,
    startTs: START,
    durationMs: 20 * DAY,
    faultPlan: { [`simtwin-${abbr(type)}-0001`]: faults },
    ...o,
  });
  return fleet.devices[0]!;
}

export function abbr(type: string): string {
  return { 'air-compressor': 'ac', refrigerator: 'rf', 'washing-machine': 'wm' }[type] ?? type;
}

export interface Series {
  ts: number[];
  values: Map<string, (number | undefined)[]>;
}

/** Runs a device to its end (or `until`), collecting numeric (booleans as 0/1) values per metric. */
export function run(d: SimDevice, until = Infinity, onStep?: (d: SimDevice) => void): Series {
  const names = d.spec.metrics.map((m) => m.name);
  const values = new Map<string, (number | undefined)[]>(names.map((n) => [n, []]));
  const ts: number[] = [];
  while (!d.finished && d.nextTs <= until) {
    d.step();
    onStep?.(d);
    ts.push(d.lastTs);
    for (let i = 0; i < names.length; i++) {
      const v = d.out[i];
      values.get(names[i]!)!.push(typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined);
    }
  }
  return { ts, values };
}

/** Mean of a metric over samples with from ≤ ts < to. */
export function mean(s: Series, metric: string, from: number, to: number): number {
  const v = s.values.get(metric)!;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < s.ts.length; i++) {
    const t = s.ts[i]!;
    const x = v[i];
    if (t >= from && t < to && x !== undefined) {
      sum += x;
      n++;
    }
  }
  return n ? sum / n : NaN;
}
