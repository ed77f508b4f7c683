/** Shared command-line plumbing for `npm run simulate` and `npm run replay`. */
import { parseDuration } from './time.ts';

export class UsageError extends Error {}

export interface Target {
  apiUrl: string;
  mqttUrl: string;
  apiKey: string;
}

/** --api/--mqtt/--api-key, else FLEETDOC_API_URL/FLEETDOC_MQTT_URL/FLEETDOC_API_KEY, else `npm start`'s defaults. */
export function resolveTarget(v: { api?: string; mqtt?: string; 'api-key'?: string }, env: Record<string, string | undefined>): Target {
  const apiKey = v['api-key'] ?? env.FLEETDOC_API_KEY;
  if (!apiKey) throw new UsageError('an API key is needed: --api-key or FLEETDOC_API_KEY (npm start prints the admin key on its first start)');
  return {
    apiUrl: v.api ?? env.FLEETDOC_API_URL ?? 'http://localhost:8080',
    mqttUrl: v.mqtt ?? env.FLEETDOC_MQTT_URL ?? 'mqtt://localhost:1883',
    apiKey,
  };
}

export function parseSpeed(text: string | undefined): number | 'max' {
  if (text === undefined) return 1;
  if (text === 'max') return 'max';
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--speed must be a positive number or max, got ${text}`);
  return n;
}

export function requireDuration(name: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`${name} must be a duration such as 90s, 15m, 6h, 30d; got ${text}`);
  return ms;
}
