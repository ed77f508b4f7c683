/**
 * Memory per device: the typed-array bytes computed from the layout, and the
 * retained heap (V8 heap + array buffers, after a full GC before and after)
 * over 10,000 devices per shipped type.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../diagnosis/engine.ts';
import { compileRuleSet } from '../../diagnosis/rules/compile.ts';
import { loadShippedRuleSets } from '../../diagnosis/rules/shipped.ts';
import { DeviceState } from '../../diagnosis/windows/device-state.ts';
import { T0, TYPES, point } from './helpers.ts';

const N = 10_000;
const BUDGET = 4096;
const sample: Record<string, Record<string, number | boolean | string>> = {
  'air-compressor': { dischargePressureBar: 7, dischargeTempC: 90, oilTempC: 72, ambientTempC: 25, motorCurrentA: 50, vibrationRmsMmS: 2, airFilterDpMbar: 20, separatorDpBar: 0.2, loaded: true, loadCycles: 100, runHours: 1000 },
  refrigerator: { cabinetTempC: 4, freezerTempC: -18, evaporatorTempC: -25, condenserTempC: 35, ambientTempC: 22, compressorOn: true, compressorDutyPct: 40, compressorCurrentA: 1, doorOpen: false, defrostActive: false },
  'washing-machine': { phase: 'wash', waterLevelMm: 80, fillTimeS: 90, drainTimeS: 40, drumRpm: 50, drumVibrationG: 0.1, imbalanceKg: 0.2, motorCurrentA: 1, heaterTempC: 40, heaterOn: true },
};

// No --expose-gc on the command line: V8 hands out gc() when the flag is set at run time.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('memory per device', () => {
  const sets = loadShippedRuleSets();
  for (const [type, rs] of sets) {
    it(`${type}: ≤ 4 KB per device (typed arrays and measured heap over ${N} devices)`, () => {
      const layout = compileRuleSet(rs, TYPES.get(type)!);
      const typed = DeviceState.bytes(layout);
      expect(typed).toBeLessThan(BUDGET);

      const engine = new Engine({ liveLagMs: 300_000 });
      engine.setLayout(type, layout, 0);
      const ids = Array.from({ length: N }, (_, i) => `${type}-${i}`);
      const before = heap();
      // three samples each, in different windows, so every lazily touched part is populated
      for (let k = 0; k < 3; k++) for (const id of ids) engine.sample(point(id, T0 + k * rs.windowMs, sample[type]!, type), undefined, T0);
      const perDevice = (heap() - before) / N;
      expect(engine.states.size).toBe(N);
      console.log(JSON.stringify({ type, typedArrayBytes: typed, measuredBytesPerDevice: Math.round(perDevice) }));
      expect(perDevice).toBeGreaterThan(typed); // the measurement saw the allocation
      expect(perDevice).toBeLessThanOrEqual(BUDGET);
    });
  }
});
