/**
 * `npm run bench:ingest` — sustained QoS 1 telemetry through the full
 * fleetdoc path (broker → validation → batched store write) beside bare
 * Mosquitto forwarding the same load to one QoS 1 subscriber, in one run.
 *
 * Per rate: a Mosquitto reference run, then one run per fleetdoc target
 * (embedded SQLite, InfluxDB 2.x). Each run: connect the devices, warm up,
 * measure a fixed window, drain (bounded) until stored == sent. fleetdoc,
 * mosquitto, influxd and the load generator are separate processes, so
 * CPU time per process comes from /proc/<pid>/stat.
 *
 * stdout: one JSON line per (target, rate); everything else goes to stderr.
 *
 *   npm run bench:ingest -- [--rates 5000,10000,20000] [--duration 10] [--warmup 3]
 *     [--drain 20] [--devices 200] [--targets embedded,influx] [--gen-procs 1|2] [--client raw|mqttjs]
 *     [--set INGEST_FLUSH_MS=50 …] [--profile DIR] [--quick] [--max-minutes 30] [--idle-wait 60]
 *
 * The machine is shared: before each run the bench waits (≤ --idle-wait s)
 * for other processes to use < 0.4 cores, and every line reports
 * foreign_cores (CPU used by others during the window) so noisy numbers show.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Histogram } from './lib/histogram.ts';
import { startGenerators, type GenResult } from './lib/ingest-generators.ts';
import { influxdPath, startInfluxd, type Influxd } from './lib/influxd.ts';
import { parseOptions, type Options, type Target } from './lib/ingest-options.ts';
import { startFleetdoc, type FleetdocServer, type ServerStats } from './lib/ingest-server.ts';
import { startMosquitto, type MosquittoRef } from './lib/mosquitto.ts';
import { busyCores, cleanup, cleanupNow, cpuSeconds, hostJiffies, log, sleep, sleepUntil } from './lib/proc.ts';

// ---------------------------------------------------------------- one run

interface Sink {
  cpuPid: number;
  storePid?: number;
  setWindow(from: number, to: number): Promise<void>;
  /** Everything the target has handled so far (stored / received). */
  handledTotal(): Promise<number>;
}

interface RunResult {
  /** This process (orchestrator; the mosquitto subscriber in reference runs). */
  benchCores: number;
  /** Whole host, all processes, during the window. */
  hostBusyCores: number;
  /** Busy cores not accounted to this bench's processes (other work on the machine). */
  foreignCores: number;
  windowS: number;
  gen: GenResult;
  genCpuCores: number;
  /** CPU seconds of the target (and its store) during the window. */
  cpuS: number;
  storeCpuS: number | null;
  /** CPU seconds from window start to the end of the drain, and what the target handled in that time: the cost per message even when it lags. */
  cpuToDrainS: number;
  storeCpuToDrainS: number | null;
  handledFromWindow: number;
  handledTotal: number;
  drainS: number;
}

const round = (v: number | null, digits = 1) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits);

async function drive(o: Options, rate: number, url: string, devices: Array<{ id: string; secret?: string }>, sink: Sink): Promise<RunResult> {
  const gen = await startGenerators(o, url, devices);
  try {
    const startAt = Date.now() + 500;
    const windowStart = startAt + o.warmupS * 1000;
    const windowEnd = windowStart + o.durationS * 1000;
    await sink.setWindow(windowStart, windowEnd);
    const runs = gen.gens.map((g, i) =>
      g.rpc<{ sent: number }>(
        'run',
        {
          rate: rate * gen.shares[i]!,
          startAt,
          windowStart,
          windowEnd,
          maxMessages: Math.ceil(rate * gen.shares[i]! * (o.warmupS + o.durationS)) + 10,
        },
        (o.warmupS + o.durationS) * 1000 + 60_000,
      ),
    );
    const allRuns = Promise.all(runs);
    // awaited below; until then a generator dying must not be an unhandled rejection
    allRuns.catch(() => undefined);
    const genPids = gen.gens.map((g) => g.child.pid);
    const sample = () => ({
      at: performance.now(),
      host: hostJiffies(),
      self: process.cpuUsage(),
      cpu: cpuSeconds(sink.cpuPid),
      store: cpuSeconds(sink.storePid),
      gen: genPids.reduce<number>((s, p) => s + (cpuSeconds(p) ?? 0), 0),
    });
    await sleepUntil(windowStart);
    const c0 = sample();
    const handledAtStart = await sink.handledTotal();
    log(`  measuring ${o.durationS} s`);
    await sleepUntil(windowEnd);
    const c1 = sample();
    const sentTotal = (await allRuns).reduce((s, r) => s + r.sent, 0);
    // drain: the target must catch up with everything sent (bounded)
    const drainDeadline = Date.now() + o.drainS * 1000;
    let handled = await sink.handledTotal();
    while (handled < sentTotal && Date.now() < drainDeadline) {
      await sleep(100);
      handled = await sink.handledTotal();
    }
    const c2 = sample();
    const drainS = (Date.now() - windowEnd) / 1000;
    if (handled < sentTotal) log(`  drain timed out: ${handled} of ${sentTotal} handled after ${drainS.toFixed(1)} s`);
    const merged = await gen.finish();
    const windowS = (c1.at - c0.at) / 1000;
    const selfS = (c1.self.user + c1.self.system - c0.self.user - c0.self.system) / 1e6;
    const oursS = (c1.cpu ?? 0) - (c0.cpu ?? 0) + (c1.store ?? 0) - (c0.store ?? 0) + (c1.gen - c0.gen) + selfS;
    const hostCores = busyCores(c0.host, c1.host, availableParallelism());
    return {
      benchCores: selfS / windowS,
      hostBusyCores: hostCores,
      foreignCores: Math.max(0, hostCores - oursS / windowS),
      windowS,
      gen: merged,
      genCpuCores: (c1.gen - c0.gen) / windowS,
      cpuS: (c1.cpu ?? NaN) - (c0.cpu ?? NaN),
      storeCpuS: c0.store === null || c1.store === null ? null : c1.store - c0.store,
      cpuToDrainS: (c2.cpu ?? NaN) - (c0.cpu ?? NaN),
      storeCpuToDrainS: c0.store === null || c2.store === null ? null : c2.store - c0.store,
      handledFromWindow: handled - handledAtStart,
      handledTotal: handled,
      drainS,
    };
  } finally {
    await gen.stop();
  }
}

interface MosquittoResult {
  achieved_msgps: number | null;
  msgps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  cpu_s_per_10k: number | null;
  cpu_cores: number | null;
  lost: number;
  gen_cpu_cores: number | null;
  sub_cpu_cores: number | null;
  foreign_cores: number | null;
  error?: string;
}

async function runMosquitto(o: Options, rate: number): Promise<MosquittoResult> {
  let mosq: MosquittoRef | undefined;
  try {
    mosq = await startMosquitto();
    const m = mosq;
    const devices = Array.from({ length: o.devices }, (_, i) => ({ id: `bench-${String(i).padStart(5, '0')}` }));
    const r = await drive(o, rate, m.url, devices, {
      cpuPid: m.pid,
      async setWindow(from, to) {
        m.setWindow(from, to);
      },
      handledTotal: async () => m.received(),
    });
    const w = m.windowStats();
    const h = w.hist;
    return {
      achieved_msgps: round(r.gen.sentInWindow / o.durationS, 0),
      msgps: round(w.arrivedInWindow / r.windowS, 0),
      p50_ms: round(h.percentile(0.5)),
      p99_ms: round(h.percentile(0.99)),
      cpu_s_per_10k: round(r.cpuToDrainS / (r.handledFromWindow / 10_000), 3),
      cpu_cores: round(r.cpuS / r.windowS, 2),
      lost: r.gen.sent - r.handledTotal,
      gen_cpu_cores: round(r.genCpuCores, 2),
      sub_cpu_cores: round(r.benchCores, 2),
      foreign_cores: round(r.foreignCores, 2),
    };
  } catch (err) {
    log(`mosquitto run failed: ${err instanceof Error ? err.message : String(err)}`);
    return { achieved_msgps: null, msgps: null, p50_ms: null, p99_ms: null, cpu_s_per_10k: null, cpu_cores: null, lost: 0, gen_cpu_cores: null, sub_cpu_cores: null, foreign_cores: null, error: String(err) };
  } finally {
    await mosq?.stop();
  }
}

async function runFleetdoc(o: Options, target: Target, rate: number, influx: Influxd | null, ref: MosquittoResult): Promise<Record<string, unknown>> {
  const base = { scenario: 'qos1-ingest', target, rate_msgps: rate, devices: o.devices, duration_s: o.durationS, gen_procs: o.genProcs, gen_client: o.client };
  let server: FleetdocServer | undefined;
  try {
    server = await startFleetdoc(o, target, rate, influx, `${target}-${rate}`);
    const s = server;
    const r = await drive(o, rate, s.mqttUrl, s.devices, {
      cpuPid: s.child.pid!,
      storePid: target === 'influx' ? influx?.pid : undefined,
      async setWindow(from, to) {
        await s.rpc('window', { from, to });
      },
      handledTotal: async () => (await s.rpc<ServerStats>('stats')).storedTotal,
    });
    const st = await s.rpc<ServerStats>('stats', { waitProfile: true });
    if (o.profileDir) log(`  profile of the window: ${resolve(o.profileDir, `fleetdoc-${target}-${rate}.cpuprofile`)} (npx tsx bench/profile-top.ts FILE)`);
    const h = Histogram.from(st.hist);
    const pub = Histogram.from(r.gen.puback);
    const storedMsgps = st.storedInWallWindow / r.windowS;
    // per message: CPU from window start to the end of the drain per point stored meanwhile — only
    // meaningful when the drain finished; otherwise window CPU per PUBACK (intake) as a lower bound
    const drained = st.storedTotal >= r.gen.sent;
    const basis = drained ? r.handledFromWindow : r.gen.ackedInWindow;
    const cpuPer10k = (drained ? r.cpuToDrainS : r.cpuS) / (basis / 10_000);
    const storeCpu = drained ? r.storeCpuToDrainS : r.storeCpuS;
    const storeCpuPer10k = storeCpu === null ? null : storeCpu / (basis / 10_000);
    const line = {
      ...base,
      store: s.store,
      achieved_msgps: round(r.gen.sentInWindow / o.durationS, 0),
      acked_msgps: round(r.gen.ackedInWindow / r.windowS, 0),
      stored_msgps: round(storedMsgps, 0),
      p50_stored_ms: round(h.percentile(0.5)),
      p99_stored_ms: round(h.percentile(0.99)),
      max_stored_ms: round(h.max, 0),
      p50_puback_ms: round(pub.percentile(0.5)),
      p99_puback_ms: round(pub.percentile(0.99)),
      cpu_s_per_10k: round(cpuPer10k, 3),
      cpu_basis: drained ? 'stored' : 'acked',
      cpu_cores: round(r.cpuS / r.windowS, 2),
      store_cpu_s_per_10k: round(storeCpuPer10k, 3),
      store_cpu_cores: r.storeCpuS === null ? null : round(r.storeCpuS / r.windowS, 2),
      gen_cpu_cores: round(r.genCpuCores, 2),
      host_busy_cores: round(r.hostBusyCores, 2),
      foreign_cores: round(r.foreignCores, 2),
      mosquitto_achieved_msgps: ref.achieved_msgps,
      mosquitto_msgps: ref.msgps,
      mosquitto_p50_ms: ref.p50_ms,
      mosquitto_p99_ms: ref.p99_ms,
      mosquitto_cpu_s_per_10k: ref.cpu_s_per_10k,
      mosquitto_cpu_cores: ref.cpu_cores,
      mosquitto_lost: ref.lost,
      mosquitto_foreign_cores: ref.foreign_cores,
      ratio_msgps: ref.msgps ? round(storedMsgps / ref.msgps, 3) : null,
      ratio_cpu: ref.cpu_s_per_10k ? round(cpuPer10k / ref.cpu_s_per_10k, 1) : null,
      ratio_cpu_with_store: ref.cpu_s_per_10k && storeCpuPer10k !== null ? round((cpuPer10k + storeCpuPer10k) / ref.cpu_s_per_10k, 1) : null,
      sent: r.gen.sent,
      accepted: st.acceptedTotal,
      stored: st.storedTotal,
      lost: r.gen.sent - st.storedTotal,
      // where the not-yet-stored messages were when the bounded drain ended
      pending_intake: r.gen.sent - st.acceptedTotal,
      pending_spool: st.acceptedTotal - st.storedTotal,
      drain_s: round(r.drainS),
      unacked: r.gen.sent - r.gen.acked,
      disconnects: r.gen.disconnects,
      gen_max_backlog: r.gen.maxBacklog,
      gen_max_tick_gap_ms: r.gen.maxTickGapMs,
      store_batches: st.batches,
      rss_mb: st.rssMb,
      loop_delay_p50_ms: round(st.loopDelayMs?.p50 ?? null),
      loop_delay_p99_ms: round(st.loopDelayMs?.p99 ?? null),
    };
    return line;
  } catch (err) {
    log(`${target} @ ${rate}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return { ...base, error: err instanceof Error ? err.message : String(err) };
  } finally {
    await server?.stop();
  }
}

// ---------------------------------------------------------------- main

const QUIET_CORES = 0.4;

/** Waits (bounded) until the rest of the machine is quiet; our idle children barely count. */
async function waitForQuietHost(o: Options): Promise<void> {
  const deadline = Date.now() + o.idleWaitS * 1000;
  let warned = false;
  for (;;) {
    const a = hostJiffies();
    await sleep(1000);
    const busy = busyCores(a, hostJiffies(), availableParallelism());
    if (busy < QUIET_CORES) return;
    if (Date.now() >= deadline) {
      if (o.idleWaitS > 0) log(`  host still busy (${busy.toFixed(2)} cores used by other processes); measuring anyway — see foreign_cores`);
      return;
    }
    if (!warned) log(`  host busy (${busy.toFixed(2)} cores used by other processes); waiting up to ${o.idleWaitS} s for it to calm down`);
    warned = true;
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  const watchdog = setTimeout(() => {
    log(`aborting: the run exceeded --max-minutes ${o.maxMinutes}`);
    cleanupNow();
    process.exit(3);
  }, o.maxMinutes * 60_000);

  let influx: Influxd | null = null;
  const targets = [...o.targets];
  if (targets.includes('influx')) {
    const bin = influxdPath();
    if (!bin) {
      log('NOTE: skipping the influx target: no influxd 2.x binary (run `bash scripts/influxd.sh ensure` to build it, or put influxd on PATH)');
      targets.splice(targets.indexOf('influx'), 1);
    } else {
      log(`influxd binary: ${bin}`);
      influx = await startInfluxd();
    }
  }
  log(
    `rates ${o.rates.join(', ')} msg/s · ${o.devices} devices · warm-up ${o.warmupS} s · window ${o.durationS} s · drain ≤ ${o.drainS} s · ` +
      `targets ${targets.join(', ') || '(none)'} · ${o.genProcs} generator process(es)`,
  );
  for (const rate of o.rates) {
    await waitForQuietHost(o);
    log(`rate ${rate} msg/s: mosquitto reference`);
    const ref = await runMosquitto(o, rate);
    log(`  mosquitto: ${JSON.stringify(ref)}`);
    if (targets.length === 0) process.stdout.write(JSON.stringify({ scenario: 'qos1-ingest', target: 'mosquitto', rate_msgps: rate, devices: o.devices, duration_s: o.durationS, gen_client: o.client, ...ref }) + '\n');
    for (const target of targets) {
      await waitForQuietHost(o);
      log(`rate ${rate} msg/s: fleetdoc, ${target} store`);
      const line = await runFleetdoc(o, target, rate, influx, ref);
      process.stdout.write(JSON.stringify(line) + '\n');
    }
  }
  await influx?.stop();
  clearTimeout(watchdog);
}

let exiting = false;
const bail = (code: number, why: string) => {
  if (exiting) return;
  exiting = true;
  log(why);
  const force = setTimeout(() => {
    cleanupNow();
    process.exit(code);
  }, 8000);
  void cleanup().finally(() => {
    clearTimeout(force);
    process.exit(code);
  });
};
process.on('SIGINT', () => bail(130, 'interrupted; stopping child processes'));
process.on('SIGTERM', () => bail(143, 'terminated; stopping child processes'));
process.on('exit', () => cleanupNow());
process.on('unhandledRejection', (err) => {
  // while stopping, pending IPC calls fail as their children exit: expected
  if (!exiting) bail(1, `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
});

main().then(
  () => bail(0, 'done'),
  (err: unknown) => bail(1, `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
);
