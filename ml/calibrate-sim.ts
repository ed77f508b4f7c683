/**
 * Recalibrates a shipped anomaly model's threshold on the simulator's
 * fault-free devices (the simulator's TypeScript models, scored through the
 * TypeScript runtime exactly as the platform scores them). Prints the
 * smoothed-score quantiles; with --write sets the card's threshold to the
 * chosen quantile of every device's post-calibration scores.
 *
 *   npx tsx ml/calibrate-sim.ts --type air-compressor [--devices 60] [--interval 15m] [--quantile 0.9999] [--write]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { nullLogger } from '../core/logger.ts';
import { createModelScorer } from '../diagnosis/model/scorer.ts';
import { SHIPPED_MODELS_DIR } from '../diagnosis/model/registry.ts';
import { createFleet } from '../simulator/fleet.ts';
import { parseDuration } from '../simulator/time.ts';

const { values: v } = parseArgs({
  options: {
    type: { type: 'string' }, devices: { type: 'string' }, interval: { type: 'string' }, duration: { type: 'string' },
    quantile: { type: 'string' }, seed: { type: 'string' }, write: { type: 'boolean' },
  },
  strict: true,
});
const type = v.type!;
const intervalMs = parseDuration(v.interval ?? (type === 'washing-machine' ? '5m' : '15m'))!;
// seeds of their own: never the scorecard's (42, 7, 1001, 2002, …)
const fleet = createFleet({
  seed: v.seed ?? `calib-${type}`,
  devices: Number(v.devices ?? 60),
  types: [type],
  faultRate: 0,
  startTs: Date.parse('2025-01-06T00:00:00Z'),
  durationMs: parseDuration(v.duration ?? '30d')!,
  intervalMs: { [type]: intervalMs },
});
const scorer = createModelScorer({ logger: nullLogger() });
const cardFile = join(SHIPPED_MODELS_DIR, `${type}.card.json`);
const card = JSON.parse(await readFile(cardFile, 'utf8')) as { threshold: number; calibrationSamples: number };
const scores: number[] = [];
for (const d of fleet.devices) {
  const batch = [];
  while (!d.finished) {
    d.step();
    const s = d.sample();
    batch.push({ deviceId: d.id, type, ts: s.ts as number, metrics: s.metrics });
  }
  for (let i = 0; i < batch.length; i += 512) {
    const out = await scorer.scoreBatch(batch.slice(i, i + 512));
    for (const o of out) if (o.status === 'scored') scores.push(o.result.anomalyScore);
  }
}
await scorer.close();
scores.sort((a, b) => a - b);
const q = (p: number) => scores[Math.min(scores.length - 1, Math.floor(p * scores.length))]!;
const chosen = Number(v.quantile ?? 0.9999);
const report = { type, devices: fleet.devices.length, scored: scores.length, oldThreshold: card.threshold, q99: q(0.99), q999: q(0.999), q9999: q(0.9999), max: scores.at(-1), chosenQuantile: chosen, threshold: q(chosen) };
process.stdout.write(JSON.stringify(report) + '\n');
if (v.write) {
  const text = await readFile(cardFile, 'utf8');
  const next = JSON.parse(text) as Record<string, unknown>;
  next.threshold = q(chosen);
  next.thresholdCalibration = {
    source: 'simulator fault-free devices (ml/calibrate-sim.ts), scored through the TypeScript runtime',
    seed: v.seed ?? `calib-${type}`,
    devices: fleet.devices.length,
    sampleIntervalMs: intervalMs,
    quantile: chosen,
    previousThreshold: card.threshold,
  };
  await writeFile(cardFile, JSON.stringify(next, null, 2) + '\n');
}
