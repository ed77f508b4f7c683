"""
Feature extraction and the streaming scorer, exactly as diagnosis/model/
does it in TypeScript (features.ts, baseline.ts, device-calibration.ts, scorer.ts). The parity test
holds the two together; change both or neither.

A sample is a dict metric -> float (booleans as 0/1) with missing metrics
absent. Per metric a device keeps: the last value (carried forward when the
metric is missing), the previous value and an EWMA of first differences.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

NAN = float("nan")


def feature_metrics(features: list[dict]) -> list[str]:
    """The metrics the features read, in first-use order."""
    out: list[str] = []
    for f in features:
        if f["metric"] not in out:
            out.append(f["metric"])
    return out


# a number as `npm run replay` reads one (ASCII digits, no underscores)
NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", re.ASCII)


def to_number(v) -> float:
    if v is None:
        return NAN
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else NAN
    s = str(v).strip().lower()
    # the words and numbers `npm run replay` reads (simulator/replay/replay.ts parseValue): not Python's wider float()
    if s in ("true", "on", "yes", "t", "y"):
        return 1.0
    if s in ("false", "off", "no", "f", "n"):
        return 0.0
    if not NUMBER_RE.match(s):
        return NAN
    x = float(s)
    return x if math.isfinite(x) else NAN


def compute_features(samples: list[dict], features: list[dict], slope_alpha: float) -> np.ndarray:
    """Feature rows (n_samples x n_features, float64, NaN = unknown) of one device's samples in time order."""
    metrics = feature_metrics(features)
    idx = {m: i for i, m in enumerate(metrics)}
    last = np.full(len(metrics), NAN)
    slope = np.full(len(metrics), NAN)
    out = np.full((len(samples), len(features)), NAN)
    for t, s in enumerate(samples):
        delta = np.full(len(metrics), NAN)
        for m, i in idx.items():
            v = to_number(s.get(m))
            if math.isnan(v):
                v = last[i]
            prev = last[i]
            if not math.isnan(v) and not math.isnan(prev):
                d = v - prev
                delta[i] = d
                slope[i] = d if math.isnan(slope[i]) else slope[i] + slope_alpha * (d - slope[i])
            last[i] = v
        for j, f in enumerate(features):
            i = idx[f["metric"]]
            tr = f["transform"]
            out[t, j] = last[i] if tr == "level" else slope[i] if tr == "slope" else delta[i]
    return out


@dataclass
class Baseline:
    mean: np.ndarray
    scale: np.ndarray


# the largest float32: the runtime keeps baselines as float32
F32_MAX = float(np.finfo(np.float32).max)

def calibrate(rows: np.ndarray, card: dict) -> Baseline:
    """
    Per-feature mean and population std over the calibration rows (NaN skipped), with the card's floors; a feature
    the device never showed in them gets an infinite scale (standardised to 0: judged without it) unless the card
    marks it typeNormal (then the type's mean and scale), as diagnosis/model/baseline.ts finishCalibration does; so
    does one whose mean or spread a glitch took past float32. No calibration rows at all: the type's mean and scale.
    """
    type_mean = np.asarray(card["typeMean"], dtype=np.float64)
    type_scale = np.asarray(card["typeScale"], dtype=np.float64)
    min_scale = np.asarray(card["minScale"], dtype=np.float64)
    if rows.shape[0] == 0:
        return Baseline(type_mean.copy(), type_scale.copy())
    mean = type_mean.copy()
    scale = type_scale.copy()
    for j in range(rows.shape[1]):
        col = rows[:, j]
        col = col[~np.isnan(col)]
        if col.size == 0 and not card["features"][j].get("typeNormal"):
            scale[j] = math.inf
        if col.size >= 1:
            mean[j] = col.mean()
        if col.size >= 2:
            scale[j] = max(math.sqrt(((col - col.mean()) ** 2).mean()), min_scale[j])
        # past float32 (one glitch of 1e42): no normal of its own either, as finishCalibration
        if not abs(mean[j]) <= F32_MAX or (col.size >= 2 and not scale[j] <= F32_MAX):
            mean[j], scale[j] = 0.0, math.inf
    return Baseline(mean, scale)


@dataclass
class DeviceStream:
    """What the reference scorer returns for one device: rows, per-sample status and outputs."""
    features: np.ndarray
    baseline: Baseline | None = None
    scored_from: int = 0
    score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    smoothed: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contrib: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    # with the card's deviceThreshold: the highest smoothed score of the calibration's held-back samples (NaN: none)
    held_max: float = NAN

    def threshold(self, card_threshold: float, card: dict) -> float:
        """This device's alarm threshold (device_threshold)."""
        return device_threshold(card_threshold, card.get("deviceThreshold"), self.held_max)


def held_back_samples(card: dict, n_cal: int) -> int:
    """How many of the last calibration samples are scored to learn the device's own score level (0: none)."""
    dt = card.get("deviceThreshold")
    return int(dt["heldBackSamples"]) if dt and n_cal >= 2 * int(dt["heldBackSamples"]) else 0


def device_threshold(card_threshold: float, dt: dict | None, held_max: float) -> float:
    """
    A device's alarm threshold: the card's, lowered to margin x the highest smoothed score its held-back
    calibration samples reached when that is less (a device quieter than the type's normal is judged tighter).
    """
    if not dt or math.isnan(held_max) or held_max <= 0:
        return card_threshold
    return min(card_threshold, float(dt["margin"]) * held_max)


def clear_ratio(card: dict | None) -> float:
    """The card's alarmClearRatio: an alarm, once on, holds until the smoothed score falls to this x the threshold (1: no hysteresis)."""
    return float(card.get("alarmClearRatio", 1.0)) if card else 1.0


def alarms(smoothed: np.ndarray, threshold: float, clear: float = 1.0) -> np.ndarray:
    """
    Decisions as the runtime takes them, from the end of calibration (alarm off): its float32 smoothed score compared
    in float64 with the threshold to raise an alarm, and, once raised, with clear x threshold (float64) to hold it.
    """
    s = smoothed.astype(np.float64)
    if clear >= 1.0:
        return s > threshold
    hold = clear * threshold
    out = np.zeros(s.shape[0], dtype=bool)
    on = False
    for i in range(s.shape[0]):
        on = bool(s[i] > hold) if on else bool(s[i] > threshold)
        out[i] = on
    return out


def smooth(score: np.ndarray, alpha: float) -> np.ndarray:
    """The graph's EWMA from prev = 0, one sample at a time in float32 as the runtime carries it."""
    a = np.float32(alpha)
    out = np.zeros_like(score)
    prev = np.float32(0.0)
    for t in range(score.shape[0]):
        prev = np.float32(a * score[t] + (np.float32(1.0) - a) * prev)
        out[t] = prev
    return out


def model_inputs(rows: np.ndarray, base: Baseline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, mu, sigma as the scorer feeds them: unknown features sit at the device mean (z = 0)."""
    # unknown features, and those left out of the device's score (infinite scale), sit at the device mean
    x = np.where(np.isnan(rows) | np.isinf(base.scale)[None, :], base.mean[None, :], rows)
    mu = np.broadcast_to(base.mean, rows.shape)
    sigma = np.broadcast_to(base.scale, rows.shape)
    return x.astype(np.float32), np.ascontiguousarray(mu, dtype=np.float32), np.ascontiguousarray(sigma, dtype=np.float32)


def score_device(samples: list[dict], card: dict, run, calibration_samples: int | None = None) -> DeviceStream:
    """
    Streams one device's samples through calibration then scoring. `run(x, mu, sigma, prev)`
    evaluates the anomaly graph (onnxruntime or numpy); the EWMA state is carried
    one sample at a time, as the runtime does.
    """
    n_cal = card["calibrationSamples"] if calibration_samples is None else calibration_samples
    rows = compute_features(samples, card["features"], card["slopeAlpha"])
    n_cal = min(n_cal, len(samples))
    base = calibrate(rows[:n_cal], card)
    rest = rows[n_cal:]
    st = DeviceStream(features=rows, baseline=base, scored_from=n_cal)
    k = held_back_samples(card, n_cal) if len(samples) > n_cal else 0
    if k:
        # the calibration's last k samples judged against a baseline of the ones before them: how high this
        # device's own normal scores (the runtime does the same while it calibrates)
        x, mu, sigma = model_inputs(rows[n_cal - k:n_cal], calibrate(rows[:n_cal - k], card))
        held, _, _ = run(x, mu, sigma, np.zeros(k, dtype=np.float32))
        st.held_max = float(smooth(held, card["smoothingAlpha"]).max())
    if rest.shape[0] == 0:
        return st
    x, mu, sigma = model_inputs(rest, base)
    # The graph's EWMA is elementwise, so the whole stream can go in one run
    # per step of the recurrence: score all rows first with prev = 0, then fold.
    score, _, contrib = run(x, mu, sigma, np.zeros(rest.shape[0], dtype=np.float32))
    st.score, st.smoothed, st.contrib = score, smooth(score, card["smoothingAlpha"]), contrib
    return st
