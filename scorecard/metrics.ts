/**
 * Matching ground truth against diagnoses, and the scorecard's figures.
 * Pure: no I/O, exact arithmetic on the inputs, so tests pin every number.
 *
 * Matching rules:
 * - A diagnosis matches a ground-truth fault when device and fault code are
 *   the same and it was raised in [onset, end], end = fixedAt, else the end of
 *   the run, plus `graceMs` (windows close after the samples that fill them).
 * - A coded diagnosis that matches no fault is a false diagnosis.
 * - `anomaly` (model-only, no fault code) diagnoses never enter per-fault
 *   precision. One raised while any fault is active on its device is
 *   "explained": not false; with `anomalyCountsForRecall` it also detects
 *   every fault active on that device then. One raised on a device with no
 *   active fault is a false diagnosis (overall only).
 * - Codes outside the fault catalogue (e.g. `offline`: connectivity, which
 *   the simulator injects as offline spells, not as faults) are not scored;
 *   they are counted under `ignored`.
 */
export const ANOMALY = 'anomaly';

export interface TruthFault {
  device: string;
  deviceType: string;
  faultCode: string;
  onset: string;
  functionalFailure: string;
  fixedAt: string | null;
}

export interface ScoredDiagnosis {
  id?: string;
  deviceId: string;
  fault: string;
  raisedAt: string;
}

export interface ScoreInput {
  truth: readonly TruthFault[];
  diagnoses: readonly ScoredDiagnosis[];
  /** Fault codes that are scored (the catalogue); each gets a row even without faults or diagnoses. */
  faultCodes: readonly string[];
  runStartTs: number;
  runEndTs: number;
  /** Devices in the run, faulty and fault-free (device-days = devices × run days). */
  devices: number;
  graceMs: number;
  anomalyCountsForRecall?: boolean;
}

export interface FaultScore {
  faults: number;
  detected: number;
  diagnoses: number;
  trueDiagnoses: number;
  falseDiagnoses: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  falsePer1000DeviceDays: number;
  /** Hours from onset to the first matching diagnosis. */
  detectionDelayMedianHours: number | null;
  detectionDelayP90Hours: number | null;
  /** Hours from the first matching diagnosis to functional failure (negative: detected after it). */
  leadTimeMedianHours: number | null;
  leadTimeP10Hours: number | null;
  /** Missed faults that reached functional failure before their fix or the run's end: failures nobody was warned of. */
  missedFailed: number;
  /**
   * Recall over the faults whose outcome the run saw: caught, or reached functional failure unseen. A fault still
   * developing, not yet caught, when scoring stopped is left out (a secondary figure; `recall` counts it as missed).
   */
  recallCaughtOrFailed: number | null;
}

/** A fault no diagnosis matched, and how far it had gone from onset to functional failure when it stopped being scored. */
export interface MissedFault {
  device: string;
  faultCode: string;
  onset: string;
  functionalFailure: string;
  /** Share of onset → functional failure elapsed at the fix or the run's end (1 = it failed unseen). */
  developed: number;
  /** The device's other faults (a second fault can mask or mimic this one). */
  otherFaults: string[];
}

export interface Scorecard {
  deviceDays: number;
  graceHours: number;
  anomalyCountsForRecall: boolean;
  overall: FaultScore & { anomalyDiagnoses: number; anomalyFalse: number };
  byFault: Record<string, FaultScore>;
  ignored: Record<string, number>;
  /** Every missed fault, least developed first. */
  misses: MissedFault[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Linear-interpolated quantile (q in [0, 1]) of a non-empty list. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

function ratio(a: number, b: number): number | null {
  return b === 0 ? null : a / b;
}

function f1Of(p: number | null, r: number | null): number | null {
  if (p === null || r === null) return null;
  return p + r === 0 ? 0 : (2 * p * r) / (p + r);
}

interface Interval {
  fault: TruthFault;
  from: number;
  to: number;
  /** The fix or the run's end, whichever came first. */
  end: number;
  failure: number;
  firstDetection: number | null;
}

/** Whether the fault reached functional failure before it stopped being scored (fix or end of the run). */
function failedBy(iv: Interval): boolean {
  return iv.failure <= iv.end;
}

function developed(iv: Interval): number {
  return failedBy(iv) ? 1 : Math.min(1, Math.max(0, (iv.end - iv.from) / (iv.failure - iv.from)));
}

function score(ivs: Interval[], diagnoses: number, trueDiagnoses: number, deviceDays: number): FaultScore {
  const detected = ivs.filter((i) => i.firstDetection !== null);
  const delays = detected.map((i) => (i.firstDetection! - i.from) / HOUR);
  const leads = detected.map((i) => (i.failure - i.firstDetection!) / HOUR);
  const precision = ratio(trueDiagnoses, diagnoses);
  const recall = ratio(detected.length, ivs.length);
  const falseDiagnoses = diagnoses - trueDiagnoses;
  return {
    faults: ivs.length,
    detected: detected.length,
    diagnoses,
    trueDiagnoses,
    falseDiagnoses,
    precision,
    recall,
    f1: f1Of(precision, recall),
    falsePer1000DeviceDays: deviceDays > 0 ? (1000 * falseDiagnoses) / deviceDays : 0,
    detectionDelayMedianHours: quantile(delays, 0.5),
    detectionDelayP90Hours: quantile(delays, 0.9),
    leadTimeMedianHours: quantile(leads, 0.5),
    leadTimeP10Hours: quantile(leads, 0.1),
    missedFailed: ivs.filter((i) => i.firstDetection === null && failedBy(i)).length,
    recallCaughtOrFailed: ratio(detected.length, ivs.filter((i) => i.firstDetection !== null || failedBy(i)).length),
  };
}

export function computeScorecard(input: ScoreInput): Scorecard {
  const deviceDays = (input.devices * (input.runEndTs - input.runStartTs)) / DAY;
  const codes = new Set(input.faultCodes);
  const byDevice = new Map<string, Interval[]>();
  const all: Interval[] = [];
  for (const f of input.truth) {
    const from = Date.parse(f.onset);
    const end = f.fixedAt !== null ? Math.min(Date.parse(f.fixedAt), input.runEndTs) : input.runEndTs;
    const iv: Interval = { fault: f, from, to: end + input.graceMs, end, failure: Date.parse(f.functionalFailure), firstDetection: null };
    all.push(iv);
    codes.add(f.faultCode);
    let list = byDevice.get(f.device);
    if (!list) byDevice.set(f.device, (list = []));
    list.push(iv);
  }
  const diag = new Map<string, { n: number; ok: number }>([...codes].map((c) => [c, { n: 0, ok: 0 }]));
  const ignored: Record<string, number> = {};
  let anomalyDiagnoses = 0;
  let anomalyFalse = 0;
  const detect = (iv: Interval, at: number) => {
    if (iv.firstDetection === null || at < iv.firstDetection) iv.firstDetection = at;
  };
  for (const d of input.diagnoses) {
    const at = Date.parse(d.raisedAt);
    const active = (byDevice.get(d.deviceId) ?? []).filter((iv) => at >= iv.from && at <= iv.to);
    if (d.fault === ANOMALY) {
      anomalyDiagnoses++;
      if (active.length === 0) anomalyFalse++;
      else if (input.anomalyCountsForRecall) for (const iv of active) detect(iv, at);
      continue;
    }
    const c = diag.get(d.fault);
    if (!c) {
      ignored[d.fault] = (ignored[d.fault] ?? 0) + 1;
      continue;
    }
    c.n++;
    const hits = active.filter((iv) => iv.fault.faultCode === d.fault);
    if (hits.length > 0) c.ok++;
    for (const iv of hits) detect(iv, at);
  }
  const byFault: Record<string, FaultScore> = {};
  let n = 0;
  let ok = 0;
  for (const code of [...codes].sort()) {
    const c = diag.get(code)!;
    n += c.n;
    ok += c.ok;
    byFault[code] = score(all.filter((iv) => iv.fault.faultCode === code), c.n, c.ok, deviceDays);
  }
  const overall = score(all, n, ok, deviceDays);
  // the false rate counts every false alarm a service team would see, model-only ones too
  overall.falseDiagnoses += anomalyFalse;
  overall.falsePer1000DeviceDays = deviceDays > 0 ? (1000 * overall.falseDiagnoses) / deviceDays : 0;
  return {
    deviceDays,
    graceHours: input.graceMs / HOUR,
    anomalyCountsForRecall: input.anomalyCountsForRecall ?? false,
    overall: { ...overall, anomalyDiagnoses, anomalyFalse },
    byFault,
    ignored,
    misses: all
      .filter((iv) => iv.firstDetection === null)
      .map((iv) => ({
        device: iv.fault.device,
        faultCode: iv.fault.faultCode,
        onset: iv.fault.onset,
        functionalFailure: iv.fault.functionalFailure,
        developed: developed(iv),
        otherFaults: (byDevice.get(iv.fault.device) ?? []).filter((o) => o !== iv).map((o) => o.fault.faultCode),
      }))
      .sort((a, b) => a.developed - b.developed || a.device.localeCompare(b.device)),
  };
}
