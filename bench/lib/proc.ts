/**
 * Child processes and temp dirs of a bench run, CPU time from /proc, and
 * cleanup on every way out (normal end, error, SIGINT/SIGTERM).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

let clkTck = 0;
function ticksPerSecond(): number {
  if (clkTck === 0) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** utime + stime of a process (all its threads), in seconds; null when it is gone. */
export function cpuSeconds(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(comm)": state is field 3, utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();

export function track(child: ChildProcess, name: string): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', (err) => log(`${name}: ${err.message}`));
  return child;
}

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Asks a child to end (SIGTERM), SIGKILL after graceMs. */
export function terminate(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Synchronous last-resort cleanup: kills what is still running, removes temp dirs. */
export function cleanupNow(): void {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

export async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => terminate(c, 3000)));
  cleanupNow();
}

/** Copies a child's output lines to our stderr with a prefix. */
export function pipeLines(stream: Readable | null | undefined, prefix: string, keep?: string[]): void {
  if (!stream) return;
  createInterface({ input: stream }).on('line', (line) => {
    if (keep) {
      keep.push(line);
      if (keep.length > 50) keep.shift();
    }
    process.stderr.write(`${prefix} ${line}\n`);
  });
}

export { freePort } from '../../scripts/lib/free-port.ts';
import { waitFor as sharedWaitFor } from '../../scripts/lib/wait-for.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sleeps until the given epoch ms (setTimeout granularity). */
export function sleepUntil(epochMs: number): Promise<void> {
  return sleep(Math.max(0, epochMs - Date.now()));
}

export function waitFor<T>(fn: () => Promise<T> | T, what: string, timeoutMs: number, intervalMs = 100): Promise<NonNullable<T>> {
  return sharedWaitFor(fn, { what, timeoutMs, intervalMs });
}

/** Busy and total jiffies of the whole host, from /proc/stat (all cores). */
export function hostJiffies(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Host cores busy between two hostJiffies() samples (0 … number of cores). */
export function busyCores(a: { busy: number; total: number }, b: { busy: number; total: number }, cores: number): number {
  const dt = b.total - a.total;
  return dt > 0 ? ((b.busy - a.busy) / dt) * cores : 0;
}
