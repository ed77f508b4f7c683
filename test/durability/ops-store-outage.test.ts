/**
 * Acknowledged means recorded for dead letters and events too: while the
 * operational store (PostgreSQL) is down they get no PUBACK, so the device
 * sends them again; once it is back they are recorded.
 */
import pg_ from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { topics } from '../../core/topics.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { useStack } from '../helpers/stack.ts';

describe('acknowledged means recorded: PostgreSQL down, or up and unable to write', () => {
  // a server of its own for each test: one stops and starts it, the other sets it read-only
  let pg: TestPostgres;
  beforeEach(async () => {
    pg = await startPostgres();
  });
  afterEach(async () => pg?.stop());

  it('a dead letter or an event the store cannot take is not acknowledged; sent again once it is back, it is recorded', async () => {
    const outage = pg.outage;
    if (!outage) throw new Error('needs the local test PostgreSQL (DATABASE_URL names an external one)');
    const s = await useStack({ DATABASE_URL: pg.url });
    const { id, secret } = await s.registerDevice('air-compressor');
    const first = await s.connectDevice(id, secret);
    // the device's type is cached by a first good sample
    await first.publishAsync(topics.telemetry(id), JSON.stringify({ metrics: { oilTempC: 70 } }), { qos: 1 });
    // a batch with a good sample (no time: a second copy would be a second row) and a bad one
    const bad = JSON.stringify({ samples: [{ metrics: { oilTempC: 71.5 } }, { ts: Date.now(), metrics: { noSuchMetric: 1 } }] });
    const event = JSON.stringify({ ts: Date.now(), kind: 'error', code: 'E-TEST-OUTAGE' });

    await outage.down();
    const acked = (p: Promise<unknown>) => Promise.race([p.then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
    // both in flight at once (the connection may close after the first refusal)
    expect(await Promise.all([acked(first.publishAsync(topics.telemetry(id), bad, { qos: 1 })), acked(first.publishAsync(topics.events(id), event, { qos: 1 }))])).toEqual([false, false]);
    // a device connecting meanwhile is told to retry (3, server unavailable), not that it is not authorised (5)
    await expect(s.connectDevice(id, secret)).rejects.toMatchObject({ code: 3 });
    await outage.up();

    // the device sends them again (a new connection, as after a reconnect) and gets its PUBACKs
    await expect.poll(async () => (await s.http('GET', '/ready', undefined, null)).status, { timeout: 30_000, interval: 500 }).toBe(200);
    const again = await s.connectDevice(id, secret);
    await again.publishAsync(topics.telemetry(id), bad, { qos: 1 });
    await again.publishAsync(topics.events(id), event, { qos: 1 });
    const letters = await s.http<Array<{ reason: string }>>('GET', `/api/v1/dead-letters?deviceId=${id}`);
    expect(letters.body.map((l) => l.reason)).toContain('unknown_metric');
    const events = await s.http<Array<{ code: string | null }>>('GET', `/api/v1/devices/${id}/events`);
    expect(events.body.map((e) => e.code)).toContain('E-TEST-OUTAGE');
    // the good sample of the batch sent twice is stored once: the refused delivery spooled nothing
    expect(await s.stack.ingest.flush()).toBe(true);
    const rows = await s.http<{ rows: Array<{ values: { oilTempC?: number } }> }>('GET', `/api/v1/devices/${id}/telemetry?metrics=oilTempC`);
    expect(rows.body.rows.filter((r) => r.values.oilTempC === 71.5)).toHaveLength(1);
  });

  it('read-only (a standby after a failover): a dead letter is not acknowledged until it can be written', async () => {
    const s = await useStack({ DATABASE_URL: pg.url });
    const { id, secret } = await s.registerDevice('air-compressor');
    const c = await s.connectDevice(id, secret);
    await c.publishAsync(topics.telemetry(id), JSON.stringify({ metrics: { oilTempC: 70 } }), { qos: 1 });
    const admin = new pg_.Client({ connectionString: pg.url });
    await admin.connect();
    const readOnly = async (on: boolean) => {
      await admin.query(on ? 'ALTER SYSTEM SET default_transaction_read_only = on' : 'ALTER SYSTEM RESET default_transaction_read_only');
      await admin.query('SELECT pg_reload_conf()');
    };
    try {
      await readOnly(true);
      // SELECT 1 still answers; the insert fails with 25006 (read-only transaction)
      const bad = JSON.stringify({ ts: Date.now(), metrics: { noSuchMetric: 2 } });
      const acked = await Promise.race([c.publishAsync(topics.telemetry(id), bad, { qos: 1 }).then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
      expect(acked).toBe(false);
      await readOnly(false);
      const again = await s.connectDevice(id, secret);
      await again.publishAsync(topics.telemetry(id), bad, { qos: 1 });
      const letters = await s.http<Array<{ reason: string }>>('GET', `/api/v1/dead-letters?deviceId=${id}`);
      expect(letters.body.map((l) => l.reason)).toEqual(['unknown_metric']);
    } finally {
      await readOnly(false).catch(() => undefined);
      await admin.end();
    }
  });
});
