"""Held-out metrics of the anomaly model on labelled simulator devices (per sample, after calibration)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from .features import alarms
from .train import evaluate


def anomaly_metrics(devices, streams, threshold: float) -> dict:
    """
    evaluate()'s per-sample precision/recall/F1/false-alarm rate with every
    sample from a fault's onset counted as faulty (early stages are barely
    visible), plus the recall on well-developed fault samples, per fault, and
    the false-alarm rate of fault-free devices alone.
    """
    out = evaluate(devices, streams, threshold)
    dev_hit = defaultdict(int)
    dev_all = defaultdict(int)
    healthy_fp = healthy_n = 0
    for d, st in zip(devices, streams):
        if st.smoothed.size == 0:
            continue
        p = alarms(st.smoothed, threshold)
        cls = d.cls[st.scored_from:]
        if not d.faults:
            healthy_fp += int(p.sum())
            healthy_n += int(p.size)
        for code in {f["code"] for f in d.faults}:
            sel = cls == code
            dev_hit[code] += int(p[sel].sum())
            dev_all[code] += int(sel.sum())
    hits, alls = sum(dev_hit.values()), sum(dev_all.values())
    out["developedRecall"] = round(hits / alls, 4) if alls else 0.0
    out["developedRecallByFault"] = {c: round(dev_hit[c] / dev_all[c], 4) for c in sorted(dev_all) if dev_all[c]}
    out["developedSamplesByFault"] = {c: dev_all[c] for c in sorted(dev_all)}
    out["healthyDevices"] = sum(1 for d in devices if not d.faults)
    out["healthyFalseAlarmRate"] = round(healthy_fp / healthy_n, 4) if healthy_n else 0.0
    return out


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> dict:
    """Per true class: how many samples went to each predicted class (non-zero cells only)."""
    out = {}
    for c in classes:
        sel = y_true == c
        if sel.any():
            vals, counts = np.unique(y_pred[sel], return_counts=True)
            out[c] = {str(v): int(k) for v, k in zip(vals, counts)}
    return out
