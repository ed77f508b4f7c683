/**
 * `npm run bench:fuzz -- --messages 1000000 --seed 1`
 *
 * The long sweep behind test/hostile/fuzz.test.ts: the same seeded hostile
 * messages (every device topic kind, QoS0 and QoS1) from many connections,
 * valid telemetry from other devices at the same time, and malformed MQTT on
 * raw sockets throughout — against fleetdoc in a child process, so a crash
 * is observed rather than suffered. Ends with one JSON line: messages, dead
 * letters (expected vs counted), disconnects, crashes, valid samples sent vs
 * stored, elapsed, msg/s. Exits non-zero when anything does not add up.
 *
 * Options: --messages N (1,000,000) --seed N (1) --fuzzed N connections (48)
 * --clean N connections (16) --max-seconds N (3600; stops sending then, and
 * says so) --malformed-workers N (4) --ops postgres|pglite (postgres: a
 * throw-away local server as in the tests, or a fresh database on DATABASE_URL;
 * every dead letter is a row there) --window N (QoS1 in flight per connection,
 * 32).
 *
 * A connection the broker cuts is a contract violation: it is counted
 * (device_connections_cut, with the server's error log lines) and reopened.
 * Messages whose fate it left unknown (unacknowledged QoS1, QoS0 on that
 * connection) are reported apart; everything else must add up exactly.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { createStack } from '../compose.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { generateSecret } from '../core/secrets.ts';
import { fuzzDevice, mulberry32, type FuzzOptions } from '../test/hostile/fuzz-cases.ts';
import { DeviceSession, fuzzStream, newTally, pendingQos0, pump, runMalformed, settle, validStream, type Credentials, type Tally } from '../test/hostile/fuzz-run.ts';
import { startPostgres, type TestPostgres } from '../test/helpers/postgres.ts';
import { malformedCases } from '../test/hostile/malformed-packets.ts';

const MAX_PAYLOAD = 64 * 1024;
const ROGUES = 64;

interface Ready {
  event: 'ready';
  mqttPort: number;
  httpUrl: string;
  fuzzed: Credentials[];
  clean: Credentials[];
  rogue: Credentials[];
}

interface ServerStats {
  deadLetters: number;
  /** Error log lines by message, with the first error's text. */
  errors: Record<string, { count: number; first: string }>;
  stored: Record<string, number>;
  flushed: boolean;
  health: number;
}

async function countRows(url: string, table: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
  } finally {
    await c.end();
  }
}

/** The fleetdoc side: the whole stack, embedded stores, in this child process. */
async function server(): Promise<void> {
  const send = (m: unknown) => process.send?.(m);
  const config = loadConfig(process.env);
  // errors are tallied for the summary (e.g. "inbound gate failed": why a device was cut off)
  const errors: ServerStats['errors'] = {};
  const tallyErrors = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const e = JSON.parse(line) as { level: number; msg?: string; err?: { message?: string; detail?: string } };
        if (e.level < 50) continue;
        const key = e.msg ?? '(no message)';
        errors[key] ??= { count: 0, first: [e.err?.message, e.err?.detail].filter(Boolean).join(': ').slice(0, 300) };
        errors[key].count++;
      }
      cb();
    },
  });
  const logger = config.log.level === 'silent' ? pino({ level: 'error' }, tallyErrors) : createLogger({ level: config.log.level, pretty: false });
  const stack = await createStack({ config, logger });
  await stack.start();
  const fuzzed = Number(process.env.FUZZ_FUZZED);
  const clean = Number(process.env.FUZZ_CLEAN);
  const ids = [
    ...Array.from({ length: fuzzed }, (_, i) => `fuzz-${i}`),
    ...Array.from({ length: clean }, (_, i) => `clean-${i}`),
    ...Array.from({ length: ROGUES }, (_, i) => `rogue-${i}`),
  ];
  const reg = await stack.opsStore.registerDevices(ids.map((id) => ({ type: 'air-compressor', id })));
  const creds = reg.map((r) => ({ id: r.device.id, secret: r.secret }));
  const httpUrl = `http://127.0.0.1:${stack.api.address().port}`;
  send({ event: 'ready', mqttPort: stack.broker.addresses().mqtt, httpUrl, fuzzed: creds.slice(0, fuzzed), clean: creds.slice(fuzzed, fuzzed + clean), rogue: creds.slice(fuzzed + clean) } satisfies Ready);

  process.on('message', (m: { type: string; from?: number; ids?: string[] }) => {
    void (async () => {
      if (m.type === 'dead-letters') {
        const v = (await stack.metrics.deadLettered.get()).values.reduce((n, x) => n + x.value, 0);
        return send({ event: 'dead-letters', value: v });
      }
      if (m.type === 'stats') {
        const flushed = await stack.ingest.flush(120_000);
        const stored: Record<string, number> = {};
        for (const id of m.ids ?? []) {
          stored[id] = (await stack.telemetryStore.query({ deviceId: id, type: 'air-compressor', from: m.from ?? 0, to: Date.now() + 86_400_000, limit: 10_000_000 })).length;
        }
        const deadLetters = (await stack.metrics.deadLettered.get()).values.reduce((n, x) => n + x.value, 0);
        const health = (await fetch(`${httpUrl}/health`)).status;
        return send({ event: 'stats', deadLetters, stored, flushed, health, errors } satisfies ServerStats & { event: string });
      }
      if (m.type === 'stop') {
        await stack.stop();
        process.exit(0);
      }
    })();
  });
}

function waitFor<T>(child: ChildProcess, event: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server: no ${event} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: { event?: string }) => {
      if (m.event !== event) return;
      clearTimeout(t);
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
  });
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      messages: { type: 'string', default: '1000000' },
      seed: { type: 'string', default: '1' },
      fuzzed: { type: 'string', default: '48' },
      clean: { type: 'string', default: '16' },
      'max-seconds': { type: 'string', default: '3600' },
      'malformed-workers': { type: 'string', default: '4' },
      ops: { type: 'string', default: 'postgres' },
      window: { type: 'string', default: '32' },
    },
  });
  if (args.ops !== 'postgres' && args.ops !== 'pglite') throw new Error('--ops postgres | pglite');
  const total = Number(args.messages);
  const seed = Number(args.seed);
  const nFuzzed = Number(args.fuzzed);
  const nClean = Number(args.clean);
  const maxMs = Number(args['max-seconds']) * 1000;
  const dataDir = await mkdtemp(join(tmpdir(), 'fleetdoc-fuzz-'));
  let crashed: string | undefined;
  // dead letters are rows in the operational store: a million-message sweep writes millions
  const postgres: TestPostgres | undefined = args.ops === 'postgres' ? await startPostgres() : undefined;

  const child = fork(fileURLToPath(import.meta.url), ['--server'], {
    execArgv: ['--import', 'tsx', ...(process.env.FUZZ_SERVER_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.FUZZ_SERVER_PROF}`] : [])],
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      MQTT_WS_PORT: 'off',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      FLEETDOC_ADMIN_KEY: generateSecret('fd_'),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      MQTT_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
      // many messages from few connections: the per-connection flood limit is not under test here
      MQTT_MAX_MSGS_PER_S: '1000000',
      MQTT_BURST: '1000000',
      // keeps the dead-letter table of a million-message run to a sane size
      DEAD_LETTER_MAX_PAYLOAD_BYTES: '256',
      ...(postgres ? { DATABASE_URL: postgres.url } : {}),
      FUZZ_FUZZED: String(nFuzzed),
      FUZZ_CLEAN: String(nClean),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 || signal) crashed = `server exited: code ${code}, signal ${signal}`;
  });

  try {
    const ready = await waitFor<Ready>(child, 'ready', 120_000);
    const startTs = Date.now() - 3_600_000;
    const t0 = Date.now();
    const deadline = t0 + maxMs;
    const opts = (): FuzzOptions => ({ maxPayloadBytes: MAX_PAYLOAD, now: Date.now() });
    const cleanShare = Math.floor(total / 10);
    const fuzzShare = total - cleanShare;
    const share = (n: number, parts: number, i: number) => Math.floor(n / parts) + (i < n % parts ? 1 : 0);
    const past = () => Date.now() > deadline || crashed !== undefined;

    let disconnects = 0;
    let malformedSent = 0;
    let malformedNotClosed = 0;
    const malformedFailures: Record<string, number> = {};
    let stopMalformed = false;
    const malformed = malformedCases(mulberry32(seed ^ 0x9e3779b9));
    const malformedRng = mulberry32(seed + 7);
    const malformedWorkers = Array.from({ length: Number(args['malformed-workers']) }, async (_, w) => {
      for (let k = w; !stopMalformed && !past(); k += Number(args['malformed-workers'])) {
        const c = malformed[Math.floor(malformedRng() * malformed.length)]!;
        const as = ready.rogue[k % ready.rogue.length]!;
        // from all over 127/8: a malformed CONNECT with credentials is a failed authentication, and
        // thousands from one address would (rightly) get that address throttled
        const from = `127.0.${(k >> 8) & 255}.${1 + (k % 250)}`;
        const o = await runMalformed(ready.mqttPort, c, as, ready.clean[0]!.id, 20_000, from).catch((err: unknown) => ({ label: c.label, closed: false, acceptedConnack: false, setupFailed: String(err) }));
        malformedSent++;
        if (o.closed && !o.acceptedConnack && !o.setupFailed) disconnects++;
        else {
          malformedNotClosed++;
          const key = `${o.label}${o.setupFailed ? ` (${o.setupFailed})` : o.acceptedConnack ? ' (accepted)' : ' (still open)'}`;
          malformedFailures[key] = (malformedFailures[key] ?? 0) + 1;
        }
      }
    });

    const tallies: Tally[] = [];
    const sessions = new Set<DeviceSession>();
    const open = async (c: Credentials): Promise<DeviceSession> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const s = await DeviceSession.open(ready.mqttPort, c);
          sessions.add(s);
          return s;
        } catch (err) {
          if (attempt >= 5 || crashed) throw err;
          await new Promise((r) => setTimeout(r, 1000 * attempt));
        }
      }
    };
    const run = async (c: Credentials, n: number, kind: 'fuzz' | 'clean', i: number) => {
      let session = await open(c);
      const tally = newTally();
      tallies.push(tally);
      const rng = mulberry32(seed * 1000 + i + (kind === 'clean' ? 500 : 0));
      const dev = fuzzDevice(c.id, startTs);
      const next = kind === 'fuzz' ? fuzzStream(rng, dev, opts) : validStream(rng, dev);
      // in slices, so --max-seconds can stop a run that would take too long
      while (tally.messages < n && !past()) {
        await pump(session, Math.min(1000, n - tally.messages), next, tally, Number(args.window));
        if (session.closedByBroker) {
          // a contract violation (bad data must not cost a connection): counted, then carry on
          settle(session, tally);
          sessions.delete(session);
          session = await open(c);
        }
      }
      return { id: c.id, kind, tally, session: () => session };
    };
    const progress = setInterval(() => {
      const sent = tallies.reduce((n, t) => n + t.messages, 0);
      const cut = tallies.reduce((n, t) => n + t.cut, 0);
      process.stderr.write(`fuzz: ${sent} messages, ${Math.round(sent / ((Date.now() - t0) / 1000))} msg/s, ${disconnects} malformed connections closed, ${cut} device connections cut\n`);
    }, 10_000);
    const results = await Promise.all([
      ...ready.fuzzed.map((c, i) => run(c, share(fuzzShare, nFuzzed, i), 'fuzz', i)),
      ...ready.clean.map((c, i) => run(c, share(cleanShare, nClean, i), 'clean', i)),
    ]);
    clearInterval(progress);
    stopMalformed = true;
    await Promise.all(malformedWorkers);
    const sendMs = Date.now() - t0;
    const deadlineHit = Date.now() > deadline;

    const sum = (f: (t: Tally) => number, kind?: 'fuzz' | 'clean') => results.filter((r) => !kind || r.kind === kind).reduce((n, r) => n + f(r.tally), 0);
    // QoS0 has no PUBACK: give ingest time to judge the last of them
    const awaited = sum((t) => t.certain.deadLetters) + pendingQos0([...sessions]).deadLetters;
    for (let waited = 0; waited < 60_000 && !crashed; waited += 250) {
      child.send({ type: 'dead-letters' });
      if ((await waitFor<{ value: number }>(child, 'dead-letters', 30_000)).value >= awaited) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const r of results) settle(r.session(), r.tally);
    child.send({ type: 'stats', from: startTs, ids: results.map((r) => r.id) });
    const stats = await waitFor<ServerStats>(child, 'stats', 600_000);
    const stored = postgres ? await countRows(postgres.url, 'dead_letters') : null;
    const elapsedMs = Date.now() - t0;
    const storedFor = (kind?: 'fuzz' | 'clean') => results.filter((r) => !kind || r.kind === kind).reduce((n, r) => n + (stats.stored[r.id] ?? 0), 0);
    const messages = sum((t) => t.messages) + malformedSent;
    const dl = { certain: sum((t) => t.certain.deadLetters), uncertain: sum((t) => t.uncertain.deadLetters) };
    const samples = { certain: sum((t) => t.certain.samples), uncertain: sum((t) => t.uncertain.samples), stored: storedFor() };
    const within = (x: number, lo: number, extra: number) => x >= lo && x <= lo + extra;
    const cut = sum((t) => t.cut);
    const summary = {
      scenario: 'hostile-ingest-sweep',
      seed,
      ops_store: args.ops,
      messages,
      device_messages: sum((t) => t.messages),
      qos0_messages: sum((t) => t.qos0),
      malformed_connections: malformedSent,
      cases: new Set(results.flatMap((r) => [...r.tally.byLabel.keys()])).size,
      // messages whose fate is known (acknowledged, or QoS0 on a connection never cut) must match exactly
      dead_letters_expected: dl.certain,
      dead_letters_stored: stored,
      dead_letters_metric: stats.deadLetters,
      disconnects,
      malformed_not_closed: malformedNotClosed,
      ...(malformedNotClosed ? { malformed_failures: malformedFailures } : {}),
      device_connections_cut: cut,
      ...(cut ? { uncertain_messages: sum((t) => t.uncertain.messages), dead_letters_uncertain: dl.uncertain, samples_uncertain: samples.uncertain } : {}),
      server_errors: stats.errors,
      crashes: crashed ? 1 : 0,
      valid_samples_sent: samples.certain,
      valid_samples_stored: samples.stored,
      clean_samples_sent: sum((t) => t.certain.samples, 'clean'),
      clean_samples_stored: storedFor('clean'),
      health: stats.health,
      stopped_early: deadlineHit ? `--max-seconds ${args['max-seconds']} reached` : null,
      send_seconds: Math.round(sendMs / 100) / 10,
      elapsed_seconds: Math.round(elapsedMs / 100) / 10,
      msg_per_s: Math.round(messages / (sendMs / 1000)),
      ok: false,
    };
    summary.ok =
      !crashed &&
      stats.flushed &&
      stats.health === 200 &&
      cut === 0 &&
      malformedNotClosed === 0 &&
      within(stored ?? stats.deadLetters, dl.certain, dl.uncertain) &&
      within(samples.stored, samples.certain, samples.uncertain);
    process.stdout.write(JSON.stringify(summary) + '\n');
    const ok = summary.ok;
    for (const s of sessions) await s.close();
    child.send({ type: 'stop' });
    await new Promise((r) => child.once('exit', r));
    process.exitCode = ok ? 0 : 1;
  } catch (err) {
    process.stdout.write(JSON.stringify({ scenario: 'hostile-ingest-sweep', crashes: crashed ? 1 : 0, crash: crashed, error: String(err) }) + '\n');
    child.kill('SIGKILL');
    process.exitCode = 1;
  } finally {
    await postgres?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
  // pending sessions and workers after a failure must not keep the process alive
  process.exit();
}

if (process.argv.includes('--server')) {
  server().catch((err: unknown) => {
    process.stderr.write(`fuzz server failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
