/**
 * A sample ingest dead-lettered for a reading outside its declared range still gets its anomaly decision:
 * no alarm if the device was calibrating at that sample's time (also when the batch that holds it completes
 * the calibration), an alarm once calibrated, also for a device known only from its checkpoint after a restart.
 * The real diagnosis service and ONNX scorer over PGlite and SQLite; the ingest side is its listener API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import type { OutOfRangeSample, Point } from '../../core/domain/telemetry.ts';
import { nullLogger } from '../../core/logger.ts';
import { createDiagnosis } from '../../diagnosis/create-diagnosis.ts';
import { createModelScorer } from '../../diagnosis/model/scorer.ts';
import { createSqliteTelemetryStore } from '../../storage/embedded/sqlite-telemetry-store.ts';
import { createPgliteClient } from '../../storage/embedded/pglite-client.ts';
import { createSqlOpsStore } from '../../storage/sql/sql-ops-store.ts';
import { compressorSample, series } from './helpers.ts';

const logger = nullLogger();
const MIN = 60_000;
const T0 = Date.parse('2025-06-01T12:00:00Z');
const clock = { now: () => T0 + 10 * 24 * 3600_000 };
let dir: string;
let opsStore: ReturnType<typeof createSqlOpsStore>;
let telemetryStore: ReturnType<typeof createSqliteTelemetryStore>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetdoc-oor-'));
  opsStore = createSqlOpsStore({ client: await createPgliteClient({ dir: null }), kind: 'pglite', clock, logger });
  await opsStore.init();
  for (const t of loadDeviceTypeFiles()) await opsStore.upsertDeviceType(t);
  await opsStore.registerDevices(['ac-1', 'ac-2'].map((id) => ({ id, type: 'air-compressor' })));
  telemetryStore = createSqliteTelemetryStore({ dir, logger, clock });
  await telemetryStore.init();
});
afterAll(async () => {
  await telemetryStore?.close?.();
  await rm(dir, { recursive: true, force: true });
});

/** The diagnosis service with the compressor's shipped model, calibrating on 20 samples, fed as ingest feeds it. */
function service() {
  const accepted = new Set<(p: readonly Point[]) => void>();
  const notices = new Set<(s: OutOfRangeSample) => void>();
  const scorer = createModelScorer({ logger, calibrationSamples: 20 });
  const d = createDiagnosis({
    logger, clock, opsStore, telemetryStore, scorer,
    source: { onAccepted: (l) => (accepted.add(l), () => accepted.delete(l)), onOutOfRange: (l) => (notices.add(l), () => notices.delete(l)) },
    options: { tickMs: 5, checkpointMs: 0, presenceCheckMs: 600_000, rulesPollMs: 600_000 },
  });
  const outOfRange = (deviceId: string, ts: number) => notices.forEach((l) => l({ deviceId, type: 'air-compressor', model: null, site: null, ts, metric: 'motorCurrentA' }));
  return { d, scorer, accept: (p: Point[]) => accepted.forEach((l) => l(p)), outOfRange };
}

const decision = async (deviceId: string, ts: number) =>
  (await telemetryStore.query({ deviceId, type: 'air-compressor', from: ts, to: ts + 1, metrics: ['anomaly', 'anomalyScore'], limit: 10 }))[0]?.values;

describe('out-of-range samples get decisions', () => {
  it('no alarm inside the calibration (even when its batch completes it), an alarm after; and after a restart from the checkpoint alone', async () => {
    let s = service();
    await s.d.start();
    // one message of 100 samples, the one at minute 5 out of range; ingest reports it after the accepted ones
    s.accept(series('ac-1', T0, 100, MIN, (i) => compressorSample(50, i)).filter((_, i) => i !== 5 && i !== 50));
    s.outOfRange('ac-1', T0 + 5 * MIN);
    s.outOfRange('ac-1', T0 + 50 * MIN);
    await s.d.flush();
    expect(await decision('ac-1', T0 + 5 * MIN)).toEqual({ anomaly: 0 });
    expect(await decision('ac-1', T0 + 50 * MIN)).toEqual({ anomaly: 1 });

    // ac-2 calibrates, is checkpointed; after a restart only an out-of-range sample of it arrives
    s.accept(series('ac-2', T0, 50, MIN, (i) => compressorSample(50, i)));
    await s.d.flush();
    await s.d.checkpoint();
    await s.d.stop();
    await s.scorer.close();
    s = service();
    await s.d.start();
    s.outOfRange('ac-2', T0 + 60 * MIN);
    await s.d.flush();
    expect(await decision('ac-2', T0 + 60 * MIN)).toEqual({ anomaly: 1 });
    await s.d.stop();
    await s.scorer.close();
  });
});
