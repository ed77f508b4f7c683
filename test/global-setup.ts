import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path to an influxd 2.x binary, or '' when INFLUX_URL points at an external server. */
    influxdBin: string;
  }
}

/**
 * Runs once before all test files: makes sure an InfluxDB 2.x binary exists
 * (building it on a fresh machine takes ~5 minutes) so no test times out on it.
 */
export default function setup(project: TestProject): void {
  if (process.env.INFLUX_URL) {
    project.provide('influxdBin', '');
    return;
  }
  const script = fileURLToPath(new URL('../scripts/influxd.sh', import.meta.url));
  const bin = execFileSync('bash', [script, 'ensure'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  project.provide('influxdBin', bin);
}
