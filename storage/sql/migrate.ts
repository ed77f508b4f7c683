import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/logger.ts';
import type { SqlClient } from './sql-client.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const FILE_RE = /^(\d{3})-[a-z0-9-]+\.sql$/;
// Any constant shared by every fleetdoc process; 'fdoc' in ASCII.
const ADVISORY_LOCK_KEY = 0x66646f63;

export interface Migration {
  version: string;
  name: string;
  sql: string;
}

/** The NNN-name.sql files of a folder, in version order. */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  const seen = new Set<string>();
  return files.map((file) => {
    const m = FILE_RE.exec(file);
    if (!m?.[1]) throw new Error(`migration file name ${file} does not match NNN-name.sql`);
    if (seen.has(m[1])) throw new Error(`two migrations share version ${m[1]}`);
    seen.add(m[1]);
    return { version: m[1], name: file, sql: readFileSync(join(dir, file), 'utf8') };
  });
}

/**
 * Applies every migration not yet recorded in schema_migrations, in order, in
 * one transaction. The transaction-scoped advisory lock makes a second process
 * starting at the same moment wait and then find nothing left to do.
 * Returns the names of the migrations it applied.
 */
export async function migrate(client: SqlClient, opts: { logger?: Logger; migrations?: Migration[] } = {}): Promise<string[]> {
  const migrations = opts.migrations ?? loadMigrations();
  return client.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCK_KEY]);
    // Created here, not in a migration: it must exist before any is recorded.
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version     text PRIMARY KEY,
      name        text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: string }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => r.version));
    const done: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      done.push(m.name);
    }
    if (done.length) opts.logger?.info({ migrations: done }, 'applied database migrations');
    return done;
  });
}
