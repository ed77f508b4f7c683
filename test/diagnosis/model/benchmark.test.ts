/**
 * The detector on held-back synthetic industrial compressors (correlated
 * sensors, site offsets, benign drift, noise; faults as steps, drifts, noise
 * bursts and decoupled sensors): per-sample F1 and false-alarm rate after
 * calibration, through the TypeScript runtime.
 */
import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../../core/logger.ts';
import { createModelScorer } from '../../../diagnosis/model/scorer.ts';
import { chunks, interleave, readBenchmark } from './helpers.ts';

describe('detector on the synthetic industrial benchmark', () => {
  it('reaches F1 >= 0.8 with a false-alarm rate <= 10% on held-back devices', async () => {
    const samples = interleave(readBenchmark());
    const scorer = createModelScorer({ logger: nullLogger() });
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let tn = 0;
    const faultsFound = new Set<string>();
    let classified = 0;
    let classifiedRight = 0;
    try {
      for (const batch of chunks(samples, 256)) {
        const outs = await scorer.scoreBatch(batch);
        outs.forEach((o, k) => {
          if (o.status !== 'scored') return;
          const s = batch[k]!;
          const p = o.result.anomaly;
          if (p && s.label) {
            tp++;
            faultsFound.add(s.fault);
            // the known-fault classifier names the injected fault
            const probs = Object.entries(o.result.faultProbabilities ?? {}).sort((a, b) => b[1] - a[1]);
            classified++;
            if (probs[0]?.[0] === s.fault) classifiedRight++;
          } else if (p) fp++;
          else if (s.label) fn++;
          else tn++;
        });
      }
    } finally {
      await scorer.close();
    }
    const precision = tp / (tp + fp);
    const recall = tp / (tp + fn);
    const f1 = (2 * precision * recall) / (precision + recall);
    const far = fp / (fp + tn);
    const faultAccuracy = classifiedRight / classified;
    console.log(JSON.stringify({ benchmark: 'air-compressor', samples: tp + fp + fn + tn, precision, recall, f1, falseAlarmRate: far, faultAccuracy }));
    expect(f1).toBeGreaterThanOrEqual(0.8);
    expect(far).toBeLessThanOrEqual(0.1);
    expect(faultsFound.size).toBeGreaterThanOrEqual(4);
    expect(faultAccuracy).toBeGreaterThan(0.6);
  });
});
