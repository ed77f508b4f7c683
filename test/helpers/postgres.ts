import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.ts';

const run = promisify(execFile);

export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
  /** An outage of the local server (pg_ctl stop, then start on the same port and data): undefined on DATABASE_URL's. */
  outage?: { down(): Promise<void>; up(): Promise<void> };
}

/**
 * A fresh PostgreSQL database per call: on the server of DATABASE_URL when it
 * is set, otherwise on a throw-away local server (initdb into a temp dir).
 */
export async function startPostgres(): Promise<TestPostgres> {
  const external = process.env.DATABASE_URL;
  return external ? createDatabaseOn(external) : startLocalServer();
}

async function createDatabaseOn(serverUrl: string): Promise<TestPostgres> {
  const name = `fleetdoc_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let stopped = false;
  return {
    url: url.toString(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await withAdmin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function withAdmin(url: string, fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end();
  }
}

/** initdb, pg_ctl and postgres: from pg_config when it names a full server install, else the newest /usr/lib/postgresql/N/bin. */
async function findBinDir(): Promise<string> {
  const candidates: string[] = [];
  try {
    const { stdout } = await run('pg_config', ['--bindir']);
    candidates.push(stdout.trim());
  } catch {
    // no pg_config on PATH
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, 'bin')));
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  if (!found) throw new Error('PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql or set DATABASE_URL');
  return found;
}

/** PostgreSQL refuses to run as root; as root we run it as a system user. */
async function serverUser(): Promise<{ name: string; uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'fleetdoc-pg']) {
    try {
      const uid = Number((await run('id', ['-u', name])).stdout.trim());
      const gid = Number((await run('id', ['-g', name])).stdout.trim());
      return { name, uid, gid };
    } catch {
      // try the next one
    }
  }
  await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'fleetdoc-pg']);
  return serverUser();
}

async function startLocalServer(): Promise<TestPostgres> {
  const [bin, user, port] = await Promise.all([findBinDir(), serverUser(), freePort()]);
  // Short path: the Unix socket path must stay under ~107 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'fdpg-'));
  const dataDir = join(dir, 'data');
  if (user) await chown(dir, user.uid, user.gid);
  const asServerUser = (cmd: string, args: string[]) =>
    user ? run('runuser', ['-u', user.name, '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);

  const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  try {
    await asServerUser('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync']);
    await asServerUser('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', serverOpts, 'start']);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start a test PostgreSQL in ${dir}`, { cause: err });
  }

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      // (already stopped by an outage a failed test left down: nothing to stop)
      await asServerUser('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  try {
    const serverUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await withAdmin(serverUrl, (c) => c.query('CREATE DATABASE fleetdoc'));
    const outage = {
      // fast: a clean shutdown (the test server runs without fsync; an immediate one would lose recent commits)
      down: async () => void (await asServerUser('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop'])),
      up: async () => void (await asServerUser('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', serverOpts, 'start'])),
    };
    return { url: `postgres://postgres@127.0.0.1:${port}/fleetdoc`, stop, outage };
  } catch (err) {
    await stop();
    throw err;
  }
}
