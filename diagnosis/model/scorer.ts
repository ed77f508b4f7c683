/**
 * The ModelScorer (diagnosis/model/types.ts): per-device calibration of the
 * device's own normal, features in TypeScript, the type's model in
 * onnxruntime — one run() per model for many devices' rows.
 */
import ort from 'onnxruntime-node';
import type { Logger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import {
  CALIBRATION,
  HELD_BACK_LAST,
  SCORED,
  afterHeldBack,
  calibrate,
  decide,
  decodeState,
  encodeState,
  finish,
  newDeviceState,
  type ModelDeviceState,
  type SampleRole,
} from './device-calibration.ts';
import { extractFeatures } from './features.ts';
import { SHIPPED_MODELS_DIR, hasShippedModel, loadModel, readModelDir, releaseModel, type LoadedModel, type ModelFiles } from './registry.ts';
import { freshAlarm, type AnomalyResult, type ModelScorer, type ScoreInput, type ScoreOutput } from './types.ts';

export interface ModelScorerOptions {
  logger: Logger;
  /** Registered models (POST /api/v1/models/:type); they replace shipped ones of the same type. */
  opsStore?: Pick<OpsStore, 'listModelVersions' | 'getModelBlobs'>;
  /** Shipped models; default diagnosis/model/models. */
  modelsDir?: string;
  /** Overrides the card's calibration length, for every type or per type. */
  calibrationSamples?: number | Readonly<Record<string, number>>;
  /** How often scoreBatch looks for newly registered models. Default 1000 ms. */
  versionCheckMs?: number;
  now?: () => number;
  /** Features named in topFeatures. Default 3. */
  topFeatures?: number;
}

export function createModelScorer(opts: ModelScorerOptions): ModelScorer & { deviceCount(): number } {
  const log = opts.logger.child({ service: 'diagnosis', component: 'model' });
  const modelsDir = opts.modelsDir ?? SHIPPED_MODELS_DIR;
  const checkMs = opts.versionCheckMs ?? 1000;
  const now = opts.now ?? Date.now;
  const topN = opts.topFeatures ?? 3;
  let models = new Map<string, LoadedModel>();
  const devices = new Map<string, ModelDeviceState>();
  let loaded: Promise<void> | null = null;
  let versions = '';
  let lastCheck = -Infinity;
  let closed = false;
  let refreshing: Promise<void> | null = null;
  /** Batches being scored (with the models they started with): a load releases the sessions it replaces after them. */
  const scoring = new Set<Promise<ScoreOutput[]>>();

  function calibrationOf(m: LoadedModel): number {
    const o = opts.calibrationSamples;
    if (typeof o === 'number') return o;
    return o?.[m.type] ?? m.card.calibrationSamples;
  }

  async function registeredVersions(): Promise<string> {
    if (!opts.opsStore) return '';
    const v = await opts.opsStore.listModelVersions();
    return v.map((r) => `${r.type}:${r.version}`).sort().join(',');
  }

  // Loads run one after another, so a swap never releases sessions another load still holds.
  let chain: Promise<void> = Promise.resolve();
  function load(): Promise<void> {
    const p = chain.then(loadNow);
    chain = p.catch(() => undefined);
    return p;
  }

  async function loadNow(): Promise<void> {
    if (closed) return;
    const next = new Map<string, LoadedModel>();
    for (const files of readModelDir(modelsDir)) {
      next.set(files.card.type, await loadModel(files, 'shipped', '0'));
    }
    versions = await registeredVersions();
    if (opts.opsStore) {
      for (const entry of (await opts.opsStore.listModelVersions())) {
        const blobs = await opts.opsStore.getModelBlobs(entry.type);
        if (!blobs) continue;
        try {
          const files: ModelFiles = { card: blobs.card, anomaly: blobs.anomalyOnnx, classifier: blobs.classifierOnnx };
          next.set(entry.type, await loadModel(files, 'registered', String(blobs.version)));
        } catch (err) {
          log.error({ err, type: entry.type }, 'registered model does not load; keeping the shipped one');
        }
      }
    }
    const old = models;
    models = next;
    lastCheck = now();
    // batches being scored still run the old sessions: released once they are done
    await Promise.allSettled([...scoring]);
    for (const m of old.values()) await releaseModel(m);
    log.info({ models: [...next.values()].map((m) => ({ type: m.type, source: m.source, modelId: m.card.modelId })) }, 'anomaly models loaded');
  }

  /** One registry check at a time; callers that come while it runs wait for the same one. */
  function refreshShared(): Promise<void> {
    refreshing ??= ensureFresh()
      .catch((err: unknown) => log.warn({ err }, 'loading models failed'))
      .finally(() => (refreshing = null));
    return refreshing;
  }

  async function ensureFresh(): Promise<void> {
    loaded ??= load();
    await loaded;
    if (!opts.opsStore || now() - lastCheck < checkMs) return;
    lastCheck = now();
    try {
      if ((await registeredVersions()) !== versions) {
        loaded = load();
        await loaded;
      }
    } catch (err) {
      log.warn({ err }, 'checking registered model versions failed');
    }
  }

  function stateFor(deviceId: string, m: LoadedModel): ModelDeviceState {
    let s = devices.get(deviceId);
    if (s && s.key === m.key) return s;
    s = newDeviceState(m, calibrationOf(m));
    devices.set(deviceId, s);
    return s;
  }

  /** `roles`: per row, a scored sample or a held-back calibration sample (device-calibration.ts). */
  async function runGroup(m: LoadedModel, idx: readonly number[], rows: readonly Float64Array[], states: readonly ModelDeviceState[], roles: readonly SampleRole[], out: ScoreOutput[]) {
    const f = m.plan.size;
    const b = idx.length;
    const x = new Float32Array(b * f);
    const mu = new Float32Array(b * f);
    const sigma = new Float32Array(b * f);
    const prev = new Float32Array(b);
    for (let r = 0; r < b; r++) {
      const row = rows[r] as Float64Array;
      const st = states[r] as ModelDeviceState;
      const buf = st.buf;
      const at = st.at;
      for (let j = 0; j < f; j++) {
        const mean = buf[at + j] as number;
        const v = row[j] as number;
        const scale = buf[at + f + j] as number;
        mu[r * f + j] = mean;
        sigma[r * f + j] = scale;
        // a feature left out of this device's score (infinite scale) sits at its mean: an infinite reading over it would be NaN for good
        x[r * f + j] = Number.isNaN(v) || scale === Infinity ? mean : v;
      }
      prev[r] = st.smoothed;
    }
    const dims = [b, f];
    const res = await m.anomaly.run({
      x: new ort.Tensor('float32', x, dims),
      mu: new ort.Tensor('float32', mu, dims),
      sigma: new ort.Tensor('float32', sigma, dims),
      prev: new ort.Tensor('float32', prev, [b]),
    });
    const score = res.score?.data as Float32Array;
    const smoothed = res.smoothed?.data as Float32Array;
    const contrib = res.contrib?.data as Float32Array;
    const flagged: number[] = [];
    for (let r = 0; r < b; r++) {
      const st = states[r] as ModelDeviceState;
      st.smoothed = smoothed[r] as number;
      if (roles[r] !== SCORED) {
        // a held-back calibration sample: its score only sets how high this device's normal goes (its output says calibrating)
        afterHeldBack(st, m, roles[r] as SampleRole);
        continue;
      }
      const threshold = st.threshold;
      const result: AnomalyResult = {
        anomalyScore: st.smoothed,
        anomaly: decide(st, m),
        threshold,
        topFeatures: topFeatures(m, contrib, r, score[r] as number),
      };
      out[idx[r] as number] = { status: 'scored', result };
      if (freshAlarm(result) && m.classifier) flagged.push(r);
    }
    if (flagged.length) await classify(m, flagged, x, mu, sigma, idx, out);
  }

  function topFeatures(m: LoadedModel, contrib: Float32Array, r: number, score: number) {
    const f = m.plan.size;
    const order: number[] = [];
    for (let j = 0; j < f; j++) {
      const c = contrib[r * f + j] as number;
      let k = order.length;
      while (k > 0 && (contrib[r * f + (order[k - 1] as number)] as number) < c) k--;
      if (k < topN) {
        order.splice(k, 0, j);
        if (order.length > topN) order.pop();
      }
    }
    return order.map((j) => ({ feature: m.card.features[j]?.name ?? String(j), contribution: score > 0 ? (contrib[r * f + j] as number) / score : 0 }));
  }

  /** Which known fault the flagged rows look like: one classifier run for all of them. */
  async function classify(m: LoadedModel, rowsOf: number[], x: Float32Array, mu: Float32Array, sigma: Float32Array, idx: readonly number[], out: ScoreOutput[]) {
    const f = m.plan.size;
    const clip = m.card.clip;
    const z = new Float32Array(rowsOf.length * f);
    rowsOf.forEach((r, k) => {
      for (let j = 0; j < f; j++) {
        const v = ((x[r * f + j] as number) - (mu[r * f + j] as number)) / (sigma[r * f + j] as number);
        z[k * f + j] = Math.min(clip, Math.max(-clip, v));
      }
    });
    const session = m.classifier as ort.InferenceSession;
    const res = await session.run({ [session.inputNames[0] as string]: new ort.Tensor('float32', z, [rowsOf.length, f]) });
    const probs = (res.probabilities ?? res[session.outputNames[1] as string])?.data as Float32Array;
    const c = m.classes.length;
    rowsOf.forEach((r, k) => {
      const o = out[idx[r] as number];
      if (o?.status !== 'scored') return;
      const p: Record<string, number> = {};
      m.classes.forEach((cls, ci) => {
        if (cls !== 'normal') p[cls] = probs[k * c + ci] as number;
      });
      o.result.faultProbabilities = p;
    });
  }

  async function scoreNow(inputs: readonly ScoreInput[]): Promise<ScoreOutput[]> {
      const out: ScoreOutput[] = new Array(inputs.length);
      // A device seen twice in one batch needs its first smoothed score
      // before its second: such rows go to the next round of run()s.
      const rounds: Array<Map<LoadedModel, { idx: number[]; rows: Float64Array[]; states: ModelDeviceState[]; roles: SampleRole[] }>> = [];
      const roundOf = new Map<string, number>();
      /** Devices whose calibration this batch completes with a held-back row: finished after it is scored. */
      const completing = new Set<ModelDeviceState>();
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i] as ScoreInput;
        const m = models.get(input.type);
        if (!m) {
          out[i] = { status: 'no-model' };
          continue;
        }
        const st = stateFor(input.deviceId, m);
        const row = new Float64Array(m.plan.size);
        extractFeatures(m.plan, st.buf, input.metrics, row);
        const needed = calibrationOf(m);
        // a calibration completed by an earlier batch whose run failed finishes now (not one this batch completes)
        if (st.cal && st.seen >= needed && !completing.has(st)) finish(st, m);
        const role = calibrate(st, m, row, needed, input.ts);
        if (role !== SCORED) out[i] = { status: 'calibrating', samplesSeen: st.seen, samplesNeeded: needed };
        if (role === CALIBRATION) continue;
        // held back: scored in its turn (after the device's earlier rows), the calibration completed after the last
        if (role === HELD_BACK_LAST) completing.add(st);
        const r = roundOf.get(input.deviceId) ?? 0;
        roundOf.set(input.deviceId, r + 1);
        const round = (rounds[r] ??= new Map());
        let g = round.get(m);
        if (!g) round.set(m, (g = { idx: [], rows: [], states: [], roles: [] }));
        g.idx.push(i);
        g.rows.push(row);
        g.states.push(st);
        g.roles.push(role);
      }
      try {
        for (const round of rounds) {
          for (const [m, g] of round) await runGroup(m, g.idx, g.rows, g.states, g.roles, out);
        }
      } finally {
        // a run that failed must not leave a calibration the batch completed unfinished
        for (const round of rounds) {
          for (const [m, g] of round) {
            g.states.forEach((st, r) => {
              if (g.roles[r] === HELD_BACK_LAST && st.cal) finish(st, m);
            });
          }
        }
      }
      return out;
  }

  return {
    async scoreBatch(inputs: readonly ScoreInput[]): Promise<ScoreOutput[]> {
      if (closed) throw new Error('model scorer is closed');
      await ensureFresh();
      const p = scoreNow(inputs);
      scoring.add(p);
      try {
        return await p;
      } finally {
        scoring.delete(p);
      }
    },

    hasModel(type: string): boolean {
      // The engine asks before it scores, so a newly registered type must show up from here too.
      if (!closed && now() - lastCheck >= checkMs) void refreshShared();
      if (models.has(type)) return true;
      return lastCheck === -Infinity && hasShippedModel(modelsDir, type);
    },

    async refresh(): Promise<void> {
      if (closed) return;
      if (refreshing || now() - lastCheck >= checkMs) await refreshShared();
    },

    calibrating(deviceId: string, type: string, ts: number): boolean {
      const m = models.get(type);
      if (!m) return true;
      const st = devices.get(deviceId);
      if (st === undefined || st.key !== m.key) return calibrationOf(m) > 0;
      // calibrated after this sample's time (a batch that completed it), or not yet
      return st.seen < calibrationOf(m) || (st.calibratedTs !== undefined && ts < st.calibratedTs);
    },

    exportState(deviceId: string): { key: string; state: Uint8Array } | null {
      const st = devices.get(deviceId);
      if (!st) return null;
      return encodeState(st);
    },

    importState(deviceId: string, type: string, key: string, state: Uint8Array, replace = false): boolean {
      const m = models.get(type);
      if (!m || (!replace && devices.has(deviceId))) return false;
      const st = decodeState(m, key, state, calibrationOf(m));
      if (!st) return false;
      devices.set(deviceId, st);
      return true;
    },

    resetDevice(deviceId: string): void {
      devices.delete(deviceId);
    },

    clearAlarm(deviceId: string): void {
      const st = devices.get(deviceId);
      if (st) st.alarmOn = false;
    },

    async reload(): Promise<void> {
      if (loaded) await loaded.catch(() => undefined);
      loaded = load();
      await loaded;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await refreshing;
      await chain;
      await Promise.allSettled([...scoring]);
      for (const m of models.values()) await releaseModel(m);
      models = new Map();
      devices.clear();
    },

    deviceCount: () => devices.size,
  };
}
