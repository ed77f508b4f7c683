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
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it, vi } from 'vitest';
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

const card = JSON.parse(readFileSync(join(SHIPPED_MODELS_DIR, `${TYPE}.card.json`), 'utf8')) as Record<string, unknown> & { threshold: number };
const dirs: string[] = [];
/** The shipped compressor model with a device threshold (and alarm hysteresis, when given), in a folder of its own. */
function modelDir(margin: number, alarmClearRatio?: number): string {
  const d = mkdtempSync(join(tmpdir(), 'fleetdoc-devthr-'));
  dirs.push(d);
  for (const f of [`${TYPE}.anomaly.onnx`, `${TYPE}.classifier.onnx`]) copyFileSync(join(SHIPPED_MODELS_DIR, f), join(d, f));
  writeFileSync(join(d, `${TYPE}.card.json`), JSON.stringify({ ...card, deviceThreshold: { heldBackSamples: HELD, margin }, ...(alarmClearRatio ? { alarmClearRatio } : {}) }));
  return d;
}
// a margin that lowers some devices' thresholds on this fixture and not others
const dir = modelDir(3);
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

type Want = Record<string, { threshold: number; smoothed: number[]; anomaly: boolean[] }>;

/** What the Python pipeline makes of each fixture device: its threshold, smoothed scores and decisions. */
function python(cal = CAL, from = dir): Want {
  const script = [
    'import json, sys',
    "sys.path.insert(0, 'ml')",
    'from fleetdoc_ml import model as M',
    'from fleetdoc_ml.features import alarms, clear_ratio, score_device',
    `d = ${JSON.stringify(from)}`,
    `card = json.load(open(d + '/${TYPE}.card.json'))`,
    `run = M.ort_run(open(d + '/${TYPE}.anomaly.onnx', 'rb').read())`,
    `fx = json.load(open(${JSON.stringify(fileURLToPath(new URL('parity-air-compressor.json', FIXTURES)))}))`,
    'out = {}',
    'for dev in fx["devices"]:',
    `    st = score_device([s["metrics"] for s in dev["samples"]], card, run, ${cal})`,
    '    thr = st.threshold(card["threshold"], card)',
    '    out[dev["deviceId"]] = {"threshold": thr, "smoothed": [float(v) for v in st.smoothed], "anomaly": [bool(a) for a in alarms(st.smoothed, thr, clear_ratio(card))]}',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script], { cwd: ROOT, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Want;
}

const inputs: ScoreInput[] = interleave(fx.devices.flatMap((d) => d.samples.map((s) => ({ deviceId: d.deviceId, type: TYPE, ts: s.ts, metrics: s.metrics }))));

const make = (cal = CAL, from = dir) => createModelScorer({ logger: nullLogger(), modelsDir: from, calibrationSamples: cal });

/** Scores the inputs in batches of 7, with a checkpoint (export, new scorer, import) after `restartAt` inputs. */
async function scoreAll(restartAt = Infinity, cal = CAL, from = dir): Promise<Array<{ id: string; out: ScoreOutput }>> {
  let scorer = make(cal, from);
  const got: Array<{ id: string; out: ScoreOutput }> = [];
  try {
    let done = 0;
    for (const batch of chunks(inputs, 7)) {
      if (done >= restartAt && restartAt !== -1) {
        const states = fx.devices.map((d) => ({ id: d.deviceId, s: scorer.exportState!(d.deviceId) }));
        await scorer.close();
        scorer = make(cal, from);
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

/** The scored outputs of the device against Python's: the same scores, threshold and decisions; the calibration decided nothing. */
function expectPython(got: Array<{ id: string; out: ScoreOutput }>, want: Want, cal: number): void {
  for (const d of fx.devices) {
    const mine = got.filter((g) => g.id === d.deviceId);
    // the held-back samples are part of the calibration: no decision of their own
    expect(mine.slice(0, cal).every((g) => g.out.status === 'calibrating')).toBe(true);
    const scored = mine.slice(cal).map((g) => (g.out.status === 'scored' ? g.out.result : null));
    const w = want[d.deviceId]!;
    expect(scored).toHaveLength(w.smoothed.length);
    scored.forEach((r, t) => {
      expect(r, `${d.deviceId} t=${t}`).not.toBeNull();
      expect(Math.abs(r!.anomalyScore - w.smoothed[t]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(w.smoothed[t]!)));
      expect(Math.abs(r!.threshold - w.threshold)).toBeLessThanOrEqual(1e-6 * w.threshold);
      expect(r!.anomaly, `${d.deviceId} t=${t}`).toBe(w.anomaly[t]);
    });
  }
}

/** One device's exported state (key, numbers) after its first n samples. */
async function savedAfter(mine: ScoreInput[], n: number): Promise<{ key: string; v: Float64Array }> {
  const scorer = make();
  try {
    await scorer.scoreBatch(mine.slice(0, n));
    const { key, state } = scorer.exportState!(mine[0]!.deviceId)!;
    return { key, v: new Float64Array(state.buffer.slice(state.byteOffset, state.byteOffset + state.byteLength)) };
  } finally {
    await scorer.close();
  }
}

/** A fresh scorer with the device's state imported (it must be accepted), for `use`. */
async function withImported(deviceId: string, key: string, v: Float64Array, use: (scorer: ReturnType<typeof make>) => Promise<void>): Promise<void> {
  const scorer = make();
  try {
    await scorer.scoreBatch([]);
    expect(scorer.importState!(deviceId, TYPE, key, new Uint8Array(v.buffer))).toBe(true);
    await use(scorer);
  } finally {
    await scorer.close();
  }
}

describe('a device threshold learnt from the end of its calibration', () => {
  it('matches the Python pipeline: the same thresholds, scores and decisions, lowered on some devices only', async () => {
    const want = python();
    const got = await scoreAll();
    const lowered = Object.values(want).filter((w) => w.threshold < card.threshold).length;
    expect(lowered).toBeGreaterThan(0);
    expect(lowered).toBeLessThan(fx.devices.length);
    expectPython(got, want, CAL);
  });

  it('holds back at a calibration of exactly twice the held-back samples, as Python does, and not below', async () => {
    // a margin that lowers thresholds after so short a calibration
    const tight = modelDir(1.2);
    const want = python(2 * HELD, tight);
    expect(Object.values(want).some((w) => w.threshold < card.threshold)).toBe(true);
    expectPython(await scoreAll(Infinity, 2 * HELD, tight), want, 2 * HELD);
    const shorter = python(2 * HELD - 1, tight);
    expect(Object.values(shorter).every((w) => w.threshold === card.threshold)).toBe(true);
    expectPython(await scoreAll(Infinity, 2 * HELD - 1, tight), shorter, 2 * HELD - 1);
  });

  it('resumes a checkpoint of the format before device thresholds saved among the held-back samples: the card’s threshold', async () => {
    // the device whose own threshold would be lowered
    const d = fx.devices[2]!;
    const mine = inputs.filter((i) => i.deviceId === d.deviceId);
    const saved = await savedAfter(mine, CAL - 5);
    // format 1 while calibrating: no held-back score or threshold, and no baseline yet (zeros)
    const features = (card.features as Array<{ metric: string }>).length;
    const metrics = new Set((card.features as Array<{ metric: string }>).map((f) => f.metric)).size;
    const buf = saved.v.slice(6, saved.v.length - 3 * features);
    buf.fill(0, 2 * metrics);
    const legacy = new Float64Array([...saved.v.slice(0, 3), ...buf, ...saved.v.slice(saved.v.length - 3 * features)]);
    await withImported(d.deviceId, saved.key.replace(/^3\//, '1/'), legacy, async (scorer) => {
      const out = await scorer.scoreBatch(mine.slice(CAL - 5, CAL + 5));
      expect(out.slice(0, 5).every((o) => o.status === 'calibrating')).toBe(true);
      for (const o of out.slice(5)) expect(o.status === 'scored' && o.result.threshold).toBe(card.threshold);
    });
  });

  it('resumes a checkpoint of the format before device thresholds: a calibrated device keeps the card’s threshold', async () => {
    const d = fx.devices[0]!;
    const mine = inputs.filter((i) => i.deviceId === d.deviceId);
    const saved = await savedAfter(mine, CAL + 5);
    // format 1: `1/<model key>`, and seen, smoothed, calibrating ahead of the feature state (no held-back score, no threshold)
    const legacy = new Float64Array([...saved.v.slice(0, 3), ...saved.v.slice(6)]);
    await withImported(d.deviceId, saved.key.replace(/^3\//, '1/'), legacy, async (scorer) => {
      const [out] = await scorer.scoreBatch([mine[CAL + 5]!]);
      expect(out?.status).toBe('scored');
      if (out?.status === 'scored') expect(out.result.threshold).toBe(card.threshold);
      // a state of the wrong length for its format is refused
      expect(scorer.importState!('other', TYPE, saved.key, new Uint8Array(legacy.buffer))).toBe(false);
    });
  });

  it('resumes a checkpoint taken before, among or after the held-back samples to the same result', async () => {
    const straight = (await scoreAll()).map((g) => g.out);
    // three devices interleaved: after 3 × n inputs each device has seen about n samples
    for (const n of [CAL - HELD - 5, CAL - HELD + 10, CAL + 10]) expect((await scoreAll(3 * n)).map((g) => g.out), `restart after ${n}`).toEqual(straight);
  });

  it('finishes a calibration whose completing batch failed to score, at the next sample, as if it had not failed', async () => {
    const d = fx.devices[0]!;
    const mine = inputs.filter((i) => i.deviceId === d.deviceId);
    const straight = make();
    const failing = make();
    try {
      const want = [...(await straight.scoreBatch(mine.slice(0, CAL))), ...(await straight.scoreBatch(mine.slice(CAL, CAL + 10)))];
      await failing.scoreBatch(mine.slice(0, CAL - 1));
      // (InferenceSession is a class at run time; its typings describe a factory)
      const sessions = ort.InferenceSession as unknown as { prototype: { run: (...args: unknown[]) => Promise<unknown> } };
      const run = vi.spyOn(sessions.prototype, 'run').mockRejectedValueOnce(new Error('onnxruntime failed'));
      await expect(failing.scoreBatch(mine.slice(CAL - 1, CAL))).rejects.toThrow('onnxruntime failed');
      run.mockRestore();
      const got = await failing.scoreBatch(mine.slice(CAL, CAL + 10));
      // the failed sample's own score is lost (its held-back score with it); from the next one on, the device is calibrated
      expect(got.every((o) => o.status === 'scored')).toBe(true);
      expect(failing.exportState!(d.deviceId)!.state.byteLength).toBe(straight.exportState!(d.deviceId)!.state.byteLength);
      expect(got.map((o) => (o.status === 'scored' ? o.result.anomalyScore : NaN))).toEqual(want.slice(CAL).map((o) => (o.status === 'scored' ? o.result.anomalyScore : NaN)));
    } finally {
      await straight.close();
      await failing.close();
    }
  });
});

describe('alarm hysteresis (the card’s alarmClearRatio)', () => {
  // a ratio that holds alarms on this fixture where the plain threshold would drop them
  const held = modelDir(3, 0.5);

  it('matches the Python pipeline’s decisions, and holds alarms the plain threshold drops', async () => {
    const want = python(CAL, held);
    const got = await scoreAll(Infinity, CAL, held);
    expectPython(got, want, CAL);
    const heldOn = Object.values(want).reduce((n, w) => n + w.anomaly.filter((a, t) => a && !(w.smoothed[t]! > w.threshold)).length, 0);
    expect(heldOn).toBeGreaterThan(0);
  });

  it('resumes a checkpoint taken while an alarm is held below the threshold to the same decisions', async () => {
    const want = python(CAL, held);
    const straight = (await scoreAll(Infinity, CAL, held)).map((g) => g.out);
    // where a device's alarm is held (score under its threshold) for four samples running: a checkpoint there must
    // carry the alarm, or the next samples would be decided normal
    const points: number[] = [];
    for (const d of fx.devices) {
      const w = want[d.deviceId]!;
      const heldAt = (t: number) => w.anomaly[t] === true && !(w.smoothed[t]! > w.threshold);
      const t = w.anomaly.findIndex((_, k) => [0, 1, 2, 3].every((j) => heldAt(k + j)));
      if (t < 0) continue;
      let seen = 0;
      points.push(inputs.findIndex((i) => i.deviceId === d.deviceId && seen++ === CAL + t));
    }
    expect(points.length).toBeGreaterThan(0);
    // the restart comes at the next batch boundary, within the device's next three samples
    for (const at of points) expect((await scoreAll(at, CAL, held)).map((g) => g.out), `restart after input ${at}`).toEqual(straight);
  });

  it('resumes a checkpoint of the format before hysteresis: the alarm is whether the score is above the threshold', async () => {
    const d = fx.devices[0]!;
    const mine = inputs.filter((i) => i.deviceId === d.deviceId);
    const saved = await savedAfter(mine, CAL + 5);
    expect(saved.key.startsWith('3/')).toBe(true);
    // format 2: seen, smoothed, calibrating, heldMax, threshold ahead of the feature state
    const v2 = new Float64Array([...saved.v.slice(0, 5), ...saved.v.slice(6)]);
    for (const [smoothed, on] of [[0.1, false], [saved.v[4]! * 2, true]] as const) {
      const v = v2.slice();
      v[1] = smoothed;
      const scorer = make(CAL, held);
      try {
        await scorer.scoreBatch([]);
        expect(scorer.importState!(d.deviceId, TYPE, saved.key.replace(/^3\//, '2/'), new Uint8Array(v.buffer))).toBe(true);
        const back = scorer.exportState!(d.deviceId)!;
        expect(back.key.startsWith('3/')).toBe(true);
        expect(new Float64Array(back.state.buffer.slice(back.state.byteOffset, back.state.byteOffset + back.state.byteLength))[5]).toBe(on ? 1 : 0);
      } finally {
        await scorer.close();
      }
    }
  });
});

describe('alarm hysteresis: the card and the scorer', () => {
  it('refuses a clear ratio that would latch alarms, and the scorer drops a held alarm when told', async () => {
    const { parseCard } = await import('../../../diagnosis/model/registry.ts');
    for (const bad of [0, 0.3, 1.2]) expect(() => parseCard({ ...card, alarmClearRatio: bad }, 'test')).toThrow('alarmClearRatio');
    expect(parseCard({ ...card, alarmClearRatio: 0.5 }, 'test').alarmClearRatio).toBe(0.5);
    // a device whose alarm is held below its threshold: cleared, its next sample below the threshold is normal
    const held = modelDir(3, 0.5);
    const want = python(CAL, held);
    const d = fx.devices.find((x) => want[x.deviceId]!.anomaly.some((a, t) => a && !(want[x.deviceId]!.smoothed[t]! > want[x.deviceId]!.threshold)))!;
    const w = want[d.deviceId]!;
    const t = w.anomaly.findIndex((a, k) => a && !(w.smoothed[k]! > w.threshold) && k > 0 && w.anomaly[k - 1] && !(w.smoothed[k + 1]! > w.threshold));
    expect(t).toBeGreaterThan(0);
    const mine = inputs.filter((i) => i.deviceId === d.deviceId);
    const scorer = make(CAL, held);
    try {
      await scorer.scoreBatch(mine.slice(0, CAL + t));
      scorer.clearAlarm!(d.deviceId);
      const [next] = await scorer.scoreBatch([mine[CAL + t]!]);
      expect(next?.status === 'scored' && next.result.anomaly).toBe(false);
    } finally {
      await scorer.close();
    }
  });
});
