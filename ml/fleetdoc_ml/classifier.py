"""Known-fault classifier: which known fault an anomalous sample looks like (random forest -> ONNX)."""
from __future__ import annotations

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier

from .features import alarms, model_inputs
from .metrics import confusion

N_TREES = 40
MAX_DEPTH = 10
# larger leaves: smaller files, and no worse on held-out devices
MIN_LEAF = 20
# normal rows kept for training, as a share of the fault rows
NORMAL_SHARE = 0.3


def z_rows(st, card) -> np.ndarray:
    rows = st.features[st.scored_from:]
    x, mu, sigma = model_inputs(rows, st.baseline)
    return np.clip((x - mu) / sigma, -card["clip"], card["clip"]).astype(np.float32)


def dataset(devices, streams, card, threshold):
    """
    Rows labelled by the simulator's ground truth (sim.labelled): each
    well-developed single fault with its code, normal operation as "normal".
    Returns z, labels and whether the anomaly model flagged the row.
    """
    xs, ys, fl = [], [], []
    for d, st in zip(devices, streams):
        if st.smoothed.size == 0:
            continue
        cls = d.cls[st.scored_from:]
        sel = np.array([c is not None for c in cls])
        xs.append(z_rows(st, card)[sel])
        ys.append(cls[sel].astype(str))
        fl.append(alarms(st.smoothed, threshold)[sel])
    if not xs:  # every device still calibrating
        return np.zeros((0, len(card["features"])), dtype=np.float32), np.array([], dtype=str), np.array([], dtype=bool)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(fl)


def thin_normal(x, y, seed=5):
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(y == "normal")
    faulty = np.flatnonzero(y != "normal")
    keep = rng.choice(normal, size=min(normal.size, int(NORMAL_SHARE * faulty.size)), replace=False)
    idx = np.sort(np.concatenate([faulty, keep]))
    return x[idx], y[idx]


def fault_only_predictions(clf, x) -> np.ndarray:
    """The runtime's answer: the most probable class other than "normal" (scorer.ts drops "normal")."""
    proba = clf.predict_proba(x)
    classes = np.array([str(c) for c in clf.classes_])
    proba[:, classes == "normal"] = -1
    return classes[proba.argmax(axis=1)]


def scores(clf, x, y, flagged) -> dict:
    faulty = y != "normal"
    out = {}
    for name, sel in (("developedFaultSamples", faulty), ("flaggedDevelopedFaultSamples", faulty & flagged)):
        if not sel.any():
            out[name] = {"samples": 0}
            continue
        pred = fault_only_predictions(clf, x[sel])
        truth = y[sel]
        by_fault = {c: round(float((pred[truth == c] == c).mean()), 4) for c in sorted(set(truth))}
        out[name] = {
            "samples": int(sel.sum()),
            "accuracy": round(float((pred == truth).mean()), 4),
            "macroRecall": round(float(np.mean(list(by_fault.values()))), 4),
            "recallByFault": by_fault,
            "samplesByFault": {c: int((truth == c).sum()) for c in sorted(set(truth))},
        }
    return out


def train_classifier(train_devices, train_streams, test_devices, test_streams, card, threshold, fault_codes):
    x, y, _ = dataset(train_devices, train_streams, card, threshold)
    x, y = thin_normal(x, y)
    missing = sorted(set(fault_codes) - set(y))
    if missing:
        raise SystemExit(f"no well-developed training samples of {missing}: more devices or a longer run")
    clf = RandomForestClassifier(n_estimators=N_TREES, max_depth=MAX_DEPTH, min_samples_leaf=MIN_LEAF, class_weight="balanced",
                                 random_state=0, n_jobs=1).fit(x, y)
    xt, yt, ft = dataset(test_devices, test_streams, card, threshold)
    classes = [str(c) for c in clf.classes_]
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    onx.ir_version = 8
    faulty = yt != "normal"
    info = {
        "method": f"random forest ({N_TREES} trees, depth {MAX_DEPTH}, {MIN_LEAF} samples a leaf, balanced class weights) on the standardised features z = clip((x - mu) / sigma)",
        "classes": classes,
        "labels": "simulator ground truth: a fault's code from halfway between its onset and functional failure (devices with one fault active), "
                  "'normal' before any onset; the runtime reports the fault classes only, on samples the anomaly model flags",
        "trainSamples": int(len(y)),
        "trainSamplesByClass": {c: int((y == c).sum()) for c in classes},
        "heldOut": scores(clf, xt, yt, ft),
        "heldOutConfusion": confusion(yt[faulty & ft], fault_only_predictions(clf, xt[faulty & ft]), classes) if (faulty & ft).any() else {},
    }
    return onx.SerializeToString(), info, clf


def evaluate_classifier(clf, devices, streams, card, threshold) -> dict:
    x, y, flagged = dataset(devices, streams, card, threshold)
    return scores(clf, x, y, flagged)
