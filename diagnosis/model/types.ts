/**
 * The contract between the diagnosis engine (diagnosis/) and the model layer
 * (diagnosis/model/: per-device baselines, features, ONNX scoring).
 *
 * The engine hands over every accepted sample; the model layer keeps each
 * device's calibration/baseline state itself, scores in micro-batches across
 * devices (one onnxruntime run() per model for many devices) and returns one
 * result per input, in input order.
 */
import type { MetricValue } from '../../core/domain/telemetry.ts';

export interface ScoreInput {
  deviceId: string;
  /** Device type name; selects the model. */
  type: string;
  /** Event time, epoch ms. */
  ts: number;
  metrics: Readonly<Record<string, MetricValue>>;
}

export interface FeatureContribution {
  feature: string;
  /** Share of the anomaly score (or signed deviation) this feature explains. */
  contribution: number;
}

export interface AnomalyResult {
  /** How far this sample is from the device's own normal; higher = more anomalous. */
  anomalyScore: number;
  /** 0/1 decision after smoothing against the device's threshold (held below it with the card's alarmClearRatio). */
  anomaly: boolean;
  threshold: number;
  topFeatures: FeatureContribution[];
  /** Known-fault classifier output when the type has one: fault code → probability. */
  faultProbabilities?: Record<string, number>;
}

/**
 * An alarm raised or renewed by this sample: its score above the threshold, not an alarm held below it. Only these
 * are evidence for a diagnosis and are asked which known fault they look like.
 */
export function freshAlarm(r: AnomalyResult): boolean {
  return r.anomaly && r.anomalyScore > r.threshold;
}

export type ScoreOutput =
  | { status: 'scored'; result: AnomalyResult }
  /** The device is still in its calibration period (learning its normal). */
  | { status: 'calibrating'; samplesSeen: number; samplesNeeded: number }
  /** No model is registered for this device type. */
  | { status: 'no-model' };

export interface ModelScorer {
  scoreBatch(inputs: readonly ScoreInput[]): Promise<ScoreOutput[]>;
  hasModel(type: string): boolean;
  /**
   * Checks the model registry when a check is due (or waits for one under way), so that hasModel()
   * then knows a model registered a moment ago: the first samples of its devices are scored too.
   */
  refresh?(): Promise<void>;
  /**
   * A device's calibration and feature state as a checkpoint, keyed by the model it belongs to
   * (null when the device has none). importState resumes it, only into the same model.
   */
  exportState?(deviceId: string): { key: string; state: Uint8Array } | null;
  /** `replace`: over a device that runs already (only when the checkpoint fits). */
  importState?(deviceId: string, type: string, key: string, state: Uint8Array, replace?: boolean): boolean;
  /**
   * Whether the device was still learning its normal under its type's model at event time ts (true for a
   * device not seen yet; a resumed calibrated device counts as calibrated at any time).
   */
  calibrating?(deviceId: string, type: string, ts: number): boolean;
  /** Forgets a device's baseline (e.g. after a repair, so it recalibrates). */
  resetDevice(deviceId: string): void;
  /** Drops a device's held alarm (its model diagnosis was resolved): the next alarm needs the threshold again. */
  clearAlarm?(deviceId: string): void;
  /** Loads or replaces models (after `npm run model:train` registered one) without restart. */
  reload(): Promise<void>;
  close(): Promise<void>;
}
