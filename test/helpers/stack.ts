import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { inject, onTestFinished } from 'vitest';
import { createStack, loopbackEnv, type Stack } from '../../compose.ts';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import type { Logger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { generateSecret } from '../../core/secrets.ts';
import type { DiagnosisOptions } from '../../diagnosis/create-diagnosis.ts';
import type { ModelScorer } from '../../diagnosis/model/types.ts';

export interface TestStack {
  stack: Stack;
  dataDir: string;
  mqttUrl: string;
  mqttPort: number;
  wsUrl: string;
  httpUrl: string;
  adminKey: string;
  /** JSON request against the api with the admin key (or the given key / none). */
  http<T = unknown>(method: string, path: string, body?: unknown, key?: string | null): Promise<{ status: number; body: T }>;
  registerDevice(type?: string, extra?: Record<string, unknown>): Promise<{ id: string; secret: string }>;
  connectDevice(id: string, secret: string, opts?: IClientOptions): Promise<MqttClient>;
  stop(): Promise<void>;
}

let template: Promise<Blob | undefined> | undefined;
/** The migrated PGlite template made once by the global setup. */
function pgliteTemplate(): Promise<Blob | undefined> {
  template ??= (async () => {
    const path = inject('pgliteTemplatePath');
    return path ? new Blob([await readFile(path)]) : undefined;
  })();
  return template;
}

/**
 * Starts the whole platform (broker over TCP and WebSocket, ingest, api)
 * on free ports with a temp data dir. Stores: embedded unless `env` points at
 * an InfluxDB / PostgreSQL the test started.
 */
export interface StackExtras {
  keepDataDir?: string;
  /** A model scorer for the diagnosis engine, built on the stack's own ops store. */
  scorer?: (deps: { opsStore: OpsStore; logger: Logger }) => ModelScorer;
  /** Diagnosis timings (e.g. a presence check every few ms). */
  diagnosisOptions?: Partial<DiagnosisOptions>;
}

export async function startStack(env: Record<string, string> = {}, opts: StackExtras = {}): Promise<TestStack> {
  const dataDir = opts.keepDataDir ?? (await mkdtemp(join(tmpdir(), 'fleetdoc-test-')));
  const adminKey = generateSecret('fd_');
  const config = loadConfig({
    ...loopbackEnv(dataDir, adminKey),
    INGEST_FLUSH_MS: '20',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const logger = createLogger({ level: config.log.level, pretty: false });
  const template = await pgliteTemplate();
  // tests run rules only unless they ask for a model scorer
  const stack = await createStack({ config, logger, pgliteTemplate: template, scorer: opts.scorer ?? null, diagnosisOptions: opts.diagnosisOptions });
  await stack.start();
  const { mqtt: mqttPort, ws } = stack.broker.addresses();
  const httpUrl = `http://127.0.0.1:${stack.api.address().port}`;
  const clients: MqttClient[] = [];

  const http: TestStack['http'] = async (method, path, body, key) => {
    const headers: Record<string, string> = {};
    const k = key === undefined ? adminKey : key;
    if (k !== null) headers.authorization = `Bearer ${k}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(httpUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (e.g. /metrics)
    }
    return { status: res.status, body: parsed as never };
  };

  const t: TestStack = {
    stack,
    dataDir,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    mqttPort,
    wsUrl: `ws://127.0.0.1:${ws}`,
    httpUrl,
    adminKey,
    http,
    async registerDevice(type = 'air-compressor', extra = {}) {
      const res = await http<{ device: { id: string }; secret: string }>('POST', '/api/v1/devices', { type, ...extra });
      if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
      return { id: res.body.device.id, secret: res.body.secret };
    },
    async connectDevice(id, secret, o = {}) {
      const client = await mqtt.connectAsync(t.mqttUrl, { clientId: id, username: id, password: secret, reconnectPeriod: 0, connectTimeout: 5000, ...o });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.endAsync(true)));
      await stack.stop();
      if (!opts.keepDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}

/** startStack + stop when the current test finishes. */
export async function useStack(env: Record<string, string> = {}, extras: Omit<StackExtras, 'keepDataDir'> = {}): Promise<TestStack> {
  const s = await startStack(env, extras);
  onTestFinished(() => s.stop());
  return s;
}
