/**
 * A fleet: devices derived from a seed (ids, sites, tolerances), a fault
 * plan (which devices, which faults, onset and functional-failure times) and
 * the ground truth. Pure; the runner drives it against a platform.
 */
import { FAULTS, faultDef, type RemedyClass } from './faults/catalogue.ts';
import { modelFor } from './models/index.ts';
import { createSite, type SiteEnv } from './models/site.ts';
import { Rng, seedOf, shuffle } from './rng.ts';
import { SimDevice, type FaultPlan, type FaultState } from './device.ts';

export interface FleetOptions {
  seed: string | number;
  devices: number;
  types: string[];
  /** Share of devices that develop a fault (capped so ≥ 10% stay fault-free). */
  faultRate: number;
  startTs: number;
  durationMs: number;
  /** Earliest fault onset as a share of the run (default 0.1: the calibration period stays clean). */
  earliestOnset?: number;
  /** Latest fault onset as a share of the run (default 0.7). */
  latestOnset?: number;
  /** Sample interval per type, ms (washers: during a programme). */
  intervalMs?: Partial<Record<string, number>>;
  glitches?: boolean;
  offline?: boolean;
  confounders?: boolean;
  /** Force these faults instead of drawing a plan (tests, demos). */
  faultPlan?: Record<string, FaultPlan[]>;
}

export interface GroundTruthRow {
  device: string;
  deviceType: string;
  faultCode: string;
  onset: string;
  functionalFailure: string;
  remedyClass: RemedyClass;
  command: string | null;
  fixedAt: string | null;
  fixedBy: string | null;
}

export interface Fleet {
  readonly seed: string | number;
  readonly startTs: number;
  readonly endTs: number;
  readonly devices: SimDevice[];
  readonly sites: SiteEnv[];
  device(id: string): SimDevice | undefined;
  groundTruth(): GroundTruthRow[];
  /** Fault-free devices (for counting false alarms). */
  healthy(): SimDevice[];
}

/** Device ids are derived from the seed: sim42-ac-0001. */
export function devicePrefix(seed: string | number): string {
  return `sim${String(seed).replace(/[^A-Za-z0-9]/g, '').slice(0, 24)}`;
}

export function createFleet(o: FleetOptions): Fleet {
  if (o.devices < 1) throw new Error('a fleet needs at least one device');
  if (o.types.length === 0) throw new Error('a fleet needs at least one device type');
  const specs = o.types.map(modelFor);
  const rng = new Rng(seedOf(o.seed, 'fleet'));
  const prefix = devicePrefix(o.seed);
  const endTs = o.startTs + o.durationMs;
  const siteCount = Math.max(1, Math.ceil(o.devices / 6));
  const sites = Array.from({ length: siteCount }, (_, i) => createSite(o.seed, `${prefix}-site-${String(i + 1).padStart(3, '0')}`));

  // which devices get a fault: a seeded shuffle, leaving a fault-free share
  const maxFaulty = o.devices >= 2 ? o.devices - Math.max(1, Math.ceil(o.devices * 0.1)) : o.devices;
  const faulty = Math.min(maxFaulty, Math.round(o.devices * Math.max(0, o.faultRate)));
  const order = shuffle(rng, Array.from({ length: o.devices }, (_, i) => i));
  const faultyIdx = new Set(order.slice(0, faulty));
  const earliest = o.earliestOnset ?? 0.1;
  const latest = Math.max(earliest, o.latestOnset ?? 0.7);
  const perType = new Map<string, number>();
  const faultCursor = new Map<string, number>();

  const devices: SimDevice[] = [];
  for (let i = 0; i < o.devices; i++) {
    const spec = specs[i % specs.length]!;
    const n = (perType.get(spec.type) ?? 0) + 1;
    perType.set(spec.type, n);
    const id = `${prefix}-${spec.abbr}-${String(n).padStart(4, '0')}`;
    const site = sites[rng.int(0, sites.length - 1)]!;
    let faults: FaultPlan[] = [];
    // draws happen for every device so one device's plan does not shift another's
    const r = new Rng(seedOf(o.seed, id, 'faults'));
    const codes = spec.faults;
    if (o.faultPlan) {
      faults = o.faultPlan[id] ?? [];
    } else if (faultyIdx.has(i)) {
      // cycle through the type's faults so small fleets still see each of them
      const cursor = faultCursor.get(spec.type) ?? r.int(0, codes.length - 1);
      faultCursor.set(spec.type, cursor + 1);
      const picked = [codes[cursor % codes.length]!];
      if (r.chance(0.15)) picked.push(codes[(cursor + r.int(1, codes.length - 1)) % codes.length]!);
      faults = picked.map((code) => {
        const onsetTs = o.startTs + o.durationMs * r.uniform(earliest, latest);
        const span = (endTs - onsetTs) * Math.min(2.5, Math.max(0.3, r.logNormal(0.85, 1.5)));
        return { code, onsetTs: Math.round(onsetTs), failureTs: Math.round(onsetTs + span) };
      });
    }
    devices.push(
      new SimDevice({
        fleetSeed: o.seed,
        id,
        spec,
        site,
        owner: spec.type === 'air-compressor' ? `${site.id.replace('-site-', '-owner-')}` : `${prefix}-owner-${String(i + 1).padStart(5, '0')}`,
        startTs: o.startTs,
        endTs,
        intervalMs: o.intervalMs?.[spec.type] ?? spec.defaultIntervalMs,
        faults,
        glitches: o.glitches,
        offline: o.offline,
        confounders: o.confounders,
      }),
    );
  }
  const byId = new Map(devices.map((d) => [d.id, d]));
  return {
    seed: o.seed,
    startTs: o.startTs,
    endTs,
    devices,
    sites,
    device: (id) => byId.get(id),
    groundTruth: () => devices.flatMap((d) => d.faults.map((f) => groundTruthRow(d, f))),
    healthy: () => devices.filter((d) => d.faults.length === 0),
  };
}

export function groundTruthRow(d: SimDevice, f: FaultState): GroundTruthRow {
  const def = faultDef(f.code);
  return {
    device: d.id,
    deviceType: d.type,
    faultCode: f.code,
    onset: new Date(f.onsetTs).toISOString(),
    functionalFailure: new Date(f.failureTs).toISOString(),
    remedyClass: def.remedyClass,
    command: def.command,
    fixedAt: f.fixedTs === null ? null : new Date(f.fixedTs).toISOString(),
    fixedBy: f.fixedBy,
  };
}

export { FAULTS };
