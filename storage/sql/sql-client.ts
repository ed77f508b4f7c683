/**
 * The few things the ops store needs from a PostgreSQL-dialect client, so one
 * store implementation runs over embedded PGlite and over a real server.
 */
export interface SqlClient {
  /** One statement; values only ever travel as `$n` parameters. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: T[] }>;
  /**
   * Runs fn inside BEGIN … COMMIT (ROLLBACK when it throws) on one connection.
   * Called on a transaction's client it nests as a savepoint.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** A parameterless script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** What both drivers' errors carry: the SQLSTATE and the constraint hit. */
export interface SqlError {
  code?: string;
  constraint?: string;
  detail?: string;
}

export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
} as const;

export function sqlState(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as SqlError).code === 'string') {
    return (err as SqlError).code;
  }
  return undefined;
}

/**
 * Nested transactions on an already-open transaction: a savepoint, so an
 * inner failure rolls back only the inner work.
 */
export async function withSavepoint<T>(tx: SqlClient, depth: number, fn: () => Promise<T>): Promise<T> {
  const name = `sp_${depth}`;
  await tx.query(`SAVEPOINT ${name}`);
  try {
    const result = await fn();
    await tx.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
    throw err;
  }
}
