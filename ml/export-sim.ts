/**
 * Training data from the simulator's own TypeScript device models (the same
 * code the scorecard runs), as JSON lines for ml/train_shipped.py:
 *   {"id", "fault": code|null, "onsetTs", "failureTs",
 *    "faults": [{"code", "onsetTs", "failureTs"}], "ts": [...], "samples": [{metric: value}, ...]}
 * `fault`/`onsetTs`/`failureTs` are the first fault's; `faults` has all of
 * them (a device may develop two). Nothing repairs a device here, so every
 * fault runs from onset to the end of the run.
 *
 *   npx tsx ml/export-sim.ts --type air-compressor --seed train-ac-1 --devices 40
 *     --duration 30d --interval 15m --fault-rate 0.75 [--earliest-onset 0.1 --latest-onset 0.7]
 *     [--fault-plan '{"2":[{"code":"ac-bearing-wear","onset":0.4,"failure":0.8}]}'] [--start 2025-03-03T00:00:00Z] --out /tmp/ac.jsonl
 *
 * --fault-plan forces faults by device number (1-based) with onset and
 * failure as shares of the run; the other devices stay healthy.
 * --list-faults prints the type's catalogue fault codes (JSON) and exits.
 */
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { faultsForType } from '../simulator/faults/catalogue.ts';
import { createFleet, devicePrefix } from '../simulator/fleet.ts';
import type { FaultPlan } from '../simulator/device.ts';
import { modelFor } from '../simulator/models/index.ts';
import { parseDuration } from '../simulator/time.ts';

const { values: v } = parseArgs({
  options: {
    type: { type: 'string' }, seed: { type: 'string' }, devices: { type: 'string' }, duration: { type: 'string' },
    interval: { type: 'string' }, 'fault-rate': { type: 'string' }, out: { type: 'string' },
    'earliest-onset': { type: 'string' }, 'latest-onset': { type: 'string' }, 'fault-plan': { type: 'string' },
    'list-faults': { type: 'boolean' }, start: { type: 'string' },
  },
  strict: true,
});
if (v.type && v['list-faults']) {
  process.stdout.write(JSON.stringify(faultsForType(v.type).map((f) => f.code)) + '\n');
  process.exit(0);
}
if (!v.type || !v.seed || !v.out) throw new Error('--type, --seed and --out are required');
const startTs = Date.parse(v.start ?? '2025-03-03T00:00:00Z');
if (Number.isNaN(startTs)) throw new Error(`--start ${v.start}: not an ISO 8601 time`);
const durationMs = parseDuration(v.duration ?? '30d')!;
const intervalMs = v.interval ? parseDuration(v.interval) : undefined;
const devices = Number(v.devices ?? 40);

function faultPlan(text: string): Record<string, FaultPlan[]> {
  const plan = JSON.parse(text) as Record<string, Array<{ code: string; onset: number; failure: number }>>;
  const prefix = `${devicePrefix(v.seed!)}-${modelFor(v.type!).abbr}-`;
  const out: Record<string, FaultPlan[]> = {};
  for (const [n, faults] of Object.entries(plan)) {
    out[prefix + n.padStart(4, '0')] = faults.map((f) => ({
      code: f.code,
      onsetTs: Math.round(startTs + durationMs * f.onset),
      failureTs: Math.round(startTs + durationMs * f.failure),
    }));
  }
  return out;
}

const fleet = createFleet({
  seed: v.seed,
  devices,
  types: [v.type],
  faultRate: Number(v['fault-rate'] ?? 0.75),
  startTs,
  durationMs,
  ...(v['earliest-onset'] ? { earliestOnset: Number(v['earliest-onset']) } : {}),
  ...(v['latest-onset'] ? { latestOnset: Number(v['latest-onset']) } : {}),
  ...(v['fault-plan'] ? { faultPlan: faultPlan(v['fault-plan']) } : {}),
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
  const faults = d.faults.map((f) => ({ code: f.code, onsetTs: f.onsetTs, failureTs: f.failureTs }));
  const f = faults[0];
  const line = { id: d.id, fault: f?.code ?? null, onsetTs: f?.onsetTs ?? null, failureTs: f?.failureTs ?? null, faults, ts, samples };
  if (!out.write(JSON.stringify(line) + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
}
await new Promise<void>((r) => out.end(r));
