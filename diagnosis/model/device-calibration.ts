/**
 * One device's state under an anomaly model: its feature state, its
 * calibration (the device's own normal) with the held-back part that sets its
 * own threshold (the card's deviceThreshold), and the bytes a checkpoint
 * keeps of it. The scorer (scorer.ts) owns the devices and runs the model;
 * ml/fleetdoc_ml/features.py score_device is the reference it must match.
 */
import { finishCalibration, newCalibration, updateCalibration, type Baseline, type Calibration } from './baseline.ts';
import { newFeatureState } from './features.ts';
import type { LoadedModel } from './registry.ts';

/**
 * One device: a single Float64Array holds its feature state (last value and
 * slope per metric, 2 × M), then its baseline mean and scale (F each, float32
 * values), so a calibrated device costs one small allocation.
 */
export interface ModelDeviceState {
  key: string;
  seen: number;
  buf: Float64Array;
  /** Offset of the baseline in buf (= 2 × M). */
  at: number;
  cal: Calibration | null;
  smoothed: number;
  /** With the card's deviceThreshold: the highest smoothed score of the calibration's held-back samples so far (NaN: none yet). */
  heldMax: number;
  /** This device's alarm threshold once calibrated (the card's, or lower: see deviceThreshold). */
  threshold: number;
  /** Whether its last scored sample was an alarm (with the card's alarmClearRatio, an alarm holds below the threshold). */
  alarmOn: boolean;
  /** Event time of the sample that completed the calibration in this process (undefined: before it, or resumed calibrated). */
  calibratedTs?: number;
}

/** What the bytes of encodeState mean: raise it when that changes, so old checkpoints are not misread. */
export const STATE_FORMAT = 3;
/**
 * Numbers before the feature state in an encoded state: seen, smoothed, calibrating (0/1), heldMax, threshold,
 * alarmOn (0/1); formats 1 and 2 (before device thresholds, before alarm hysteresis) had the first three, five.
 */
const STATE_HEAD = 6;
const HEAD_OF_FORMAT = new Map<string, number>([['1', 3], ['2', 5], [String(STATE_FORMAT), STATE_HEAD]]);

/** A device's buffer for model m: feature state (last value and slope per metric), then the baseline at `at`. */
function bufferOf(m: LoadedModel): { at: number; length: number } {
  const at = m.plan.metrics.length * 2;
  return { at, length: at + 2 * m.plan.size };
}

function setBaseline(st: ModelDeviceState, base: Baseline): void {
  st.buf.set(base.mean, st.at);
  st.buf.set(base.scale, st.at + base.mean.length);
}

/** A device new to model m, calibrating over `needed` samples (none: the type's normal at once). */
export function newDeviceState(m: LoadedModel, needed: number): ModelDeviceState {
  const { at, length } = bufferOf(m);
  const buf = new Float64Array(length);
  buf.set(newFeatureState(m.plan));
  const st: ModelDeviceState = { key: m.key, seen: 0, buf, at, cal: needed > 0 ? newCalibration(m.plan.size) : null, smoothed: 0, heldMax: NaN, threshold: m.card.threshold, alarmOn: false };
  if (needed === 0) setBaseline(st, finishCalibration(null, m.card));
  return st;
}

/** How many of a calibration's last samples are scored to learn the device's own score level (0: none; ml features.held_back_samples). */
function heldBackOf(m: LoadedModel, needed: number): number {
  const k = m.card.deviceThreshold?.heldBackSamples ?? 0;
  return needed >= 2 * k ? k : 0;
}

/** The held-back part begins: the samples so far are its provisional baseline, and its smoothed score starts from zero. */
function startHeldBack(st: ModelDeviceState, m: LoadedModel): void {
  setBaseline(st, finishCalibration(st.cal, m.card));
  st.smoothed = 0;
}

/**
 * The calibration is complete: the baseline of all its samples, the smoothed score from zero, and the device's
 * threshold — the card's, lowered to margin × the highest score its held-back samples reached when that is
 * less (ml features.device_threshold).
 */
export function finish(st: ModelDeviceState, m: LoadedModel): void {
  setBaseline(st, finishCalibration(st.cal, m.card));
  st.cal = null;
  st.smoothed = 0;
  st.alarmOn = false;
  const dt = m.card.deviceThreshold;
  st.threshold = dt && st.heldMax > 0 ? Math.min(m.card.threshold, dt.margin * st.heldMax) : m.card.threshold;
}

/** What a sample is to its device: scored, a held-back calibration sample (scored, decided as calibrating), the last of those, or plain calibration. */
export const SCORED = 0;
export const HELD_BACK = 1;
export const HELD_BACK_LAST = 2;
export const CALIBRATION = 3;
export type SampleRole = typeof SCORED | typeof HELD_BACK | typeof HELD_BACK_LAST | typeof CALIBRATION;

/**
 * Takes a sample's feature row into the device's calibration while it lasts and says what the sample is. The
 * last held-back sample leaves the calibration to be finished once it is scored (afterHeldBack).
 */
export function calibrate(st: ModelDeviceState, m: LoadedModel, row: Float64Array, needed: number, ts: number): SampleRole {
  if (st.seen >= needed) return SCORED;
  st.seen++;
  updateCalibration(st.cal as Calibration, row, m.plan.size);
  const k = heldBackOf(m, needed);
  // with a held-back part, the samples before it set a provisional baseline to judge it against
  if (k > 0 && st.seen === needed - k) startHeldBack(st, m);
  if (st.seen === needed) st.calibratedTs = ts;
  if (k > 0 && st.seen > needed - k) return st.seen === needed ? HELD_BACK_LAST : HELD_BACK;
  if (st.seen === needed) finish(st, m);
  return CALIBRATION;
}

/** A held-back sample has its smoothed score (st.smoothed): it raises the device's held-back maximum, and the last completes the calibration. */
export function afterHeldBack(st: ModelDeviceState, m: LoadedModel, role: SampleRole): void {
  if (!(st.smoothed <= st.heldMax)) st.heldMax = st.smoothed;
  if (role === HELD_BACK_LAST) finish(st, m);
}

/**
 * A scored sample's decision (ml features.alarms): an alarm is raised when the smoothed score exceeds the
 * device's threshold and, with the card's alarmClearRatio, holds while it exceeds that ratio × the threshold.
 */
export function decide(st: ModelDeviceState, m: LoadedModel): boolean {
  const clear = m.card.alarmClearRatio ?? 1;
  st.alarmOn = st.alarmOn && clear < 1 ? st.smoothed > clear * st.threshold : st.smoothed > st.threshold;
  return st.alarmOn;
}

/** The device as bytes (with its key) for a checkpoint: STATE_HEAD numbers, the feature state + baseline, then the calibration moments. */
export function encodeState(st: ModelDeviceState): { key: string; state: Uint8Array } {
  const cal = st.cal?.moments;
  const out = new Float64Array(STATE_HEAD + st.buf.length + (cal?.length ?? 0));
  out[0] = st.seen;
  out[1] = st.smoothed;
  out[2] = cal ? 1 : 0;
  out[3] = st.heldMax;
  out[4] = st.threshold;
  out[5] = st.alarmOn ? 1 : 0;
  out.set(st.buf, STATE_HEAD);
  if (cal) out.set(cal, STATE_HEAD + st.buf.length);
  return { key: `${STATE_FORMAT}/${st.key}`, state: new Uint8Array(out.buffer) };
}

/**
 * A device back from encodeState's bytes (or format 1's, from before device thresholds) under model m, with a
 * calibration of `needed` samples now; null when the bytes are not of this model or do not fit it.
 */
export function decodeState(m: LoadedModel, key: string, state: Uint8Array, needed: number): ModelDeviceState | null {
  // format 1 (before device thresholds): three numbers ahead of the feature state, no held-back score;
  // format 2 (before alarm hysteresis): five, no alarm state
  const slash = key.indexOf('/');
  const format = key.slice(0, slash);
  const head = HEAD_OF_FORMAT.get(format);
  if (head === undefined || key.slice(slash + 1) !== m.key || state.byteLength % 8 !== 0) return null;
  const legacy = format === '1';
  const v = new Float64Array(state.byteLength / 8);
  new Uint8Array(v.buffer).set(state);
  const { at, length: bufLen } = bufferOf(m);
  const calibrating = v[2] === 1;
  if (v.length !== head + bufLen + (calibrating ? 3 * m.plan.size : 0)) return null;
  const st: ModelDeviceState = {
    key: m.key,
    seen: v[0] as number,
    smoothed: v[1] as number,
    heldMax: legacy ? NaN : (v[3] as number),
    threshold: legacy ? m.card.threshold : (v[4] as number),
    buf: v.slice(head, head + bufLen),
    at,
    cal: calibrating ? { moments: v.slice(head + bufLen) } : null,
    alarmOn: false,
  };
  // before format 3 the alarm was the score above the threshold, with no hysteresis to remember
  st.alarmOn = !calibrating && (head > 5 ? v[5] === 1 : st.smoothed > st.threshold);
  // the calibration length may have been configured otherwise since: a finished one stays finished
  const k = heldBackOf(m, needed);
  if (!st.cal) st.seen = Math.max(st.seen, needed);
  else if (legacy && k > 0 && st.seen > needed - k) {
    // saved inside the held-back part by a version without it: part of its scores are lost, so a threshold
    // from the rest would be too low; it keeps the card's (a baseline from the samples so far, to score against)
    st.heldMax = Infinity;
    startHeldBack(st, m);
    if (st.seen >= needed) finish(st, m);
  } else if (st.seen >= needed) finish(st, m);
  // at (or, with a shorter calibration configured since, past) the provisional baseline's point without it
  else if (k > 0 && st.seen >= needed - k && Number.isNaN(st.heldMax)) startHeldBack(st, m);
  return st;
}
