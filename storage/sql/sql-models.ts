import type { Clock } from '../../core/clock.ts';
import type { ModelCard } from '../../core/domain/model-card.ts';
import type { ModelRecord, ModelStore } from '../../core/ports.ts';
import { msToIso, toIso } from './rows.ts';
import type { SqlClient } from './sql-client.ts';

interface ModelRow {
  device_type: string;
  model_id: string;
  card: ModelCard;
  version: number;
  updated_at: Date | string;
}

const COLUMNS = 'device_type, model_id, card, version, updated_at';

function toRecord(r: ModelRow): ModelRecord {
  return { type: r.device_type, modelId: r.model_id, card: r.card, version: r.version, updatedAt: toIso(r.updated_at) };
}

export function createSqlModels(client: SqlClient, clock: Clock): ModelStore {
  return {
    async putModel(m) {
      // version counts registrations of the type, so the scorer sees a change even when the card is identical
      const { rows } = await client.query<ModelRow>(
        `INSERT INTO models (device_type, model_id, card, anomaly_onnx, classifier_onnx, version, updated_at)
         VALUES ($1, $2, $3::jsonb, $4, $5, 1, $6::timestamptz)
         ON CONFLICT (device_type) DO UPDATE SET model_id = EXCLUDED.model_id, card = EXCLUDED.card,
           anomaly_onnx = EXCLUDED.anomaly_onnx, classifier_onnx = EXCLUDED.classifier_onnx,
           version = models.version + 1, updated_at = EXCLUDED.updated_at
         RETURNING ${COLUMNS}`,
        [
          m.card.type,
          m.card.modelId,
          JSON.stringify(m.card),
          Buffer.from(m.anomalyOnnx).toString('base64'),
          m.classifierOnnx ? Buffer.from(m.classifierOnnx).toString('base64') : null,
          msToIso(clock.now()),
        ],
      );
      return toRecord(rows[0] as ModelRow);
    },

    async getModel(type) {
      const { rows } = await client.query<ModelRow>(`SELECT ${COLUMNS} FROM models WHERE device_type = $1`, [type]);
      return rows[0] ? toRecord(rows[0]) : null;
    },

    async getModelBlobs(type) {
      const { rows } = await client.query<ModelRow & { anomaly_onnx: string; classifier_onnx: string | null }>(
        `SELECT ${COLUMNS}, anomaly_onnx, classifier_onnx FROM models WHERE device_type = $1`,
        [type],
      );
      const r = rows[0];
      if (!r) return null;
      return {
        ...toRecord(r),
        anomalyOnnx: Buffer.from(r.anomaly_onnx, 'base64'),
        classifierOnnx: r.classifier_onnx === null ? null : Buffer.from(r.classifier_onnx, 'base64'),
      };
    },

    async listModels() {
      const { rows } = await client.query<ModelRow>(`SELECT ${COLUMNS} FROM models ORDER BY device_type`);
      return rows.map(toRecord);
    },

    async listModelVersions() {
      const { rows } = await client.query<{ device_type: string; version: number }>('SELECT device_type, version FROM models ORDER BY device_type');
      return rows.map((r) => ({ type: r.device_type, version: r.version }));
    },

    async deleteModel(type) {
      const { rows } = await client.query('DELETE FROM models WHERE device_type = $1 RETURNING device_type', [type]);
      return rows.length > 0;
    },
  };
}
