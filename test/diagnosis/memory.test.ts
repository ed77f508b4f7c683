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
import { createModelScorer } from '../../diagnosis/model/scorer.ts';
import { nullLogger } from '../../core/logger.ts';
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

/** The anomaly model's state per calibrated device (feature state, baseline), measured on the heap over N devices. */
async function modelBytesPerDevice(type: string): Promise<number> {
  const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: 20 });
  // 20 calibration samples, then one scored: every device holds its final state (baseline + smoothed score)
  const run = async (ids: string[]) => {
    for (let k = 0; k <= 20; k++) {
      const metrics = { ...sample[type]! };
      for (const [m, v] of Object.entries(metrics)) if (typeof v === 'number') metrics[m] = v * (1 + 0.01 * Math.sin(k));
      const out = await scorer.scoreBatch(ids.map((deviceId) => ({ deviceId, type, ts: T0 + k * 60_000, metrics })));
      if (k === 20) expect(out.every((o) => o.status === 'scored')).toBe(true);
    }
  };
  // a first fleet, forgotten again, leaves the model's session and its buffers for N rows allocated: what
  // follows is the cost of each device, not of the process
  const warm = Array.from({ length: N }, (_, i) => `warm-${i}`);
  await run(warm);
  for (const id of warm) scorer.resetDevice(id);
  const ids = Array.from({ length: N }, (_, i) => `${type}-${i}`);
  await new Promise((r) => setTimeout(r, 50));
  const before = heap();
  await run(ids);
  await new Promise((r) => setTimeout(r, 50));
  const perDevice = (heap() - before) / N;
  expect(scorer.deviceCount()).toBe(N);
  await scorer.close();
  return perDevice;
}

describe('memory per device', () => {
  const sets = loadShippedRuleSets();
  const rulesBytes = new Map<string, number>();
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
      rulesBytes.set(type, perDevice);
    });
  }
  for (const type of sets.keys()) {
    it(`${type}: the rules' and the anomaly model's state together ≤ 4 KB per device`, async () => {
      const rules = rulesBytes.get(type);
      expect(rules, 'the rules test of this type ran first').toBeDefined();
      const model = await modelBytesPerDevice(type);
      console.log(JSON.stringify({ type, rulesBytesPerDevice: Math.round(rules!), modelBytesPerDevice: Math.round(model), total: Math.round(rules! + model) }));
      expect(model).toBeGreaterThan(8 * 2 * 9); // at least its baseline (mean and scale of 9+ features) was seen
      expect(rules! + model).toBeLessThanOrEqual(BUDGET);
    });
  }
});
