/**
 * npm run replay -- --file data.csv --type air-compressor --device ac-0001
 *   (--time-column time | --interval 1s) [--separator ';'] [--map col=metric,…] [--speed x|max] [--start TIME]
 */
import { parseArgs } from 'node:util';
import { parseSpeed, requireDuration, resolveTarget, UsageError } from '../args.ts';
import { EARLIEST_TS } from '../../core/domain/telemetry.ts';
import { parseColumnMap } from './csv.ts';
import { replayCsv } from './replay.ts';
import { parseTimestamp } from './timestamps.ts';

const USAGE = `usage: npm run replay -- --file data.csv --type <device type> --device <id> (--time-column <col> | --interval D) [options]
  --time-column COL    the column holding each row's time
  --interval D         a recording without a time column: rows D apart (e.g. 1s, 3m), the first at --start or 2000-01-01
  --separator S        field separator (default: detected from the header among , ; tab |)
  --map col=metric,…   map CSV columns to metrics (columns named like a metric map by themselves)
  --speed X|max        X = recorded seconds per second; max (default) = batches as fast as the broker acknowledges
  --utc-offset ±HH:MM  zone of timestamps written without one (default +00:00)
  --no-wait            return once the broker has every sample, without waiting for their anomaly decisions
  --start TIME         shift the recording so that its earliest row is at TIME (ISO 8601 or epoch ms); a recording
                       with times before 2000-01-01 (elapsed seconds, an old bench) starts then without it
  --api URL --mqtt URL --api-key KEY   (or FLEETDOC_API_URL, FLEETDOC_MQTT_URL, FLEETDOC_API_KEY)`;

export function parseReplayArgs(argv: string[], env: Record<string, string | undefined>) {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string' }, type: { type: 'string' }, device: { type: 'string' }, 'time-column': { type: 'string' }, interval: { type: 'string' },
      separator: { type: 'string' }, map: { type: 'string' }, speed: { type: 'string' }, 'utc-offset': { type: 'string' }, start: { type: 'string' }, 'no-wait': { type: 'boolean' },
      api: { type: 'string' }, mqtt: { type: 'string' }, 'api-key': { type: 'string' }, help: { type: 'boolean' },
    },
    strict: true,
  });
  if (v.help) throw new UsageError(USAGE);
  for (const k of ['file', 'type', 'device'] as const) if (!v[k]) throw new UsageError(`--${k} is required\n${USAGE}`);
  if ((v['time-column'] === undefined) === (v.interval === undefined)) throw new UsageError(`give --time-column or, for a recording without times, --interval\n${USAGE}`);
  const intervalMs = v.interval === undefined ? undefined : requireDuration('--interval', v.interval);
  if (intervalMs !== undefined && v['utc-offset'] !== undefined) throw new UsageError('--utc-offset reads the zone of times in the file; with --interval it has none');
  const map: Record<string, string> = {};
  try {
    for (const [col, metric] of parseColumnMap(v.map ?? '')) map[col] = metric;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let utcOffsetMin = 0;
  if (v['utc-offset']) {
    const m = /^([+-])(\d{2}):?(\d{2})$/.exec(v['utc-offset']);
    if (!m) throw new UsageError('--utc-offset expects ±HH:MM');
    utcOffsetMin = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  }
  let startTs: number | undefined;
  if (v.start !== undefined) {
    startTs = parseTimestamp(v.start);
    if (startTs === undefined || startTs < EARLIEST_TS) throw new UsageError('--start expects a time from 2000-01-01 on (ISO 8601 or epoch ms)');
  }
  const sep = separatorOf(v.separator);
  if (sep !== undefined && sep.length !== 1) throw new UsageError('--separator must be one character');
  return {
    ...resolveTarget(v, env),
    file: v.file!, type: v.type!, device: v.device!, timeColumn: v['time-column'], intervalMs,
    separator: sep, map, speed: v.speed === undefined ? ('max' as const) : parseSpeed(v.speed), utcOffsetMin, startTs, waitForDecisions: !v['no-wait'],
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
  for (const [col, u] of Object.entries(s.unreadable)) {
    process.stderr.write(`column ${col}: ${u.count} cells not readable as its metric (first ${JSON.stringify(u.example)}, line ${u.line}); left out of their rows\n`);
  }
  if (o.intervalMs !== undefined) process.stderr.write(`rows ${o.intervalMs} ms apart from ${s.firstTs ?? '-'}${o.startTs === undefined ? ' (2000-01-01 unless --start)' : ''}\n`);
  else if (s.shiftMs !== 0) process.stderr.write(`times shifted by ${(s.shiftMs / 1000).toFixed(3)} s so that the recording starts at ${s.earliestTs}${o.startTs === undefined ? ' (they were before 2000-01-01, which the platform refuses; --start chooses)' : ''}\n`);
  if (s.decided !== null && s.decided < s.published) {
    process.stderr.write(`only ${s.decided} of ${s.published} samples have an anomaly decision after waiting 60 s without progress: see GET /api/v1/dead-letters?deviceId=${o.device}, and fleetdoc_diagnosis_dropped_samples_total on /metrics\n`);
  }
  if (s.refused.count > 0) {
    const reasons = Object.entries(s.refused.byReason).map(([r, n]) => `${r} ${n}`).join(', ');
    process.stderr.write(`${s.refused.capped ? 'at least ' : ''}${s.refused.count} samples refused by ingest (${reasons}), e.g. ${s.refused.examples.join('; ')}: see GET /api/v1/dead-letters?deviceId=${o.device}`);
    process.stderr.write(s.refused.byReason.out_of_range ? '. A range declared for the type refuses readings outside it (they get anomaly = 1 when the type has a model): declare sensors\' physical limits, not the span of a normal recording\n' : '\n');
  }
  if (s.nudged > 0) process.stderr.write(`${s.nudged} rows repeated the previous row's time: each sent 1 ms after the one before\n`);
  process.stdout.write(
    `${o.device} (${o.type}${s.registered ? ', registered' : ''}): ${s.rows} rows, ${s.published} samples published, ${s.badRowCount} bad rows skipped; ${s.earliestTs ?? '-'} → ${s.latestTs ?? '-'}${s.outOfOrder > 0 ? ` (rows out of time order: ${s.outOfOrder} earlier than the row before them)` : ''}${s.decided === null ? '' : `; ${s.decided} anomaly decisions readable`}\n`,
  );
}
