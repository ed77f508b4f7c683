import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { errors } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65535);
/** A port, or `off` to disable the listener. */
const optionalPort = z.union([z.literal('off').transform(() => null), port]);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const Env = z.object({
  // LOG_LEVEL
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // DATA_DIR: embedded stores live here
  DATA_DIR: z.string().min(1).default('./data'),
  // MQTT_HOST, MQTT_PORT, MQTT_WS_PORT, MQTT_TLS_PORT, TLS_CERT_FILE, TLS_KEY_FILE
  MQTT_HOST: z.string().min(1).default('0.0.0.0'),
  MQTT_PORT: port.default(1883),
  MQTT_WS_PORT: optionalPort.default(8083),
  MQTT_TLS_PORT: port.default(8883),
  TLS_CERT_FILE: optionalString,
  TLS_KEY_FILE: optionalString,
  // MQTT_MAX_PAYLOAD_BYTES: larger packets are refused by the parser and the client is disconnected
  MQTT_MAX_PAYLOAD_BYTES: z.coerce.number().int().min(256).max(16 * 1024 * 1024).default(256 * 1024),
  // MQTT_MAX_MSGS_PER_S / MQTT_BURST: per-connection token bucket; a client past it is disconnected
  MQTT_MAX_MSGS_PER_S: z.coerce.number().int().min(1).default(2000),
  MQTT_BURST: z.coerce.number().int().min(1).default(10000),
  // MQTT_AUTH_FAILURES_PER_MIN / MQTT_AUTH_DEVICE_FAILURES_PER_MIN: wrong secrets allowed per client address
  // (IPv4, or IPv6 /64) / per device id; past it CONNECTs get CONNACK 3 unchecked. 0 = no limit
  MQTT_AUTH_FAILURES_PER_MIN: z.coerce.number().int().min(0).default(30),
  MQTT_AUTH_DEVICE_FAILURES_PER_MIN: z.coerce.number().int().min(0).default(10),
  // MQTT_AUTH_LIMITER_MAX_KEYS: addresses and device ids remembered (each); the least recently failed go first
  MQTT_AUTH_LIMITER_MAX_KEYS: z.coerce.number().int().min(100).default(100_000),
  // MQTT_SUBSCRIBER_BACKLOG_BYTES: QoS0 messages for a subscriber with more unsent bytes than this are dropped
  MQTT_SUBSCRIBER_BACKLOG_BYTES: z.coerce.number().int().min(64 * 1024).default(16 * 1024 * 1024),
  // HTTP_HOST, HTTP_PORT
  HTTP_HOST: z.string().min(1).default('0.0.0.0'),
  HTTP_PORT: port.default(8080),
  // FLEETDOC_ADMIN_KEY: becomes the first admin key when no admin key exists
  FLEETDOC_ADMIN_KEY: optionalString.pipe(z.string().min(16, 'FLEETDOC_ADMIN_KEY must be at least 16 characters').optional()),
  // INFLUX_URL, INFLUX_TOKEN, INFLUX_ORG, INFLUX_BUCKET: InfluxDB 2.x; embedded store when INFLUX_URL is unset
  INFLUX_URL: optionalString.pipe(z.url().optional()),
  INFLUX_TOKEN: optionalString,
  INFLUX_ORG: z.string().min(1).default('fleetdoc'),
  INFLUX_BUCKET: z.string().min(1).default('telemetry'),
  // DATABASE_URL: PostgreSQL for operational data; embedded PGlite when unset
  DATABASE_URL: optionalString,
  // INGEST_BATCH_SIZE, INGEST_FLUSH_MS, INGEST_MAX_FUTURE_S, DEAD_LETTER_MAX_PAYLOAD_BYTES
  INGEST_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(5000),
  INGEST_FLUSH_MS: z.coerce.number().int().min(1).max(60_000).default(100),
  INGEST_MAX_FUTURE_S: z.coerce.number().int().min(0).default(300),
  DEAD_LETTER_MAX_PAYLOAD_BYTES: z.coerce.number().int().min(16).max(1024 * 1024).default(4096),
  // SPOOL_DIR, SPOOL_MAX_BYTES, SPOOL_SEGMENT_BYTES: the durable spool between PUBACK and the telemetry store
  SPOOL_DIR: optionalString,
  SPOOL_MAX_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024 * 1024),
  SPOOL_SEGMENT_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
  // DIAGNOSIS_CHECKPOINT_S: how often the diagnosis engine saves changed devices' state (baselines, windows) to the ops store; 0 = only at shutdown
  DIAGNOSIS_CHECKPOINT_S: z.coerce.number().int().min(0).max(86_400).default(60),
  // INGEST_ACK: durable (PUBACK after fdatasync) | immediate (PUBACK before the spool write; benchmarks only, no guarantee)
  INGEST_ACK: z.enum(['durable', 'immediate']).default('durable'),
});

export type Env = z.infer<typeof Env>;

/** The validated, frozen configuration (derived from loadConfig, not written twice). */
export type Config = ReturnType<typeof loadConfig>;

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * Reads the environment once, reports every problem at once, and returns a
 * frozen config. Nothing else reads process.env.
 */
export function loadConfig(env: Record<string, string | undefined>) {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message} (got ${JSON.stringify(env[String(i.path[0])])})`);
    throw errors.config(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    problems.push('  TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  }
  if (e.INFLUX_URL && !e.INFLUX_TOKEN) problems.push('  INFLUX_TOKEN is required when INFLUX_URL is set');
  if (e.DATABASE_URL && !/^postgres(ql)?:\/\//.test(e.DATABASE_URL)) {
    problems.push('  DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  if (problems.length) throw errors.config(`invalid configuration:\n${problems.join('\n')}`);

  const dataDir = isAbsolute(e.DATA_DIR) ? e.DATA_DIR : resolve(e.DATA_DIR);
  return deepFreeze({
    log: { level: e.LOG_LEVEL },
    dataDir,
    broker: {
      host: e.MQTT_HOST,
      port: e.MQTT_PORT,
      wsPort: e.MQTT_WS_PORT as number | null,
      tls: (e.TLS_CERT_FILE && e.TLS_KEY_FILE ? { port: e.MQTT_TLS_PORT, certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE } : null) as { port: number; certFile: string; keyFile: string } | null,
      maxPayloadBytes: e.MQTT_MAX_PAYLOAD_BYTES,
      maxMsgsPerSecond: e.MQTT_MAX_MSGS_PER_S,
      burst: e.MQTT_BURST,
      authLimits: {
        perAddressPerMin: e.MQTT_AUTH_FAILURES_PER_MIN,
        perDevicePerMin: e.MQTT_AUTH_DEVICE_FAILURES_PER_MIN,
        maxKeys: e.MQTT_AUTH_LIMITER_MAX_KEYS,
      },
      subscriberBacklogBytes: e.MQTT_SUBSCRIBER_BACKLOG_BYTES,
    },
    api: { host: e.HTTP_HOST, port: e.HTTP_PORT, adminKey: e.FLEETDOC_ADMIN_KEY },
    influx: (e.INFLUX_URL ? { url: e.INFLUX_URL, token: e.INFLUX_TOKEN ?? '', org: e.INFLUX_ORG, bucket: e.INFLUX_BUCKET } : null) as { url: string; token: string; org: string; bucket: string } | null,
    db: (e.DATABASE_URL ? { url: e.DATABASE_URL } : null) as { url: string } | null,
    ingest: {
      batchSize: e.INGEST_BATCH_SIZE,
      flushMs: e.INGEST_FLUSH_MS,
      maxFutureMs: e.INGEST_MAX_FUTURE_S * 1000,
      deadLetterMaxPayloadBytes: e.DEAD_LETTER_MAX_PAYLOAD_BYTES,
      ack: e.INGEST_ACK,
    },
    diagnosis: { checkpointMs: e.DIAGNOSIS_CHECKPOINT_S * 1000 },
    spool: {
      dir: e.SPOOL_DIR ? resolve(e.SPOOL_DIR) : join(dataDir, 'spool'),
      maxBytes: e.SPOOL_MAX_BYTES,
      segmentBytes: Math.min(e.SPOOL_SEGMENT_BYTES, e.SPOOL_MAX_BYTES),
    },
  });
}
