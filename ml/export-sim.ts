/**
 * Training data from the simulator's own TypeScript device models (the same
 * code the scorecard runs), as JSON lines for ml/train_shipped.py:
 *   {"id", "fault": code|null, "onsetTs", "failureTs", "ts": [...], "samples": [{metric: value}, ...]}
 *
 *   npx tsx ml/export-sim.ts --type air-compressor --seed train-ac-1 --devices 40
 *     --duration 30d --interval 15m --fault-rate 0.75 --out /tmp/ac.jsonl
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { createFleet } from '../simulator/fleet.ts';
import { parseDuration } from '../simulator/time.ts';

const { values: v } = parseArgs({
  options: {
    type: { type: 'string' }, seed: { type: 'string' }, devices: { type: 'string' }, duration: { type: 'string' },
    interval: { type: 'string' }, 'fault-rate': { type: 'string' }, out: { type: 'string' },
  },
  strict: true,
});
if (!v.type || !v.seed || !v.out) throw new Error('--type, --seed and --out are required');
const durationMs = parseDuration(v.duration ?? '30d')!;
const intervalMs = v.interval ? parseDuration(v.interval) : undefined;
const fleet = createFleet({
  seed: v.seed,
  devices: Number(v.devices ?? 40),
  types: [v.type],
  faultRate: Number(v['fault-rate'] ?? 0.75),
  startTs: Date.parse('2025-03-03T00:00:00Z'),
  durationMs,
  intervalMs: intervalMs === undefined ? {} : { [v.type]: intervalMs },
});
const out = createWriteStream(v.out);
for (const d of fleet.devices) {
  const ts: number[] = [];
  const samples: Record<string, number | boolean | string>[] = [];
  while (!d.finished) {
    d.step();
    ts.push(d.lastTs);
    samples.push(d.sample().metrics as Record<string, number | boolean | string>);
  }
  const f = d.faults[0];
  const line = { id: d.id, fault: f?.code ?? null, onsetTs: f?.onsetTs ?? null, failureTs: f?.failureTs ?? null, ts, samples };
  if (!out.write(JSON.stringify(line) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
}
await new Promise<void>((r) => out.end(r));
