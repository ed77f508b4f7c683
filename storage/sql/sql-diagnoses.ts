/** Diagnoses and custom rule sets in the operational store. */
import type { Diagnosis } from '../../core/domain/diagnosis.ts';
import type { RuleSet } from '../../core/domain/rule.ts';
import type { OpsStore } from '../../core/ports.ts';
import { isoOrNull, msToIso, recordsetJson, toIso } from './rows.ts';
import type { SqlClient } from './sql-client.ts';

type Ts = Date | string;

const DIAGNOSIS_COLUMNS = 'id, device_id, device_type, fault, status, severity, confidence, source, evidence, remedy, raised_at, cleared_at, created_at';

interface DiagnosisRow {
  id: string;
  device_id: string;
  device_type: string;
  fault: string;
  status: Diagnosis['status'];
  severity: Diagnosis['severity'];
  confidence: number;
  source: Diagnosis['source'];
  evidence: Diagnosis['evidence'];
  remedy: Diagnosis['remedy'];
  raised_at: Ts;
  cleared_at: Ts | null;
  created_at: Ts;
}

function toDiagnosis(r: DiagnosisRow): Diagnosis {
  return {
    id: r.id,
    deviceId: r.device_id,
    type: r.device_type,
    fault: r.fault,
    status: r.status,
    severity: r.severity,
    confidence: Number(r.confidence),
    source: r.source,
    evidence: r.evidence,
    remedy: r.remedy,
    raisedAt: toIso(r.raised_at),
    clearedAt: isoOrNull(r.cleared_at),
    createdAt: toIso(r.created_at),
  };
}

type DiagnosisMethods = Pick<
  OpsStore,
  'addDiagnoses' | 'clearDiagnoses' | 'listDiagnoses' | 'getRuleSet' | 'putRuleSet' | 'deleteRuleSet' | 'listRuleSetVersions'
>;

export function createSqlDiagnoses(client: SqlClient): DiagnosisMethods {
  return {
    async addDiagnoses(items) {
      if (items.length === 0) return;
      const records = items.map((d) => ({
        id: d.id,
        device_id: d.deviceId,
        device_type: d.type,
        fault: d.fault,
        status: d.status,
        severity: d.severity,
        confidence: d.confidence,
        source: d.source,
        evidence: d.evidence,
        remedy: d.remedy,
        raised_at: d.raisedAt,
        cleared_at: d.clearedAt,
        created_at: d.createdAt,
      }));
      // A restart may replay what was already raised: the active-per-fault index keeps the first.
      await client.query(
        `INSERT INTO diagnoses (${DIAGNOSIS_COLUMNS})
         SELECT * FROM json_to_recordset($1::json) AS x(id text, device_id text, device_type text, fault text, status text,
           severity text, confidence double precision, source text, evidence jsonb, remedy jsonb, raised_at timestamptz,
           cleared_at timestamptz, created_at timestamptz)
         ON CONFLICT DO NOTHING`,
        [recordsetJson(records)],
      );
    },

    async clearDiagnoses(items) {
      if (items.length === 0) return [];
      const { rows } = await client.query<DiagnosisRow>(
        `UPDATE diagnoses d SET status = 'cleared', cleared_at = GREATEST(x.cleared_at, d.raised_at)
         FROM json_to_recordset($1::json) AS x(id text, cleared_at timestamptz)
         WHERE d.id = x.id AND d.status = 'active'
         RETURNING ${DIAGNOSIS_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ')}`,
        [JSON.stringify(items.map((i) => ({ id: i.id, cleared_at: msToIso(i.clearedAt) })))],
      );
      return rows.map(toDiagnosis);
    },

    async listDiagnoses(f) {
      const params: unknown[] = [];
      const parts: string[] = [];
      const add = (sql: string, v: unknown) => {
        if (v === undefined) return;
        params.push(v);
        parts.push(sql.replace('?', `$${params.length}`));
      };
      add('device_id = ?', f.deviceId);
      add('device_type = ?', f.type);
      add('fault = ?', f.fault);
      add('severity = ?', f.severity);
      add('status = ?', f.status);
      add('raised_at >= ?::timestamptz', f.from === undefined ? undefined : msToIso(f.from));
      add('raised_at < ?::timestamptz', f.to === undefined ? undefined : msToIso(f.to));
      if (f.after) {
        params.push(msToIso(f.after.raisedAt), f.after.id);
        parts.push(`(raised_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
      }
      params.push(f.limit);
      const where = parts.length ? `WHERE ${parts.join(' AND ')}` : '';
      const { rows } = await client.query<DiagnosisRow>(
        `SELECT ${DIAGNOSIS_COLUMNS} FROM diagnoses ${where} ORDER BY raised_at DESC, id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(toDiagnosis);
    },

    async getRuleSet(type) {
      const { rows } = await client.query<{ rule_set: RuleSet; updated_at: Ts }>('SELECT rule_set, updated_at FROM rule_sets WHERE device_type = $1', [type]);
      const r = rows[0];
      return r ? { ruleSet: r.rule_set, updatedAt: toIso(r.updated_at) } : null;
    },

    async putRuleSet(ruleSet, now) {
      const { rows } = await client.query<{ rule_set: RuleSet; updated_at: Ts }>(
        `INSERT INTO rule_sets (device_type, rule_set, updated_at) VALUES ($1, $2::jsonb, $3::timestamptz)
         ON CONFLICT (device_type) DO UPDATE SET rule_set = excluded.rule_set,
           updated_at = GREATEST(excluded.updated_at, rule_sets.updated_at + interval '1 millisecond')
         RETURNING rule_set, updated_at`,
        [ruleSet.type, JSON.stringify(ruleSet), msToIso(now)],
      );
      const r = rows[0] as { rule_set: RuleSet; updated_at: Ts };
      return { ruleSet: r.rule_set, updatedAt: toIso(r.updated_at) };
    },

    async deleteRuleSet(type) {
      const { rows } = await client.query('DELETE FROM rule_sets WHERE device_type = $1 RETURNING device_type', [type]);
      return rows.length > 0;
    },

    async listRuleSetVersions() {
      const { rows } = await client.query<{ device_type: string; updated_at: Ts }>('SELECT device_type, updated_at FROM rule_sets ORDER BY device_type');
      return rows.map((r) => ({ type: r.device_type, updatedAt: toIso(r.updated_at) }));
    },
  };
}
