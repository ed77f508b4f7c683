/**
 * npm run replay -- --file data.csv --type air-compressor --device ac-0001
 *   --time-column time [--separator ';'] [--map col=metric,…] [--speed x|max]
 */
import { parseArgs } from 'node:util';
import { parseSpeed, resolveTarget, UsageError } from '../args.ts';
import { replayCsv } from './replay.ts';

const USAGE = `usage: npm run replay -- --file data.csv --type <device type> --device <id> --time-column <col> [options]
  --separator S        field separator (default: detected from the header among , ; tab |)
  --map col=metric,…   map CSV columns to metrics (columns named like a metric map by themselves)
  --speed X|max        X = recorded seconds per second; max (default) = batches as fast as the broker acknowledges
  --utc-offset ±HH:MM  zone of timestamps written without one (default +00:00)
  --api URL --mqtt URL --api-key KEY   (or FLEETDOC_API_URL, FLEETDOC_MQTT_URL, FLEETDOC_API_KEY)`;

export function parseReplayArgs(argv: string[], env: Record<string, string | undefined>) {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' }, type: { type: 'string' }, device: { type: 'string' }, 'time-column': { type: 'string' },
      separator: { type: 'string' }, map: { type: 'string' }, speed: { type: 'string' }, 'utc-offset': { type: 'string' },
      api: { type: 'string' }, mqtt: { type: 'string' }, 'api-key': { type: 'string' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (v.help) throw new UsageError(USAGE);
  for (const k of ['file', 'type', 'device', 'time-column'] as const) if (!v[k]) throw new UsageError(`--${k} is required\n${USAGE}`);
  const map: Record<string, string> = {};
  for (const part of (v.map ?? '').split(',').filter((p) => p.trim())) {
    const eq = part.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--map expects column=metric, got ${part}`);
    map[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  let utcOffsetMin = 0;
  if (v['utc-offset']) {
    const m = /^([+-])(\d{2}):?(\d{2})$/.exec(v['utc-offset']);
    if (!m) throw new UsageError('--utc-offset expects ±HH:MM');
    utcOffsetMin = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  }
  const sep = separatorOf(v.separator);
  if (sep !== undefined && sep.length !== 1) throw new UsageError('--separator must be one character');
  return {
    ...resolveTarget(v, env),
    file: v.file!, type: v.type!, device: v.device!, timeColumn: v['time-column']!,
    separator: sep, map, speed: v.speed === undefined ? ('max' as const) : parseSpeed(v.speed), utcOffsetMin,
  };
}

/** A --separator argument as the readers take it: `tab` or `\\t` for a tab, else the character itself. */
export function separatorOf(arg: string | undefined): string | undefined {
  return arg === '\\t' || arg === 'tab' ? '\t' : arg;
}

export async function runReplayCli(): Promise<void> {
  let o;
  try {
    o = parseReplayArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const s = await replayCsv({
    ...o,
    onBadRow: (line, reason) => process.stderr.write(`line ${line}: ${reason} (skipped)\n`),
    onProgress: (n) => process.stderr.write(`\r${n.toLocaleString('en')} samples published`),
  });
  process.stderr.write('\n');
  process.stdout.write(
    `${o.device} (${o.type}${s.registered ? ', registered' : ''}): ${s.rows} rows, ${s.published} samples published, ${s.badRows.length} bad rows skipped; ${s.firstTs ?? '-'} → ${s.lastTs ?? '-'}\n`,
  );
}
