"""Fixtures the TypeScript tests replay (test/diagnosis/model/fixtures/), made from simulator data."""
from __future__ import annotations

import gzip
import json

import numpy as np

from .features import compute_features, score_device
from .sim import FleetSpec, simulate

PARITY_CAL = 60
PARITY_FAULT = "ac-bearing-wear"
BENCHMARK_HEALTHY = 2


def write_parity(res: dict, path: str, work_dir: str) -> None:
    """
    Three simulated compressors over 40 h (the second develops a fault), 5 %
    of their metric values removed, and the Python pipeline's outputs on them.
    """
    card, run = res["card"], res["run"]
    spec = FleetSpec("fixture-ac", 3, "40h", "15m", 0.0, fault_plan={"2": [{"code": PARITY_FAULT, "onset": 0.45, "failure": 0.8}]})
    devices_in, _ = simulate(card["type"], spec, work_dir)
    rng = np.random.default_rng(4242)
    devices = []
    last = {}
    for k, d in enumerate(devices_in):
        samples = [{m: v for m, v in s.items() if rng.uniform() >= 0.05} for s in d.samples]
        st = score_device(samples, card, run, calibration_samples=PARITY_CAL)
        dev_id = f"fixture-{k}"
        last[dev_id] = float(st.smoothed[-1])
        devices.append({
            "deviceId": dev_id,
            "samples": [{"ts": int(t), "metrics": s} for t, s in zip(d.ts, samples)],
            "expected": {
                "features": [[None if np.isnan(v) else float(v) for v in row] for row in compute_features(samples, card["features"], card["slopeAlpha"])],
                "mean": st.baseline.mean.tolist(),
                "scale": st.baseline.scale.tolist(),
                "score": st.score.tolist(),
                "smoothed": st.smoothed.tolist(),
                "topShare": (st.contrib.max(axis=1) / st.score).tolist(),
            },
        })
    # the parity test also checks that the faulty device ends flagged and a healthy one does not
    if not (last["fixture-1"] > card["threshold"] > last["fixture-0"]):
        raise SystemExit(f"parity fixture: want fixture-1 flagged and fixture-0 not at the end, got {last} (threshold {card['threshold']})")
    with open(path, "w") as f:
        json.dump({"type": card["type"], "modelId": card["modelId"], "calibrationSamples": PARITY_CAL, "source": spec.describe(),
                   "devices": devices}, f)


def _cell(v) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return repr(v)


def write_benchmark(res: dict, path: str) -> None:
    """
    Held-back simulated devices as CSV (gzip): one with each fault (alone on
    its device) and a few fault-free ones. label: 1 once the fault is well
    developed, 0 before any onset, empty in between (not judged).
    """
    test, type_def = res["test"], res["type_def"]
    metrics = [m["name"] for m in type_def["metrics"] if m.get("kind") != "string"]
    chosen, seen = [], set()
    for d in test:
        code = d.fault
        if code and len(d.faults) == 1 and code not in seen and int((d.cls == code).sum()) >= 50:
            chosen.append(d)
            seen.add(code)
    chosen += [d for d in test if not d.faults][:BENCHMARK_HEALTHY]
    lines = ["deviceId,ts,label,fault," + ",".join(metrics)]
    for d in chosen:
        for t, s, c in zip(d.ts, d.samples, d.cls):
            label = "1" if c is not None and c != "normal" else "0" if c == "normal" else ""
            lines.append(f"{d.id},{int(t)},{label},{d.fault or ''}," + ",".join(_cell(s.get(m)) for m in metrics))
    # mtime 0: the same data gives the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode())
