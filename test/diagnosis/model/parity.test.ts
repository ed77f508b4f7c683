/**
 * The TypeScript features + onnxruntime-node reproduce the Python pipeline
 * (ml/fleetdoc_ml) on a fixture it wrote: features, per-device baselines,
 * scores and smoothed scores, with devices micro-batched together.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../../core/logger.ts';
import type { MetricValue } from '../../../core/domain/telemetry.ts';
import { createFeaturePlan, extractFeatures, newFeatureState } from '../../../diagnosis/model/features.ts';
import { SHIPPED_MODELS_DIR, readModelDir } from '../../../diagnosis/model/registry.ts';
import { createModelScorer } from '../../../diagnosis/model/scorer.ts';
import type { ScoreInput } from '../../../diagnosis/model/types.ts';
import { FIXTURES, chunks, interleave } from './helpers.ts';

interface Fixture {
  type: string;
  modelId: string;
  calibrationSamples: number;
  devices: Array<{
    deviceId: string;
    samples: Array<{ ts: number; metrics: Record<string, MetricValue> }>;
    expected: { features: Array<Array<number | null>>; mean: number[]; scale: number[]; score: number[]; smoothed: number[]; topShare: number[] };
  }>;
}

const fx = JSON.parse(readFileSync(new URL('parity-air-compressor.json', FIXTURES), 'utf8')) as Fixture;
const shipped = readModelDir(SHIPPED_MODELS_DIR).find((m) => m.card.type === fx.type);

function close(actual: number, expected: number, tol = 1e-5): boolean {
  return Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected));
}

describe('parity with the Python pipeline', () => {
  it('uses the shipped model the fixture was made with', () => {
    expect(shipped?.card.modelId).toBe(fx.modelId);
  });

  it('computes the same features', () => {
    const plan = createFeaturePlan(shipped!.card);
    for (const d of fx.devices) {
      const state = newFeatureState(plan);
      const row = new Float64Array(plan.size);
      d.samples.forEach((s, t) => {
        extractFeatures(plan, state, s.metrics, row);
        const want = d.expected.features[t] as Array<number | null>;
        for (let j = 0; j < plan.size; j++) {
          const w = want[j];
          if (w === null || w === undefined) expect(Number.isNaN(row[j])).toBe(true);
          else expect(close(row[j] as number, w, 1e-9), `${d.deviceId} t=${t} ${shipped!.card.features[j]?.name}`).toBe(true);
        }
      });
    }
  });

  it('scores micro-batched devices as the Python pipeline does (1e-5)', async () => {
    const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: fx.calibrationSamples });
    try {
      const inputs: ScoreInput[] = interleave(
        fx.devices.flatMap((d) => d.samples.map((s) => ({ deviceId: d.deviceId, type: fx.type, ts: s.ts, metrics: s.metrics }))),
      );
      const got = new Map<string, number[]>();
      const top = new Map<string, number[]>();
      // batches of 7 mix devices and sometimes hold the same device twice
      for (const batch of chunks(inputs, 7)) {
        const out = await scorer.scoreBatch(batch);
        out.forEach((o, k) => {
          const id = (batch[k] as ScoreInput).deviceId;
          if (o.status === 'scored') {
            (got.get(id) ?? got.set(id, []).get(id))?.push(o.result.anomalyScore);
            (top.get(id) ?? top.set(id, []).get(id))?.push(o.result.topFeatures[0]?.contribution ?? NaN);
          } else expect(o.status).toBe('calibrating');
        });
      }
      let compared = 0;
      for (const d of fx.devices) {
        const smoothed = got.get(d.deviceId) ?? [];
        expect(smoothed.length).toBe(d.expected.smoothed.length);
        smoothed.forEach((v, t) => {
          expect(close(v, d.expected.smoothed[t] as number), `${d.deviceId} t=${t}: ${v} vs ${d.expected.smoothed[t]}`).toBe(true);
          expect(close(top.get(d.deviceId)?.[t] as number, d.expected.topShare[t] as number, 1e-4)).toBe(true);
          compared++;
        });
      }
      expect(compared).toBeGreaterThan(200);
      // the fixture's faulty device ends flagged, the healthy ones do not
      const last = (id: string) => (got.get(id) ?? []).at(-1) as number;
      expect(last('fixture-1')).toBeGreaterThan(shipped!.card.threshold);
      expect(last('fixture-0')).toBeLessThan(shipped!.card.threshold);
    } finally {
      await scorer.close();
    }
  });
});
