import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { DeviceId } from '../../core/domain/common.ts';
import { DeviceType } from '../../core/domain/device-type.ts';
import type { RegisterDevice, UpdateDevice } from '../../core/domain/device.ts';
import { errors } from '../../core/errors.ts';
import { generateSecret, hashSecret } from '../../core/secrets.ts';
import type { DeviceFilter, DeviceWithSecret, OpsStore } from '../../core/ports.ts';
import {
  DEVICE_COLUMNS,
  msToIso,
  recordsetJson,
  toDevice,
  toDeviceAuth,
  type DeviceAuthRow,
  type DeviceRow,
} from './rows.ts';
import { SQLSTATE, sqlState, type SqlClient } from './sql-client.ts';

type DeviceMethods =
  | 'upsertDeviceType'
  | 'createDeviceType'
  | 'getDeviceType'
  | 'listDeviceTypes'
  | 'registerDevices'
  | 'getDevice'
  | 'getDeviceAuth'
  | 'listDevices'
  | 'updateDevice'
  | 'rotateDeviceSecret'
  | 'setPresence'
  | 'touchLastSeen'
  | 'resetPresence';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_RANDOM_CHARS = 10;
// DeviceId allows 64 chars: prefix + '-' + 10 random ones.
const MAX_PREFIX = 64 - 1 - ID_RANDOM_CHARS;
const UPDATABLE = ['status', 'model', 'firmware', 'site', 'owner'] as const;

/** `<prefix>-<10 base32 chars>`: 50 random bits, so collisions within a fleet are not a concern. */
export function generateDeviceId(prefix: string): string {
  const bytes = randomBytes(ID_RANDOM_CHARS);
  let suffix = '';
  for (const b of bytes) suffix += BASE32[b & 31];
  const id = `${prefix.slice(0, MAX_PREFIX)}-${suffix}`;
  if (!DeviceId.safeParse(id).success) throw errors.validation(`id prefix ${JSON.stringify(prefix)} does not give a valid device id`);
  return id;
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, 10).join(', ');
  return ids.length > 10 ? `${shown} and ${ids.length - 10} more` : shown;
}

export function createSqlDevices(client: SqlClient, clock: Clock): Pick<OpsStore, DeviceMethods> {
  async function insertDevices(tx: SqlClient, input: readonly RegisterDevice[], idPrefix: string | undefined): Promise<DeviceWithSecret[]> {
    const prepared = input.map((d) => ({
      id: d.id ?? generateDeviceId(idPrefix ?? d.type),
      type: d.type,
      model: d.model ?? null,
      firmware: d.firmware ?? null,
      site: d.site ?? null,
      owner: d.owner ?? null,
      secret: generateSecret(),
    }));

    const seen = new Set<string>();
    const repeated = new Set<string>();
    for (const p of prepared) (seen.has(p.id) ? repeated : seen).add(p.id);
    if (repeated.size) {
      throw errors.deviceExists(`device id given more than once: ${listIds([...repeated])}`, { details: { ids: [...repeated] } });
    }

    const types = [...new Set(prepared.map((p) => p.type))];
    const known = await tx.query<{ name: string }>(
      'SELECT name FROM device_types WHERE name IN (SELECT json_array_elements_text($1::json))',
      [JSON.stringify(types)],
    );
    const knownTypes = new Set(known.rows.map((r) => r.name));
    const unknown = types.filter((t) => !knownTypes.has(t));
    if (unknown.length) throw errors.deviceTypeNotFound(`unknown device type: ${unknown.join(', ')}`, { details: { types: unknown } });

    const records = prepared.map(({ secret, ...p }) => ({ ...p, secret_hash: hashSecret(secret) }));
    const createdAt = msToIso(clock.now());
    // One statement for the whole batch; ON CONFLICT tells us which ids were
    // taken without aborting, and waits on concurrent inserts of the same id.
    // Only ids come back: everything else is known here, and turning 10,000
    // full rows back into objects costs PGlite as much as the insert.
    const { rows } = await tx.query<{ id: string }>(
      `INSERT INTO devices (id, type, model, firmware, site, owner, secret_hash, created_at)
       SELECT x.id, x.type, x.model, x.firmware, x.site, x.owner, x.secret_hash, $2::timestamptz
       FROM json_to_recordset($1::json)
         AS x(id text, type text, model text, firmware text, site text, owner text, secret_hash text)
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      [recordsetJson(records), createdAt],
    );
    if (rows.length !== prepared.length) {
      const inserted = new Set(rows.map((r) => r.id));
      const taken = prepared.filter((p) => !inserted.has(p.id)).map((p) => p.id);
      throw errors.deviceExists(`device already exists: ${listIds(taken)}`, { details: { ids: taken } });
    }
    return prepared.map(({ secret, ...p }) => ({
      device: { ...p, status: 'active', online: false, lastSeenAt: null, createdAt },
      secret,
    }));
  }

  async function listDevices(filter: DeviceFilter) {
    const where: string[] = [];
    const params: unknown[] = [];
    const eq = (column: string, value: unknown) => {
      if (value === undefined) return;
      params.push(value);
      where.push(`${column} = $${params.length}`);
    };
    eq('type', filter.type);
    eq('status', filter.status);
    eq('site', filter.site);
    eq('online', filter.online);
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const n = params.length;
    const [items, count] = await Promise.all([
      client.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ${clause} ORDER BY id LIMIT $${n + 1} OFFSET $${n + 2}`, [
        ...params,
        filter.limit,
        filter.offset,
      ]),
      client.query<{ total: number }>(`SELECT count(*)::int AS total FROM devices ${clause}`, params),
    ]);
    return { items: items.rows.map(toDevice), total: count.rows[0]?.total ?? 0 };
  }

  return {
    async upsertDeviceType(t) {
      const def = DeviceType.parse(t);
      await client.query(
        `INSERT INTO device_types (name, definition, created_at) VALUES ($1, $2::jsonb, $3::timestamptz)
         ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition`,
        [def.name, JSON.stringify(def), msToIso(clock.now())],
      );
    },

    async createDeviceType(t) {
      const def = DeviceType.parse(t);
      const { rows } = await client.query<{ definition: DeviceType }>(
        `INSERT INTO device_types (name, definition, created_at) VALUES ($1, $2::jsonb, $3::timestamptz)
         ON CONFLICT (name) DO NOTHING RETURNING definition`,
        [def.name, JSON.stringify(def), msToIso(clock.now())],
      );
      if (!rows[0]) throw errors.deviceTypeExists(`device type ${def.name} already exists`);
      return rows[0].definition;
    },

    async getDeviceType(name) {
      const { rows } = await client.query<{ definition: DeviceType }>('SELECT definition FROM device_types WHERE name = $1', [name]);
      return rows[0]?.definition ?? null;
    },

    async listDeviceTypes() {
      const { rows } = await client.query<{ definition: DeviceType }>('SELECT definition FROM device_types ORDER BY name');
      return rows.map((r) => r.definition);
    },

    async registerDevices(input, idPrefix) {
      if (input.length === 0) return [];
      try {
        return await client.transaction((tx) => insertDevices(tx, input, idPrefix));
      } catch (err) {
        // A type removed between our check and the insert.
        if (sqlState(err) === SQLSTATE.foreignKeyViolation) throw errors.deviceTypeNotFound('unknown device type', { cause: err });
        throw err;
      }
    },

    async getDevice(id) {
      const { rows } = await client.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`, [id]);
      return rows[0] ? toDevice(rows[0]) : null;
    },

    async getDeviceAuth(id) {
      const { rows } = await client.query<DeviceAuthRow>('SELECT id, type, model, site, status, secret_hash FROM devices WHERE id = $1', [id]);
      return rows[0] ? toDeviceAuth(rows[0]) : null;
    },

    listDevices,

    async updateDevice(id, patch: UpdateDevice) {
      const sets: string[] = [];
      const params: unknown[] = [id];
      for (const column of UPDATABLE) {
        if (patch[column] === undefined) continue;
        params.push(patch[column]);
        sets.push(`${column} = $${params.length}`);
      }
      const sql = sets.length
        ? `UPDATE devices SET ${sets.join(', ')} WHERE id = $1 RETURNING ${DEVICE_COLUMNS}`
        : `SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`;
      const { rows } = await client.query<DeviceRow>(sql, params);
      return rows[0] ? toDevice(rows[0]) : null;
    },

    async rotateDeviceSecret(id) {
      const secret = generateSecret();
      const { rows } = await client.query('UPDATE devices SET secret_hash = $2 WHERE id = $1 RETURNING id', [id, hashSecret(secret)]);
      return rows.length ? secret : null;
    },

    async setPresence(id, online, at) {
      await client.query('UPDATE devices SET online = $2, last_seen_at = GREATEST(last_seen_at, $3::timestamptz) WHERE id = $1', [
        id,
        online,
        msToIso(at),
      ]);
    },

    async touchLastSeen(entries) {
      if (entries.length === 0) return;
      // One row per device: UPDATE … FROM with several matches applies an arbitrary one.
      const latest = new Map<string, number>();
      for (const e of entries) latest.set(e.id, Math.max(e.at, latest.get(e.id) ?? -Infinity));
      const records = [...latest].map(([id, at]) => ({ id, at: msToIso(at) }));
      await client.query(
        `UPDATE devices AS d SET last_seen_at = GREATEST(d.last_seen_at, x.at)
         FROM json_to_recordset($1::json) AS x(id text, at timestamptz)
         WHERE d.id = x.id`,
        [JSON.stringify(records)],
      );
    },

    async resetPresence() {
      await client.query('UPDATE devices SET online = false WHERE online');
    },
  };
}
