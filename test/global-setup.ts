import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { createPgliteTemplate } from '../storage/embedded/pglite-client.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path to an influxd 2.x binary, or '' when INFLUX_URL points at an external server. */
    influxdBin: string;
    /** A migrated PGlite data dir tarball, so each test's embedded store skips initdb. */
    pgliteTemplatePath: string;
  }
}

/**
 * Runs once before all test files: makes sure an InfluxDB 2.x binary exists
 * (building it on a fresh machine takes ~5 minutes) so no test times out on it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetdoc-setup-'));
  const templatePath = join(dir, 'pglite-template.tar');
  const template = await createPgliteTemplate();
  await writeFile(templatePath, Buffer.from(await template.arrayBuffer()));
  project.provide('pgliteTemplatePath', templatePath);

  if (process.env.INFLUX_URL) {
    project.provide('influxdBin', '');
  } else {
    const script = fileURLToPath(new URL('../scripts/influxd.sh', import.meta.url));
    const bin = execFileSync('bash', [script, 'ensure'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    project.provide('influxdBin', bin);
  }
  return () => rm(dir, { recursive: true, force: true });
}
