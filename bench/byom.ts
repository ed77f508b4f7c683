/**
 * npm run bench:byom -- [--seed 1] [--calibration-samples 400] [--experiments 21]
 *   [--normal-samples 9000] [--experiment-scale 1]   (larger: the flow at size)
 *
 * "Bring your own machine" as a user (or a held-back evaluation) runs it,
 * through the product's own commands against a running platform:
 *   1. ml/byom_eval.py writes a simulated pump bench as CSVs (one long normal
 *      recording, short experiments whose ground truth is an `anomaly` column)
 *      and scores the same data offline with the Python reference scorer plus
 *      classic detectors (PCA T²+Q, isolation forest) as references;
 *   2. POST /api/v1/device-types declares the type;
 *   3. `npm run model:train` trains on normal.csv and registers the model;
 *   4. `npm run replay` replays every experiment as its own device (--speed max);
 *   5. GET /api/v1/devices/:id/telemetry?metrics=anomaly reads the per-sample
 *      decisions back, which are scored against the ground truth.
 * Prints per-sample precision, recall, F1 and false-alarm rate of the platform,
 * the offline reference of the same model (they should agree: a gap means
 * samples lost or reordered in the flow) and the classic detectors. Bounded:
 * ~25k samples, a few minutes on 2 cores at the defaults.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { drainDiagnosis, ownStack } from '../scorecard/run.ts';
import { createPlatformClient } from '../simulator/platform.ts';
import { readCsv } from '../simulator/replay/csv.ts';
import { parseTimestamp } from '../simulator/replay/timestamps.ts';

const ROOT = new URL('../', import.meta.url).pathname;
/** The CSVs name one column as a recorder would (ml/byom_eval.py RECORDER_NAMES); both commands map it. */
const MAP = 'Volume Flow RateRMS=flowLpm';

function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}\n${err.slice(-2000)}`))));
  });
}

interface Counts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

function summary(c: Counts) {
  const p = c.tp + c.fp ? c.tp / (c.tp + c.fp) : 0;
  const r = c.tp + c.fn ? c.tp / (c.tp + c.fn) : 0;
  const f1 = p + r ? (2 * p * r) / (p + r) : 0;
  return { precision: +p.toFixed(3), recall: +r.toFixed(3), f1: +f1.toFixed(3), far: +(c.fp + c.tn ? c.fp / (c.fp + c.tn) : 0).toFixed(3) };
}

/** Ground truth of an experiment CSV: epoch ms → 0/1. */
async function labels(file: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  let header: string[] | undefined;
  for await (const rec of readCsv(createReadStream(file), ';')) {
    if (!header) {
      header = rec.fields;
      continue;
    }
    const ts = parseTimestamp(rec.fields[header.indexOf('datetime')] ?? '');
    if (ts !== undefined) out.set(ts, Number(rec.fields[header.indexOf('anomaly')]));
  }
  return out;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      'calibration-samples': { type: 'string', default: '400' },
      experiments: { type: 'string', default: '21' },
      'normal-samples': { type: 'string', default: '9000' },
      'experiment-scale': { type: 'string', default: '1' },
    },
    strict: true,
  });
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-bench-byom-'));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const { stack, target, dataDir } = await ownStack('warn');
  try {
    const t0 = Date.now();
    const offline = JSON.parse(
      await run('python3', ['ml/byom_eval.py', '--seed', v.seed!, '--calibration-samples', v['calibration-samples']!, '--experiments', v.experiments!,
        '--normal-samples', v['normal-samples']!, '--experiment-scale', v['experiment-scale']!, '--write-csv', dir]),
    ) as { fleetdoc: ReturnType<typeof summary>; references: Record<string, ReturnType<typeof summary>>; samples: number };
    log(`offline reference and CSVs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const platform = createPlatformClient(target);
    const type = JSON.parse(await readFile(join(dir, 'type.json'), 'utf8')) as { name: string };
    await platform.call('POST', '/device-types', type);

    const t1 = Date.now();
    const cli = { FLEETDOC_API_URL: target.apiUrl, FLEETDOC_MQTT_URL: target.mqttUrl, FLEETDOC_API_KEY: target.apiKey };
    await run('npx', ['tsx', 'scripts/model-train.ts', '--type', type.name, '--csv', join(dir, 'normal.csv'), '--time-column', 'datetime', '--separator', ';',
      '--map', MAP, '--api', target.apiUrl, '--api-key', target.apiKey]);
    log(`trained and registered in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    // the running scorer polls the registry about once a second
    await sleep(2500);

    const files = (await readdir(dir)).filter((f) => f.startsWith('exp-') && f.endsWith('.csv')).sort();
    const t2 = Date.now();
    for (let i = 0; i < files.length; i += 3) {
      await Promise.all(files.slice(i, i + 3).map((f) =>
        run('npx', ['tsx', 'simulator/bin/replay.ts', '--file', join(dir, f), '--type', type.name, '--device', f.replace(/\.csv$/, ''), '--time-column', 'datetime', '--map', MAP, '--speed', 'max'], cli)));
    }
    await drainDiagnosis(stack);
    if (process.env.BYOM_DEBUG) log(JSON.stringify(stack.diagnosis.stats()));
    log(`${files.length} experiments replayed and diagnosed in ${((Date.now() - t2) / 1000).toFixed(1)} s`);

    const c: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    let missing = 0;
    let samples = 0;
    for (const f of files) {
      const truth = await labels(join(dir, f));
      const times = [...truth.keys()];
      const from = times.reduce((a, b) => Math.min(a, b));
      const to = times.reduce((a, b) => Math.max(a, b)) + 1;
      const decided = new Map<number, number>();
      for (let next: string | null = new Date(from).toISOString(); next !== null; ) {
        const page: { rows: Array<{ ts: string; values: Record<string, unknown> }>; next: string | null } = await platform.call(
          'GET', `/devices/${f.replace(/\.csv$/, '')}/telemetry?metrics=anomaly&from=${next}&to=${to}&limit=100000`);
        for (const r of page.rows) decided.set(Date.parse(r.ts), Number(r.values.anomaly));
        next = page.next;
      }
      if (process.env.BYOM_DEBUG) {
        const miss = times.map((t, i) => (decided.has(t) ? -1 : i)).filter((i) => i >= 0);
        log(`${f}: ${decided.size} rows of ${times.length}; missing ${miss.length} ${miss.slice(0, 5).join(',')}…${miss.slice(-3).join(',')}`);
      }
      for (const [ts, y] of truth) {
        samples++;
        const d = decided.get(ts);
        if (d === undefined) missing++;
        const p = d === 1;
        if (p && y === 1) c.tp++;
        else if (p) c.fp++;
        else if (y === 1) c.fn++;
        else c.tn++;
      }
    }
    const result = summary(c);
    const best = Math.max(...Object.values(offline.references).map((r) => r.f1));
    const out = {
      seed: Number(v.seed), experiments: files.length, samples, samplesWithoutDecision: missing,
      platform: result, offlineSameModel: offline.fleetdoc, references: offline.references,
      platformF1VsBestReference: best ? +(result.f1 / best).toFixed(2) : null,
    };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
