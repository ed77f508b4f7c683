"""
Trains the shipped models (npm run train). For each shipped device type it
runs the simulator (the TypeScript device models in simulator/, through
ml/export-sim.ts) for three fleets of its own seeds, labels them from the
simulator's ground truth and
  - fits the anomaly model on normal operation (fault-free devices, and
    faulty ones before their fault's onset), each device standardised by its
    first calibrationSamples,
  - sets the alarm threshold on a fleet of fault-free devices,
  - trains the known-fault classifier on well-developed faults,
  - measures both on a held-back fleet,
then writes <type>.anomaly.onnx, <type>.classifier.onnx and <type>.card.json.
Also writes the parity and benchmark fixtures the TypeScript tests replay.

  python3 ml/train_shipped.py [--types air-compressor,...] [--out diagnosis/model/models] [--keep-data DIR]

Seeds are strings (train-ac-1, …) so they never meet the scorecard's numeric ones.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleetdoc_ml import model as M  # noqa: E402
from fleetdoc_ml.classifier import evaluate_classifier, train_classifier  # noqa: E402
from fleetdoc_ml.fixtures import write_benchmark, write_parity  # noqa: E402
from fleetdoc_ml.metrics import anomaly_metrics  # noqa: E402
from fleetdoc_ml.sim import DEVELOPED, FleetSpec, catalogue_codes, simulate  # noqa: E402
from fleetdoc_ml.train import Device, choose_threshold, finish_card, fit_type, stream  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_FAR = 0.01
# Sample intervals as the scorecard runs them (scripts/scorecard.ts DEFAULT_INTERVALS). Runs are long
# enough to calibrate (washers sample every 150 min when idle) and faults begin after calibration,
# so the anomaly model sees clean baselines and normal data before each onset.
TYPES = {
    "air-compressor": {"abbr": "ac", "interval": "15m", "duration": "30d", "onset": (0.3, 0.75)},
    "refrigerator": {"abbr": "rf", "interval": "15m", "duration": "45d", "onset": (0.4, 0.75)},
    "washing-machine": {"abbr": "wm", "interval": "5m", "duration": "75d", "onset": (0.45, 0.8)},
}
FLEETS = {"train": (160, 0.75), "threshold": (24, 0.0), "heldOut": (64, 0.75)}
# Measured only: a fleet as the scorecard runs it (30 days, its fault rate, onsets from 10 % of the run,
# so a fault may begin during calibration).
SCORECARD_LIKE = (64, "30d", 0.3)
MIN_NORMAL_AFTER_CAL = 48


def fleet_specs(name: str) -> dict[str, FleetSpec]:
    t = TYPES[name]
    specs = {
        role: FleetSpec(f"train-{t['abbr']}-{k + 1}", n, t["duration"], t["interval"], rate, *t["onset"])
        for k, (role, (n, rate)) in enumerate(FLEETS.items())
    }
    n, duration, rate = SCORECARD_LIKE
    specs["scorecardLike"] = FleetSpec(f"train-{t['abbr']}-{len(FLEETS) + 1}", n, duration, t["interval"], rate)
    return specs


def train_type(type_def: dict, out_dir: str, work_dir: str) -> dict:
    name = type_def["name"]
    n_cal = type_def.get("calibrationSamples", 500)
    t0 = time.time()
    specs = fleet_specs(name)
    data = {role: simulate(name, spec, work_dir) for role, spec in specs.items()}
    train, train_hash = data["train"]
    normal_val, _ = data["threshold"]
    test, _ = data["heldOut"]
    like, _ = data["scorecardLike"]
    t_sim = time.time() - t0

    # normal operation only: fault-free devices whole, faulty ones up to their first onset
    normal = [Device(d.id, d.samples[: d.normal_until]) for d in train if d.normal_until >= n_cal + MIN_NORMAL_AFTER_CAL]
    card, params = fit_type(type_def, normal, n_cal)
    onx = M.build_graph(params, len(card["features"]), card["clip"], card["smoothingAlpha"], f"{name}-anomaly")
    blob = onx.SerializeToString()
    run = M.ort_run(blob)
    check_graph(run, params, card)

    vn = stream(normal_val, card, run)
    threshold = choose_threshold(np.concatenate([s.smoothed for s in vn]), TARGET_FAR)
    card = finish_card(card, params, name, threshold)
    train_streams = stream(train, card, run)
    test_streams = stream(test, card, run)
    held_out = anomaly_metrics(test, test_streams, threshold)
    codes = catalogue_codes(name)
    clf_blob, clf_info, clf = train_classifier(train, train_streams, test, test_streams, card, threshold, codes)
    like_streams = stream(like, card, run)
    like_metrics = {**anomaly_metrics(like, like_streams, threshold), "classifier": evaluate_classifier(clf, like, like_streams, card, threshold),
                    "fleet": specs["scorecardLike"].seed,
                    "note": "measured only: 30-day devices with the scorecard's fault rate and onsets (a fault may begin during calibration); "
                            "devices still calibrating at the end count for nothing"}

    card.update({
        "schemaVersion": 1,
        "modelId": f"{name}@{train_hash[:12]}",
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "training": {
            "source": "simulator (simulator/ device models via ml/export-sim.ts), labelled from its ground truth",
            "seeds": {role: spec.seed for role, spec in specs.items()},
            "devices": {role: len(data[role][0]) for role in specs},
            "fleets": {role: {**spec.describe(), "devices": len(data[role][0]), "faultyDevices": sum(1 for d in data[role][0] if d.faults),
                              "samples": sum(len(d.samples) for d in data[role][0]), "exportSha256": data[role][1]}
                       for role, spec in specs.items()},
            "anomalyFit": {"devices": len(normal), "samples": sum(len(d.samples) for d in normal),
                           "rows": "samples after each device's calibration and before its first fault onset"},
            "dataSha256": train_hash,
            "thresholdRule": f"quantile {1 - TARGET_FAR} of the smoothed score on the {len(normal_val)} fault-free devices of {specs['threshold'].seed}",
        },
        "heldOut": {**held_out, "fleet": specs["heldOut"].seed, "faults": sorted({f["code"] for d in test for f in d.faults}),
                    "note": "per-sample decisions after calibration on simulated devices never seen in training; faulty = from a fault's onset, "
                            f"developed = from {DEVELOPED:g} of the way from onset to functional failure"},
        "scorecardConditions": like_metrics,
        "classifier": clf_info,
        "files": {"anomaly": f"{name}.anomaly.onnx", "classifier": f"{name}.classifier.onnx"},
    })
    card.pop("validation", None)
    for suffix, payload in (("anomaly.onnx", blob), ("classifier.onnx", clf_blob)):
        with open(os.path.join(out_dir, f"{name}.{suffix}"), "wb") as f:
            f.write(payload)
    with open(os.path.join(out_dir, f"{name}.card.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps({"type": name, "features": len(card["features"]), "pcs": params["components"], "threshold": round(threshold, 4),
                      "heldOut": held_out, "classifier": clf_info["heldOut"], "scorecardConditions": like_metrics, "simulateS": round(t_sim, 1), "s": round(time.time() - t0, 1)}), flush=True)
    return {"card": card, "run": run, "test": test, "type_def": type_def}


def check_graph(run, params, card):
    rng = np.random.default_rng(0)
    f = len(card["features"])
    x = rng.normal(0, 3, (64, f)).astype(np.float32)
    mu = rng.normal(0, 1, (64, f)).astype(np.float32)
    sigma = rng.uniform(0.5, 2, (64, f)).astype(np.float32)
    prev = rng.uniform(0, 2, 64).astype(np.float32)
    a = run(x, mu, sigma, prev)
    b = M.numpy_run(params, card["clip"], card["smoothingAlpha"])(x, mu.astype(np.float64), sigma.astype(np.float64), prev)
    for u, v in zip(a, b):
        if not np.allclose(u, v, rtol=1e-4, atol=1e-4):
            raise SystemExit("ONNX graph disagrees with the numpy model")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--out", default=os.path.join(ROOT, "diagnosis/model/models"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "test/diagnosis/model/fixtures"))
    ap.add_argument("--keep-data", help="keep the simulator exports (JSON lines) in this directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.fixtures, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep_data or tmp
        os.makedirs(work, exist_ok=True)
        for name in args.types.split(","):
            with open(os.path.join(ROOT, "core/device-types", f"{name}.json")) as f:
                type_def = json.load(f)
            res = train_type(type_def, args.out, work)
            if name == "air-compressor":
                write_parity(res, os.path.join(args.fixtures, "parity-air-compressor.json"), work)
                write_benchmark(res, os.path.join(args.fixtures, "benchmark-air-compressor.csv.gz"))


if __name__ == "__main__":
    main()
