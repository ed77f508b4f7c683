import type { Clock } from '../../core/clock.ts';
import type { DiagnosisStateRecord, DiagnosisStateStore } from '../../core/ports.ts';
import { msToIso } from './rows.ts';
import type { SqlClient } from './sql-client.ts';

/** Rows per INSERT: 5 parameters each, far below PostgreSQL's 65,535. */
const CHUNK = 500;

interface StateRow {
  device_id: string;
  part: DiagnosisStateRecord['part'];
  state_key: string;
  state: string;
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
  };
}
