"""Fitting a type's anomaly model from devices' normal samples, choosing its threshold, evaluating it."""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import model as M
from .features import F32_MAX, alarms, calibrate, clear_ratio, compute_features, model_inputs, score_device, to_number

SLOPE_ALPHA = 0.2
SMOOTHING_ALPHA = 0.3
CLIP = 50.0
MIN_SCALE_FRACTION = 0.2
# the scale of a boolean that never changed in normal operation: its other state is 1 / 0.5 = 2 scales off
BOOLEAN_STEP_SCALE = 0.5


@dataclass
class Device:
    id: str
    samples: list[dict]
    label: np.ndarray | None = None  # 0/1 per sample (evaluation only)
    fault: str | None = None
    normal_until: int | None = None  # samples before this index are normal operation
    cls: np.ndarray | None = None  # per sample: fault code, "normal", or None (not used by the classifier)
    ts: np.ndarray | None = None
    faults: list[dict] = field(default_factory=list)


def is_counter(m: dict) -> bool:
    """
    Could be a cumulative counter (run hours, cycles): a number that may not be negative (declared min ≥ 0, or no
    min; a declared max is a physical limit, not a sign of a level). Whether it is one, the data say (_monotonic).
    """
    lo = m.get("min")
    return m.get("kind", "number") in ("number", "integer") and (lo is None or lo >= 0)


def choose_features(type_def: dict, devices: list[Device]) -> list[dict]:
    """
    level (+ slope) for measurements, level for booleans, per-sample increment for counters (declared `counter`, or
    found so in the data when undeclared); strings are left out.
    """
    present = {k for d in devices for s in d.samples for k in s}
    feats: list[dict] = []
    for m in type_def["metrics"]:
        kind = m.get("kind", "number")
        name = m["name"]
        if kind == "string" or name not in present:
            continue
        if kind == "boolean":
            # its states mean the same on every machine: a device that sends it only on a change is judged by the type's
            feats.append({"name": f"{name}.level", "metric": name, "transform": "level", "typeNormal": True})
        elif m.get("counter") is True or (m.get("counter") is None and is_counter(m) and _monotonic(devices, name)):
            feats.append({"name": f"{name}.delta", "metric": name, "transform": "delta"})
        else:
            feats.append({"name": f"{name}.level", "metric": name, "transform": "level"})
            feats.append({"name": f"{name}.slope", "metric": name, "transform": "slope"})
    return feats


def _monotonic(devices: list[Device], metric: str) -> bool:
    """
    A counter: it (almost) never steps down, or — a meter whose reading carries noise — it steps down often but no
    device's reading ever falls back more than 2 % of the most any device rose over its recording (a device's
    deepest fall below an earlier reading of its own, against the largest rise from first to last reading): an
    idle meter only jitters. A level wanders back and forth. Devices with fewer than 3 readings say nothing.
    """
    ups = downs = 0
    rises, falls = [], []
    for d in devices:
        v = np.array([to_number(s.get(metric)) for s in d.samples])
        v = v[~np.isnan(v)]
        dv = np.diff(v)
        ups += int((dv > 0).sum())
        downs += int((dv < 0).sum())
        if v.size >= 3:
            rises.append(float(v[-1] - v[0]))
            falls.append(float((np.maximum.accumulate(v) - v).max()))
    if ups > 0 and downs <= 0.01 * (ups + downs):
        return True
    top = max(rises, default=0.0)
    return top > 0 and max(falls) <= 0.02 * top


def data_hash(devices: list[Device], features: list[dict]) -> str:
    h = hashlib.sha256()
    for d in devices:
        h.update(d.id.encode())
        h.update(json.dumps(d.samples, sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps(features).encode())
    return h.hexdigest()


def fit_type(type_def: dict, train: list[Device], calibration_samples: int, var_explained: float = 0.95,
             wander_floor: float = 0.0, smoothing_alpha: float = SMOOTHING_ALPHA,
             recordings: list[Device] | None = None) -> tuple[dict, dict]:
    """
    Returns (card without threshold/metrics, model params). Fits on post-calibration normal data of each device.
    recordings: the whole recordings `train` was cut from, where a counter shows itself (a noisy meter rises by
    less than its noise within one pseudo-device); `train` itself by default.
    wander_floor: floor each feature's per-device scale at this fraction of how far the training devices'
    normal operation wandered from their calibration means (0 = floor at MIN_SCALE_FRACTION of the calibration std only).
    """
    feats = choose_features(type_def, recordings or train)
    # a reading past float32 (a glitch of 1e39) is ±inf to the runtime: it teaches nothing about the type's normal
    rows = [np.where(np.abs(r) > F32_MAX, np.nan, r) for r in (compute_features(d.samples, feats, SLOPE_ALPHA) for d in train)]
    pooled = np.concatenate(rows)
    type_mean = np.nanmean(pooled, axis=0)
    type_scale = np.nanstd(pooled, axis=0)
    # a glitch past float32 in the recording (1e300) would leave the type's normal infinite: the median and MAD there
    wild = ~((np.abs(type_mean) <= F32_MAX) & (type_scale <= F32_MAX))
    if wild.any():
        med_level = np.nanmedian(pooled[:, wild], axis=0)
        type_mean[wild] = med_level
        type_scale[wild] = 1.4826 * np.nanmedian(np.abs(pooled[:, wild] - med_level), axis=0)
    per_dev_std = np.array([np.nanstd(r[:calibration_samples], axis=0) for r in rows])
    med = np.nanmedian(per_dev_std, axis=0)
    # How far normal operation wanders from what a calibration period saw (RMS distance of the
    # later samples from the calibration mean): a short calibration under-states it.
    wander = np.nanmedian(np.array([np.sqrt(np.nanmean((r[calibration_samples:] - np.nanmean(r[:calibration_samples], axis=0)) ** 2, axis=0))
                                    for r in rows]), axis=0)
    # Constant in every device's normal (e.g. run-hour increments at a fixed rate): carries no information.
    # A feature constant while the devices calibrated carries no information when scales come from calibration
    # alone; with a wander floor it keeps a scale, and only what never moves in normal operation is left out.
    # (relative to the median level: one glitch of 1e41 in the recording must not make every other reading look constant)
    tiny = 1e-9 * (1 + np.abs(np.nanmedian(pooled, axis=0)))
    # A boolean that never changed in normal operation (an alarm bit, a low-oil switch) is kept: its other state is
    # what normal operation never showed. Its scale is half a step, so that state stands 2 scales off.
    kinds = {m["name"]: m.get("kind", "number") for m in type_def["metrics"]}
    never_flips = {j for j, f in enumerate(feats) if kinds.get(f["metric"]) == "boolean" and type_scale[j] <= tiny[j]}
    for j in never_flips:
        type_scale[j] = BOOLEAN_STEP_SCALE
    keep = [j for j in range(len(feats)) if j in never_flips or (type_scale[j] > tiny[j] and (med[j] > tiny[j] or (wander_floor > 0 and wander[j] > tiny[j])))]
    dropped = [{"feature": feats[j]["name"], "reason": "constant in normal operation"} for j in range(len(feats)) if j not in keep]
    feats = [feats[j] for j in keep]
    card = {
        "features": feats,
        "slopeAlpha": SLOPE_ALPHA,
        "smoothingAlpha": smoothing_alpha,
        "clip": CLIP,
        "calibrationSamples": calibration_samples,
        "typeMean": [float(v) for v in type_mean[keep]],
        "typeScale": [float(max(v, 1e-9)) for v in type_scale[keep]],
        "minScale": [float(BOOLEAN_STEP_SCALE if j in never_flips else max(MIN_SCALE_FRACTION * med[j], wander_floor * wander[j], 1e-9))
                     for j in keep],
        "wanderFloor": wander_floor,
        "dropped": dropped,
    }
    zs = []
    for r in rows:
        r = r[:, keep]
        base = calibrate(r[:calibration_samples], card)
        x, mu, sigma = model_inputs(r[calibration_samples:], base)
        zs.append(np.clip((x.astype(np.float64) - mu) / sigma, -CLIP, CLIP))
    z = np.concatenate(zs)
    params = M.fit(z, var_explained=var_explained)
    return card, params


def stream(devices: list[Device], card: dict, run) -> list:
    return [score_device(d.samples, card, run) for d in devices]


def choose_threshold(normal_smoothed: np.ndarray, target_far: float) -> float:
    return float(np.quantile(normal_smoothed, 1 - target_far))


def rates(tp: int, fp: int, fn: int, tn: int) -> tuple[float, float, float, float]:
    """Per-sample precision, recall, F1 and false-alarm rate from the four counts (0 where undefined)."""
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1, fp / (fp + tn) if fp + tn else 0.0


def evaluate(devices: list[Device], streams: list, threshold: float, card: dict | None = None, skip: list[int] | None = None) -> dict:
    """
    Per-sample figures at the threshold (each device's own, see device_threshold, when the card sets deviceThreshold).
    skip: per device, how many of its first scored samples are decided but not counted.
    """
    tp = fp = fn = tn = 0
    for k, (d, st) in enumerate(zip(devices, streams)):
        if st.smoothed.size == 0:
            continue
        cut = skip[k] if skip else 0
        y = d.label[st.scored_from + cut:] if d.label is not None else np.zeros(st.smoothed.size - cut, dtype=np.int8)
        p = alarms(st.smoothed, st.threshold(threshold, card) if card else threshold, clear_ratio(card))[cut:]
        tp += int((p & (y == 1)).sum())
        fp += int((p & (y == 0)).sum())
        fn += int((~p & (y == 1)).sum())
        tn += int((~p & (y == 0)).sum())
    prec, rec, f1, far = rates(tp, fp, fn, tn)
    return {
        "devices": len(devices),
        "samples": tp + fp + fn + tn,
        "faultSamples": tp + fn,
        "precision": round(prec, 4),
        "recall": round(rec, 4),
        "f1": round(f1, 4),
        "falseAlarmRate": round(far, 4),
    }


def finish_card(card: dict, params: dict, type_name: str, threshold: float) -> dict:
    card = dict(card)
    card["threshold"] = threshold
    card["method"] = {
        "standardisation": "per-device baseline: mean and population std of each feature over the device's calibration samples, std floored at minScale "
                           f"(the larger of {MIN_SCALE_FRACTION} x the training devices' median calibration std and {card.get('wanderFloor', 0)} x how far their "
                           "normal operation wandered from their calibration means)",
        "t2": {"covariance": "ledoit-wolf", "shrinkage": params["shrinkage"], "limit99": params["t2Limit"]},
        "spe": {"pcaComponents": params["components"], "limit99": params["speLimit"]},
        "score": "0.5*T2/limit99 + 0.5*SPE/limit99 (about 1 at the 99th percentile of normal)",
        "smoothing": f"EWMA alpha={card['smoothingAlpha']}; anomaly when smoothed score > threshold",
    }
    card["type"] = type_name
    return card


def is_finite_list(a) -> bool:
    return all(math.isfinite(v) for v in a)
