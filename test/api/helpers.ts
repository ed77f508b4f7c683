import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { inject } from 'vitest';
import { createApi, type ApiDeps } from '../../api/create-api.ts';
import type { Clock } from '../../core/clock.ts';
import type { CommandMessage } from '../../core/domain/command.ts';
import type { Role } from '../../core/domain/api-key.ts';
import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import { nullLogger, type Logger } from '../../core/logger.ts';
import { createMetrics } from '../../core/metrics.ts';
import type { CommandPublisher, HealthCheck, OpsStore, TelemetryStore } from '../../core/ports.ts';
import { createPgliteClient } from '../../storage/embedded/pglite-client.ts';
import { createSqliteTelemetryStore } from '../../storage/embedded/sqlite-telemetry-store.ts';
import { createSqlOpsStore } from '../../storage/sql/sql-ops-store.ts';

let template: Promise<Blob | undefined> | undefined;
/** The migrated PGlite data dir the global setup made, so no test waits for initdb. */
export function pgliteTemplate(): Promise<Blob | undefined> {
  template ??= (async () => {
    const path = inject('pgliteTemplatePath');
    return path ? new Blob([await readFile(path)]) : undefined;
  })();
  return template;
}

/** An in-memory PGlite ops store, migrated. */
export async function memoryOpsStore(opts: { clock?: Clock; logger?: Logger } = {}): Promise<OpsStore> {
  const tpl = await pgliteTemplate();
  const client = await createPgliteClient({ dir: null, ...(tpl ? { template: tpl } : {}) });
  const store = createSqlOpsStore({ client, kind: 'pglite', clock: opts.clock, logger: opts.logger ?? nullLogger() });
  await store.init();
  return store;
}

/** 2025-06-01T12:00:00Z; tests move it forward by hand. */
export const T0 = Date.parse('2025-06-01T12:00:00.000Z');

export interface ManualClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

export function manualClock(start = T0): ManualClock {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** The only fake: publishing needs the broker. Records calls; can be told to fail. */
export function recordingPublisher() {
  const sent: Array<{ deviceId: string; message: CommandMessage }> = [];
  let failWith: Error | null = null;
  const publisher: CommandPublisher & { sent: typeof sent; fail(err: Error | null): void } = {
    sent,
    fail: (err) => {
      failWith = err;
    },
    async publishCommand(deviceId, message) {
      if (failWith) throw failWith;
      sent.push({ deviceId, message });
    },
    connectedDevices: () => 0,
    disconnectDevice: () => false,
  };
  return publisher;
}

export interface TestApi {
  app: FastifyInstance;
  api: ReturnType<typeof createApi>;
  opsStore: OpsStore;
  telemetryStore: TelemetryStore;
  publisher: ReturnType<typeof recordingPublisher>;
  clock: ManualClock;
  metrics: ReturnType<typeof createMetrics>;
  keys: Record<Role, string>;
  /** inject() with the key of a role (or none); the parsed JSON body comes back as `json`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are pinned down by the assertions
  call(role: Role | null, opts: InjectOptions): Promise<{ statusCode: number; json: any; body: string; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * A real api over real stores: the SQL ops store on in-memory PGlite and the
 * embedded SQLite telemetry store in a temp dir, shipped device types loaded.
 */
export async function startTestApi(
  opts: { healthChecks?: HealthCheck[]; options?: ApiDeps['options']; onRecalibrationRequested?: ApiDeps['onRecalibrationRequested'] } = {},
): Promise<TestApi> {
  const logger = nullLogger();
  const clock = manualClock();
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-api-'));
  const opsStore = await memoryOpsStore({ clock, logger });
  const telemetryStore = createSqliteTelemetryStore({ dir, logger, clock });
  await telemetryStore.init();
  for (const t of loadDeviceTypeFiles()) await opsStore.upsertDeviceType(t);

  const keys = {} as Record<Role, string>;
  for (const role of ['admin', 'service', 'viewer'] as const) keys[role] = (await opsStore.createApiKey(`test ${role}`, role)).key;

  const publisher = recordingPublisher();
  const metrics = createMetrics();
  const api = createApi({
    config: { api: { host: '127.0.0.1', port: 0, adminKey: undefined } },
    logger,
    clock,
    opsStore,
    telemetryStore,
    commands: publisher,
    metrics,
    healthChecks: opts.healthChecks ?? [
      { name: 'ops-store', check: () => opsStore.ping() },
      { name: 'telemetry-store', check: () => telemetryStore.ping() },
    ],
    options: opts.options,
    onRecalibrationRequested: opts.onRecalibrationRequested,
  });
  await api.app.ready();

  return {
    app: api.app,
    api,
    opsStore,
    telemetryStore,
    publisher,
    clock,
    metrics,
    keys,
    async call(role, injectOpts) {
      const headers = { ...(injectOpts.headers ?? {}) } as Record<string, string>;
      if (role) headers.authorization = `Bearer ${keys[role]}`;
      const res = await api.app.inject({ ...injectOpts, headers });
      let json: unknown;
      try {
        json = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        json = undefined;
      }
      return { statusCode: res.statusCode, json, body: res.body, headers: res.headers };
    },
    async close() {
      await api.stop();
      await Promise.allSettled([opsStore.close(), telemetryStore.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
