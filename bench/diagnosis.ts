/**
 * `npm run bench:diagnosis` — the model layer alone (diagnosis/model): how
 * many sample windows the scorer turns into anomaly scores per second on one
 * core (features in TypeScript, one onnxruntime run() per micro-batch,
 * intraOpNumThreads 1), per batch size; memory per calibrated device at
 * 10,000 and 100,000 devices; then publish → diagnosis latency through the
 * whole platform beside bare Mosquitto (bench/diagnosis-latency.ts).
 *
 * stdout: one JSON line per scenario, with the target figure and the ratio.
 *
 * Then the cost of a diagnosis checkpoint (the rule engine's and the model's
 * state of every device saved to an on-disk PGlite ops store, then loaded
 * and restored), against the default interval between checkpoints.
 *
 *   npm run bench:diagnosis -- [--devices 10000] [--seconds 5] [--batches 1,64,1024] [--memory 10000,100000] [--type air-compressor]
 *                              [--checkpoint 10000]
 *                              [--latency-devices 200] [--latency-rate 5] [--latency-seconds 60] [--latency-only | --no-latency]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDeviceTypeFiles } from '../core/device-types.ts';
import { nullLogger } from '../core/logger.ts';
import type { DiagnosisStateRecord } from '../core/ports.ts';
import { RESUME_CHUNK, deviceRecords } from '../diagnosis/checkpoints.ts';
import { Engine } from '../diagnosis/engine.ts';
import { compileRuleSet } from '../diagnosis/rules/compile.ts';
import { loadShippedRuleSets } from '../diagnosis/rules/shipped.ts';
import { createPgliteClient } from '../storage/embedded/pglite-client.ts';
import { createSqlOpsStore } from '../storage/sql/sql-ops-store.ts';
import type { MetricValue } from '../core/domain/telemetry.ts';
import { createModelScorer } from '../diagnosis/model/scorer.ts';
import { benchLatency } from './diagnosis-latency.ts';
import type { ScoreInput } from '../diagnosis/model/types.ts';

const TARGET_WPS = 50_000;
const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    batches: { type: 'string', default: '1,64,1024' },
    memory: { type: 'string', default: '10000,100000' },
    checkpoint: { type: 'string', default: '10000' },
    type: { type: 'string', default: 'air-compressor' },
    'latency-devices': { type: 'string', default: '200' },
    'latency-rate': { type: 'string', default: '5' },
    'latency-seconds': { type: 'string', default: '60' },
    'latency-only': { type: 'boolean', default: false },
    'no-latency': { type: 'boolean', default: false },
  },
});

const gc = (globalThis as { gc?: () => void }).gc;
/** A settled heap: two full collections (the second takes what the first's finalizers released) after pending callbacks ran. */
async function settle(): Promise<NodeJS.MemoryUsage> {
  await new Promise((r) => setTimeout(r, 100));
  gc?.();
  gc?.();
  return process.memoryUsage();
}
const CAL = 20;

/** A compressor-like sample: each device its own offsets, load-driven correlation, noise. */
function sampleFor(dev: number, i: number): Record<string, MetricValue> {
  const off = (dev % 97) / 97;
  const load = 0.5 + 0.4 * Math.sin(i / 30 + dev);
  const n = () => Math.random() - 0.5;
  return {
    dischargePressureBar: 7 + off + 0.3 * load + 0.05 * n(),
    dischargeTempC: 75 + 5 * off + 8 * load + 0.5 * n(),
    oilTempC: 65 + 4 * off + 6 * load + 0.4 * n(),
    ambientTempC: 20 + 3 * off + 0.2 * n(),
    motorCurrentA: 80 + 10 * off + 30 * load + n(),
    vibrationRmsMmS: 2 + off + 0.5 * load + 0.1 * n(),
    airFilterDpMbar: 30 + 5 * off + 2 * n(),
    separatorDpBar: 0.4 + 0.1 * off + 0.02 * n(),
    loaded: load > 0.5,
    loadCycles: 1000 + Math.floor(i / 7),
    runHours: 5000 + i / 60,
  };
}

function inputs(devices: number, round: number, type: string): ScoreInput[] {
  const out: ScoreInput[] = new Array(devices);
  for (let d = 0; d < devices; d++) out[d] = { deviceId: `dev-${d}`, type, ts: round * 1000, metrics: sampleFor(d, round) };
  return out;
}

async function calibrate(scorer: ReturnType<typeof createModelScorer>, devices: number, type: string, chunk = 10_000) {
  for (let r = 0; r < CAL; r++) {
    for (let d0 = 0; d0 < devices; d0 += chunk) {
      const batch = inputs(Math.min(chunk, devices - d0), r, type).map((x, k) => ({ ...x, deviceId: `dev-${d0 + k}` }));
      await scorer.scoreBatch(batch);
    }
  }
}

async function throughput(batch: number) {
  const devices = Number(o.devices);
  const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: CAL });
  await calibrate(scorer, devices, o.type);
  // pre-built inputs so the figure is the scorer's, not the generator's
  const rounds = Array.from({ length: 8 }, (_, r) => inputs(devices, CAL + r, o.type));
  const run = async (ms: number) => {
    let n = 0;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let r = 0;
    while (performance.now() - t0 < ms) {
      const all = rounds[r++ % rounds.length] as ScoreInput[];
      for (let i = 0; i < all.length; i += batch) {
        await scorer.scoreBatch(all.slice(i, i + batch));
        n += Math.min(batch, all.length - i);
      }
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { n, secs, cpuSecs: (cpu.user + cpu.system) / 1e6 };
  };
  await run(1000); // warm up
  const m = await run(Number(o.seconds) * 1000);
  await scorer.close();
  const wps = m.n / m.secs;
  const perCore = m.n / m.cpuSecs;
  console.log(
    JSON.stringify({
      scenario: `score-batch-${batch}`,
      type: o.type,
      devices,
      batch,
      windows: m.n,
      fleetdoc_windows_per_s: Math.round(wps),
      fleetdoc_windows_per_cpu_s: Math.round(perCore),
      target_windows_per_s_per_core: TARGET_WPS,
      ratio: +(perCore / TARGET_WPS).toFixed(2),
    }),
  );
}

async function memory(devices: number) {
  gc?.();
  const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: CAL });
  await scorer.scoreBatch(inputs(1, 0, o.type)); // models loaded before the baseline reading
  scorer.resetDevice('dev-0');
  const before = await settle();
  await calibrate(scorer, devices, o.type);
  // one scored round so every device holds its final state (baseline + EWMA)
  for (let d0 = 0; d0 < devices; d0 += 10_000) await scorer.scoreBatch(inputs(Math.min(10_000, devices - d0), CAL, o.type).map((x, k) => ({ ...x, deviceId: `dev-${d0 + k}` })));
  const after = await settle();
  const perDevice = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / devices;
  console.log(
    JSON.stringify({
      scenario: `memory-${devices}`,
      type: o.type,
      devices: scorer.deviceCount(),
      bytes_per_device: Math.round(perDevice),
      heap_used_mb: +(after.heapUsed / 2 ** 20).toFixed(1),
      rss_mb: +(after.rss / 2 ** 20).toFixed(1),
      gc_exposed: gc !== undefined,
    }),
  );
  await scorer.close();
}

/** Save every device's state (rules + model) to an on-disk PGlite, then load and restore it all. */
async function checkpoint(devices: number) {
  const type = loadDeviceTypeFiles().find((t) => t.name === o.type)!;
  const layout = compileRuleSet(loadShippedRuleSets().get(o.type)!, type);
  const engine = new Engine({ liveLagMs: 60_000 });
  engine.setLayout(o.type, layout, 0);
  const scorer = createModelScorer({ logger: nullLogger(), calibrationSamples: CAL });
  for (let r = 0; r <= CAL; r++) {
    for (let d0 = 0; d0 < devices; d0 += 10_000) {
      const batch = inputs(Math.min(10_000, devices - d0), r, o.type).map((x, k) => ({ ...x, deviceId: `dev-${d0 + k}` }));
      const out = await scorer.scoreBatch(batch);
      batch.forEach((x, k) => {
        const res = out[k];
        engine.sample({ ...x, model: null, site: null }, res?.status === 'scored' ? res.result : undefined, x.ts + 3_600_000);
      });
    }
  }
  engine.drainIntents();
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-bench-ckpt-'));
  const store = createSqlOpsStore({ client: await createPgliteClient({ dir }), kind: 'pglite', logger: nullLogger() });
  await store.init();
  try {
    const t0 = performance.now();
    const ids = engine.takeDirty();
    const records = ids.flatMap((id) => deviceRecords(engine, scorer, id));
    const t1 = performance.now();
    await store.saveDiagnosisStates(records);
    const t2 = performance.now();
    const loaded: DiagnosisStateRecord[] = [];
    // as many devices a query as the service reads when devices reconnect
    for (let i = 0; i < ids.length; i += RESUME_CHUNK) loaded.push(...(await store.loadDiagnosisStates(ids.slice(i, i + RESUME_CHUNK))));
    const t3 = performance.now();
    const fresh = new Engine({ liveLagMs: 60_000 });
    fresh.setLayout(o.type, layout, 0);
    const scorer2 = createModelScorer({ logger: nullLogger(), calibrationSamples: CAL });
    await scorer2.refresh?.();
    let restored = 0;
    for (const r of loaded) {
      if (r.part === 'rules' ? fresh.restore(r.deviceId, o.type, r.key, r.state) : scorer2.importState!(r.deviceId, o.type, r.key, r.state)) restored++;
    }
    const t4 = performance.now();
    const bytes = records.reduce((n, r) => n + r.state.byteLength, 0);
    const intervalMs = 60_000;
    console.log(
      JSON.stringify({
        scenario: `checkpoint-${devices}`,
        type: o.type,
        devices: ids.length,
        records: records.length,
        state_bytes_per_device: Math.round(bytes / ids.length),
        snapshot_ms: Math.round(t1 - t0),
        save_ms: Math.round(t2 - t1),
        load_ms: Math.round(t3 - t2),
        restore_ms: Math.round(t4 - t3),
        restored_of_records: `${restored}/${records.length}`,
        reference_interval_ms: intervalMs,
        checkpoint_share_of_interval: +((t2 - t0) / intervalMs).toFixed(3),
      }),
    );
    await scorer2.close();
  } finally {
    await scorer.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (o['latency-only'] && o['no-latency']) {
  console.error('--latency-only and --no-latency exclude each other');
  process.exit(2);
}
if (!o['latency-only']) {
  for (const b of o.batches.split(',').map(Number)) await throughput(b);
  for (const d of o.memory.split(',').map(Number)) await memory(d);
  for (const d of o.checkpoint.split(',').filter(Boolean).map(Number)) await checkpoint(d);
}
if (!o['no-latency']) {
  const latency = { devices: Number(o['latency-devices']), rate: Number(o['latency-rate']), seconds: Number(o['latency-seconds']), warmupSeconds: 10 };
  console.log(JSON.stringify(await benchLatency(latency)));
  // the stack's and the clients' timers are gone; anything left (a lingering socket) must not hold the bench open
  process.exit(0);
}
