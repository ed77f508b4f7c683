"""
A water-circulation test bench (centrifugal pump, inlet and outlet valves, tank)
sampled once a second, for judging "bring your own machine" the way a user's
machine would be judged: train on one long recording of normal operation, then
replay short experiments, each its own device, whose first samples are normal
and which then go wrong in one of several ways.

Nothing here is fitted to the diagnosis pipeline: the physics is a few coupled
first-order processes with coloured noise, recording-to-recording differences
(water temperature, mains voltage, valve trim, sensor offsets) and slow drifts
in normal operation, so per-sample decisions are hard in the same ways as on a
real bench. Anomaly labels are ground truth by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = [
    {"name": "accel1Rms", "unit": "g", "kind": "number", "min": 0, "max": 5},
    {"name": "accel2Rms", "unit": "g", "kind": "number", "min": 0, "max": 5},
    {"name": "currentA", "unit": "A", "kind": "number", "min": 0, "max": 10},
    {"name": "pressureBar", "unit": "bar", "kind": "number", "min": -1, "max": 10},
    {"name": "temperatureC", "unit": "°C", "kind": "number", "min": -20, "max": 120},
    {"name": "thermocoupleC", "unit": "°C", "kind": "number", "min": -20, "max": 120},
    {"name": "voltageV", "unit": "V", "kind": "number", "min": 0, "max": 400},
    {"name": "flowLpm", "unit": "L/min", "kind": "number", "min": 0, "max": 200},
]

FAULTS = ["outlet-valve-closing", "inlet-valve-closing", "rotor-imbalance", "leak", "overheating", "cavitation", "sensor-drift"]


@dataclass
class Recording:
    name: str
    samples: list[dict]
    label: np.ndarray  # 0/1 per sample
    fault: str | None


def _ou(rng, n: int, tau: float, sigma: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process, unit time step: coloured noise with correlation time tau."""
    a = np.exp(-1.0 / tau)
    e = rng.normal(0, sigma * np.sqrt(1 - a * a), n)
    out = np.empty(n)
    x = rng.normal(0, sigma)
    for i in range(n):
        x = a * x + e[i]
        out[i] = x
    return out


def _ramp(n: int, start: int, length: int, end: int | None = None) -> np.ndarray:
    """0 before start, rising linearly to 1 over `length` samples, back to 0 from `end`."""
    k = np.clip((np.arange(n) - start + 1) / max(1, length), 0, 1)
    if end is not None:
        k[end:] = 0
    return k


def record(rng, n: int, name: str, fault: str | None = None, onset: int = 0, end: int | None = None, severity: float = 1.0) -> Recording:
    # recording-to-recording differences
    water0 = rng.uniform(18, 32)
    heat_rate = rng.uniform(0.4, 1.6) / 1000  # °C per second from pump work
    mains = rng.uniform(224, 236)
    trim = rng.uniform(0.92, 1.05)  # valve trim: how open "open" is
    speed = rng.uniform(0.97, 1.03)
    off = {m["name"]: 0.0 for m in METRICS}
    off.update(accel1Rms=rng.normal(0, 0.004), accel2Rms=rng.normal(0, 0.004), thermocoupleC=rng.normal(0, 0.4))

    t = np.arange(n, dtype=np.float64)
    k = _ramp(n, onset, int(rng.integers(5, 60)), end) * severity if fault else np.zeros(n)
    slow = _ramp(n, onset, max(1, (end or n) - onset), end) * severity if fault else np.zeros(n)

    v_out = trim * (1 + _ou(rng, n, 120, 0.01))
    v_in = np.ones(n)
    leak = np.zeros(n)
    imbalance = np.zeros(n)
    cav = np.zeros(n)
    extra_heat = np.zeros(n)
    if fault == "outlet-valve-closing":
        v_out = v_out * (1 - rng.uniform(0.15, 0.35) * k)
    elif fault == "inlet-valve-closing":
        v_in = 1 - rng.uniform(0.15, 0.35) * k
        cav = 0.4 * k
    elif fault == "rotor-imbalance":
        imbalance = rng.uniform(0.04, 0.10) * k
    elif fault == "leak":
        leak = rng.uniform(0.05, 0.15) * slow
    elif fault == "overheating":
        extra_heat = rng.uniform(4, 10) / 1000 * (k > 0)
    elif fault == "cavitation":
        cav = k

    s = speed * (1 + _ou(rng, n, 60, 0.004))
    opening = np.minimum(v_out, v_in)
    flow = 32 * s * np.sqrt(np.clip(opening, 0.05, None)) * (1 - 0.5 * leak) * (1 - 0.06 * cav) + _ou(rng, n, 5, 0.25) + rng.normal(0, 0.15, n)
    # head rises as the outlet closes, falls when the inlet starves or fluid leaks away
    pressure = (0.9 * s**2 * (1.15 - 0.15 * v_out / trim) * (1 - 0.4 * (1 - v_in)) * (1 - leak)
                + rng.normal(0, 0.012, n) * (1 + 2 * cav) + _ou(rng, n, 20, 0.006))
    heat = np.cumsum(heat_rate * (1 + 0.2 * _ou(rng, n, 300, 1.0)) + extra_heat)
    temp = water0 + heat + _ou(rng, n, 200, 0.05) + rng.normal(0, 0.02, n)
    thermo = np.empty(n)
    th = temp[0] + 1.5
    for i in range(n):
        th += (temp[i] + 1.5 + 0.02 * (flow[i] - 32) * -1 - th) / 40
        thermo[i] = th
    thermo += rng.normal(0, 0.05, n)
    volt = mains + _ou(rng, n, 300, 1.2) + rng.normal(0, 0.35, n)
    hydraulic = flow / 32 * (pressure / 0.9)
    current = (0.5 + 0.5 * hydraulic) * 2.4 * s * (230 / volt) * (1 + 0.15 * imbalance) + rng.normal(0, 0.012, n) + _ou(rng, n, 30, 0.008)
    vib_common = _ou(rng, n, 10, 0.004)
    turb = 0.004 * np.abs(flow - 32) / 32
    a1 = 0.21 * s**2 * (1 + imbalance + 0.08 * cav) + vib_common + turb + rng.standard_t(4, n) * 0.0035 * (1 + 1.5 * cav)
    a2 = 0.26 * s**2 * (1 + 0.6 * imbalance + 0.06 * cav) + 0.8 * vib_common + turb + rng.standard_t(4, n) * 0.004 * (1 + 1.5 * cav)
    if fault == "sensor-drift":
        thermo = thermo + rng.choice([-1, 1]) * rng.uniform(1.5, 3.0) * slow
    cols = {
        "accel1Rms": a1, "accel2Rms": a2, "currentA": current, "pressureBar": pressure,
        "temperatureC": temp, "thermocoupleC": thermo, "voltageV": volt, "flowLpm": flow,
    }
    samples = [{m: round(float(cols[m][i] + off[m]), 5) for m in cols} for i in range(n)]
    label = np.zeros(n, dtype=np.int8)
    if fault:
        label[onset:(end if end is not None else n)] = 1
    _ = t
    return Recording(name, samples, label, fault)


def bench(seed: int, experiments: int = 21, normal_len: int = 9000, scale: float = 1.0) -> tuple[Recording, list[Recording]]:
    """
    One long normal recording to train on, and `experiments` short faulty ones (3 of each fault); `scale`
    stretches every experiment (length, onset, recovery) for runs at size.
    """
    rng = np.random.default_rng(seed)
    normal = record(rng, normal_len, "anomaly-free")
    exps = []
    for i in range(experiments):
        fault = FAULTS[i % len(FAULTS)]
        n = int(rng.integers(1000, 1300) * scale)
        onset = int(rng.integers(420, 650) * scale)
        # about half recover before the end (the valve is reopened, the rotor balanced...)
        end = int(min(n, onset + rng.integers(250, 500) * scale)) if rng.random() < 0.5 else None
        exps.append(record(rng, n, f"exp-{i:02d}-{fault}", fault, onset, end, severity=float(rng.uniform(0.6, 1.2))))
    return normal, exps
