/**
 * A device's own normal: running mean and variance of each feature over its
 * calibration samples (Welford, so no sample buffer), then frozen as the
 * mean and scale the model standardises that device's features with.
 */
import type { ModelCard } from '../../core/domain/model-card.ts';

export interface Calibration {
  /** Per feature: count, mean, M2 (3 × F). */
  moments: Float64Array;
}

export function newCalibration(features: number): Calibration {
  return { moments: new Float64Array(features * 3) };
}

export function updateCalibration(cal: Calibration, row: Float64Array, features: number): void {
  const w = cal.moments;
  for (let j = 0; j < features; j++) {
    const x = row[j] as number;
    if (Number.isNaN(x)) continue;
    const n = (w[3 * j] as number) + 1;
    const mean = w[3 * j + 1] as number;
    const d = x - mean;
    const next = mean + d / n;
    w[3 * j] = n;
    w[3 * j + 1] = next;
    w[3 * j + 2] = (w[3 * j + 2] as number) + d * (x - next);
  }
}

export interface Baseline {
  mean: Float32Array;
  scale: Float32Array;
}

type Floors = Pick<ModelCard, 'typeMean' | 'typeScale' | 'minScale' | 'features'>;

/**
 * Mean and population std per feature, with the type's floor where it barely
 * varied (a constant metric in calibration must not turn noise into alarms).
 * A feature the device never showed during its calibration has no normal of
 * its own: its scale is infinite, so it standardises to 0 and the device is
 * judged without it (the type's mean would alarm for good on a machine whose
 * level differs) until it recalibrates — unless the card marks the feature
 * `typeNormal` (a boolean, reported perhaps only when it changes), which
 * keeps the type's mean and scale. So is one whose mean or spread the
 * calibration took past float32 (one reading of 1e41): judged without it, as
 * it could never score again. With no calibration at all
 * (`cal` null) every feature takes the type's mean and scale.
 */
export function finishCalibration(cal: Calibration | null, card: Floors): Baseline {
  const f = card.typeMean.length;
  const mean = new Float32Array(card.typeMean);
  const scale = new Float32Array(card.typeScale);
  if (!cal) return { mean, scale };
  const w = cal.moments;
  for (let j = 0; j < f; j++) {
    const n = w[3 * j] as number;
    if (n === 0 && card.features[j]?.typeNormal !== true) scale[j] = Infinity;
    if (n >= 1) mean[j] = w[3 * j + 1] as number;
    if (n >= 2) scale[j] = Math.max(Math.sqrt((w[3 * j + 2] as number) / n), card.minScale[j] as number);
    // a reading beyond float32 (a glitch of 1e41) took the mean or the spread with it: no normal of its own either
    if (!Number.isFinite(mean[j]!) || (n >= 2 && !Number.isFinite(scale[j]!))) {
      mean[j] = 0;
      scale[j] = Infinity;
    }
  }
  return { mean, scale };
}
