/**
 * Bring your own machine: learns an anomaly model for a device type from
 * normal operation and registers it with a running platform.
 *
 *   npm run model:train -- --type air-compressor --csv normal.csv [--time-column ts] [--separator ';']
 *                          [--calibration-samples 720] [--target-far 0.01] --api http://host:8080 --api-key fd_...
 *   npm run model:train -- --type air-compressor --from-store --device ac-0001 --from 2026-01-01 --to 2026-02-01 --api … --api-key …
 *
 * Shells out to the Python pipeline (ml/train_anomaly.py) and POSTs the ONNX
 * file and model card to /api/v1/models/:type; the scorer picks it up
 * without a restart. Without --api it only writes the files (--out-dir).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DERIVED_METRICS } from '../core/domain/device-type.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TRAIN = join(ROOT, 'ml/train_anomaly.py');
const USAGE = `usage: npm run model:train -- --type <type> (--csv <file> [--csv <file>…] | --from-store --device <id> --from <time> --to <time>)
  [--time-column <col>] [--separator ';'] [--device-column <col>] [--map col=metric,…] [--calibration-samples N] [--target-far 0.01]
  [--threshold-margin 1.0] [--smoothing-alpha 0.3] [--wander-floor 0.25] [--device-threshold-margin 2 (0: off)] [--alarm-clear-ratio 0.8 (1: off)] [--holdout 0.25] [--out-dir <dir>]
  [--api <url> --api-key <key>] [--python python3]`;

export class CliError extends Error {}

const OPTIONS = {
  type: { type: 'string' },
  csv: { type: 'string', multiple: true },
  'time-column': { type: 'string' },
  separator: { type: 'string' },
  'device-column': { type: 'string' },
  map: { type: 'string' },
  'calibration-samples': { type: 'string' },
  'target-far': { type: 'string' },
  'threshold-margin': { type: 'string' },
  'smoothing-alpha': { type: 'string' },
  'wander-floor': { type: 'string' },
  'device-threshold-margin': { type: 'string' },
  'alarm-clear-ratio': { type: 'string' },
  holdout: { type: 'string' },
  'from-store': { type: 'boolean' },
  device: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'out-dir': { type: 'string' },
  api: { type: 'string' },
  'api-key': { type: 'string' },
  python: { type: 'string' },
  help: { type: 'boolean' },
} as const;

export interface TrainResult {
  type: string;
  modelId: string;
  threshold: number;
  /** Where the model files are: absent once registered without --out-dir (the work folder is removed). */
  outDir?: string;
  heldOut: Record<string, unknown>;
  calibrationSamples: number;
  registered?: { version: number };
  /** Said when the held-out check finds the threshold blind to most injected faults. */
  warning?: string;
}

/** Below this share of the injected steps, drifts and noise caught, training warns that the threshold is blind. */
const WEAK_HELD_OUT_RECALL = 0.5;
/** Above this share of held-back normal samples in alarm (each pseudo-device at its own threshold), training warns. */
const HIGH_HELD_BACK_FAR = 0.1;

/** The numeric options and what each accepts, checked before Python runs. */
const NUMERIC: Record<string, { test: (x: number) => boolean; says: string }> = {
  'calibration-samples': { test: (x) => Number.isInteger(x) && x >= 10, says: 'a whole number of samples, at least 10' },
  'target-far': { test: (x) => x > 0 && x <= 0.5, says: 'a share of normal samples above 0 and at most 0.5 (0.01 = 1 %)' },
  'threshold-margin': { test: (x) => x > 0, says: 'a factor above 0' },
  'smoothing-alpha': { test: (x) => x > 0 && x <= 1, says: 'above 0 and at most 1 (1: no smoothing)' },
  'wander-floor': { test: (x) => x >= 0, says: '0 or more' },
  'device-threshold-margin': { test: (x) => x >= 0, says: '0 (off) or more' },
  'alarm-clear-ratio': { test: (x) => x >= 0.5 && x <= 1, says: 'from 0.5 to 1 (1: no hysteresis)' },
  holdout: { test: (x) => x > 0 && x < 0.9, says: 'the share of each recording held back to check the threshold, above 0 and below 0.9' },
};

/** The numeric options for ml/train_anomaly.py, each checked and passed on as the number read (4e2 as 400). */
export function numericArgs(o: Readonly<Record<string, unknown>>): string[] {
  const out: string[] = [];
  for (const [k, rule] of Object.entries(NUMERIC)) {
    const raw = o[k];
    if (raw === undefined) continue;
    const x = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
    if (!Number.isFinite(x) || !rule.test(x)) throw new CliError(`--${k} ${String(raw)}: expected ${rule.says}`);
    out.push(`--${k}`, String(x)); // as read here: 4e2 or 400.0 reach Python as 400
  }
  return out;
}

/**
 * What to tell the user when the card's held-out check (faults injected into held-back normal data) shows a
 * threshold blind to most of them: normal operation strays from a calibration as far as faults do.
 */
export function heldOutWarning(r: Pick<TrainResult, 'heldOut' | 'calibrationSamples'>): string | undefined {
  const far = r.heldOut.heldBackNormalFalseAlarmRate;
  const noisy = typeof far === 'number' && far > HIGH_HELD_BACK_FAR
    ? `${(far * 100).toFixed(1)} % of the held-back normal samples alarm at each pseudo-device's own threshold: expect devices to ` +
      `alarm that often in normal operation. A longer calibration period (README: choosing the calibration period), ` +
      '--device-threshold-margin 0 (the card\'s threshold for every device) or a higher --threshold-margin trade some faults for fewer false alarms.'
    : undefined;
  const recall = r.heldOut.recall;
  if (typeof recall !== 'number' || recall >= WEAK_HELD_OUT_RECALL) return noisy;
  return `${noisy ? noisy + ' Also, ' : ''}the threshold catches only ${(recall * 100).toFixed(0)} % of the 4-5 std steps, drifts and noise injected into the held-back ` +
    `normal data: normal operation strays as far from a ${r.calibrationSamples}-sample calibration as those faults do, so expect ` +
    'small faults to go unseen. A calibration period that covers the slow changes of normal operation (README: choosing the ' +
    'calibration period), or normal data recorded the way the devices will run, may help.';
}

export function checkPython(python: string): void {
  const r = spawnSync(python, ['-c', 'import numpy, sklearn, skl2onnx, onnx, onnxruntime'], { encoding: 'utf8' });
  if (r.error) throw new CliError(`cannot run ${python} (${r.error.message}); install Python 3.11+ and run pip install -r ml/requirements.txt`);
  if (r.status !== 0) {
    const missing = /No module named '([^']+)'/.exec(r.stderr)?.[1];
    throw new CliError(`Python packages missing${missing ? ` (${missing})` : ''}: run pip install -r ml/requirements.txt`);
  }
}

async function api<T>(base: string, key: string | undefined, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  // the path goes after the base's own path (a platform behind a proxy at /fleetdoc), not in place of it;
  // a base given with the API's own prefix (…/api/v1) is taken without it
  const res = await fetch(new URL(base.replace(/\/+$/, '').replace(/\/api\/v1$/, '') + path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new CliError(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

interface TelemetryPage {
  rows: Array<{ ts: string; values: Record<string, unknown> }>;
  next: string | null;
}

/** The device's stored telemetry in [from, to) as a CSV with a `ts` column, read page by page (100,000 rows each). */
async function exportFromStore(base: string, key: string | undefined, device: string, from: string, to: string, file: string): Promise<number> {
  const rows: TelemetryPage['rows'] = [];
  for (let next: string | null = from; next !== null; ) {
    const q = new URLSearchParams({ from: next, to, limit: '100000' });
    const page: TelemetryPage = await api<TelemetryPage>(base, key, 'GET', `/api/v1/devices/${encodeURIComponent(device)}/telemetry?${q}`);
    for (const r of page.rows) rows.push(r);
    next = page.next;
  }
  const derived = new Set<string>(DERIVED_METRICS);
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r.values)))].filter((c) => !derived.has(c));
  const lines = [['ts', ...cols].join(',')];
  for (const r of rows) lines.push([r.ts, ...cols.map((c) => csvCell(r.values[c]))].join(','));
  await writeFile(file, lines.join('\n') + '\n');
  return rows.length;
}

function runPython(python: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [TRAIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new CliError(`ml/train_anomaly.py failed (exit ${code})`))));
  });
}

type Options = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>>['values'];

export async function modelTrain(argv: string[], log: (line: string) => void = console.error): Promise<TrainResult> {
  let o: Options;
  try {
    o = parseArgs({ args: argv, options: OPTIONS, strict: true }).values;
  } catch (err) {
    // an unknown option, or a value starting with '-' (give it as --threshold-margin=-1)
    throw new CliError(`${(err as Error).message}\n${USAGE}`);
  }
  if (o.help) throw new CliError(USAGE);
  numericArgs(o);
  if (!o.type) throw new CliError(`--type is required\n${USAGE}`);
  if (!o.csv?.length && !o['from-store']) throw new CliError(`give --csv <file> or --from-store\n${USAGE}`);
  if (o['from-store'] && (!o.api || !o.device || !o.from || !o.to)) throw new CliError('--from-store needs --api, --device, --from and --to');
  const python = o.python ?? 'python3';
  checkPython(python);

  const work = await mkdtemp(join(tmpdir(), 'fleetdoc-model-'));
  const done = { trained: false, registered: false };
  try {
    return await trainIn(o, work, python, log, done);
  } finally {
    // the work folder goes, unless it holds the only copy of a trained model (no --out-dir, not registered)
    if (o['out-dir'] === undefined && done.trained && !done.registered) log(`the model stays in ${join(work, 'out')}`);
    else await rm(work, { recursive: true, force: true });
  }
}

async function trainIn(o: Options, work: string, python: string, log: (line: string) => void, done: { trained: boolean; registered: boolean }): Promise<TrainResult> {
  if (!o.type) throw new CliError('--type is required');
  const outDir = o['out-dir'] ?? join(work, 'out');
  const typeFile = join(work, 'type.json');
  if (o.api) {
    await writeFile(typeFile, JSON.stringify(await api(o.api, o['api-key'], 'GET', `/api/v1/device-types/${encodeURIComponent(o.type)}`)));
  } else {
    const shipped = join(ROOT, 'core/device-types', `${o.type}.json`);
    if (!existsSync(shipped)) throw new CliError(`device type ${o.type} is not shipped; give --api to read it from the platform`);
    await writeFile(typeFile, await readFile(shipped));
  }

  const args = ['--type-json', typeFile, '--out-dir', outDir];
  if (o['from-store']) {
    const file = join(work, `${o.device}.csv`);
    const n = await exportFromStore(o.api as string, o['api-key'], o.device as string, o.from as string, o.to as string, file);
    if (n === 0) throw new CliError(`the store holds no samples of ${o.device} from ${o.from} to ${o.to}`);
    log(`exported ${n} samples of ${o.device} from the store`);
    args.push('--csv', file, '--time-column', 'ts');
  } else {
    for (const f of o.csv ?? []) {
      if (!existsSync(f)) throw new CliError(`no such file: ${f}`);
      args.push('--csv', f);
    }
    if (o['time-column']) args.push('--time-column', o['time-column']);
    if (o.separator) args.push('--separator', o.separator);
    if (o['device-column']) args.push('--device-column', o['device-column']);
    if (o.map) args.push('--map', o.map);
  }
  args.push(...numericArgs(o));

  const stdout = await runPython(python, args);
  const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as TrainResult;
  log(`trained ${summary.modelId}: threshold ${summary.threshold.toFixed(3)}, held-out ${JSON.stringify(summary.heldOut)}`);
  summary.warning = heldOutWarning(summary);
  if (summary.warning) log(`warning: ${summary.warning}`);
  // read once: for what it left out, and to register
  const card = JSON.parse(await readFile(join(outDir, `${o.type}.card.json`), 'utf8')) as { dropped?: Array<{ feature: string; reason: string }> };
  const { dropped } = card;
  if (dropped?.length) log(`left out of the model: ${dropped.map((d) => `${d.feature} (${d.reason})`).join(', ')}; a fault that shows only there goes unseen`);
  done.trained = true;
  if (o['out-dir'] !== undefined || !o.api) log(`wrote ${join(outDir, `${o.type}.anomaly.onnx`)} and ${join(outDir, `${o.type}.card.json`)}`);

  if (o.api) {
    const anomalyOnnx = (await readFile(join(outDir, `${o.type}.anomaly.onnx`))).toString('base64');
    const reg = await api<{ version: number }>(o.api, o['api-key'], 'POST', `/api/v1/models/${encodeURIComponent(o.type)}`, { card, anomalyOnnx });
    summary.registered = { version: reg.version };
    done.registered = true;
    log(`registered with ${o.api} as version ${reg.version}; devices of type ${o.type} recalibrate on their next samples`);
  }
  // the work folder is removed once the model is registered: no outDir to look in then
  if (o['out-dir'] === undefined && done.registered) delete summary.outDir;
  return summary;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  modelTrain(process.argv.slice(2)).then(
    (r) => console.log(JSON.stringify(r)),
    (err: unknown) => {
      console.error(err instanceof CliError ? `model:train: ${err.message}` : err);
      process.exit(err instanceof CliError ? 2 : 1);
    },
  );
}
