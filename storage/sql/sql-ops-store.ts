import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { CommandStatus } from '../../core/domain/command.ts';
import { errors } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { generateSecret, hashSecret } from '../../core/secrets.ts';
import { migrate } from './migrate.ts';
import {
  API_KEY_COLUMNS,
  COMMAND_COLUMNS,
  DEAD_LETTER_COLUMNS,
  EVENT_COLUMNS,
  msToIso,
  recordsetJson,
  toApiKey,
  toCommand,
  toDeadLetter,
  toEvent,
  type ApiKeyRow,
  type CommandRow,
  type DeadLetterRow,
  type EventRow,
} from './rows.ts';
import { SQLSTATE, sqlState, type SqlClient } from './sql-client.ts';
import { createSqlDevices } from './sql-devices.ts';
import { createSqlDiagnoses } from './sql-diagnoses.ts';
import { createSqlDiagnosisState } from './sql-diagnosis-state.ts';
import { createSqlModels } from './sql-models.ts';

type AckStatus = Exclude<CommandStatus, 'sent' | 'expired'>;
const ACK_STATUSES: ReadonlySet<string> = new Set<AckStatus>(['accepted', 'done', 'failed']);

/** Numbers the `?` of each condition whose value is defined, appending the values to params. */
function whereClause(params: unknown[], conditions: ReadonlyArray<[sql: string, value: unknown]>): string {
  const parts: string[] = [];
  for (const [sql, value] of conditions) {
    if (value === undefined) continue;
    params.push(value);
    parts.push(sql.replace('?', `$${params.length}`));
  }
  return parts.length ? `WHERE ${parts.join(' AND ')}` : '';
}

/**
 * The operational store over any PostgreSQL-dialect client: embedded PGlite
 * or a PostgreSQL server. `kind` only labels it for health reporting.
 */
export function createSqlOpsStore(deps: { client: SqlClient; kind: OpsStore['kind']; clock?: Clock; logger: Logger }): OpsStore {
  const { client, kind, logger } = deps;
  const clock = deps.clock ?? systemClock;

  return {
    kind,

    async init() {
      await migrate(client, { logger });
    },

    async ping() {
      try {
        await client.query('SELECT 1');
        return true;
      } catch (err) {
        logger.warn({ err }, 'ops store ping failed');
        return false;
      }
    },

    close: () => client.close(),

    ...createSqlDevices(client, clock),

    ...createSqlDiagnoses(client),

    async createApiKey(name, role, key) {
      const plain = key ?? generateSecret('fd_');
      try {
        const { rows } = await client.query<ApiKeyRow>(
          `INSERT INTO api_keys (id, name, role, key_hash, created_at) VALUES ($1, $2, $3, $4, $5::timestamptz)
           RETURNING ${API_KEY_COLUMNS}`,
          [randomUUID(), name, role, hashSecret(plain), msToIso(clock.now())],
        );
        return { apiKey: toApiKey(rows[0] as ApiKeyRow), key: plain };
      } catch (err) {
        // Only a caller-supplied key can collide; a revoked key must stay revoked.
        if (sqlState(err) === SQLSTATE.uniqueViolation) throw errors.validation('this API key is already registered', { cause: err });
        throw err;
      }
    },

    async findApiKeyByHash(hash) {
      const { rows } = await client.query<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, [hash]);
      return rows[0] ? toApiKey(rows[0]) : null;
    },

    async listApiKeys() {
      const { rows } = await client.query<ApiKeyRow>(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`);
      return rows.map(toApiKey);
    },

    async revokeApiKey(id) {
      // Idempotent: revoking again keeps the first revocation time.
      const { rows } = await client.query(
        'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2::timestamptz) WHERE id = $1 RETURNING id',
        [id, msToIso(clock.now())],
      );
      return rows.length > 0;
    },

    async countActiveApiKeys(role) {
      const { rows } =
        role === undefined
          ? await client.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL')
          : await client.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL AND role = $1', [role]);
      return rows[0]?.n ?? 0;
    },

    async addDeadLetters(items) {
      if (items.length === 0) return;
      const records = items.map((d) => ({
        device_id: d.deviceId,
        topic: d.topic,
        reason: d.reason,
        detail: d.detail,
        payload: d.payload,
        payload_bytes: d.payloadBytes,
        received_at: d.receivedAt,
      }));
      await client.query(
        `INSERT INTO dead_letters (device_id, topic, reason, detail, payload, payload_bytes, received_at)
         SELECT * FROM json_to_recordset($1::json) AS x(device_id text, topic text, reason text, detail text,
           payload text, payload_bytes integer, received_at timestamptz)`,
        [recordsetJson(records)],
      );
    },

    async listDeadLetters(filter) {
      const params: unknown[] = [];
      const where = whereClause(params, [
        ['device_id = ?', filter.deviceId],
        ['reason = ?', filter.reason],
        ['received_at >= ?::timestamptz', filter.from === undefined ? undefined : msToIso(filter.from)],
        ['received_at < ?::timestamptz', filter.to === undefined ? undefined : msToIso(filter.to)],
      ]);
      params.push(filter.limit);
      const { rows } = await client.query<DeadLetterRow>(
        `SELECT ${DEAD_LETTER_COLUMNS} FROM dead_letters ${where} ORDER BY received_at DESC, dead_letters.id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(toDeadLetter);
    },

    async addEvents(items) {
      if (items.length === 0) return;
      const records = items.map((e) => ({ device_id: e.deviceId, ts: e.ts, kind: e.kind, code: e.code, message: e.message, data: e.data }));
      await client.query(
        `INSERT INTO device_events (device_id, ts, kind, code, message, data)
         SELECT * FROM json_to_recordset($1::json)
           AS x(device_id text, ts timestamptz, kind text, code text, message text, data jsonb)`,
        [recordsetJson(records)],
      );
    },

    async listEvents(deviceId, filter) {
      const params: unknown[] = [];
      const where = whereClause(params, [
        ['device_id = ?', deviceId],
        ['ts >= ?::timestamptz', filter.from === undefined ? undefined : msToIso(filter.from)],
        ['ts < ?::timestamptz', filter.to === undefined ? undefined : msToIso(filter.to)],
      ]);
      params.push(filter.limit);
      const { rows } = await client.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM device_events ${where} ORDER BY ts DESC, device_events.id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(toEvent);
    },

    async createCommand(c) {
      const now = msToIso(c.now);
      try {
        const { rows } = await client.query<CommandRow>(
          `INSERT INTO commands (id, device_id, name, params, status, detail, created_at, updated_at, expires_at)
           VALUES ($1, $2, $3, $4::jsonb, 'sent', NULL, $5::timestamptz, $5::timestamptz, $6::timestamptz)
           RETURNING ${COMMAND_COLUMNS}`,
          [randomUUID(), c.deviceId, c.name, JSON.stringify(c.params), now, msToIso(c.expiresAt)],
        );
        return toCommand(rows[0] as CommandRow);
      } catch (err) {
        if (sqlState(err) === SQLSTATE.foreignKeyViolation) throw errors.deviceNotFound(`device ${c.deviceId} not found`, { cause: err });
        throw err;
      }
    },

    async getCommand(id) {
      const { rows } = await client.query<CommandRow>(`SELECT ${COMMAND_COLUMNS} FROM commands WHERE id = $1`, [id]);
      return rows[0] ? toCommand(rows[0]) : null;
    },

    async listCommands(deviceId, limit) {
      const { rows } = await client.query<CommandRow>(
        `SELECT ${COMMAND_COLUMNS} FROM commands WHERE device_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
        [deviceId, limit],
      );
      return rows.map(toCommand);
    },

    async advanceCommand(deviceId, id, status, detail, now) {
      if (!ACK_STATUSES.has(status)) throw errors.validation(`a command cannot be moved to ${String(status)}`);
      // The state machine lives in the WHERE clause so a concurrent ack or
      // expiry cannot slip between a read and the write:
      // sent → accepted | done | failed; accepted → done | failed; nothing
      // leaves done, failed or expired, and nothing moves once past expiry.
      const { rows } = await client.query<CommandRow>(
        `UPDATE commands SET status = $3, detail = COALESCE($4, detail), updated_at = $5::timestamptz
         WHERE device_id = $1 AND id = $2 AND expires_at > $5::timestamptz
           AND (status = 'sent' OR (status = 'accepted' AND $3 IN ('done', 'failed')))
         RETURNING ${COMMAND_COLUMNS}`,
        [deviceId, id, status, detail, msToIso(now)],
      );
      if (rows[0]) return toCommand(rows[0]);
      const current = await client.query<CommandRow>(`SELECT ${COMMAND_COLUMNS} FROM commands WHERE device_id = $1 AND id = $2`, [deviceId, id]);
      return current.rows[0] ? toCommand(current.rows[0]) : null;
    },

    async expireCommands(now) {
      const { rows } = await client.query<CommandRow>(
        `UPDATE commands SET status = 'expired', updated_at = $1::timestamptz
         WHERE status IN ('sent', 'accepted') AND expires_at <= $1::timestamptz
         RETURNING ${COMMAND_COLUMNS}`,
        [msToIso(now)],
      );
      return rows.map(toCommand);
    },

    ...createSqlModels(client, clock),

    ...createSqlDiagnosisState(client, clock),
  };
}
