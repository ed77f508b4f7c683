import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { CommandPublisher, HealthCheck, OpsStore, TelemetryStore } from '../core/ports.ts';
import type { ModelCard } from '../core/domain/model-card.ts';
import type { KeyCache } from './auth.ts';

export interface ApiOptions {
  /** How long an api key lookup is trusted; a key revoked elsewhere works at most this long. Default 5000. */
  keyCacheTtlMs?: number;
  /** How often unacknowledged commands past their expiry are marked expired. Default 1000. */
  commandExpiryIntervalMs?: number;
  /** Per health check, for /ready. Default 2000. */
  readyTimeoutMs?: number;
}

export interface ApiDeps {
  config: Pick<Config, 'api'>;
  logger: Logger;
  clock: Clock;
  opsStore: OpsStore;
  telemetryStore: TelemetryStore;
  commands: CommandPublisher;
  metrics: Pick<Metrics, 'registry' | 'commandsSent'>;
  healthChecks: readonly HealthCheck[];
  /** Told after a model was registered or removed, so a scorer in this process uses it at once (others poll). */
  onModelsChanged?: () => Promise<void>;
  /** Loads and runs a model about to be registered; throws, saying why, when it cannot serve its card. */
  checkModel?: (files: { card: ModelCard; anomaly: Uint8Array; classifier: Uint8Array | null }) => Promise<void>;
  /** Told after a recalibration was requested, so a diagnosis service in this process applies it at once (others poll). */
  onRecalibrationRequested?: () => Promise<void>;
  options?: ApiOptions;
}

/** What route plugins get: the deps plus what the app builds once. */
export interface RouteDeps extends ApiDeps {
  log: Logger;
  keyCache: KeyCache;
}
