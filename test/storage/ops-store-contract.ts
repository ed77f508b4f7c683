/**
 * Shared by the OpsStore contract tests (ops-store.contract.test.ts: schema,
 * device types, devices, API keys; ops-store-records.contract.test.ts: dead
 * letters, events, commands): the two SQL backends, started on a temp
 * database, and a store opened on each with a settable clock.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { Clock } from '../../core/clock.ts';
import { loadDeviceTypeFiles } from '../../core/device-types.ts';
import { nullLogger } from '../../core/logger.ts';
import type { OpsStore } from '../../core/ports.ts';
import { createPgliteClient } from '../../storage/embedded/pglite-client.ts';
import { createPgClient } from '../../storage/postgres/pg-client.ts';
import type { SqlClient } from '../../storage/sql/sql-client.ts';
import { createSqlOpsStore } from '../../storage/sql/sql-ops-store.ts';
import { startPostgres } from '../helpers/postgres.ts';

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();
export const GENERATED = (prefix: string) => new RegExp(`^${prefix}-[a-z2-7]{10}$`);

let uniq = 0;
/** Ids and sites per test, so tests sharing one database do not see each other. */
export const u = (label: string) => `${label}-${process.pid}-${++uniq}`;
/** A number not handed out before in this process (for names that allow no dashes or pid). */
export const nextNo = () => ++uniq;

export async function expectCode(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({ code });
}

export interface Backend {
  kind: OpsStore['kind'];
  /** A client on the database shared by most tests. */
  connect(): Promise<SqlClient>;
  /**
   * A new empty database; each `connect()` on it is another client, as another
   * process would have (PGlite in memory is one process: the same client).
   */
  freshDatabase(): Promise<{ connect(): Promise<SqlClient> }>;
  teardown(): Promise<void>;
}

async function pgliteBackend(): Promise<Backend> {
  const fresh = async () => {
    const client = await createPgliteClient({ dir: null });
    return { connect: async () => client };
  };
  return {
    kind: 'pglite',
    connect: () => createPgliteClient({ dir: null }),
    freshDatabase: fresh,
    teardown: async () => {},
  };
}

async function postgresBackend(): Promise<Backend> {
  const server = await startPostgres();
  const extra: string[] = [];
  const admin = async <T>(fn: (c: SqlClient) => Promise<T>) => {
    const c = createPgClient({ url: server.url, max: 1 });
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  };
  return {
    kind: 'postgres',
    connect: async () => createPgClient({ url: server.url }),
    async freshDatabase() {
      const name = `fresh_${extra.length}_${process.pid}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      extra.push(name);
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      return { connect: async () => createPgClient({ url: url.toString() }) };
    },
    async teardown() {
      await admin(async (c) => {
        for (const name of extra) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      await server.stop();
    },
  };
}

export const BACKENDS = [
  { name: 'pglite', make: pgliteBackend },
  { name: 'postgres', make: postgresBackend },
];

/** What the contract tests use: the backend, a client and a store on its shared database, and the store's clock (settable). */
export interface ContractStore {
  backend: Backend;
  client: SqlClient;
  store: OpsStore;
  nowMs: number;
}

/** Opens a store on the backend before the enclosing describe's tests (every shipped device type registered) and closes it after. */
export function openContractStore(make: () => Promise<Backend>): ContractStore {
  const ctx = { nowMs: T0 } as ContractStore;
  const clock: Clock = { now: () => ctx.nowMs };
  beforeAll(async () => {
    ctx.backend = await make();
    ctx.client = await ctx.backend.connect();
    ctx.store = createSqlOpsStore({ client: ctx.client, kind: ctx.backend.kind, clock, logger: nullLogger() });
    await ctx.store.init();
    for (const t of loadDeviceTypeFiles()) await ctx.store.upsertDeviceType(t);
  });
  afterAll(async () => {
    await ctx.store?.close();
    await ctx.backend?.teardown();
  });
  return ctx;
}
