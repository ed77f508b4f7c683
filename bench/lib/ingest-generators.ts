/**
 * The load generator processes of `npm run bench:ingest` (bench/loadgen.ts):
 * forked, each connecting its share of the devices, and their counts merged
 * at the end of a run.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram, type HistogramSnapshot } from './histogram.ts';
import type { Options } from './ingest-options.ts';
import { forkTs } from './ingest-server.ts';
import { createRpc, type Rpc } from './ipc.ts';
import { terminate } from './proc.ts';

const LOADGEN = fileURLToPath(new URL('../loadgen.ts', import.meta.url));

export interface GenResult {
  sent: number;
  sentInWindow: number;
  acked: number;
  /** PUBACKs received during the window (the broker's intake rate). */
  ackedInWindow: number;
  ackErrors: number;
  disconnects: number;
  maxBacklog: number;
  maxTickGapMs: number;
  puback: HistogramSnapshot;
}

/** Forks the generator processes and connects their share of the devices. */
export async function startGenerators(o: Options, url: string, devices: Array<{ id: string; secret?: string }>) {
  const gens: Array<{ child: ChildProcess; rpc: Rpc }> = [];
  for (let g = 0; g < o.genProcs; g++) {
    const child = forkTs(LOADGEN, `loadgen ${g}`, { ...process.env });
    gens.push({ child, rpc: createRpc(child, `loadgen ${g}`) });
  }
  const slices = gens.map((_, g) => devices.filter((_d, i) => i % gens.length === g));
  await Promise.all(gens.map((g, i) => g.rpc('connect', { url, devices: slices[i], client: o.client }, 120_000)));
  return {
    gens,
    shares: slices.map((s) => s.length / devices.length),
    /** Stops publishing (waiting briefly for the last PUBACKs) and sums what every generator counted. */
    async finish(): Promise<GenResult> {
      const finished = await Promise.all(gens.map((g) => g.rpc<GenResult>('finish', { waitMs: 2000 }, 30_000)));
      const merged: GenResult = { sent: 0, sentInWindow: 0, acked: 0, ackedInWindow: 0, ackErrors: 0, disconnects: 0, maxBacklog: 0, maxTickGapMs: 0, puback: { buckets: [], count: 0, max: 0 } };
      const pubHist = new Histogram();
      for (const f of finished) {
        merged.sent += f.sent;
        merged.sentInWindow += f.sentInWindow;
        merged.acked += f.acked;
        merged.ackedInWindow += f.ackedInWindow;
        merged.ackErrors += f.ackErrors;
        merged.disconnects += f.disconnects;
        merged.maxBacklog = Math.max(merged.maxBacklog, f.maxBacklog);
        merged.maxTickGapMs = Math.max(merged.maxTickGapMs, f.maxTickGapMs);
        pubHist.merge(f.puback);
      }
      merged.puback = pubHist.snapshot();
      return merged;
    },
    async stop() {
      await Promise.allSettled(gens.map((g) => g.rpc('close', {}, 10_000)));
      await Promise.all(gens.map((g) => terminate(g.child, 3000)));
    },
  };
}
