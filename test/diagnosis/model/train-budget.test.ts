/**
 * The bring-your-own-machine trainer cuts the normal recording into
 * pseudo-devices (one calibration start every N/2 samples, each judged on the
 * rest of the recording): work quadratic in the recording's length, which
 * took a minute and 1.8 GB at 36,000 samples and could not finish on a
 * month of 1 Hz data. plan_cuts bounds it: small data keep the plan as it
 * was, larger data space the cuts out, then shorten what each is judged on.
 * Real Python (ml/train_anomaly.py) on the simulated pump bench.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function python(code: string): unknown {
  const r = spawnSync('python3', ['-c', code], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PYTHONPATH: `${ROOT}ml` } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

describe('training work is bounded by the recording size', () => {
  it('keeps small plans, then widens the stride, then shortens the horizon, within the budget', () => {
    const out = python(`
import json
from train_anomaly import plan_cuts, _starts
def total(parts, n_cal, st, h):
    cap = float('inf') if h is None else n_cal + h
    return sum(min(e - s, cap) for a, e in parts for s in _starts(a, e, n_cal, st))
def count(parts, n_cal, st):
    return sum(len(_starts(a, e, n_cal, st)) for a, e in parts)
res = {}
for name, parts, budget in [("small", [(0, 9000)], 2_000_000), ("wide", [(0, 150_000)], 2_000_000),
                            ("long", [(0, 1_000_000)], 2_000_000), ("two", [(0, 60_000), (1000, 20_000)], 500_000)]:
    st, h = plan_cuts(parts, 400, 200, budget)
    res[name] = {"stride": st, "horizon": h, "total": total(parts, 400, st, h), "cuts": count(parts, 400, st),
                 "unbounded": total(parts, 400, 200, None)}
print(json.dumps(res))
`) as Record<string, { stride: number; horizon: number | null; total: number; cuts: number; unbounded: number }>;
    expect(out.small).toMatchObject({ stride: 200, horizon: null });
    for (const k of ['wide', 'long', 'two']) {
      const p = out[k]!;
      expect(p.unbounded, k).toBeGreaterThan(p.total);
      expect(p.total, k).toBeLessThanOrEqual(k === 'two' ? 500_000 : 2_000_000);
      expect(p.cuts, k).toBeGreaterThanOrEqual(24);
    }
    // 150,000 samples: spacing the cuts out is enough, each is still judged to the end
    expect(out.wide!.horizon).toBeNull();
    expect(out.wide!.stride).toBeGreaterThan(200);
    // 1,000,000: 24 cuts over the whole recording would still be 12 M samples, so each is judged on fewer
    expect(out.long!.horizon).not.toBeNull();
    expect(out.long!.stride * 23).toBeGreaterThan(900_000);
  });

  it('thins the cuts when many recordings each keep one and still add up to more than the budget', () => {
    const out = python(`
import json
from fleetdoc_ml.train import Device
from train_anomaly import plan_cuts, thin, windows
devs = [Device(f"d{i}", [{"x": float(j)} for j in range(8000)]) for i in range(500)]
st, h = plan_cuts([(0, 8000)] * 500, 400, 200, 200_000)
cuts = [w for d in devs for w in windows(d, 400, 0, 8000, st, h)]
kept = thin(cuts, 200_000)
print(json.dumps({"cuts": len(cuts), "total": sum(len(w.samples) for w in cuts), "kept": len(kept), "keptTotal": sum(len(w.samples) for w in kept)}))
`) as { cuts: number; total: number; kept: number; keptTotal: number };
    // one cut per recording at the shortest horizon is still 500 × 600 samples
    expect(out.total).toBeGreaterThan(200_000);
    expect(out.keptTotal).toBeLessThanOrEqual(200_000);
    expect(out.kept).toBeGreaterThan(100);
  });

  it('trains within a small budget and still finds the faults injected into the held-back tail', { timeout: 120_000 }, () => {
    const out = python(`
import json, numpy as np
from fleetdoc_ml import testbed as T
from fleetdoc_ml.train import Device
from train_anomaly import train
rec = T.record(np.random.default_rng(3), 20_000, "normal")
type_def = {"name": "pump", "metrics": T.METRICS}
card, blob, held = train(type_def, [Device("bench", rec.samples)], 400, budget_cells=(3_200_000, 800_000))
print(json.dumps({"plan": card["pseudoDevices"], "threshold": card["threshold"], "held": held, "onnx": len(blob)}))
`) as { plan: Record<string, number | null>; threshold: number; held: Record<string, number>; onnx: number };
    // 3.2 M cells / 8 metrics = 400,000 samples for the fit: 20,000 samples at the default stride would be 1.4 M
    expect(out.plan.fitStride).toBeGreaterThan(200);
    expect(out.plan.heldStride).toBeGreaterThan(100);
    expect(Number.isFinite(out.threshold)).toBe(true);
    expect(out.onnx).toBeGreaterThan(1000);
    expect(out.plan.fitSamples).toBeLessThanOrEqual(400_000);
    expect(out.plan.heldSamples).toBeLessThanOrEqual(100_000);
    // steps, drifts and noise injected into the held-back tail are still found
    expect(out.held.samples).toBeGreaterThan(0);
    expect(out.held.samples).toBeLessThanOrEqual(100_000);
    expect(out.held.recall).toBeGreaterThan(0.5);
    expect(out.held.falseAlarmRate).toBeLessThan(0.1);
  });
});

describe('model:train reads each CSV as its own recording', () => {
  it('keeps two files of the same name in different folders apart (one device each, not one merged recording)', () => {
    const out = python(`
import json, os, tempfile
from train_anomaly import read_csv
t = {"name": "bench", "metrics": [{"name": "p", "kind": "number"}]}
root = tempfile.mkdtemp()
paths = []
for day, (a, b) in enumerate([(0, 30), (10, 40)]):
    d = os.path.join(root, f"day{day}")
    os.makedirs(d)
    paths.append(os.path.join(d, "normal.csv"))
    with open(paths[-1], "w") as f:
        f.write("t;p\\n" + "".join(f"{i};{day * 100 + i}\\n" for i in range(a, b)))
devs, _, _ = read_csv(paths, t, ";", "t", None)
print(json.dumps([[len(d.samples), d.samples[0]["p"], d.samples[-1]["p"]] for d in devs]))
`) as number[][];
    // overlapping times: merged by name they would interleave into one 60-sample recording
    expect(out).toEqual([[30, 0, 29], [30, 110, 139]]);
  });
});
