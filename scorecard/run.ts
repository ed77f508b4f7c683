/**
 * A seeded simulation through the real platform: its own stack (createStack
 * on free ports, a temp DATA_DIR, the shipped models) unless a target is
 * given, then the diagnoses it raised.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createStack, loopbackEnv, type Stack } from '../compose.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { generateSecret } from '../core/secrets.ts';
import { requireDuration, UsageError, type Target } from '../simulator/args.ts';
import { MODELS } from '../simulator/models/index.ts';
import type { FleetOptions } from '../simulator/fleet.ts';
import { startSimulation, type Summary } from '../simulator/runner.ts';
import type { ScoredDiagnosis } from './metrics.ts';
import { fetchDiagnoses } from './sources.ts';

/** One sample per 15 simulated minutes (washers: every 5 min during a programme): 500 devices × 30 d, ~1.06 M samples, in ~7 min on a busy 2-core machine. */
export const DEFAULT_INTERVALS = 'air-compressor=15m,refrigerator=15m,washing-machine=5m';

/** `type=duration,…` (e.g. DEFAULT_INTERVALS) → sample interval per simulated type, ms. */
export function parseIntervals(text: string): Record<string, number> {
  const intervalMs: Record<string, number> = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [t, d] = part.split('=');
    if (!t || !d || !MODELS[t]) throw new UsageError(`--interval expects type=duration, got ${part}`);
    intervalMs[t] = requireDuration('--interval', d);
  }
  return intervalMs;
}

export interface RunOptions {
  fleet: FleetOptions;
  outDir: string;
  /** A running platform; omitted = start our own. */
  target?: Target;
  progress?: boolean;
  log?: (msg: string) => void;
  logLevel?: string;
}

export interface RunResult {
  summary: Summary;
  diagnoses: ScoredDiagnosis[];
  groundTruthFile: string;
}

export async function ownStack(logLevel: string): Promise<{ stack: Stack; target: Target; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fleetdoc-scorecard-'));
  const apiKey = generateSecret('fd_');
  const config = loadConfig({ ...loopbackEnv(dataDir, apiKey), LOG_LEVEL: logLevel });
  const logger = createLogger({ level: config.log.level, pretty: false });
  // scorer omitted: the shipped models score, as in npm start
  const stack = await createStack({ config, logger, diagnosisOptions: { maxQueue: 5_000_000 } });
  await stack.start();
  const target = {
    apiUrl: `http://127.0.0.1:${stack.api.address().port}`,
    mqttUrl: `mqtt://127.0.0.1:${stack.broker.addresses().mqtt}`,
    apiKey,
  };
  return { stack, target, dataDir };
}

/** Waits until diagnosis has worked through every accepted sample (its queue stays empty). */
export async function drainDiagnosis(stack: Stack): Promise<void> {
  let last = -1;
  for (;;) {
    await stack.diagnosis.flush();
    const s = stack.diagnosis.stats();
    if (s.queued === 0 && s.samples + s.events === last) return;
    last = s.samples + s.events;
    await sleep(200);
  }
}

export async function runSimulation(o: RunOptions): Promise<RunResult> {
  const own = o.target ? undefined : await ownStack(o.logLevel ?? 'warn');
  const target = o.target ?? own!.target;
  try {
    const sim = await startSimulation({ fleet: o.fleet, ...target, speed: 'max', outDir: o.outDir, lingerMs: 0, progress: o.progress ?? false, log: o.log });
    const summary = await sim.done;
    const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
    log(`${summary.samplesSent} samples acknowledged in ${summary.wallSeconds.toFixed(1)} s`);
    const t0 = Date.now();
    let diagnoses: ScoredDiagnosis[];
    if (own) {
      await drainDiagnosis(own.stack);
      const st = own.stack.diagnosis.stats();
      // samples the engine never judged make missed and false diagnoses: say so
      log(`diagnosis judged ${st.samples} samples and ${st.events} events; ${st.late} out of order, ${st.dropped} dropped`);
      diagnoses = await own.stack.opsStore.listDiagnoses({ limit: 100_000_000 });
    } else {
      // another platform: give its diagnosis a moment past the last acknowledged sample
      await sleep(2000);
      diagnoses = await fetchDiagnoses({ ...target, fromTs: o.fleet.startTs, toTs: o.fleet.startTs + o.fleet.durationMs + 7 * 24 * 3_600_000 });
    }
    log(`diagnoses collected ${((Date.now() - t0) / 1000).toFixed(1)} s later`);
    // a shared platform holds other fleets' diagnoses too
    const ids = new Set(sim.fleet.devices.map((d) => d.id));
    return { summary, diagnoses: diagnoses.filter((d) => ids.has(d.deviceId)), groundTruthFile: join(o.outDir, 'ground-truth.jsonl') };
  } finally {
    if (own) {
      await own.stack.stop();
      await rm(own.dataDir, { recursive: true, force: true });
    }
  }
}
