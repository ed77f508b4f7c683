/**
 * Table rows as both drivers return them (snake_case, timestamptz as Date,
 * jsonb parsed) and their mapping to the domain types of core/domain.
 */
import type { ApiKey, Role } from '../../core/domain/api-key.ts';
import type { Command, CommandStatus } from '../../core/domain/command.ts';
import type { DeadLetter, DeadLetterReason } from '../../core/domain/dead-letter.ts';
import type { Device, DeviceStatus } from '../../core/domain/device.ts';
import type { DeviceEvent } from '../../core/domain/event.ts';
import type { DeviceAuthRecord } from '../../core/ports.ts';

export type Ts = Date | string;

export function toIso(v: Ts): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}

export function isoOrNull(v: Ts | null): string | null {
  return v === null ? null : toIso(v);
}

/** Epoch ms → the ISO text passed as a `$n::timestamptz` parameter. */
export function msToIso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * JSON for a `json_to_recordset($n::json)` parameter. PostgreSQL text and
 * jsonb cannot hold U+0000, which raw payloads may contain, so it becomes
 * U+FFFD instead of failing the whole batch.
 */
export function recordsetJson(items: readonly unknown[]): string {
  return JSON.stringify(items, (_k, v: unknown) => (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v));
}

export const DEVICE_COLUMNS = 'id, type, model, firmware, site, owner, status, online, last_seen_at, created_at';

export interface DeviceRow {
  id: string;
  type: string;
  model: string | null;
  firmware: string | null;
  site: string | null;
  owner: string | null;
  status: DeviceStatus;
  online: boolean;
  last_seen_at: Ts | null;
  created_at: Ts;
}

export function toDevice(r: DeviceRow): Device {
  return {
    id: r.id,
    type: r.type,
    model: r.model,
    firmware: r.firmware,
    site: r.site,
    owner: r.owner,
    status: r.status,
    online: r.online,
    lastSeenAt: isoOrNull(r.last_seen_at),
    createdAt: toIso(r.created_at),
  };
}

export interface DeviceAuthRow {
  id: string;
  type: string;
  model: string | null;
  site: string | null;
  status: DeviceStatus;
  secret_hash: string;
}

export function toDeviceAuth(r: DeviceAuthRow): DeviceAuthRecord {
  return { id: r.id, type: r.type, model: r.model, site: r.site, status: r.status, secretHash: r.secret_hash };
}

export const API_KEY_COLUMNS = 'id, name, role, created_at, revoked_at';

export interface ApiKeyRow {
  id: string;
  name: string;
  role: Role;
  created_at: Ts;
  revoked_at: Ts | null;
}

export function toApiKey(r: ApiKeyRow): ApiKey {
  return { id: r.id, name: r.name, role: r.role, createdAt: toIso(r.created_at), revokedAt: isoOrNull(r.revoked_at) };
}

// bigserial ids are cast to text: pg returns int8 as a string, PGlite as a number.
export const DEAD_LETTER_COLUMNS = 'id::text AS id, device_id, topic, reason, detail, payload, payload_bytes, received_at';

export interface DeadLetterRow {
  id: string;
  device_id: string;
  topic: string;
  reason: DeadLetterReason;
  detail: string;
  payload: string;
  payload_bytes: number;
  received_at: Ts;
}

export function toDeadLetter(r: DeadLetterRow): DeadLetter {
  return {
    id: r.id,
    deviceId: r.device_id,
    topic: r.topic,
    reason: r.reason,
    detail: r.detail,
    payload: r.payload,
    payloadBytes: r.payload_bytes,
    receivedAt: toIso(r.received_at),
  };
}

export const EVENT_COLUMNS = 'id::text AS id, device_id, ts, kind, code, message, data';

export interface EventRow {
  id: string;
  device_id: string;
  ts: Ts;
  kind: string;
  code: string | null;
  message: string | null;
  data: Record<string, unknown> | null;
}

export function toEvent(r: EventRow): DeviceEvent {
  return { id: r.id, deviceId: r.device_id, ts: toIso(r.ts), kind: r.kind, code: r.code, message: r.message, data: r.data };
}

export const COMMAND_COLUMNS = 'id, device_id, name, params, status, detail, created_at, updated_at, expires_at';

export interface CommandRow {
  id: string;
  device_id: string;
  name: string;
  params: Record<string, unknown>;
  status: CommandStatus;
  detail: string | null;
  created_at: Ts;
  updated_at: Ts;
  expires_at: Ts;
}

export function toCommand(r: CommandRow): Command {
  return {
    id: r.id,
    deviceId: r.device_id,
    name: r.name,
    params: r.params,
    status: r.status,
    detail: r.detail,
    createdAt: toIso(r.created_at),
    updatedAt: toIso(r.updated_at),
    expiresAt: toIso(r.expires_at),
  };
}
