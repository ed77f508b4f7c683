/**
 * A device's own threshold (the card's deviceThreshold): the last samples of
 * its calibration are judged against a baseline of the ones before them, and
 * the threshold is lowered to margin × the highest smoothed score they reach.
 * The TypeScript scorer must do exactly what the Python pipeline does
 * (ml/fleetdoc_ml/features.py score_device), micro-batched and across a
 * checkpoint taken in the middle of the held-back samples.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../../../core/logger.ts';
import type { MetricValue } from '../../../core/domain/telemetry.ts';
import { SHIPPED_MODELS_DIR } from '../../../diagnosis/model/registry.ts';
import { createModelScorer } from '../../../diagnosis/model/scorer.ts';
import type { ScoreInput, ScoreOutput } from '../../../diagnosis/model/types.ts';
import { FIXTURES, chunks, interleave } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TYPE = 'air-compressor';
const CAL = 60;
const HELD = 20;

interface Fixture {
  devices: Array<{ deviceId: string; samples: Array<{ ts: number; metrics: Record<string, MetricValue> }> }>;
}
const fx = JSON.parse(readFileSync(new URL('parity-air-compressor.json', FIXTURES), 'utf8')) as Fixture;

// the shipped compressor model with a device threshold, in a folder of its own
const dir = mkdtempSync(join(tmpdir(), 'fleetdoc-devthr-'));
const card = JSON.parse(readFileSync(join(SHIPPED_MODELS_DIR, `${TYPE}.card.json`), 'utf8')) as Record<string, unknown> & { threshold: number };
for (const f of [`${TYPE}.anomaly.onnx`, `${TYPE}.classifier.onnx`]) copyFileSync(join(SHIPPED_MODELS_DIR, f), join(dir, f));
// a margin that lowers some devices' thresholds on this fixture and not others
writeFileSync(join(dir, `${TYPE}.card.json`), JSON.stringify({ ...card, deviceThreshold: { heldBackSamples: HELD, margin: 3 } }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the Python pipeline makes of each fixture device: its threshold and smoothed scores. */
function python(): Record<string, { threshold: number; smoothed: number[] }> {
  const script = [
    'import json, sys',
    "sys.path.insert(0, 'ml')",
    'from fleetdoc_ml import model as M',
    'from fleetdoc_ml.features import score_device',
    `d = ${JSON.stringify(dir)}`,
    `card = json.load(open(d + '/${TYPE}.card.json'))`,
    `run = M.ort_run(open(d + '/${TYPE}.anomaly.onnx', 'rb').read())`,
    `fx = json.load(open(${JSON.stringify(fileURLToPath(new URL('parity-air-compressor.json', FIXTURES)))}))`,
    'out = {}',
    'for dev in fx["devices"]:',
    `    st = score_device([s["metrics"] for s in dev["samples"]], card, run, ${CAL})`,
    '    out[dev["deviceId"]] = {"threshold": st.threshold(card["threshold"], card), "smoothed": [float(v) for v in st.smoothed]}',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, { threshold: number; smoothed: number[] }>;
}

const inputs: ScoreInput[] = interleave(fx.devices.flatMap((d) => d.samples.map((s) => ({ deviceId: d.deviceId, type: TYPE, ts: s.ts, metrics: s.metrics }))));

/** Scores the inputs in batches of 7, with a checkpoint (export, new scorer, import) after `restartAt` inputs. */
async function scoreAll(restartAt = Infinity): Promise<Array<{ id: string; out: ScoreOutput }>> {
  const make = () => createModelScorer({ logger: nullLogger(), modelsDir: dir, calibrationSamples: CAL });
  let scorer = make();
  const got: Array<{ id: string; out: ScoreOutput }> = [];
  try {
    let done = 0;
    for (const batch of chunks(inputs, 7)) {
      if (done >= restartAt && restartAt !== -1) {
        const states = fx.devices.map((d) => ({ id: d.deviceId, s: scorer.exportState!(d.deviceId) }));
        await scorer.close();
        scorer = make();
        await scorer.scoreBatch([]);
        for (const { id, s } of states) if (s) expect(scorer.importState!(id, TYPE, s.key, s.state)).toBe(true);
        restartAt = -1;
      }
      const out = await scorer.scoreBatch(batch);
      out.forEach((o, k) => got.push({ id: (batch[k] as ScoreInput).deviceId, out: o }));
      done += batch.length;
    }
  } finally {
    await scorer.close();
  }
  return got;
}

describe('a device threshold learnt from the end of its calibration', () => {
  it('matches the Python pipeline: the same thresholds, scores and decisions, lowered on some devices only', async () => {
    const want = python();
    const got = await scoreAll();
    const lowered = Object.values(want).filter((w) => w.threshold < card.threshold).length;
    expect(lowered).toBeGreaterThan(0);
    expect(lowered).toBeLessThan(fx.devices.length);
    for (const d of fx.devices) {
      const mine = got.filter((g) => g.id === d.deviceId);
      // the held-back samples are part of the calibration: no decision of their own
      expect(mine.slice(0, CAL).every((g) => g.out.status === 'calibrating')).toBe(true);
      const scored = mine.slice(CAL).map((g) => (g.out.status === 'scored' ? g.out.result : null));
      const w = want[d.deviceId]!;
      expect(scored).toHaveLength(w.smoothed.length);
      scored.forEach((r, t) => {
        expect(r, `${d.deviceId} t=${t}`).not.toBeNull();
        expect(Math.abs(r!.anomalyScore - w.smoothed[t]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w.smoothed[t]!)));
        expect(Math.abs(r!.threshold - w.threshold)).toBeLessThanOrEqual(1e-6 * w.threshold);
        expect(r!.anomaly).toBe(w.smoothed[t]! > w.threshold);
      });
    }
  });

  it('resumes a checkpoint of the format before device thresholds: a calibrated device keeps the card’s threshold', async () => {
    const make = () => createModelScorer({ logger: nullLogger(), modelsDir: dir, calibrationSamples: CAL });
    const first = make();
    const d = fx.devices[0]!;
    const mine = inputs.filter((i) => i.deviceId === d.deviceId);
    let saved: { key: string; state: Uint8Array } | null = null;
    try {
      await first.scoreBatch(mine.slice(0, CAL + 5));
      saved = first.exportState!(d.deviceId);
    } finally {
      await first.close();
    }
    // format 1: `1/<model key>`, and seen, smoothed, calibrating ahead of the feature state (no held-back score, no threshold)
    const v = new Float64Array(saved!.state.buffer.slice(saved!.state.byteOffset, saved!.state.byteOffset + saved!.state.byteLength));
    const legacy = new Float64Array([...v.slice(0, 3), ...v.slice(5)]);
    const second = make();
    try {
      await second.scoreBatch([]);
      expect(second.importState!(d.deviceId, TYPE, saved!.key.replace(/^2\//, '1/'), new Uint8Array(legacy.buffer))).toBe(true);
      const [out] = await second.scoreBatch([mine[CAL + 5]!]);
      expect(out?.status).toBe('scored');
      if (out?.status === 'scored') expect(out.result.threshold).toBe(card.threshold);
      // a state of the wrong length for its format is refused
      expect(second.importState!('other', TYPE, saved!.key, new Uint8Array(legacy.buffer))).toBe(false);
    } finally {
      await second.close();
    }
  });

  it('resumes a checkpoint taken among the held-back samples to the same result', async () => {
    const straight = await scoreAll();
    // three devices interleaved: after 3 × 50 inputs each device is 10 samples into its 20 held back
    const resumed = await scoreAll(3 * (CAL - HELD + 10));
    expect(resumed.map((g) => g.out)).toEqual(straight.map((g) => g.out));
  });
});
