import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import type { Recalibration } from '../../core/domain/recalibration.ts';
import type { DiagnosisStateRecord, DiagnosisStateStore } from '../../core/ports.ts';
import { isoOrNull, msToIso, toIso, type Ts } from './rows.ts';
import type { SqlClient } from './sql-client.ts';

/** Rows per INSERT: 5 parameters each, far below PostgreSQL's 65,535. */
const CHUNK = 500;

interface StateRow {
  device_id: string;
  part: DiagnosisStateRecord['part'];
  state_key: string;
  state: string;
}

const RECALIBRATION_COLUMNS = 'id, device_id, reason, resolve_active, faults, requested_at, applied_at, resolved';

interface RecalibrationRow {
  id: string;
  device_id: string;
  reason: string | null;
  resolve_active: boolean;
  faults: string[] | null;
  requested_at: Ts;
  applied_at: Ts | null;
  resolved: string[];
}

function toRecalibration(r: RecalibrationRow): Recalibration {
  return {
    id: r.id,
    deviceId: r.device_id,
    reason: r.reason,
    resolveActive: r.resolve_active,
    faults: r.faults,
    requestedAt: toIso(r.requested_at),
    appliedAt: isoOrNull(r.applied_at),
    resolved: r.resolved,
  };
}

export function createSqlDiagnosisState(client: SqlClient, clock: Clock): DiagnosisStateStore {
  return {
    async saveDiagnosisStates(items) {
      const at = msToIso(clock.now());
      for (let i = 0; i < items.length; i += CHUNK) {
        const chunk = items.slice(i, i + CHUNK);
        const params: unknown[] = [];
        const values = chunk.map((s, k) => {
          params.push(s.deviceId, s.part, s.key, Buffer.from(s.state.buffer, s.state.byteOffset, s.state.byteLength).toString('base64'), at);
          const b = k * 5;
          return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::timestamptz)`;
        });
        await client.query(
          `INSERT INTO diagnosis_state (device_id, part, state_key, state, updated_at) VALUES ${values.join(', ')}
           ON CONFLICT (device_id, part) DO UPDATE SET state_key = EXCLUDED.state_key, state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
          params,
        );
      }
    },

    async loadDiagnosisStates(deviceIds) {
      if (deviceIds.length === 0) return [];
      const { rows } = await client.query<StateRow>(
        'SELECT device_id, part, state_key, state FROM diagnosis_state WHERE device_id = ANY($1::text[])',
        [deviceIds],
      );
      return rows.map((r) => ({ deviceId: r.device_id, part: r.part, key: r.state_key, state: new Uint8Array(Buffer.from(r.state, 'base64')) }));
    },

    async listCheckpointedDevices() {
      const { rows } = await client.query<{ id: string; type: string; model: string | null; site: string | null }>(
        `SELECT d.id, d.type, d.model, d.site FROM diagnosis_state s JOIN devices d ON d.id = s.device_id
         WHERE s.part = 'rules' AND d.status = 'active' ORDER BY d.id`,
      );
      return rows.map((r) => ({ deviceId: r.id, type: r.type, model: r.model, site: r.site }));
    },

    async deleteDiagnosisStates(deviceIds) {
      if (deviceIds.length === 0) return;
      await client.query('DELETE FROM diagnosis_state WHERE device_id = ANY($1::text[])', [deviceIds]);
    },

    async requestRecalibration(deviceId, req) {
      const { rows } = await client.query<RecalibrationRow>(
        `INSERT INTO recalibrations (id, device_id, reason, resolve_active, faults, requested_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6::timestamptz)
         RETURNING ${RECALIBRATION_COLUMNS}`,
        [randomUUID(), deviceId, req.reason ?? null, req.resolveActive, req.faults ? JSON.stringify([...new Set(req.faults)]) : null, msToIso(clock.now())],
      );
      return toRecalibration(rows[0]!);
    },

    async pendingRecalibrations(limit) {
      const { rows } = await client.query<RecalibrationRow>(
        `SELECT ${RECALIBRATION_COLUMNS} FROM recalibrations WHERE applied_at IS NULL ORDER BY requested_at, seq LIMIT $1`,
        [limit],
      );
      return rows.map(toRecalibration);
    },

    async finishRecalibration(id, appliedAt, resolved) {
      const { rows } = await client.query<{ id: string }>(
        'UPDATE recalibrations SET applied_at = $2::timestamptz, resolved = $3::jsonb WHERE id = $1 AND applied_at IS NULL RETURNING id',
        [id, msToIso(appliedAt), JSON.stringify(resolved)],
      );
      return rows.length > 0;
    },

    async listRecalibrations(deviceId, limit) {
      const { rows } = await client.query<RecalibrationRow>(
        `SELECT ${RECALIBRATION_COLUMNS} FROM recalibrations WHERE device_id = $1 ORDER BY requested_at DESC, seq DESC LIMIT $2`,
        [deviceId, limit],
      );
      return rows.map(toRecalibration);
    },
  };
}
