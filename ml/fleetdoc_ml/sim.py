"""
Training data from the simulator (simulator/, the TypeScript device models the
scorecard runs), exported by ml/export-sim.ts and labelled from its ground
truth: which faults a device develops, their onset and functional failure.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass

import numpy as np

from .train import Device

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A fault is "well developed" from this share of the way from onset to functional failure.
DEVELOPED = 0.5


@dataclass
class FleetSpec:
    """One simulated fleet: the arguments of ml/export-sim.ts."""
    seed: str
    devices: int
    duration: str
    interval: str
    fault_rate: float
    earliest_onset: float | None = None
    latest_onset: float | None = None
    fault_plan: dict | None = None

    def describe(self) -> dict:
        d = {"seed": self.seed, "devices": self.devices, "duration": self.duration, "interval": self.interval, "faultRate": self.fault_rate}
        if self.earliest_onset is not None and self.fault_rate > 0:
            d["onsetShare"] = [self.earliest_onset, self.latest_onset]
        return d


def export(type_name: str, spec: FleetSpec, out: str) -> None:
    cmd = ["npx", "tsx", "ml/export-sim.ts", "--type", type_name, "--seed", spec.seed, "--devices", str(spec.devices),
           "--duration", spec.duration, "--interval", spec.interval, "--fault-rate", str(spec.fault_rate), "--out", out]
    if spec.earliest_onset is not None:
        cmd += ["--earliest-onset", str(spec.earliest_onset), "--latest-onset", str(spec.latest_onset)]
    if spec.fault_plan is not None:
        cmd += ["--fault-plan", json.dumps(spec.fault_plan)]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def catalogue_codes(type_name: str) -> list[str]:
    """The type's fault codes in the simulator's catalogue (simulator/faults/catalogue.ts)."""
    res = subprocess.run(["npx", "tsx", "ml/export-sim.ts", "--type", type_name, "--list-faults"], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def load(path: str) -> tuple[list[Device], str]:
    """Devices with per-sample labels, and the sha256 of the export file."""
    h = hashlib.sha256()
    devices = []
    with open(path, "rb") as f:
        for line in f:
            h.update(line)
            devices.append(labelled(json.loads(line)))
    return devices, h.hexdigest()


def simulate(type_name: str, spec: FleetSpec, work_dir: str) -> tuple[list[Device], str]:
    path = os.path.join(work_dir, f"{spec.seed}.jsonl")
    export(type_name, spec, path)
    return load(path)


def labelled(rec: dict) -> Device:
    """
    label: 1 from the first fault's onset on (nothing repairs a device in the
    export). cls: the fault code where exactly one fault has begun and it is
    well developed, "normal" before any onset, None otherwise (early stages,
    two faults at once): the classifier learns and is judged on those.
    """
    ts = np.asarray(rec["ts"], dtype=np.float64)
    faults = rec.get("faults") or ([{"code": rec["fault"], "onsetTs": rec["onsetTs"], "failureTs": rec["failureTs"]}] if rec.get("fault") else [])
    n = len(ts)
    active = np.zeros(n, dtype=np.int16)
    label = np.zeros(n, dtype=np.int8)
    cls = np.array(["normal"] * n, dtype=object)
    for f in faults:
        on = ts >= f["onsetTs"]
        active += on
        label |= on.astype(np.int8)
    for f in faults:
        on = ts >= f["onsetTs"]
        developed = ts >= f["onsetTs"] + DEVELOPED * (f["failureTs"] - f["onsetTs"])
        cls[on] = None
        cls[developed & (active == 1)] = f["code"]
    first = int(np.argmax(label)) if label.any() else n
    return Device(rec["id"], rec["samples"], label, faults[0]["code"] if faults else None,
                  normal_until=first, cls=cls, ts=ts, faults=faults)
