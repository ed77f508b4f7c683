import { mkdirSync, readdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { migrate } from '../sql/migrate.ts';
import { withSavepoint, type SqlClient } from '../sql/sql-client.ts';

/**
 * Embedded PostgreSQL (WASM) for single-node installs and tests. `dir` holds
 * the data (e.g. `<DATA_DIR>/ops`) and survives restarts; `null` keeps it in
 * memory. One process per dir: PGlite is single-connection and takes no
 * file lock of its own.
 */
export async function createPgliteClient(opts: { dir: string | null; template?: Blob }): Promise<SqlClient> {
  if (opts.dir !== null) mkdirSync(opts.dir, { recursive: true });
  // A fresh PGlite runs initdb inside WASM (15–20 s on a busy 2-core box); a
  // template data dir (see createPgliteTemplate) skips that for new databases.
  const fresh = opts.dir === null || readdirSync(opts.dir).length === 0;
  const loadDataDir = fresh ? opts.template : undefined;
  const db = new PGlite({ ...(opts.dir === null ? {} : { dataDir: opts.dir }), ...(loadDataDir ? { loadDataDir } : {}) });
  await db.waitReady;
  return clientOver(db);
}

function clientOver(db: PGlite): SqlClient {
  // PGlite serialises queries itself; a transaction holds its own mutex, so
  // work inside one must go through `tx`, never through `db`.
  function txClient(tx: Transaction, depth: number): SqlClient {
    const self: SqlClient = {
      async query<T>(sql: string, params?: readonly unknown[]) {
        const res = await tx.query<T>(sql, params ? [...params] : undefined);
        return { rows: res.rows };
      },
      transaction: (fn) => withSavepoint(self, depth + 1, () => fn(txClient(tx, depth + 1))),
      async exec(sql) {
        await tx.exec(sql);
      },
      close: () => Promise.reject(new Error('close() called on a transaction')),
    };
    return self;
  }

  return {
    async query<T>(sql: string, params?: readonly unknown[]) {
      const res = await db.query<T>(sql, params ? [...params] : undefined);
      return { rows: res.rows };
    },
    transaction: (fn) => db.transaction((tx) => fn(txClient(tx, 0))),
    async exec(sql) {
      await db.exec(sql);
    },
    async close() {
      if (!db.closed) await db.close();
    },
  };
}

/**
 * An initialised, migrated PGlite data dir as a tarball: new databases
 * loaded from it start in seconds instead of running initdb.
 */
export async function createPgliteTemplate(): Promise<Blob> {
  const db = new PGlite();
  await db.waitReady;
  try {
    const client = clientOver(db);
    await migrate(client);
    return await db.dumpDataDir('none');
  } finally {
    await db.close();
  }
}
