/**
 * The fleetdoc side of `npm run bench:ingest`, in its own process so its CPU
 * time can be read from /proc apart from the load generator. Started by
 * bench/ingest.ts with fork(); the environment carries the fleetdoc config
 * (MQTT_PORT=0, HTTP_PORT=0, DATA_DIR, INFLUX_* …) plus BENCH_DEVICES.
 *
 * IPC: on start it sends {event:'ready', mqttPort, httpPort, store, devices:[{id, secret}]};
 * requests (see lib/ipc.ts): window {from, to}, stats {reset?}, shutdown.
 * With BENCH_PROFILE_FILE set, the main thread is CPU-profiled during the
 * measurement window (from 0.5 s before it; not start-up) and the
 * .cpuprofile written there.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createStack, type Stack } from '../compose.ts';
import { loadConfig } from '../core/config.ts';
import { createLogger } from '../core/logger.ts';
import { Histogram } from './lib/histogram.ts';
import { serveRpc } from './lib/ipc.ts';

const DEVICE_PREFIX = 'bench';

async function main(): Promise<void> {
  if (!process.send) throw new Error('bench/fleetdoc-server.ts is started by bench/ingest.ts (needs an IPC channel)');
  const deviceCount = Number(process.env.BENCH_DEVICES ?? '200');
  const config = loadConfig(process.env);
  // JSON logs to stdout; the parent forwards them to its stderr
  const logger = createLogger({ level: config.log.level, pretty: false });
  const stack: Stack = await createStack({ config, logger });
  await stack.start();

  // bulk registration through the ops store (the API's bulk route does the same)
  const registered = await stack.opsStore.registerDevices(
    Array.from({ length: deviceCount }, (_, i) => ({ type: 'air-compressor', id: `${DEVICE_PREFIX}-${String(i).padStart(5, '0')}`, site: 'bench', model: 'GA30' })),
  );

  let from = Infinity;
  let to = -Infinity;
  let storedTotal = 0;
  let acceptedTotal = 0;
  let storedInWallWindow = 0;
  let storedInWindow = 0;
  let batches = 0;
  const hist = new Histogram();
  // event-loop delay during the window: how long every callback (a drain step, a PUBACK) waits for its turn
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  let loopDelayTimers: NodeJS.Timeout[] = [];

  stack.ingest.onAccepted((points) => {
    acceptedTotal += points.length;
  });
  stack.ingest.onStored((points) => {
    const now = Date.now();
    storedTotal += points.length;
    batches++;
    if (now >= from && now < to) storedInWallWindow += points.length;
    for (const p of points) {
      if (p.ts >= from && p.ts < to) {
        storedInWindow++;
        hist.record(now - p.ts);
      }
    }
  });

  const profileFile = process.env.BENCH_PROFILE_FILE;
  let profiling: Promise<void> | undefined;
  /** Profiles [from, to) of the main thread through the inspector. */
  function profileWindow(file: string, start: number, end: number): Promise<void> {
    const session = new Session();
    session.connect();
    const at = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
    return (async () => {
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      // Profiler.start blocks the loop for a few hundred ms here: do it before the window, not in it
      await at(start - 500);
      await session.post('Profiler.start');
      await at(end);
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    })().catch((err: unknown) => {
      process.stderr.write(`fleetdoc-server: profiling failed: ${String(err)}\n`);
    });
  }

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= stack.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`fleetdoc-server: stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
    setTimeout(() => process.exit(1), 15_000).unref();
    return stopping;
  };

  serveRpc({
    window(req) {
      from = Number(req.from);
      to = Number(req.to);
      storedInWallWindow = 0;
      storedInWindow = 0;
      hist.reset();
      if (profileFile) profiling = profileWindow(profileFile, from, to);
      loopDelayTimers.forEach(clearTimeout);
      loopDelay.disable();
      loopDelay.reset();
      loopDelayTimers = [setTimeout(() => loopDelay.enable(), Math.max(0, from - Date.now())), setTimeout(() => loopDelay.disable(), Math.max(0, to - Date.now()))];
    },
    async stats(req) {
      if (req.waitProfile && profiling) await profiling;
      const r = {
        storedTotal,
        acceptedTotal,
        batches,
        storedInWallWindow,
        storedInWindow,
        hist: hist.snapshot(),
        rssMb: Math.round(process.memoryUsage().rss / 1e6),
        loopDelayMs: loopDelay.count > 0 ? { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 } : null,
      };
      if (req.reset) {
        storedInWallWindow = 0;
        storedInWindow = 0;
        hist.reset();
      }
      return r;
    },
    shutdown() {
      void shutdown();
    },
  });
  // the parent is gone or interrupted: stop cleanly (flushes, writes a --cpu-prof profile)
  process.on('disconnect', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());

  process.send({
    event: 'ready',
    mqttPort: stack.broker.addresses().mqtt,
    httpPort: stack.api.address().port,
    store: stack.telemetryStore.kind,
    devices: registered.map((d) => ({ id: d.device.id, secret: d.secret })),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`fleetdoc-server failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
