/**
 * npm run bench:byom -- [--seed 1] [--calibration-samples 400] [--experiments 21]
 *   [--normal-samples 9000] [--experiment-scale 1]   (larger: the flow at size)
 * npm run bench:byom -- --normal-csv normal.csv --experiment-csv exp1.csv [--experiment-csv …]
 *   [--time-column datetime] [--separator ';'] [--label-column anomaly] [--skip-column changepoint]
 *   (recordings you bring instead of the simulated bench: ground truth in the label column)
 * Either way [--target-far 0.01] [--threshold-margin 1] [--smoothing-alpha 0.3] [--wander-floor 0.25]
 * [--device-threshold-margin 2] [--alarm-clear-ratio 0.8] go to model:train and to the offline scorer alike; [--far-limit 0.1] bounds the hindsight threshold's false alarms.
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
 * samples lost or reordered in the flow) and the classic detectors; per
 * experiment, recall and the share of its normal samples alarmed before its
 * first labelled anomaly and after its last; and the best F1 one threshold
 * would have reached in hindsight within the false-alarm limit. Bounded:
 * ~25k samples, a few minutes on 2 cores at the defaults.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { DERIVED_METRICS } from '../core/domain/device-type.ts';
import { drainDiagnosis, ownStack } from '../scorecard/run.ts';
import { createPlatformClient } from '../simulator/platform.ts';
import { separatorOf } from '../simulator/replay/cli.ts';
import { columnMapEntry, readCsv } from '../simulator/replay/csv.ts';
import { cellKind, recordingOrigin } from '../simulator/replay/replay.ts';
import { RecordingClock } from '../simulator/replay/timestamps.ts';

const ROOT = new URL('../', import.meta.url).pathname;
/** The simulated bench's CSVs name one column as a recorder would (ml/byom_eval.py RECORDER_NAMES); both commands map it. */
const BENCH_MAP = 'Volume Flow RateRMS=flowLpm';

/** Metric names the engine writes itself: a column may not take them. */
const RESERVED = new Set<string>(DERIVED_METRICS);

/**
 * A type for recordings a user brings: one metric per named column of the normal recording but the time, the
 * label and skipped ones, named like its column where that is a valid metric name, else from its letters and
 * digits (the `--map` both commands are given). Its kind comes from the values (as ml/byom_eval.py
 * column_kinds): a number where every value there reads as one, boolean where every one is a true/false word,
 * else a string, which the model leaves out. The file is read as replay reads it.
 */
async function typeFromHeader(file: string, sep: string | undefined, skip: Set<string>, calibrationSamples: number) {
  let header: string[] = [];
  const seen: Array<{ number: boolean; boolean: boolean }> = [];
  for await (const rec of readCsv(createReadStream(file), sep)) {
    if (header.length === 0) {
      header = rec.fields.map((f) => f.trim());
      for (let k = 0; k < header.length; k++) seen.push({ number: true, boolean: true });
      continue;
    }
    rec.fields.forEach((raw, k) => {
      const kind = k < seen.length ? cellKind(raw, rec.separator) : 'missing';
      if (kind === 'missing') return;
      seen[k]!.number &&= kind === 'number';
      seen[k]!.boolean &&= kind === 'boolean';
    });
  }
  const metrics: Array<{ name: string; kind: 'number' | 'boolean' | 'string' }> = [];
  const map: string[] = [];
  header.forEach((col, k) => {
    if (skip.has(col) || col === '') return;
    const base = col.replace(/[^A-Za-z0-9_]/g, '').replace(/^(?![A-Za-z])/, 'm').slice(0, 64);
    let name = base;
    for (let n = 2; metrics.some((m) => m.name === name) || RESERVED.has(name); n++) name = `${base.slice(0, 64 - String(n).length - 1)}_${n}`;
    metrics.push({ name, kind: seen[k]!.number ? 'number' : seen[k]!.boolean ? 'boolean' : 'string' });
    if (name !== col) map.push(columnMapEntry(col, name));
  });
  return { type: { name: 'recorded-machine', displayName: `Recorded machine (${basename(file)})`, calibrationSamples, metrics }, map: map.join(',') };
}

/** A ground-truth cell as ml/byom_eval.py reads it: 0/1 or true/false, else the run stops. */
function labelOf(cell: string | undefined, file: string): number {
  const v = (cell ?? '').trim().toLowerCase();
  if (v === '' || v === 'false') return 0;
  if (v === 'true') return 1;
  const n = Number(v);
  if (n === 0 || n === 1) return n;
  throw new Error(`${file}: ground truth ${JSON.stringify(cell)}; the label column must hold 0/1 or true/false`);
}

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

/** Ground truth of an experiment CSV, row by row: the time replay sends the row with (RecordingClock) and its 0/1. */
async function labels(file: string, sep: string | undefined, timeColumn: string, labelColumn: string): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  const clock = new RecordingClock({ origin: await recordingOrigin(file, sep, timeColumn) });
  let at: { time: number; label: number } | undefined;
  for await (const rec of readCsv(createReadStream(file), sep)) {
    if (!at) {
      const names = rec.fields.map((f) => f.trim());
      at = { time: names.indexOf(timeColumn), label: names.indexOf(labelColumn) };
      continue;
    }
    if (rec.fields.length === 1 && rec.fields[0]!.trim() === '') continue; // a blank line, as replay skips it
    const ts = clock.next(rec.fields[at.time] ?? '');
    if (ts !== undefined) out.push([ts, labelOf(rec.fields[at.label], file)]);
  }
  return out;
}

/**
 * The device each experiment replays as: its file name, with its folder's for recordings a user brings
 * (valve1/3.csv, valve2/3.csv), and a suffix where two would still be the same device.
 */
function deviceIds(files: readonly string[], withFolder: boolean): string[] {
  const used = new Set<string>();
  return files.map((file) => {
    const name = basename(file).replace(/\.csv$/i, '');
    const folder = basename(join(file, '..'));
    let base = (withFolder && folder !== '.' ? `${folder}-${name}` : name).replace(/[^A-Za-z0-9_.:-]/g, '_');
    if (!/^[A-Za-z0-9]/.test(base)) base = `x${base}`;
    base = base.slice(0, 60);
    let id = base;
    for (let k = 2; used.has(id); k++) id = `${base}-${k}`;
    used.add(id);
    return id;
  });
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      'calibration-samples': { type: 'string', default: '400' },
      experiments: { type: 'string', default: '21' },
      'normal-samples': { type: 'string', default: '9000' },
      'experiment-scale': { type: 'string', default: '1' },
      'normal-csv': { type: 'string', multiple: true },
      'experiment-csv': { type: 'string', multiple: true },
      'time-column': { type: 'string', default: 'datetime' },
      separator: { type: 'string' },
      'label-column': { type: 'string', default: 'anomaly' },
      'skip-column': { type: 'string', multiple: true, default: [] },
      // training options, passed to model:train and to the offline scorer alike
      'target-far': { type: 'string' },
      'threshold-margin': { type: 'string' },
      'smoothing-alpha': { type: 'string' },
      'wander-floor': { type: 'string' },
      'device-threshold-margin': { type: 'string' },
      'alarm-clear-ratio': { type: 'string' },
      // the offline scorer's hindsight threshold keeps its false alarms under this
      'far-limit': { type: 'string' },
    },
    strict: true,
  });
  /** The given options, passed on as they came. */
  const passOn = (keys: ReadonlyArray<'target-far' | 'threshold-margin' | 'smoothing-alpha' | 'wander-floor' | 'device-threshold-margin' | 'alarm-clear-ratio' | 'far-limit'>) =>
    keys.flatMap((k) => (v[k] === undefined ? [] : [`--${k}`, v[k]]));
  const trainArgs = passOn(['target-far', 'threshold-margin', 'smoothing-alpha', 'wander-floor', 'device-threshold-margin', 'alarm-clear-ratio']);
  const own = v['normal-csv'] !== undefined;
  if (own && !v['experiment-csv']?.length) throw new Error('--normal-csv needs at least one --experiment-csv');
  if (!own && v['experiment-csv']) throw new Error('--experiment-csv needs --normal-csv (the normal recording to train on)');
  const sep = separatorOf(v.separator);
  const sepArgs = sep === undefined ? [] : ['--separator', sep];
  const [timeColumn, labelColumn] = [v['time-column']!, v['label-column']!];
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-bench-byom-'));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const { stack, target, dataDir } = await ownStack('warn');
  try {
    const t0 = Date.now();
    const evalArgs = own
      ? [...v['normal-csv']!.flatMap((f) => ['--normal-csv', f]), ...v['experiment-csv']!.flatMap((f) => ['--experiment-csv', f]),
        ...v['skip-column']!.flatMap((c) => ['--skip-column', c]), '--time-column', timeColumn, ...sepArgs, '--label-column', labelColumn]
      : ['--seed', v.seed!, '--experiments', v.experiments!, '--normal-samples', v['normal-samples']!, '--experiment-scale', v['experiment-scale']!,
        '--write-csv', dir];
    const offline = JSON.parse(await run('python3', ['ml/byom_eval.py', '--calibration-samples', v['calibration-samples']!, ...trainArgs, ...passOn(['far-limit']), ...evalArgs])) as {
      fleetdoc: ReturnType<typeof summary>; references: Record<string, ReturnType<typeof summary>>; bestReferenceF1: number; samples: number;
      perExperiment: unknown[]; events: unknown; hindsightThreshold: unknown; labelSeparability: unknown;
    };
    log(`offline reference${own ? '' : ' and CSVs'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const { type, map } = own
      ? await typeFromHeader(v['normal-csv']![0]!, sep, new Set([timeColumn, labelColumn, ...v['skip-column']!]), Number(v['calibration-samples']))
      : { type: JSON.parse(await readFile(join(dir, 'type.json'), 'utf8')) as { name: string }, map: BENCH_MAP };
    const normals = own ? v['normal-csv']! : [join(dir, 'normal.csv')];
    const experiments = own
      ? v['experiment-csv']!
      : (await readdir(dir)).filter((f) => f.startsWith('exp-') && f.endsWith('.csv')).sort().map((f) => join(dir, f));
    const mapArgs = map ? ['--map', map] : [];
    const devices = deviceIds(experiments, own);
    const platform = createPlatformClient(target);
    await platform.call('POST', '/device-types', type);

    const t1 = Date.now();
    const cli = { FLEETDOC_API_URL: target.apiUrl, FLEETDOC_MQTT_URL: target.mqttUrl, FLEETDOC_API_KEY: target.apiKey };
    const trained = await run('npx', ['tsx', 'scripts/model-train.ts', '--type', type.name, ...normals.flatMap((f) => ['--csv', f]), '--time-column', timeColumn,
      ...sepArgs, ...mapArgs, ...trainArgs, '--api', target.apiUrl, '--api-key', target.apiKey]);
    const training = JSON.parse(trained.trim().split('\n').at(-1) ?? '{}') as { threshold?: number; heldOut?: unknown; warning?: string };
    log(`trained and registered in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    // the running scorer polls the registry about once a second
    await sleep(2500);

    const t2 = Date.now();
    for (let i = 0; i < experiments.length; i += 3) {
      await Promise.all(experiments.slice(i, i + 3).map((f, k) =>
        run('npx', ['tsx', 'simulator/bin/replay.ts', '--file', f, '--type', type.name, '--device', devices[i + k]!, '--time-column', timeColumn,
          ...sepArgs, ...mapArgs, '--speed', 'max'], cli)));
    }
    await drainDiagnosis(stack);
    if (process.env.BYOM_DEBUG) log(JSON.stringify(stack.diagnosis.stats()));
    log(`${experiments.length} experiments replayed and diagnosed in ${((Date.now() - t2) / 1000).toFixed(1)} s`);

    const c: Counts = { tp: 0, fp: 0, fn: 0, tn: 0 };
    let missing = 0;
    let samples = 0;
    for (const [e, f] of experiments.entries()) {
      const truth = await labels(f, sep, timeColumn, labelColumn);
      if (truth.length <= Number(v['calibration-samples'])) {
        log(`warning: ${f} has ${truth.length} rows, no more than the ${v['calibration-samples']} calibration samples: it is never judged (every decision 0)`);
      }
      const times = truth.map(([t]) => t);
      const from = times.reduce((a, b) => Math.min(a, b));
      const to = times.reduce((a, b) => Math.max(a, b)) + 1;
      const decided = new Map<number, number>();
      for (let next: string | null = new Date(from).toISOString(); next !== null; ) {
        const page: { rows: Array<{ ts: string; values: Record<string, unknown> }>; next: string | null } = await platform.call(
          'GET', `/devices/${devices[e]!}/telemetry?metrics=anomaly&from=${next}&to=${to}&limit=100000`);
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
    const best = offline.bestReferenceF1;
    const out = {
      ...(own ? {} : { seed: Number(v.seed) }), experiments: experiments.length, samples, samplesWithoutDecision: missing,
      platform: result, offlineSameModel: offline.fleetdoc, references: offline.references,
      training: { threshold: training.threshold, heldOut: training.heldOut, ...(training.warning ? { warning: training.warning } : {}) },
      platformF1VsBestReference: best ? +(result.f1 / best).toFixed(2) : null,
      // the offline scorer's view of the same model: where each experiment's alarms fell, and the best F1 one threshold reaches in hindsight
      perExperiment: offline.perExperiment,
      // the same decisions per anomaly: how many were caught, how soon, and how many alarm runs touched none
      events: offline.events,
      hindsightThreshold: offline.hindsightThreshold,
      // how well any one sensor splits the labels at all (an oracle's choice of metric per experiment): a ceiling on one-sensor evidence
      labelSeparability: offline.labelSeparability,
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
