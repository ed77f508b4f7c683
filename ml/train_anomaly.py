"""
Bring your own machine: learns a type's anomaly model from a CSV of normal
operation, exports ONNX + model card (npm run model:train wraps this).

  python3 ml/train_anomaly.py --type-json type.json --csv normal.csv --out-dir out/ \
      [--time-column ts] [--separator ';'] [--device-column id] [--calibration-samples N] \
      [--target-far 0.01] [--threshold-margin 1.0] [--holdout 0.25] [--map col=metric,…] \
      [--smoothing-alpha 0.3] [--wander-floor 0.25]

Each recording (one per CSV unless --device-column) is split in time: the
earlier 75 % to fit on, the last 25 % held back. A device in the field is
judged against a calibration period (its first N samples) taken wherever its
data begin, so the fit part is cut into pseudo-devices that start every N/2
samples: each calibrates on its first N samples and is judged on the rest of
the part, and the model learns how normal operation looks from all those
calibrations. The alarm threshold is the (1 - target-far) quantile of the
smoothed score of pseudo-devices judged only on the held-back part (starting
every N/4 samples); held-out metrics come from faults injected into it.
"""
from __future__ import annotations

import argparse
import codecs
import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleetdoc_ml import model as M  # noqa: E402
from fleetdoc_ml.features import NAN, NUMBER_RE, alarms, clear_ratio, device_threshold, score_device, to_number  # noqa: E402
from fleetdoc_ml.train import Device, evaluate, finish_card, fit_type  # noqa: E402

MIN_AFTER_CALIBRATION = 200
# Work bound: samples (x metrics read) that pseudo-devices may hold, for the fit and for the held-back tail.
FIT_BUDGET_CELLS = 16_000_000
HELD_BUDGET_CELLS = 4_000_000
MIN_CUTS = 24
WANDER_FLOOR = 0.25
SMOOTHING_ALPHA = 0.3
# A device's threshold is lowered to this many times the highest smoothed score of its calibration's last
# samples when that is less than the card's (deviceThreshold; 0 turns it off). It held SKAB's 33 experiments
# at F1 0.449 / 7.5 % false alarms against 0.406 / 6.3 % and changed no simulated bench seed but one (+0.024).
DEVICE_THRESHOLD_MARGIN = 2.0
# ... with at most this many held-back samples, and at most a quarter of the calibration
DEVICE_HELD_BACK = 100
# An alarm, once raised, holds until the smoothed score falls to this x the threshold (alarmClearRatio; 1 turns it
# off): a score hovering at the threshold does not flap. On SKAB's 33 experiments it moved per-sample F1 from 0.449
# to 0.459 (false alarms 7.5 -> 8.3 %) and the alarms begun in normal time from 48 to 20; on simulated bench seeds
# 1-3, F1 +0.003 to +0.007 with 17 -> 8 alarms begun in normal time on seed 2.
ALARM_CLEAR_RATIO = 0.8


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


# the formats of simulator/replay/timestamps.ts, rule for rule: training reads exactly the rows replay sends.
# JavaScript's whitespace (trim() and \s), which is not Python's str.strip() set
JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_WS = "[" + JS_SPACE + "]*"
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?" + _WS + r"(Z|[+-]\d{2}:?\d{2})?$", re.I | re.ASCII)
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,3}))?)?)?$", re.ASCII)
_SLASHED_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,3}))?)?" + _WS + r"(AM|PM)?)?$", re.I | re.ASCII)
_SLASHED_ISO = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$", re.ASCII)
_EPOCH = re.compile(r"^-?\d+(\.\d+)?$", re.ASCII)


def _build(y: int, mo: int, d: int, h: int, mi: int, sec: int, frac: str | None, offset_min: int) -> float | None:
    """
    Epoch ms as timestamps.ts build() gets them from Date.UTC: years 0-99 are 1900-1999, a second of 60 or a
    fraction that rounds up rolls over, and a time whose day or month then differs from the one written is none.
    """
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and sec <= 60):
        return None
    ms = math.floor(float(f"0.{frac}") * 1000 + 0.5) if frac else 0  # JavaScript's Math.round
    if y <= 99:
        y += 1900
    try:
        t = datetime(y, mo, 1, h, mi, tzinfo=timezone.utc) + timedelta(days=d - 1, seconds=sec, milliseconds=ms)
    except (ValueError, OverflowError):
        return None
    if t.day != d or t.month != mo:
        return None
    return math.floor(t.timestamp() * 1000 + 0.5) - offset_min * 60_000


def _zone_minutes(z: str) -> int:
    if z.upper() == "Z":
        return 0
    digits = z[1:].replace(":", "")
    return (-1 if z[0] == "-" else 1) * (int(digits[:2]) * 60 + int(digits[2:]))


def parse_time(v: str | None) -> float | None:
    """
    Epoch ms of the formats `npm run replay` reads (simulator/replay/timestamps.ts parseTimestamp, rule for rule);
    times without a zone as UTC. None when the cell holds no time we know.
    """
    v = (v or "").strip(JS_SPACE)
    if v == "":
        return None
    if _EPOCH.match(v):
        x = float(v)
        digits = len(v.lstrip("-").split(".")[0])  # epoch s, ms, µs or ns
        ms = x * 1000 if digits <= 11 else x if digits <= 14 else x / 1000 if digits <= 17 else x / 1e6
        return float(math.floor(ms + 0.5)) if math.isfinite(ms) else None
    m = _ISO.match(v)
    if m:
        g = m.groups()
        off = _zone_minutes(g[7]) if g[7] is not None else 0
        return _build(int(g[0]), int(g[1]), int(g[2]), int(g[3] or 0), int(g[4] or 0), int(g[5] or 0), g[6], off)
    m = _DOTTED.match(v)
    if m:
        g = m.groups()
        return _build(int(g[2]), int(g[1]), int(g[0]), int(g[3] or 0), int(g[4] or 0), int(g[5] or 0), g[6], 0)
    m = _SLASHED_US.match(v)
    if m:
        g = m.groups()
        h = int(g[3] or 0)
        if g[7]:
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if g[7].upper() == "PM" else 0)
        return _build(int(g[2]), int(g[0]), int(g[1]), h, int(g[4] or 0), int(g[5] or 0), g[6], 0)
    m = _SLASHED_ISO.match(v)
    if m:
        g = m.groups()
        return _build(int(g[0]), int(g[1]), int(g[2]), int(g[3] or 0), int(g[4] or 0), int(g[5] or 0), None, 0)
    return None


# the words `npm run replay` reads (simulator/replay/replay.ts MISSING, TRUE, FALSE)
MISSING_WORDS = {"", "na", "n/a", "nan", "null", "none", "-", "--", "?", "#n/a", "#na", "inf", "+inf", "-inf", "infinity", "-infinity"}
TRUE_WORDS = {"true", "1", "yes", "on", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "off", "n", "f"}


def cell_value(v: str, kind: str, sep: str) -> float:
    """
    A cell as `npm run replay` reads it for a metric of this kind (replay.ts parseValue); NaN where replay sends
    nothing: a missing-value word, or a cell it cannot read as that kind (a word in a number column, 0.5 for an
    integer, 5 for a boolean).
    """
    s = v.strip(JS_SPACE)
    low = s.lower()
    if low in MISSING_WORDS:
        return NAN
    text = number_text(s, sep)
    n = float(text) if NUMBER_RE.match(text) else NAN
    if kind == "boolean":
        if low in TRUE_WORDS or n == 1:
            return 1.0
        if low in FALSE_WORDS or n == 0:
            return 0.0
        return NAN
    if not math.isfinite(n) or (kind == "integer" and not n.is_integer()):
        return NAN
    return n


SEPARATORS = (",", ";", "\t", "|")


def detect_separator(header_line: str) -> str:
    """The separator that occurs most often outside quotes in the header line (simulator/replay/csv.ts)."""
    best, best_n = ",", 0
    for sep in SEPARATORS:
        n, quoted = 0, False
        for ch in header_line:
            if ch == '"':
                quoted = not quoted
            elif ch == sep and not quoted:
                n += 1
        if n > best_n:
            best, best_n = sep, n
    return best


def number_text(v: str, sep: str) -> str:
    """
    A number as a CSV writes it, as `npm run replay` reads it: where the separator is not a comma a comma may be
    the decimal mark; with both marks the last is the decimal one (1.234,5 or 1,234.5).
    """
    if sep == "," or "," not in v:
        return v
    if "." in v and v.rfind(".") > v.rfind(","):
        return re.sub(r"[\s,]", "", v)
    return re.sub(r"[\s.]", "", v).replace(",", ".", 1)


def separator_of(arg: str) -> str:
    """A --separator argument as the readers take it: `tab` or `\\t` for a tab, else the character itself."""
    return "\t" if arg in ("\\t", "tab") else arg


def split_map(text: str) -> list[str]:
    """--map's entries: split at commas outside double quotes (simulator/replay/csv.ts parseColumnMap)."""
    parts, cur, quoted, i = [], "", False, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and text[i + 1:i + 2] == '"':
                cur += '""'
                i += 1
            else:
                quoted = not quoted
                cur += ch
        elif ch == "," and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    return parts + [cur]


def parse_map(text: str | None, type_def: dict) -> dict[str, str]:
    """
    --map col=metric,… as `npm run replay` takes it: CSV column -> metric of the type; a column whose name holds a
    comma or a quote in double quotes, a quote in it doubled (`"Pressure [bar, g]"=pressureBar`).
    """
    names = {m["name"] for m in type_def["metrics"]}
    out: dict[str, str] = {}
    for part in split_map(text or ""):
        if not part.strip():
            continue
        col, eq, metric = part.rpartition("=")
        col = col.strip()
        if len(col) >= 2 and col.startswith('"') and col.endswith('"'):
            col = col[1:-1].replace('""', '"')
        if not eq or not col:
            fail(f"--map expects column=metric, got {part!r}")
        if metric.strip() not in names:
            fail(f"--map {part.strip()}: {type_def['name']} has no metric {metric.strip()!r}")
        out[col] = metric.strip()
    return out


def open_csv(path: str, sep: str | None) -> tuple[str, str, list[str], Iterator[list[str]]]:
    """
    A CSV as every reader here takes it, as `npm run replay` does: its text (a BOM dropped), its separator (detected
    from the header unless given), its trimmed column names, and the rows after the header.
    """
    with open(path, "rb") as f:
        raw = decode_csv(f.read(), path)
    # LF, CRLF or a lone CR (old Mac Excel) ends a record, as in replay
    file_sep = sep or detect_separator(re.split(r"\r\n|\r|\n", raw, maxsplit=1)[0])
    rows = csv.reader(io.StringIO(raw, newline=""), delimiter=file_sep)
    return raw, file_sep, [c.strip() for c in next(rows, [])], rows


# npm run replay decides the encoding on the first chunk of its file stream (64 KiB)
FIRST_CHUNK = 65536
# WHATWG's windows-1252 (Node's TextDecoder): the five bytes cp1252 leaves unassigned read as the same code points
codecs.register_error("whatwg1252", lambda e: (chr(e.object[e.start]), e.start + 1))


def decode_csv(data: bytes, path: str) -> str:
    """UTF-8 (a BOM dropped), or the Windows code page when the first chunk is not UTF-8, as replay (csv.ts) reads it."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data[:FIRST_CHUNK], final=False)
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="whatwg1252")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = len(re.findall(rb"\r\n|\r|\n", data[:e.start])) + 1
        fail(f"{path}: line {line}: the file began as UTF-8 and is not UTF-8 here; save it as UTF-8")
    return text[1:] if text.startswith("\ufeff") else text


def out_of_range(m: dict, x) -> bool:
    """
    Whether ingest refuses this value of metric m (ingest/validate.ts checkValue: min/max for numbers, a string's
    declared values — an empty list allows none — and its 256-character limit; booleans have no range).
    """
    if isinstance(x, str):
        return len(x) > 256 or (m.get("values") is not None and x not in m["values"])
    if m.get("kind") == "boolean":
        return False
    return (m.get("min") is not None and x < m["min"]) or (m.get("max") is not None and x > m["max"])


def range_text(m: dict) -> str:
    if m.get("kind") == "string":
        return "one of " + ", ".join(m.get("values") or [])
    return f"[{m.get('min', '-inf')}, {m.get('max', 'inf')}]"


def read_csv(paths: list[str], type_def: dict, sep: str | None, time_col: str | None, device_col: str | None,
             mapping: dict[str, str] | None = None, in_time_order: bool = True) -> tuple[list[Device], list[str], str]:
    """
    The recordings as devices' samples, read as `npm run replay` reads them: the separator detected from the header
    unless given, header names trimmed, decimal commas, a row without a readable time skipped (and counted).
    """
    defs = {m["name"]: m for m in type_def["metrics"]}
    kinds = {n: m.get("kind", "number") for n, m in defs.items()}
    by_device: dict[str, list[tuple[float, dict]]] = {}
    ignored: set[str] = set()
    empties = refused_total = 0
    h = hashlib.sha256()
    for path in paths:
        raw, file_sep, cols, rows_in = open_csv(path, sep)
        h.update(raw.encode())
        reader = ({c: (r[k] if k < len(r) else None) for k, c in enumerate(cols)} for r in rows_in if any(x.strip() for x in r))
        if time_col and time_col not in cols:
            fail(f"{path}: no time column {time_col!r} (columns: {', '.join(cols)})")
        if device_col and device_col not in cols:
            fail(f"{path}: no device column {device_col!r}")
        mapping = mapping or {}
        for c in mapping:
            if c not in cols:
                fail(f"{path}: --map names column {c!r}, which is not in the header")
        # a column maps to the metric --map gives it, or to the metric of its own name unless --map moved that one
        col_metric = {c: mapping.get(c, c) for c in cols if (c in mapping) or (c in kinds and c not in mapping.values())}
        metric_cols = list(col_metric)
        ignored |= {c for c in cols if c not in col_metric and c not in (time_col, device_col)}
        if not metric_cols:
            fail(f"{path}: no column matches a metric of type {type_def['name']} ({', '.join(kinds)})")
        no_time: list[tuple[int, str]] = []
        refused: dict[str, int] = {}
        empty = 0
        for i, row in enumerate(reader):
            s: dict = {}
            for c in metric_cols:
                m = col_metric[c]
                v = (row.get(c) or "").strip()
                if v == "":
                    continue
                if kinds[m] == "string":
                    if v.lower() not in MISSING_WORDS:  # replay sends no value for a missing-value word
                        s[m] = v
                    continue
                x = cell_value(v, kinds[m], file_sep)
                if not math.isnan(x):
                    s[m] = x
            t = parse_time(row.get(time_col)) if time_col else float(i)
            if t is None or math.isnan(t):
                no_time.append((i + 2, row.get(time_col) or ""))
                continue
            if not s:
                empty += 1  # nothing measured: replay sends no sample for such a row
                continue
            out = next((m for m, x in s.items() if out_of_range(defs[m], x)), None)
            if out is not None:
                # ingest refuses the whole sample (dead letter out_of_range): the runtime never sees this row
                refused[out] = refused.get(out, 0) + 1
                continue
            dev = (row.get(device_col) or "") if device_col else path  # one recording per file, even where two share a name
            by_device.setdefault(dev, []).append((t, s))
        empties += empty
        refused_total += sum(refused.values())
        if empty:
            print(f"warning: {path}: {empty} row{'s' if empty != 1 else ''} with a time but no readable metric value left out "
                  "(replay sends nothing for them)", file=sys.stderr)
        if refused:
            what = "; ".join(f"{m} {n} ({range_text(defs[m])})" for m, n in sorted(refused.items(), key=lambda kv: -kv[1]))
            n = sum(refused.values())
            print(f"warning: {path}: {n} row{'s' if n != 1 else ''} left out, as ingest would refuse them for a value outside "
                  f"the type's declared range: {what}. Widen the type's range (min/max, values) if these readings are real.", file=sys.stderr)
        if no_time:
            line, cell = no_time[0]
            print(f"warning: {path}: {len(no_time)} rows without a readable time in column {time_col!r} skipped "
                  f"(first: line {line}, {cell!r})", file=sys.stderr)
    if not by_device and refused_total:
        fail(f"every row was left out: {empties} with nothing measured, {refused_total} with a value ingest would refuse "
             "(see the warnings above)")
    if not by_device and not empties:  # (nothing measured anywhere: the check below says why)
        fail(f"no row with a readable time in column {time_col!r} (ISO 8601, DD.MM.YYYY, MM/DD/YYYY, YYYY/MM/DD or "
             "epoch s/ms/µs/ns)")
    numeric = {m for rows in by_device.values() for _, smp in rows for m, x in smp.items() if not isinstance(x, str)}
    if not numeric:
        fail("no number could be read in the metric columns: check --separator (decimal commas need a separator other "
             "than ',') and that the columns hold numbers")
    devices = []
    for dev, rows in by_device.items():
        if in_time_order:  # training learns the machine in time order; replay sends (and the runtime scores) file order
            rows.sort(key=lambda r: r[0])  # stable: equal times keep file order
        devices.append(Device(dev, [s for _, s in rows]))
    return devices, sorted(ignored), h.hexdigest()


def inject(samples: list[dict], cal: int, start: int, kind: str, metric: str, sigma: float, rng) -> tuple[list[dict], np.ndarray]:
    out = [dict(s) for s in samples]
    label = np.zeros(len(out), dtype=np.int8)
    onset = start + int(rng.integers(0, max(1, (len(out) - start) // 3)))
    label[onset:] = 1
    for t in range(onset, len(out)):
        if metric not in out[t]:
            continue
        k = min(1.0, (t - onset + 1) / 50)
        v = out[t][metric]
        if kind == "step-up":
            v += 4 * sigma
        elif kind == "step-down":
            v -= 4 * sigma
        elif kind == "drift":
            v += 5 * sigma * k
        elif kind == "noise":
            v += rng.normal(0, 2 * sigma)
        out[t][metric] = float(v)
    _ = cal
    return out, label


def _starts(start: int, end: int, n_cal: int, stride: int) -> range:
    last = end - n_cal - MIN_AFTER_CALIBRATION // 2  # the latest start that still leaves enough to judge
    return range(start, last + 1, stride)


def windows(d: Device, n_cal: int, start: int, end: int, stride: int, horizon: int | None = None) -> list[Device]:
    """
    Pseudo-devices cut from d.samples[start:end], one every `stride` samples: each calibrates on its first n_cal
    samples and is judged on the rest of the part (at most `horizon` samples of it), as a device that began its
    recording there would be.
    """
    return [Device(f"{d.id}@{s}", d.samples[s:end if horizon is None else min(end, s + n_cal + horizon)])
            for s in _starts(start, end, n_cal, stride)]


def thin(devs: list[Device], budget: int) -> list[Device]:
    """
    Every k-th pseudo-device when even plan_cuts' tightest plan is over the budget: each recording keeps at
    least one cut, so thousands of recordings (a --device-column CSV) can still add up to too much.
    """
    total = sum(len(d.samples) for d in devs)
    if total <= budget:
        return devs
    step = math.ceil(total / budget)
    return devs[::step]


def plan_cuts(parts: list[tuple[int, int]], n_cal: int, stride: int, budget: int,
              min_starts: int = MIN_CUTS) -> tuple[int, int | None]:
    """
    (stride, horizon) for cutting pseudo-devices from the parts [start, end) so that they hold at most `budget`
    samples in all: cuts every n_cal/2 samples over the whole rest of a part cost time and memory quadratic in
    its length (a 36,000-sample recording took a minute and 1.8 GB). Small data keep the given stride and no
    horizon. Larger data first space the cuts out, keeping at least `min_starts` of them (they sample where
    a calibration may begin), then judge each on fewer samples (down to MIN_AFTER_CALIBRATION).
    """
    def total(st: int, h: int | None) -> int:
        cap = math.inf if h is None else n_cal + h
        return int(sum(min(e - s, cap) for a, e in parts for s in _starts(a, e, n_cal, st)))

    def count(st: int) -> int:
        return sum(len(_starts(a, e, n_cal, st)) for a, e in parts)

    if total(stride, None) <= budget:
        return stride, None
    widest = max(stride, max(e - a for a, e in parts))
    lo, hi = stride, widest  # smallest stride that fits the budget, if one keeps min_starts cuts
    while lo < hi:
        mid = (lo + hi) // 2
        if total(mid, None) <= budget:
            hi = mid
        else:
            lo = mid + 1
    if total(lo, None) <= budget and count(lo) >= min(min_starts, count(stride)):
        return lo, None
    lo, hi = stride, widest  # widest stride that still keeps min_starts cuts
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(mid) >= min(min_starts, count(stride)):
            lo = mid
        else:
            hi = mid - 1
    st = lo
    h_lo, h_hi = MIN_AFTER_CALIBRATION, max(MIN_AFTER_CALIBRATION, max(e - a for a, e in parts))
    while h_lo < h_hi:  # longest horizon that fits
        mid = (h_lo + h_hi + 1) // 2
        if total(st, mid) <= budget:
            h_lo = mid
        else:
            h_hi = mid - 1
    return st, h_lo


def train(type_def: dict, devices: list[Device], n_cal: int, target_far: float = 0.01, threshold_margin: float = 1.0,
          holdout: float = 0.25, wander_floor: float = WANDER_FLOOR, smoothing_alpha: float = SMOOTHING_ALPHA,
          budget_cells: tuple[int, int] = (FIT_BUDGET_CELLS, HELD_BUDGET_CELLS),
          device_threshold_margin: float = DEVICE_THRESHOLD_MARGIN, alarm_clear_ratio: float = ALARM_CLEAR_RATIO) -> tuple[dict, bytes, dict]:
    """
    Fits, thresholds and checks a type's anomaly model: (card, ONNX bytes, held-out metrics). budget_cells bounds
    the samples x metrics that the fit's and the held-back check's pseudo-devices hold (see plan_cuts).
    """
    name = type_def["name"]
    n_metrics = max(1, sum(1 for m in type_def["metrics"] if m.get("kind", "number") != "string"))
    fit_budget, held_budget = (max(1, c // n_metrics) for c in budget_cells)
    # fit on the earlier post-calibration part of each device, hold back its tail
    fit_devs, fit_lens = [], []
    for d in devices:
        post = len(d.samples) - n_cal
        fit_len = n_cal + max(MIN_AFTER_CALIBRATION // 2, int(post * (1 - holdout)))
        fit_lens.append(fit_len)
        fit_devs.append(Device(d.id, d.samples[:fit_len]))
    # A device is judged against a calibration taken wherever its recording begins: learn from many such starts.
    stride, horizon = plan_cuts([(0, len(d.samples)) for d in fit_devs], n_cal, max(1, n_cal // 2), fit_budget)
    plan = {"fitStride": stride, "fitHorizon": horizon}
    fit_devs = thin([w for d in fit_devs for w in windows(d, n_cal, 0, len(d.samples), stride, horizon)], fit_budget) or fit_devs
    plan["fitSamples"] = sum(len(d.samples) for d in fit_devs)
    card, params = fit_type(type_def, fit_devs, n_cal, wander_floor=wander_floor, smoothing_alpha=smoothing_alpha, recordings=devices)
    held_back = min(DEVICE_HELD_BACK, n_cal // 4)
    if device_threshold_margin > 0 and held_back >= 10:
        card["deviceThreshold"] = {"heldBackSamples": held_back, "margin": device_threshold_margin}
    if alarm_clear_ratio < 1:
        card["alarmClearRatio"] = alarm_clear_ratio
    blob = M.build_graph(params, len(card["features"]), card["clip"], card["smoothingAlpha"], f"{name}-anomaly").SerializeToString()
    run = M.ort_run(blob)

    held = []
    stride, horizon = plan_cuts([(max(0, fl - n_cal), len(d.samples)) for d, fl in zip(devices, fit_lens)], n_cal,
                                max(1, n_cal // 4), held_budget)
    plan.update(heldStride=stride, heldHorizon=horizon)
    tails = {id(d): windows(d, n_cal, max(0, fit_len - n_cal), len(d.samples), stride, horizon) for d, fit_len in zip(devices, fit_lens)}
    kept_tails = thin([w for ws in tails.values() for w in ws], held_budget)
    kept = {id(w) for w in kept_tails}
    plan["heldSamples"] = sum(len(w.samples) for w in kept_tails)
    for d, fit_len in zip(devices, fit_lens):
        tail = [w for w in tails[id(d)] if id(w) in kept]
        if tails[id(d)] and not tail:
            continue  # thinned out: other recordings' tails stand for it
        if tail:
            # fresh calibrations whose judged samples all lie in the held-back tail
            held += [(st.smoothed, st.held_max, 0) for st in (score_device(w.samples, card, run) for w in tail)]
        else:
            # judged from the tail on: the first fit_len - n_cal scores are the fit part's
            st = score_device(d.samples, card, run)
            held.append((st.smoothed, st.held_max, fit_len - n_cal))
    held_scores = np.concatenate([h[cut:] for h, _, cut in held])
    threshold = float(np.quantile(held_scores, 1 - target_far)) * threshold_margin
    card = finish_card(card, params, name, threshold)
    # how often normal operation alarms, each pseudo-device at its own threshold
    # (decided over the whole stream, as the runtime decides, and counted from the tail on: a held alarm carries over)
    far_normal = float(np.concatenate([alarms(h, device_threshold(threshold, card.get("deviceThreshold"), m), clear_ratio(card))[cut:]
                                       for h, m, cut in held]).mean())

    # held-out check: generic faults injected into the held-back tail
    rng = np.random.default_rng(0)
    numeric = [f["metric"] for f in card["features"] if f["transform"] == "level" and any(m["name"] == f["metric"] and m.get("kind", "number") in ("number", "integer") for m in type_def["metrics"])]
    tests, tails = [], []
    kinds = ["step-up", "step-down", "drift", "noise"] * 2
    # Each test is the whole recording while that fits the budget; else a calibration just before the tail
    # and as much of the tail as fits.
    whole = len(kinds) * sum(len(d.samples) for d in devices) <= held_budget
    judged = max(MIN_AFTER_CALIBRATION, held_budget // max(1, len(kinds) * len(devices)) - n_cal)
    for d, fit_len in zip(devices, fit_lens):
        a, b = (0, len(d.samples)) if whole else (max(0, fit_len - n_cal), min(len(d.samples), fit_len + judged))
        part = d.samples[a:b]
        for k, kind in enumerate(kinds):
            metric = numeric[(k * 7 + len(tests)) % len(numeric)] if numeric else None
            if metric is None:
                break
            vals = np.array([to_number(s.get(metric)) for s in part[:n_cal]])
            sigma = float(np.nanstd(vals)) or 1.0
            samples, label = inject(part, n_cal, fit_len - a, kind, metric, sigma, rng)
            tests.append(Device(f"{d.id}+{kind}:{metric}", samples, label, kind))
            tails.append(fit_len - a)
    streams = [score_device(t.samples, card, run) for t in tests]
    # judge only the held-back tail, which the model never saw (decided over the whole stream)
    held_out = evaluate(tests, streams, threshold, card, [tail_from - st.scored_from for tail_from, st in zip(tails, streams)]) if tests else {}

    card["pseudoDevices"] = plan
    return card, blob, {**held_out, "heldBackNormalFalseAlarmRate": round(far_normal, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--type-json", required=True)
    ap.add_argument("--csv", required=True, action="append")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--time-column")
    ap.add_argument("--separator", help="field separator (default: detected from the header among , ; tab |)")
    ap.add_argument("--device-column")
    ap.add_argument("--map", help="column=metric,… for columns not named like their metric")
    ap.add_argument("--calibration-samples", type=int)
    ap.add_argument("--target-far", type=float, default=0.01)
    ap.add_argument("--threshold-margin", type=float, default=1.0)
    ap.add_argument("--holdout", type=float, default=0.25)
    ap.add_argument("--smoothing-alpha", type=float, default=SMOOTHING_ALPHA)
    ap.add_argument("--wander-floor", type=float, default=WANDER_FLOOR)
    ap.add_argument("--device-threshold-margin", type=float, default=DEVICE_THRESHOLD_MARGIN,
                    help="lower a device's threshold to this x the highest score of its calibration's last samples (0: off)")
    ap.add_argument("--alarm-clear-ratio", type=float, default=ALARM_CLEAR_RATIO,
                    help="an alarm holds until the smoothed score falls to this x the threshold (1: off)")
    args = ap.parse_args()

    with open(args.type_json) as f:
        type_def = json.load(f)
    name = type_def["name"]
    sep = separator_of(args.separator) if args.separator else None
    devices, ignored, csv_hash = read_csv(args.csv, type_def, sep, args.time_column, args.device_column,
                                           parse_map(args.map, type_def))
    n_cal = args.calibration_samples if args.calibration_samples is not None else type_def.get("calibrationSamples", 500)
    if n_cal < 10:
        # each pseudo-device learns its normal from its first n_cal samples: fewer than 10 learn nothing
        fail(f"calibration of {n_cal} samples (the type's calibrationSamples unless --calibration-samples is given): "
             f"the model learns how far normal operation strays from a device's own calibration; give "
             f"--calibration-samples N (at least 10), or set the type's calibrationSamples")
    shortest = min(len(d.samples) for d in devices)
    if shortest < n_cal + MIN_AFTER_CALIBRATION:
        fail(f"a device has {shortest} samples; needs calibration ({n_cal}) + {MIN_AFTER_CALIBRATION} of normal operation "
             f"after it; give more data or a smaller --calibration-samples")

    if not 0 < args.smoothing_alpha <= 1:
        fail("--smoothing-alpha must be in (0, 1]")
    if args.wander_floor < 0:
        fail("--wander-floor must be >= 0")
    if args.device_threshold_margin < 0:
        fail("--device-threshold-margin must be >= 0")
    if not 0.5 <= args.alarm_clear_ratio <= 1:
        fail("--alarm-clear-ratio must be in [0.5, 1] (a lower one would latch alarms long after the score fell)")
    card, blob, held_out = train(type_def, devices, n_cal, args.target_far, args.threshold_margin, args.holdout,
                                 args.wander_floor, args.smoothing_alpha, device_threshold_margin=args.device_threshold_margin,
                                 alarm_clear_ratio=args.alarm_clear_ratio)
    # the same data trained with other options is another model: its id says so
    options = {"calibrationSamples": n_cal, "targetFar": args.target_far, "thresholdMargin": args.threshold_margin,
               "holdout": args.holdout, "smoothingAlpha": args.smoothing_alpha, "wanderFloor": args.wander_floor,
               "deviceThresholdMargin": args.device_threshold_margin, "alarmClearRatio": args.alarm_clear_ratio,
               "timeColumn": args.time_column, "deviceColumn": args.device_column, "map": args.map,
               "separator": args.separator,
               "typeSha256": hashlib.sha256(json.dumps(type_def, sort_keys=True).encode()).hexdigest()}
    model_hash = hashlib.sha256((csv_hash + json.dumps(options, sort_keys=True)).encode()).hexdigest()
    card.update({
        "schemaVersion": 1,
        "modelId": f"{name}@{model_hash[:12]}",
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "training": {
            "source": "csv of normal operation",
            "files": [os.path.basename(p) for p in args.csv],
            "devices": len(devices),
            "samples": sum(len(d.samples) for d in devices),
            "dataSha256": csv_hash,
            "options": options,
            "ignoredColumns": ignored,
            "thresholdRule": f"quantile {1 - args.target_far} of the smoothed score on the held-back last {args.holdout:.0%} of normal operation, x{args.threshold_margin}",
        },
        "heldOut": {**held_out,
                    "note": "injected steps, drifts and noise (4-5 std of the metric) in the held-back tail; per-sample decisions"},
        "files": {"anomaly": f"{name}.anomaly.onnx"},
    })
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, f"{name}.anomaly.onnx"), "wb") as f:
        f.write(blob)
    with open(os.path.join(args.out_dir, f"{name}.card.json"), "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps({"type": name, "modelId": card["modelId"], "features": len(card["features"]), "threshold": card["threshold"],
                      "calibrationSamples": n_cal, "heldOut": card["heldOut"], "outDir": args.out_dir}))


if __name__ == "__main__":
    main()
