import pg from 'pg';
import type { Logger } from '../../core/logger.ts';
import { withSavepoint, type SqlClient } from '../sql/sql-client.ts';

/** A PostgreSQL server through a connection pool. */
export function createPgClient(opts: { url: string; max?: number; logger?: Logger }): SqlClient {
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.max ?? 10 });
  // An idle client losing its connection must not crash the process; the
  // pool drops it and the next query gets a fresh one.
  pool.on('error', (err) => opts.logger?.warn({ err }, 'idle PostgreSQL connection failed'));
  let closed = false;

  function connClient(conn: pg.PoolClient, depth: number): SqlClient {
    const self: SqlClient = {
      async query<T>(sql: string, params?: readonly unknown[]) {
        const res = await conn.query(sql, params ? [...params] : undefined);
        return { rows: res.rows as T[] };
      },
      transaction: (fn) => withSavepoint(self, depth + 1, () => fn(connClient(conn, depth + 1))),
      async exec(sql) {
        await conn.query(sql);
      },
      close: () => Promise.reject(new Error('close() called on a transaction')),
    };
    return self;
  }

  return {
    async query<T>(sql: string, params?: readonly unknown[]) {
      const res = await pool.query(sql, params ? [...params] : undefined);
      return { rows: res.rows as T[] };
    },
    async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
      const conn = await pool.connect();
      let broken = false;
      try {
        await conn.query('BEGIN');
        const result = await fn(connClient(conn, 0));
        await conn.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await conn.query('ROLLBACK');
        } catch {
          // The connection itself failed; do not hand it back to the pool.
          broken = true;
        }
        throw err;
      } finally {
        conn.release(broken);
      }
    },
    async exec(sql) {
      // Without parameters pg uses the simple protocol, which runs a script.
      await pool.query(sql);
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
