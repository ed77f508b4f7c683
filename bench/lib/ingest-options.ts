/** Command line of `npm run bench:ingest` (see bench/ingest.ts), validated and bounded. */
import { parseArgs } from 'node:util';

const MAX_RATE = 200_000;
const MAX_MESSAGES_PER_RUN = 5_000_000;

export type Target = 'embedded' | 'influx';

export interface Options {
  rates: number[];
  durationS: number;
  warmupS: number;
  drainS: number;
  devices: number;
  targets: Target[];
  genProcs: number;
  client: 'raw' | 'mqttjs';
  set: Record<string, string>;
  profileDir: string | null;
  maxMinutes: number;
  idleWaitS: number;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      drain: { type: 'string' },
      devices: { type: 'string' },
      targets: { type: 'string' },
      'gen-procs': { type: 'string' },
      client: { type: 'string' },
      set: { type: 'string', multiple: true },
      profile: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'max-minutes': { type: 'string' },
      'idle-wait': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stderr.write(
      'usage: npm run bench:ingest -- [--rates 5000,10000,20000] [--duration 10] [--warmup 3] [--drain 20] [--devices 200]\n' +
        '         [--targets embedded,influx] [--gen-procs 1|2] [--client raw|mqttjs] [--set KEY=VALUE]… [--profile DIR] [--quick] [--max-minutes 30] [--idle-wait 60]\n',
    );
    process.exit(0);
  }
  const quick = values.quick;
  const num = (v: string | undefined, def: number, name: string, min: number, max: number) => {
    const n = v === undefined ? def : Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in [${min}, ${max}] (got ${v})`);
    return n;
  };
  const rates = (values.rates ?? (quick ? '2000' : '5000,10000,20000')).split(',').map((r) => num(r.trim(), 0, 'rates', 1, MAX_RATE));
  const targetsArg = values.targets ?? 'embedded,influx';
  const targets = targetsArg === 'none' ? [] : targetsArg.split(',').map((t) => t.trim());
  for (const t of targets) if (t !== 'embedded' && t !== 'influx') throw new Error(`--targets: unknown target ${t} (embedded, influx, or none for the mosquitto reference alone)`);
  const set: Record<string, string> = {};
  for (const kv of values.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects KEY=VALUE (got ${kv})`);
    set[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const o: Options = {
    rates,
    durationS: num(values.duration, quick ? 3 : 10, 'duration', 1, 120),
    warmupS: num(values.warmup, quick ? 1 : 3, 'warmup', 0, 60),
    drainS: num(values.drain, quick ? 10 : 20, 'drain', 1, 120),
    devices: Math.floor(num(values.devices, quick ? 50 : 200, 'devices', 1, 5000)),
    targets: targets as Target[],
    genProcs: Math.floor(num(values['gen-procs'], 1, 'gen-procs', 1, 2)),
    client: values.client === 'mqttjs' ? 'mqttjs' : 'raw',
    set,
    profileDir: values.profile ?? null,
    maxMinutes: num(values['max-minutes'], 30, 'max-minutes', 1, 240),
    idleWaitS: num(values['idle-wait'], quick ? 0 : 60, 'idle-wait', 0, 600),
  };
  if (values.client !== undefined && values.client !== 'raw' && values.client !== 'mqttjs') throw new Error(`--client must be raw or mqttjs (got ${values.client})`);
  for (const r of o.rates) {
    if (r * (o.warmupS + o.durationS) > MAX_MESSAGES_PER_RUN) throw new Error(`rate ${r} × ${o.warmupS + o.durationS} s exceeds ${MAX_MESSAGES_PER_RUN} messages per run`);
  }
  return o;
}
