"""Known-fault classifier: which known fault an anomalous sample looks like (random forest -> ONNX)."""
from __future__ import annotations

import numpy as np
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier

from .features import model_inputs


def z_rows(st, card) -> np.ndarray:
    rows = st.features[st.scored_from:]
    x, mu, sigma = model_inputs(rows, st.baseline)
    return np.clip((x - mu) / sigma, -card["clip"], card["clip"]).astype(np.float32)


def dataset(devices, streams, card, threshold):
    """Flagged samples of faulty devices labelled with their fault, plus normal samples as 'normal'."""
    xs, ys = [], []
    rng = np.random.default_rng(5)
    for d, st in zip(devices, streams):
        if st.smoothed.size == 0:
            continue
        z = z_rows(st, card)
        lab = d.label[st.scored_from:]
        flagged = st.smoothed > threshold
        if d.fault:
            sel = (lab == 1) & flagged
            xs.append(z[sel])
            ys += [d.fault] * int(sel.sum())
        sel = (lab == 0) & (rng.uniform(size=lab.size) < 0.2)
        xs.append(z[sel])
        ys += ["normal"] * int(sel.sum())
    return np.concatenate(xs), np.array(ys)


def train_classifier(train_devices, train_streams, test_devices, test_streams, card, threshold):
    x, y = dataset(train_devices, train_streams, card, threshold)
    clf = RandomForestClassifier(n_estimators=30, max_depth=7, min_samples_leaf=3, random_state=0, n_jobs=1).fit(x, y)
    xt, yt = dataset(test_devices, test_streams, card, threshold)
    faulty = yt != "normal"
    acc = float((clf.predict(xt[faulty]) == yt[faulty]).mean()) if faulty.any() else 0.0
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    onx.ir_version = 8
    info = {
        "method": "random forest (30 trees, depth 7) on the standardised features z = clip((x - mu) / sigma)",
        "classes": [str(c) for c in clf.classes_],
        "trainSamples": int(len(y)),
        "heldOut": {"flaggedFaultSamples": int(faulty.sum()), "accuracy": round(acc, 4)},
        "note": "trained on the synthetic fleet's labelled faults; retrain on the simulator's labelled data when it lands",
    }
    return onx.SerializeToString(), info
