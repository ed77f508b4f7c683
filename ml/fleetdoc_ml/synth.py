"""
Synthetic fleets for a device type (from its JSON definition): correlated
sensors driven by shared latent factors (ambient temperature with a daily
cycle, demand, load state), a normal of its own per device (site offsets and
gains), slow benign drift, sensor noise, counters, occasional dropped metrics,
and labelled faults (steps, drifts, noise bursts, broken correlations).
"""
from __future__ import annotations

import numpy as np

# Named faults per shipped type: metric -> (effect, size in units of that
# metric's normal std on the device). Effects: step, drift (linear to size over
# `ramp` samples), noise (std multiplied by size), decouple (sensor stops
# following the process and sits at its normal mean).
FAULTS: dict[str, dict[str, dict[str, tuple[str, float]]]] = {
    "air-compressor": {
        "air-filter-clogged": {"airFilterDpMbar": ("drift", 7.0), "motorCurrentA": ("drift", -1.5)},
        "separator-clogged": {"separatorDpBar": ("drift", 6.0), "motorCurrentA": ("drift", 2.5), "dischargeTempC": ("drift", 1.5)},
        "cooler-fouled": {"oilTempC": ("drift", 5.0), "dischargeTempC": ("drift", 5.0)},
        "bearing-wear": {"vibrationRmsMmS": ("step", 5.0), "motorCurrentA": ("noise", 3.0)},
        "air-leak": {"dischargePressureBar": ("step", -4.0), "motorCurrentA": ("step", 1.5)},
        "temp-sensor-fault": {"oilTempC": ("decouple", 0.0), "dischargeTempC": ("noise", 4.0)},
    },
    "refrigerator": {
        "door-seal-leak": {"cabinetTempC": ("drift", 4.0), "compressorDutyPct": ("drift", 4.0)},
        "condenser-fouled": {"condenserTempC": ("drift", 5.0), "compressorCurrentA": ("drift", 3.0)},
        "refrigerant-low": {"evaporatorTempC": ("drift", 4.0), "freezerTempC": ("drift", 4.0), "compressorDutyPct": ("drift", 3.0)},
        "defrost-heater-failed": {"evaporatorTempC": ("step", -4.0), "freezerTempC": ("step", 3.0)},
    },
    "washing-machine": {
        "drain-pump-blocked": {"drainTimeS": ("step", 6.0), "waterLevelMm": ("step", 2.0)},
        "inlet-valve-clogged": {"fillTimeS": ("drift", 6.0)},
        "drum-bearing-worn": {"drumVibrationG": ("drift", 5.0), "motorCurrentA": ("noise", 3.0)},
        "heater-failed": {"heaterTempC": ("step", -5.0)},
    },
}


def is_counter(m: dict) -> bool:
    """A cumulative counter (run hours, cycles): non-negative, unbounded, never a level to compare."""
    return m.get("kind", "number") in ("number", "integer") and m.get("min") == 0 and m.get("max") is None


def model_metrics(type_def: dict) -> list[dict]:
    return [m for m in type_def["metrics"] if m.get("kind", "number") != "string"]


def _span(m: dict) -> tuple[float, float]:
    lo = m.get("min", 0.0)
    hi = m.get("max", lo + 100.0)
    return float(lo), float(hi)


def _ar1(rng, n, phi, sd):
    e = rng.normal(0, sd, n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + e[i]
        out[i] = acc
    return out


class TypeModel:
    """The type's 'physics': fixed loadings of each metric on the latent factors."""

    def __init__(self, type_def: dict, seed: int):
        self.type_def = type_def
        rng = np.random.default_rng(seed)
        self.metrics = type_def["metrics"]
        self.numeric = [m for m in self.metrics if m.get("kind", "number") in ("number", "integer") and not is_counter(m)]
        self.bools = [m for m in self.metrics if m.get("kind") == "boolean"]
        self.counters = [m for m in self.metrics if is_counter(m)]
        self.strings = [m for m in self.metrics if m.get("kind") == "string"]
        # latent: ambient, demand, load (state), and a slow thermal lag of load
        self.w = {m["name"]: rng.normal(0, 1, 4) * np.array([0.6, 0.8, 1.0, 0.7]) for m in self.numeric}
        self.noise = {m["name"]: rng.uniform(0.15, 0.35) for m in self.numeric}


def simulate_device(tm: TypeModel, n: int, seed: int, fault: tuple[str, int] | None = None,
                    ramp: int = 120, missing_rate: float = 0.01, dt_s: float = 60.0) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """One device: samples (dicts), epoch-ms timestamps, and the 0/1 fault label per sample."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    day = 24 * 3600 / dt_s
    ambient = np.sin(2 * np.pi * (t / day + rng.uniform())) + 0.3 * _ar1(rng, n, 0.995, 0.1)
    demand = _ar1(rng, n, 0.98, 0.2)
    duty = rng.uniform(0.4, 0.85)
    load = np.zeros(n)
    state = 1.0
    for i in range(n):
        p_switch = (1 - duty) * 0.15 if state else duty * 0.15
        if rng.uniform() < p_switch + 0.02 * demand[i] * (1 if not state else -1):
            state = 1.0 - state
        load[i] = state
    lag = np.zeros(n)
    for i in range(1, n):
        lag[i] = lag[i - 1] + 0.08 * (load[i] - lag[i - 1])
    latent = np.stack([ambient, demand, load - duty, lag - duty], axis=1)

    values: dict[str, np.ndarray] = {}
    stds: dict[str, float] = {}
    for m in tm.numeric:
        lo, hi = _span(m)
        span = hi - lo
        # each device its own normal: offset and gain differ between sites/units
        centre = lo + span * rng.uniform(0.3, 0.6)
        gain = span * 0.05 * rng.uniform(0.7, 1.3)
        sig = latent @ tm.w[m["name"]]
        noise = rng.normal(0, tm.noise[m["name"]], n)
        benign = np.linspace(0, rng.normal(0, 0.15), n)  # slow benign wear within normal
        v = centre + gain * (sig + noise + benign)
        values[m["name"]] = v
        stds[m["name"]] = float(np.std(v))

    label = np.zeros(n, dtype=np.int8)
    if fault is not None:
        name, onset = fault
        label[onset:] = 1
        effects = FAULTS[tm.type_def["name"]][name] if name in FAULTS.get(tm.type_def["name"], {}) else generic_fault(tm, name, seed)
        k = np.clip((t[onset:] - onset + 1) / ramp, 0, 1)
        for metric, (effect, size) in effects.items():
            if metric not in values:
                continue
            v = values[metric]
            s = stds[metric]
            if effect == "step":
                v[onset:] += size * s
            elif effect == "drift":
                v[onset:] += size * s * k
            elif effect == "noise":
                v[onset:] += rng.normal(0, (size - 1) * s * 0.5, n - onset)
            elif effect == "decouple":
                v[onset:] = v[:onset].mean() + rng.normal(0, 0.1 * s, n - onset)

    samples: list[dict] = [dict() for _ in range(n)]
    for m in tm.numeric:
        lo, hi = _span(m)
        v = np.clip(values[m["name"]], lo, hi)
        if m.get("kind") == "integer":
            v = np.round(v)
        for i in range(n):
            samples[i][m["name"]] = float(v[i])
    for j, m in enumerate(tm.bools):
        b = load if j == 0 else (rng.uniform(size=n) < 0.03 * (j + 1)).astype(float)
        for i in range(n):
            samples[i][m["name"]] = bool(b[i])
    cycles = np.cumsum(np.maximum(np.diff(load, prepend=load[0]), 0)) + rng.integers(0, 50000)
    hours0 = rng.uniform(100, 40000)
    for m in tm.counters:
        c = cycles if m.get("kind") == "integer" else hours0 + t * dt_s / 3600
        for i in range(n):
            samples[i][m["name"]] = float(c[i])
    for m in tm.strings:
        vals = m.get("values") or ["a"]
        for i in range(n):
            samples[i][m["name"]] = vals[(i // 10) % len(vals)]
    if missing_rate > 0:
        drop = rng.uniform(size=(n, len(tm.numeric))) < missing_rate
        for i, j in zip(*np.nonzero(drop)):
            samples[i].pop(tm.numeric[j]["name"], None)
    ts = 1_767_225_600_000 + (t * dt_s * 1000).astype(np.int64) + rng.integers(0, 10**9) // 1000 * 1000
    return samples, ts, label


GENERIC = ["step-up", "step-down", "drift-up", "noise-burst", "decouple", "pair-drift"]


def generic_fault(tm: TypeModel, name: str, seed: int) -> dict[str, tuple[str, float]]:
    """Faults for any type: which metric is hit is drawn from the seed."""
    rng = np.random.default_rng(seed + 7)
    names = [m["name"] for m in tm.numeric]
    a = names[rng.integers(len(names))]
    b = names[rng.integers(len(names))]
    return {
        "step-up": {a: ("step", 4.0)},
        "step-down": {a: ("step", -4.0)},
        "drift-up": {a: ("drift", 5.0)},
        "noise-burst": {a: ("noise", 5.0)},
        "decouple": {a: ("decouple", 0.0), b: ("step", 2.0)},
        "pair-drift": {a: ("drift", 3.0), b: ("drift", -3.0)},
    }[name]


def fault_names(type_name: str) -> list[str]:
    return list(FAULTS.get(type_name, {})) or GENERIC
