/**
 * npm run simulate -- --devices 1000 --types air-compressor,refrigerator
 *   --fault-rate 0.1 --seed 42 --speed 60 --duration 6h --out runs/demo
 */
import { parseArgs } from 'node:util';
import { startControlServer } from './control.ts';
import { MODELS } from './models/index.ts';
import { startSimulation } from './runner.ts';
import { parseSpeed, requireDuration, resolveTarget, UsageError } from './args.ts';
import { parseTime } from '../core/domain/common.ts';

const USAGE = `usage: npm run simulate -- [options]
  --devices N            fleet size (default 10)
  --types a,b            device types (default: ${Object.keys(MODELS).join(',')})
  --fault-rate R         share of devices that develop a fault, 0–0.9 (default 0.1)
  --seed S               same seed → same fleet, faults and samples (default 42)
  --duration D           simulated time, e.g. 6h, 30d (default 6h)
  --start ISO            simulated start (default: now minus the duration)
  --speed X|max          simulated seconds per second (default 1); max = as fast as the broker acknowledges
  --interval t=D,…       sample interval per type, e.g. air-compressor=1s (washers: during a programme)
  --earliest-onset F     earliest fault onset as a share of the run (default 0.1)
  --no-glitches, --no-offline, --no-confounders
  --out DIR              output dir for ground-truth.jsonl and summary.json (default runs/<seed>)
  --linger D|forever     stay connected and obey commands after the last sample (default 0)
  --control-port P       HTTP control endpoint on 127.0.0.1 (POST /remedy, GET /ground-truth)
  --api URL --mqtt URL --api-key KEY   (or FLEETDOC_API_URL, FLEETDOC_MQTT_URL, FLEETDOC_API_KEY)
  --quiet                no progress bar`;

export function parseSimulateArgs(argv: string[], env: Record<string, string | undefined>) {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      devices: { type: 'string' }, types: { type: 'string' }, 'fault-rate': { type: 'string' }, seed: { type: 'string' },
      duration: { type: 'string' }, start: { type: 'string' }, speed: { type: 'string' }, interval: { type: 'string' },
      'earliest-onset': { type: 'string' }, 'no-glitches': { type: 'boolean' }, 'no-offline': { type: 'boolean' },
      'no-confounders': { type: 'boolean' }, out: { type: 'string' }, linger: { type: 'string' }, 'control-port': { type: 'string' },
      api: { type: 'string' }, mqtt: { type: 'string' }, 'api-key': { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (v.help) throw new UsageError(USAGE);
  const devices = Number(v.devices ?? 10);
  if (!Number.isInteger(devices) || devices < 1 || devices > 100_000) throw new UsageError('--devices must be an integer 1–100000');
  const types = (v.types ?? Object.keys(MODELS).join(',')).split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of types) if (!MODELS[t]) throw new UsageError(`unknown type ${t}; known: ${Object.keys(MODELS).join(', ')}`);
  const faultRate = Number(v['fault-rate'] ?? 0.1);
  if (!(faultRate >= 0 && faultRate <= 1)) throw new UsageError('--fault-rate must be between 0 and 1');
  const seedText = v.seed ?? '42';
  const seed = /^\d+$/.test(seedText) ? Number(seedText) : seedText;
  const durationMs = requireDuration('--duration', v.duration ?? '6h');
  const startTs = v.start !== undefined ? (parseTime(v.start) ?? NaN) : Date.now() - durationMs;
  if (!Number.isFinite(startTs)) throw new UsageError(`--start must be an ISO 8601 time, got ${v.start}`);
  const intervalMs: Record<string, number> = {};
  for (const part of (v.interval ?? '').split(',').filter(Boolean)) {
    const [t, d] = part.split('=');
    if (!t || !d || !MODELS[t]) throw new UsageError(`--interval expects type=duration, got ${part}`);
    intervalMs[t] = requireDuration('--interval', d);
  }
  const earliest = Number(v['earliest-onset'] ?? 0.1);
  if (!(earliest >= 0 && earliest < 1)) throw new UsageError('--earliest-onset must be in [0, 1)');
  const lingerMs = v.linger === undefined ? 0 : v.linger === 'forever' ? Infinity : requireDuration('--linger', v.linger);
  const controlPort = v['control-port'] === undefined ? undefined : Number(v['control-port']);
  return {
    target: resolveTarget(v, env),
    speed: parseSpeed(v.speed),
    outDir: v.out ?? `runs/${seedText}`,
    lingerMs,
    controlPort,
    progress: !v.quiet,
    fleet: {
      seed, devices, types, faultRate, startTs, durationMs, intervalMs, earliestOnset: earliest,
      glitches: !v['no-glitches'], offline: !v['no-offline'], confounders: !v['no-confounders'],
    },
  };
}

/** `npm run simulate`: parse, run, print the summary; exits the process. */
export async function runSimulateCli(): Promise<void> {
  let a;
  try {
    a = parseSimulateArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${err instanceof UsageError && !(err as Error).message.startsWith('usage') ? USAGE + '\n' : ''}`);
    process.exit(2);
  }
  if (a.fleet.startTs + a.fleet.durationMs > Date.now() + 60_000) {
    process.stderr.write('warning: the simulated clock runs past now; the platform rejects samples more than INGEST_MAX_FUTURE_S ahead\n');
  }
  const sim = await startSimulation({ fleet: a.fleet, ...a.target, speed: a.speed, outDir: a.outDir, lingerMs: a.lingerMs, progress: a.progress });
  const server = a.controlPort !== undefined ? await startControlServer(sim, a.controlPort) : undefined;
  if (server) process.stderr.write(`control endpoint: http://127.0.0.1:${(server.address() as { port: number }).port}\n`);
  const onSignal = () => void sim.stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const s = await sim.done;
  server?.close();
  process.stdout.write(
    [
      `devices ${s.devices} (${s.faultyDevices} with faults, ${s.devices - s.faultyDevices} fault-free)`,
      `samples sent ${s.samplesSent} in ${s.batchesSent} publishes, events ${s.eventsSent}, dropped ${s.samplesDropped}`,
      `faults injected ${s.faultsInjected}, fixed ${s.faultsFixed}`,
      `commands obeyed ${s.commandsObeyed}, failed ${s.commandsFailed}, ignored (expired) ${s.commandsIgnored}`,
      `simulated ${s.simulatedFrom} → ${s.simulatedTo} in ${s.wallSeconds.toFixed(1)} s; ground truth: ${s.outDir}/ground-truth.jsonl`,
    ].join('\n') + '\n',
  );
  process.exit(s.publishErrors > 0 && s.samplesSent === 0 ? 1 : 0);
}

