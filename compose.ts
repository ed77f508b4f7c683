/**
 * The composition root: config → logger → stores → services. Only this file
 * (and tests) import storage adapters; services see core's interfaces.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createApi } from './api/create-api.ts';
import { bootstrapAdminKey } from './api/bootstrap.ts';
import { createBroker } from './broker/create-broker.ts';
import { systemClock, type Clock } from './core/clock.ts';
import type { Config } from './core/config.ts';
import { FleetdocError } from './core/errors.ts';
import { loadDeviceTypeFiles } from './core/device-types.ts';
import type { Logger } from './core/logger.ts';
import { createMetrics } from './core/metrics.ts';
import type { OpsStore, TelemetryStore } from './core/ports.ts';
import { createDiagnosis, type DiagnosisOptions } from './diagnosis/create-diagnosis.ts';
import { createModelScorer } from './diagnosis/model/scorer.ts';
import { verifyModel } from './diagnosis/model/registry.ts';
import type { ModelScorer } from './diagnosis/model/types.ts';
import { createIngest } from './ingest/create-ingest.ts';
import { createPgliteClient } from './storage/embedded/pglite-client.ts';
import { createSqliteTelemetryStore } from './storage/embedded/sqlite-telemetry-store.ts';
import { createInfluxTelemetryStore } from './storage/influx/influx-telemetry-store.ts';
import { createPgClient } from './storage/postgres/pg-client.ts';
import { createSqlOpsStore } from './storage/sql/sql-ops-store.ts';

export function createTelemetryStore(config: Config, logger: Logger): TelemetryStore {
  if (config.influx) return createInfluxTelemetryStore({ ...config.influx, logger });
  mkdirSync(config.dataDir, { recursive: true });
  return createSqliteTelemetryStore({ dir: config.dataDir, logger });
}

export async function createOpsStore(config: Config, logger: Logger, clock: Clock, pgliteTemplate?: Blob): Promise<OpsStore> {
  if (config.db) return createSqlOpsStore({ client: await createPgClient({ url: config.db.url }), kind: 'postgres', clock, logger });
  const dir = join(config.dataDir, 'ops');
  mkdirSync(dir, { recursive: true });
  return createSqlOpsStore({ client: await createPgliteClient({ dir, ...(pgliteTemplate ? { template: pgliteTemplate } : {}) }), kind: 'pglite', clock, logger });
}

/** A store error that says the store could not be reached at all (an InfluxDB that answers with an error is configuration). */
function unreachable(err: unknown): boolean {
  return err instanceof FleetdocError && (err.details as { reachable?: boolean } | undefined)?.reachable === false;
}

/** How often a telemetry store unreachable at start is tried again. */
const STORE_INIT_RETRY_MS = 5000;

export interface StackOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** Overrides for tests (e.g. a store pointed at a harness server). */
  telemetryStore?: TelemetryStore;
  opsStore?: OpsStore;
  /** A migrated PGlite data dir to start new embedded databases from (tests). */
  pgliteTemplate?: Blob;
  /**
   * The model layer. Default: the shipped and registered ONNX models on this
   * stack's ops store. A factory builds another; `null` runs rules only.
   */
  scorer?: ModelScorer | ((deps: { opsStore: OpsStore; logger: Logger }) => ModelScorer) | null;
  /** Diagnosis timings (tests shorten the rule reload poll and presence check). */
  diagnosisOptions?: Partial<DiagnosisOptions>;
}

/** Environment for a whole stack on loopback, any free ports (tests, scorecard, benchmarks). */
export function loopbackEnv(dataDir: string, adminKey: string): Record<string, string> {
  return {
    DATA_DIR: dataDir,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_WS_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    FLEETDOC_ADMIN_KEY: adminKey,
  };
}

/** Builds the whole platform; nothing listens until start(). */
export async function createStack(opts: StackOptions) {
  const { config, logger } = opts;
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const telemetryStore = opts.telemetryStore ?? createTelemetryStore(config, logger);
  const opsStore = opts.opsStore ?? (await createOpsStore(config, logger, clock, opts.pgliteTemplate));
  const ingest = createIngest({ config, logger, clock, metrics, opsStore, telemetryStore });
  const scorer =
    opts.scorer === null ? undefined : typeof opts.scorer === 'function' ? opts.scorer({ opsStore, logger }) : (opts.scorer ?? createModelScorer({ logger, opsStore }));
  // the model's per-sample decisions go to the store through ingest's durable spool, as telemetry does
  const diagnosis = createDiagnosis({ logger, clock, opsStore, telemetryStore: { write: (points) => ingest.writeDerived(points) }, source: ingest, scorer, metrics, options: { checkpointMs: config.diagnosis.checkpointMs, ...opts.diagnosisOptions } });
  const broker = createBroker({ config, logger, metrics, clock, opsStore, gate: ingest });
  const api = createApi({
    config,
    logger,
    clock,
    opsStore,
    telemetryStore,
    commands: broker,
    metrics,
    healthChecks: [
      { name: `telemetry-store:${telemetryStore.kind}`, check: () => telemetryStore.ping() },
      { name: `ops-store:${opsStore.kind}`, check: () => opsStore.ping() },
      // at SPOOL_MAX_BYTES the broker stops acknowledging QoS1 telemetry
      { name: 'spool', check: async () => !ingest.spoolStats().full },
    ],
    onModelsChanged: scorer ? () => scorer.reload() : undefined,
    checkModel: (files) => verifyModel(files),
    onRecalibrationRequested: () => diagnosis.applyRecalibrations(),
  });
  /**
   * A telemetry store that cannot be reached at start does not keep the platform down: devices publish, the spool
   * keeps what they send, and the store is set up (an InfluxDB bucket looked up or created) once it answers. One
   * that answers with an error (a wrong token, an unknown org) still stops the start: that is configuration.
   */
  let initRetry: NodeJS.Timeout | undefined;
  async function initTelemetryStore(): Promise<void> {
    try {
      await telemetryStore.init();
    } catch (err) {
      if (!unreachable(err)) throw err;
      logger.error({ err }, `telemetry store unreachable at start; telemetry is spooled until it answers (trying again every ${STORE_INIT_RETRY_MS / 1000} s)`);
      let attempts = 1;
      const retry = () => {
        if (stopping) return;
        initRetry = setTimeout(() => {
          if (stopping) return;
          telemetryStore.init().then(
            () => logger.info('telemetry store reachable: set up'),
            (e: unknown) => {
              // every minute, not every try: an InfluxDB that answers with an error now says so
              if (++attempts % 12 === 0 || !unreachable(e)) logger.error({ err: e, attempts }, 'telemetry store still not set up; trying again');
              retry();
            },
          );
        }, STORE_INIT_RETRY_MS);
        initRetry.unref();
      };
      retry();
    }
  }
  let generatedAdminKey: string | undefined;
  let stopping: Promise<void> | undefined;

  return {
    config,
    metrics,
    telemetryStore,
    opsStore,
    ingest,
    diagnosis,
    broker,
    api,
    get generatedAdminKey() {
      return generatedAdminKey;
    },
    async start(): Promise<void> {
      await Promise.all([initTelemetryStore(), opsStore.init()]);
      for (const t of loadDeviceTypeFiles()) await opsStore.upsertDeviceType(t);
      generatedAdminKey = (await bootstrapAdminKey({ opsStore, adminKey: config.api.adminKey, logger })).generatedAdminKey;
      await ingest.start();
      await broker.start();
      await diagnosis.start();
      await api.start();
    },
    /** Stops in reverse order: no new traffic, then flush, then close stores. */
    stop(): Promise<void> {
      stopping ??= (async () => {
        clearTimeout(initRetry);
        await api.stop();
        await broker.stop();
        await diagnosis.stop();
        await scorer?.close();
        await ingest.stop();
        await Promise.allSettled([telemetryStore.close(), opsStore.close()]);
      })();
      return stopping;
    },
  };
}

export type Stack = Awaited<ReturnType<typeof createStack>>;
