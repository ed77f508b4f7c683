"""
Trains the shipped models (npm run train): for each shipped device type, a
synthetic fleet (each device its own normal) -> anomaly model (ONNX) +
known-fault classifier (ONNX) + model card, evaluated on held-back devices.
Also writes the parity fixture the TypeScript test replays.

  python3 ml/train_shipped.py [--types air-compressor,...] [--out diagnosis/model/models]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleetdoc_ml import model as M  # noqa: E402
from fleetdoc_ml.classifier import train_classifier  # noqa: E402
from fleetdoc_ml.features import compute_features  # noqa: E402
from fleetdoc_ml.synth import TypeModel, fault_names, simulate_device  # noqa: E402
from fleetdoc_ml.train import Device, data_hash, evaluate, finish_card, fit_type, stream, choose_threshold  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_FAR = 0.01
POST_CAL = 1200


def fleet(tm: TypeModel, n_cal: int, seeds: range, faults: bool) -> list[Device]:
    names = fault_names(tm.type_def["name"])
    out = []
    n_faulty = 0
    for k, seed in enumerate(seeds):
        n = n_cal + POST_CAL
        fault = None
        if faults and k % 4 != 3:  # every 4th held-back device stays healthy; the others take the faults in turn
            fault = (names[n_faulty % len(names)], n_cal + int(np.random.default_rng(seed).integers(300, POST_CAL - 400)))
            n_faulty += 1
        samples, _, label = simulate_device(tm, n, seed, fault)
        out.append(Device(f"{tm.type_def['name']}-{seed}", samples, label, fault[0] if fault else None))
    return out


def train_type(type_def: dict, out_dir: str, seed: int) -> dict:
    name = type_def["name"]
    n_cal = type_def.get("calibrationSamples", 500)
    tm = TypeModel(type_def, seed)
    t0 = time.time()
    train = fleet(tm, n_cal, range(seed * 1000, seed * 1000 + 30), faults=False)
    val_normal = fleet(tm, n_cal, range(seed * 1000 + 100, seed * 1000 + 108), faults=False)
    val_faults = fleet(tm, n_cal, range(seed * 1000 + 200, seed * 1000 + 224), faults=True)
    test = fleet(tm, n_cal, range(seed * 1000 + 300, seed * 1000 + 332), faults=True)

    card, params = fit_type(type_def, train, n_cal)
    onnx_model = M.build_graph(params, len(card["features"]), card["clip"], card["smoothingAlpha"], f"{name}-anomaly")
    blob = onnx_model.SerializeToString()
    run = M.ort_run(blob)
    check_graph(run, params, card)

    vn = stream(val_normal, card, run)
    threshold = choose_threshold(np.concatenate([s.smoothed for s in vn]), TARGET_FAR)
    card = finish_card(card, params, name, threshold)
    val_metrics = evaluate(val_faults, stream(val_faults, card, run), threshold)
    test_streams = stream(test, card, run)
    held_out = evaluate(test, test_streams, threshold)

    clf_blob, clf_info = train_classifier(val_faults, stream(val_faults, card, run), test, test_streams, card, threshold)

    card.update({
        "schemaVersion": 1,
        "modelId": f"{name}@{data_hash(train, card['features'])[:12]}",
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "training": {
            "source": "synthetic fleet (ml/fleetdoc_ml/synth.py)",
            "seed": seed,
            "devices": len(train),
            "samples": sum(len(d.samples) for d in train),
            "dataSha256": data_hash(train, card["features"]),
            "thresholdRule": f"quantile {1 - TARGET_FAR} of the smoothed score on {len(val_normal)} held-back normal devices",
        },
        "validation": val_metrics,
        "heldOut": {**held_out, "faults": sorted({d.fault for d in test if d.fault}), "note": "per-sample decisions after calibration, held-back devices never seen in training"},
        "classifier": clf_info,
        "files": {"anomaly": f"{name}.anomaly.onnx", "classifier": f"{name}.classifier.onnx"},
    })
    with open(os.path.join(out_dir, f"{name}.anomaly.onnx"), "wb") as f:
        f.write(blob)
    with open(os.path.join(out_dir, f"{name}.classifier.onnx"), "wb") as f:
        f.write(clf_blob)
    with open(os.path.join(out_dir, f"{name}.card.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps({"type": name, "features": len(card["features"]), "pcs": params["components"], "threshold": round(threshold, 4),
                      "validation": val_metrics, "heldOut": held_out, "classifier": clf_info.get("heldOut"), "s": round(time.time() - t0, 1)}))
    return {"card": card, "run": run, "tm": tm, "test": test}


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


def write_fixture(res: dict, path: str, n_devices: int = 3, calibration: int = 60, n: int = 160):
    """Samples of a few devices (one with a fault, some metrics missing) and the Python pipeline's outputs."""
    card, run, tm = res["card"], res["run"], res["tm"]
    name = card["type"]
    devices = []
    for k in range(n_devices):
        fault = (fault_names(name)[k % len(fault_names(name))], calibration + 40) if k == 1 else None
        samples, ts, _ = simulate_device(tm, n, 4242 + k, fault, ramp=20, missing_rate=0.05)
        from fleetdoc_ml.features import score_device
        st = score_device(samples, card, run, calibration_samples=calibration)
        devices.append({
            "deviceId": f"fixture-{k}",
            "samples": [{"ts": int(t), "metrics": s} for t, s in zip(ts, samples)],
            "expected": {
                "features": [[None if np.isnan(v) else float(v) for v in row] for row in compute_features(samples, card["features"], card["slopeAlpha"])],
                "mean": st.baseline.mean.tolist(),
                "scale": st.baseline.scale.tolist(),
                "score": st.score.tolist(),
                "smoothed": st.smoothed.tolist(),
                "topShare": (st.contrib.max(axis=1) / st.score).tolist(),
            },
        })
    with open(path, "w") as f:
        json.dump({"type": name, "modelId": card["modelId"], "calibrationSamples": calibration, "devices": devices}, f)


def write_benchmark(res: dict, path: str):
    """Held-back labelled devices as CSV (gzip) for the TypeScript detector test."""
    card, test = res["card"], res["test"]
    metrics = [m["name"] for m in res["tm"].type_def["metrics"] if m.get("kind") != "string"]
    lines = ["deviceId,ts,label,fault," + ",".join(metrics)]
    for d in test[:6]:
        for i, s in enumerate(d.samples):
            vals = ["" if s.get(m) is None else ("true" if s[m] is True else "false" if s[m] is False else repr(round(s[m], 4))) for m in metrics]
            lines.append(f"{d.id},{1_767_225_600_000 + i * 60000},{int(d.label[i])},{d.fault or ''}," + ",".join(vals))
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    _ = card


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--types", default="air-compressor,refrigerator,washing-machine")
    ap.add_argument("--out", default=os.path.join(ROOT, "diagnosis/model/models"))
    ap.add_argument("--fixtures", default=os.path.join(ROOT, "test/diagnosis/model/fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.fixtures, exist_ok=True)
    shipped = ["air-compressor", "refrigerator", "washing-machine"]
    for name in args.types.split(","):
        # the seed follows the type, so training one type alone gives the same model
        seed = 11 + shipped.index(name) if name in shipped else 11 + sum(map(ord, name)) % 1000
        with open(os.path.join(ROOT, "core/device-types", f"{name}.json")) as f:
            type_def = json.load(f)
        res = train_type(type_def, args.out, seed=seed)
        if name == "air-compressor":
            write_fixture(res, os.path.join(args.fixtures, "parity-air-compressor.json"))
            write_benchmark(res, os.path.join(args.fixtures, "benchmark-air-compressor.csv.gz"))


if __name__ == "__main__":
    main()
