/**
 * npm run scorecard -- --seed 42 --devices 500 --duration 30d [--out DIR]
 * npm run scorecard -- --ground-truth runs/42/ground-truth.jsonl --diagnoses diagnoses.json|api
 *
 * Precision, recall, F1, false diagnoses per 1,000 device-days, detection
 * delay and lead time before functional failure, per fault type and overall.
 */
import { parseArgs } from 'node:util';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAULTS } from '../simulator/faults/catalogue.ts';
import { MODELS } from '../simulator/models/index.ts';
import { requireDuration, resolveTarget, UsageError, type Target } from '../simulator/args.ts';
import { DAY, dayOfWeek } from '../simulator/time.ts';
import { computeScorecard, type ScoredDiagnosis } from '../scorecard/metrics.ts';
import { formatScorecard, writeScorecard } from '../scorecard/report.ts';
import { DEFAULT_INTERVALS, parseIntervals, runSimulation } from '../scorecard/run.ts';
import { fetchDiagnoses, readDiagnosesFile, readGroundTruth, readRunInfo, type RunInfo } from '../scorecard/sources.ts';
import { parseTime } from '../core/domain/common.ts';


const USAGE = `usage: npm run scorecard -- [options]
 simulate through the real stack (its own, unless --api/--mqtt/--api-key are given):
  --seed S               (default 42)     --devices N   (default 500)   --duration D (default 30d)
  --types a,b            (default all)    --fault-rate R (default 0.3)
  --interval t=D,…       sample interval per type (default ${DEFAULT_INTERVALS})
  --start ISO            first simulated instant (default: the last Monday 00:00 UTC from which
                         the run ends in the past, so a seed gives the same fleet all week)
  --api URL --mqtt URL --api-key KEY      a running platform instead of an own stack
 or score an earlier run:
  --ground-truth FILE    ground-truth.jsonl (its summary.json beside it gives fleet size and span)
  --diagnoses FILE|api   JSON array or JSON lines of diagnoses, or GET /api/v1/diagnoses (with --api, --api-key)
 either way:
  --grace D              a diagnosis may come this long after a fix or the end of the run (default 6h)
  --anomaly-recall       model-only 'anomaly' diagnoses detect any fault active on their device
  --out DIR              write DIR/scorecard.json (a simulation also leaves ground-truth.jsonl, summary.json, diagnoses.jsonl there)
  --quiet                no progress bar`;

/** Monday 00:00 UTC at or before ts: runs of a seed started within a week see the same weekdays, dates and weather. */
function weekStart(ts: number): number {
  return (Math.floor(ts / DAY) - dayOfWeek(ts, 0)) * DAY;
}

async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string' }, devices: { type: 'string' }, duration: { type: 'string' }, types: { type: 'string' },
      'fault-rate': { type: 'string' }, interval: { type: 'string' }, api: { type: 'string' }, mqtt: { type: 'string' },
      'api-key': { type: 'string' }, 'ground-truth': { type: 'string' }, diagnoses: { type: 'string' }, grace: { type: 'string' },
      start: { type: 'string' }, 'anomaly-recall': { type: 'boolean' }, out: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (v.help) throw new UsageError(USAGE);
  const graceMs = requireDuration('--grace', v.grace ?? '6h');
  const external = v.api !== undefined || v.mqtt !== undefined || v['api-key'] !== undefined;
  const target = (): Target => resolveTarget(v, process.env);
  const wallStart = Date.now();
  let groundTruthFile: string;
  let diagnoses: ScoredDiagnosis[];
  let run: RunInfo;
  let meta: Record<string, unknown>;

  if (v['ground-truth'] !== undefined) {
    if (v.diagnoses === undefined) throw new UsageError('--ground-truth needs --diagnoses FILE|api');
    groundTruthFile = v['ground-truth'];
    run = await readRunInfo(groundTruthFile);
    diagnoses = v.diagnoses === 'api' ? await fetchDiagnoses({ ...target(), fromTs: run.startTs, toTs: run.endTs + graceMs + 1 }) : await readDiagnosesFile(v.diagnoses);
    meta = { groundTruth: groundTruthFile, diagnoses: v.diagnoses };
  } else {
    const seedText = v.seed ?? '42';
    const seed = /^\d+$/.test(seedText) ? Number(seedText) : seedText;
    const devices = Number(v.devices ?? 500);
    if (!Number.isInteger(devices) || devices < 1) throw new UsageError('--devices must be a positive integer');
    const durationMs = requireDuration('--duration', v.duration ?? '30d');
    const types = (v.types ?? Object.keys(MODELS).join(',')).split(',').filter(Boolean);
    for (const t of types) if (!MODELS[t]) throw new UsageError(`unknown type ${t}`);
    const faultRate = Number(v['fault-rate'] ?? 0.3);
    if (!(faultRate >= 0 && faultRate <= 1)) throw new UsageError('--fault-rate must be between 0 and 1');
    const intervalMs = parseIntervals(v.interval ?? DEFAULT_INTERVALS);
    const startTs = v.start !== undefined ? (parseTime(v.start) ?? NaN) : weekStart(Date.now() - durationMs - 60_000);
    if (!Number.isFinite(startTs)) throw new UsageError('--start must be an ISO 8601 time');
    // nothing may be ahead of the platform clock
    if (startTs + durationMs > Date.now()) throw new UsageError('--start: the run must end in the past');
    const outDir = v.out ?? (await mkdtemp(join(tmpdir(), 'fleetdoc-scorecard-run-')));
    const res = await runSimulation({
      fleet: { seed, devices, types, faultRate, startTs, durationMs, intervalMs },
      outDir,
      target: external ? target() : undefined,
      progress: !v.quiet,
    });
    groundTruthFile = res.groundTruthFile;
    diagnoses = res.diagnoses;
    // kept beside the ground truth so the run can be scored again: --ground-truth … --diagnoses …
    await writeFile(join(outDir, 'diagnoses.jsonl'), diagnoses.map((d) => JSON.stringify(d)).join('\n') + (diagnoses.length ? '\n' : ''));
    run = { devices: res.summary.devices, startTs, endTs: startTs + durationMs };
    meta = { seed, start: new Date(startTs).toISOString(), devices, durationMs, types, faultRate, intervalMs, samples: res.summary.samplesSent, groundTruth: groundTruthFile };
  }

  const truth = await readGroundTruth(groundTruthFile);
  const sc = computeScorecard({
    truth,
    diagnoses,
    faultCodes: FAULTS.filter((f) => truth.some((t) => t.deviceType === f.deviceType) || diagnoses.some((d) => d.fault === f.code)).map((f) => f.code),
    runStartTs: run.startTs,
    runEndTs: run.endTs,
    devices: run.devices,
    graceMs,
    anomalyCountsForRecall: v['anomaly-recall'] ?? false,
  });
  const wallSeconds = (Date.now() - wallStart) / 1000;
  process.stdout.write(formatScorecard(sc));
  process.stdout.write(`${run.devices} devices, ${truth.length} faults, ${diagnoses.length} diagnoses; ${wallSeconds.toFixed(0)} s\n`);
  if (v.out !== undefined) process.stdout.write(`wrote ${await writeScorecard(v.out, sc, { ...meta, wallSeconds })}\n`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    const usage = err instanceof UsageError;
    process.stderr.write(`${usage ? (err as Error).message : String((err as Error).stack ?? err)}\n${usage && !(err as Error).message.startsWith('usage') ? USAGE + '\n' : ''}`);
    process.exit(usage ? 2 : 1);
  },
);
