/**
 * One simulated device: a physical model plus what makes real telemetry
 * messy — faults developing from onset to functional failure, confounders
 * (normal events that look like faults for a while), sensor glitches and
 * offline spells. Pure: advanced by an event-time clock, no I/O.
 */
import { DEVICE_COMMANDS, faultDef, type RemedyClass } from './faults/catalogue.ts';
import type { ModelEvent, ModelInstance, ModelSpec, SimValue, StepContext } from './models/model.ts';
import type { SiteEnv } from './models/site.ts';
import { Rng, seedOf } from './rng.ts';
import { DAY, HOUR, MINUTE, localDayIndex } from './time.ts';

export interface FaultPlan {
  code: string;
  onsetTs: number;
  failureTs: number;
}

export interface FaultState extends FaultPlan {
  index: number;
  shape: number;
  remedyClass: RemedyClass;
  fixedTs: number | null;
  fixedBy: string | null;
}

export interface DeviceOptions {
  fleetSeed: string | number;
  id: string;
  spec: ModelSpec;
  site: SiteEnv;
  owner: string;
  startTs: number;
  endTs: number;
  intervalMs: number;
  faults: FaultPlan[];
  glitches?: boolean;
  offline?: boolean;
  confounders?: boolean;
}

export interface Sample {
  ts: number;
  seq: number;
  metrics: Record<string, SimValue>;
}

export type CommandOutcome =
  | { status: 'ignored'; detail: string }
  | { status: 'failed'; detail: string }
  | { status: 'done'; detail: string; fixed: FaultState[] };

const P_SPIKE = 0.003;
const P_STUCK = 0.0007;
const P_DROP = 0.0015;
const OFFLINE_PER_DAY = 0.25;

export class SimDevice {
  readonly id: string;
  readonly type: string;
  readonly spec: ModelSpec;
  readonly modelName: string;
  readonly site: SiteEnv;
  readonly owner: string;
  readonly faults: FaultState[];
  readonly offlineWindows: [number, number][] = [];
  readonly startTs: number;
  readonly endTs: number;
  intervalMs: number;
  /** Event time of the next sample. */
  nextTs: number;
  /** Event time of the last sample (the device's clock); startTs before the first. */
  lastTs: number;
  seq = 0;
  /** Events raised since the runner last drained them. */
  readonly events: ModelEvent[] = [];
  /** Values of the last sample after glitches; undefined = dropped. */
  readonly out: (SimValue | undefined)[];

  private readonly model: ModelInstance;
  private readonly rng: Rng;
  private readonly seed: number;
  private readonly sev: Float64Array;
  private readonly conf: Float64Array;
  private readonly ctx: StepContext;
  private readonly glitches: boolean;
  private readonly confounders: boolean;
  private readonly stuckLeft: Int32Array;
  private readonly dropLeft: Int32Array;
  private readonly keys: string[];
  private readonly scale: number[];
  private readonly glitchable: number[];
  /** Flat [kind, start, end, magnitude] episodes of the current and previous local day, then injected ones. */
  private episodes: number[] = [];
  private readonly injected: number[] = [];
  private episodeDay = NaN;

  constructor(o: DeviceOptions) {
    this.id = o.id;
    this.type = o.spec.type;
    this.spec = o.spec;
    this.site = o.site;
    this.owner = o.owner;
    this.startTs = o.startTs;
    this.endTs = o.endTs;
    this.intervalMs = o.intervalMs;
    this.seed = seedOf(o.fleetSeed, o.id);
    this.rng = new Rng(seedOf(o.fleetSeed, o.id, 'steps'));
    this.model = o.spec.create(this.seed, new Rng(seedOf(o.fleetSeed, o.id, 'params')), o.site, o.startTs);
    this.modelName = this.model.modelName;
    this.sev = new Float64Array(o.spec.faults.length);
    this.conf = new Float64Array(o.spec.confounders.length);
    this.faults = o.faults.map((p) => {
      const def = faultDef(p.code);
      const index = o.spec.faults.indexOf(p.code);
      if (index < 0) throw new Error(`fault ${p.code} does not apply to ${o.spec.type}`);
      return { ...p, index, shape: def.shape, remedyClass: def.remedyClass, fixedTs: null, fixedBy: null };
    });
    this.glitches = o.glitches ?? true;
    this.confounders = o.confounders ?? true;
    const n = o.spec.metrics.length;
    this.out = new Array<SimValue | undefined>(n);
    this.stuckLeft = new Int32Array(n);
    this.dropLeft = new Int32Array(n);
    this.keys = o.spec.metrics.map((m) => JSON.stringify(m.name) + ':');
    this.scale = o.spec.metrics.map((m) => 10 ** m.decimals);
    this.glitchable = o.spec.metrics.flatMap((m, i) => (m.kind === 'number' && m.max < 1e9 ? [i] : []));
    this.ctx = { rng: this.rng, fault: this.sev, conf: this.conf, emit: (ev) => this.events.push(ev) };
    if (o.offline ?? true) this.planOffline();
    this.nextTs = o.startTs;
    this.lastTs = o.startTs;
  }

  private planOffline(): void {
    const r = new Rng(seedOf(this.seed, 'offline'));
    const span = this.endTs - this.startTs;
    const expected = Math.max(0.15, (span / DAY) * OFFLINE_PER_DAY);
    let n = Math.floor(expected) + (r.chance(expected % 1) ? 1 : 0);
    while (n-- > 0) {
      const start = this.startTs + span * r.uniform(0.05, 0.95);
      const len = Math.min(Math.max(r.logNormal(40 * MINUTE, 2.5), 5 * MINUTE), 12 * HOUR, Math.max(span * 0.05, 5 * MINUTE));
      this.offlineWindows.push([start, start + len]);
    }
    this.offlineWindows.sort((a, b) => a[0] - b[0]);
  }

  /** True while the device is connected (not in one of its offline spells). */
  isOnlineAt(ts: number): boolean {
    for (const [a, b] of this.offlineWindows) if (ts >= a && ts < b) return false;
    return true;
  }

  get finished(): boolean {
    return this.nextTs > this.endTs;
  }

  /** Severity 0…1 of each planned fault at `ts` (0 before onset and after a fix). */
  severity(f: FaultState, ts: number): number {
    if (ts < f.onsetTs || (f.fixedTs !== null && ts > f.fixedTs)) return 0;
    const u = Math.min(1, (ts - f.onsetTs) / Math.max(1, f.failureTs - f.onsetTs));
    return Math.pow(u, f.shape);
  }

  /** Produces the sample at nextTs into `out` and moves the clock on. */
  step(): void {
    const ts = this.nextTs;
    const dtS = this.seq === 0 ? this.intervalMs / 1000 : Math.max(0.001, (ts - this.lastTs) / 1000);
    this.sev.fill(0);
    for (const f of this.faults) this.sev[f.index] = Math.max(this.sev[f.index]!, this.severity(f, ts));
    this.updateConfounders(ts);
    this.model.step(ts, dtS, this.ctx);
    this.applyGlitches();
    this.lastTs = ts;
    this.seq++;
    this.nextTs = ts + Math.max(1, Math.round(this.model.nextIntervalMs(ts, this.intervalMs)));
  }

  private updateConfounders(ts: number): void {
    this.conf.fill(0);
    if (this.confounders) {
      const day = localDayIndex(ts, this.site.utcOffsetH);
      if (day !== this.episodeDay) {
        this.episodeDay = day;
        this.episodes = [...this.planEpisodes(day - 1), ...this.planEpisodes(day)];
      }
      this.applyEpisodes(this.episodes, ts);
    }
    this.applyEpisodes(this.injected, ts);
  }

  private planEpisodes(day: number): number[] {
    const r = new Rng(seedOf(this.seed, 'confounders', day));
    const out: number[] = [];
    const dayStart = day * DAY - this.site.utcOffsetH * HOUR;
    this.spec.confounders.forEach((c, k) => {
      let n = Math.floor(c.perDay) + (r.chance(c.perDay % 1) ? 1 : 0);
      while (n-- > 0) {
        const [h0, h1] = c.hours ?? [0, 24];
        const start = dayStart + r.uniform(h0, h1) * HOUR;
        out.push(k, start, start + r.uniform(c.minutes[0], c.minutes[1]) * MINUTE, r.uniform(c.magnitude[0], c.magnitude[1]));
      }
    });
    return out;
  }

  private applyEpisodes(eps: number[], ts: number): void {
    for (let i = 0; i < eps.length; i += 4) {
      const start = eps[i + 1]!;
      const end = eps[i + 2]!;
      if (ts < start || ts >= end) continue;
      // ramps in and out over the first and last fifth
      const ramp = Math.min(1, (ts - start) / ((end - start) * 0.2), (end - ts) / ((end - start) * 0.2));
      const k = eps[i]!;
      this.conf[k] = Math.max(this.conf[k]!, eps[i + 3]! * Math.max(ramp, 0.05));
    }
  }

  /** Forces a confounder episode (tests, demos); `kind` as in the model's confounder list. */
  injectConfounder(kind: string, startTs: number, durationMs: number, magnitude?: number): void {
    const k = this.spec.confounders.findIndex((c) => c.kind === kind);
    const def = this.spec.confounders[k];
    if (!def) throw new Error(`unknown confounder ${kind} for ${this.type}`);
    this.injected.push(k, startTs, startTs + durationMs, magnitude ?? (def.magnitude[0] + def.magnitude[1]) / 2);
  }

  private applyGlitches(): void {
    const v = this.model.values;
    const out = this.out;
    for (let i = 0; i < v.length; i++) {
      if (this.dropLeft[i]! > 0) {
        this.dropLeft[i]!--;
        out[i] = undefined;
      } else if (this.stuckLeft[i]! > 0 && out[i] !== undefined) {
        this.stuckLeft[i]!--;
      } else {
        out[i] = v[i];
      }
    }
    // a fixed number of draws per sample keeps the stream aligned whatever the model does
    const r = this.rng;
    const a = r.next();
    const b = r.next();
    const c = r.next();
    if (!this.glitches) return;
    const g = this.glitchable;
    if (a < P_SPIKE) {
      const i = g[Math.floor(r.next() * g.length)]!;
      const m = this.spec.metrics[i]!;
      const x = typeof out[i] === 'number' ? (out[i] as number) : 0;
      const jump = Math.max(Math.abs(x) * r.uniform(0.5, 1.5), (m.max - m.min) * 0.05);
      out[i] = Math.min(m.max, Math.max(m.min, x + (r.chance(0.7) ? jump : -jump)));
    }
    if (b < P_STUCK) this.stuckLeft[g[Math.floor(r.next() * g.length)]!] = r.int(10, 120);
    if (c < P_DROP) this.dropLeft[Math.floor(r.next() * v.length)] = r.int(1, 30);
  }

  /** The last sample as the JSON the device publishes. */
  sampleJson(): string {
    let s = `{"ts":${this.lastTs},"seq":${this.seq - 1},"metrics":{`;
    let first = true;
    const metrics = this.spec.metrics;
    for (let i = 0; i < this.out.length; i++) {
      const v = this.out[i];
      if (v === undefined) continue;
      let text: string;
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) continue;
        const m = metrics[i]!;
        const r = m.kind === 'integer' ? Math.round(v) : Math.round(v * this.scale[i]!) / this.scale[i]!;
        text = String(Math.min(m.max, Math.max(m.min, r)) + 0);
      } else if (typeof v === 'boolean') {
        text = v ? 'true' : 'false';
      } else {
        text = JSON.stringify(v);
      }
      s += (first ? '' : ',') + this.keys[i] + text;
      first = false;
    }
    return s + '}}';
  }

  /** The last sample as an object (tests, CSV export). */
  sample(): Sample {
    return JSON.parse(this.sampleJson()) as Sample;
  }

  /** Commands this device understands. */
  knows(name: string): boolean {
    return (DEVICE_COMMANDS[this.type] ?? []).some((c) => c.name === name);
  }

  /**
   * Obeys a command at the device's current event time. Expired commands are
   * ignored (judged against `wallNow`, the platform's clock that set
   * expiresAt); unknown ones fail; a known one fixes exactly the active faults
   * whose remedy it is.
   */
  command(name: string, expiresAt: string | number, wallNow: number): CommandOutcome {
    const exp = typeof expiresAt === 'number' ? expiresAt : Date.parse(expiresAt);
    if (Number.isFinite(exp) && exp < wallNow) return { status: 'ignored', detail: 'expired' };
    if (!this.knows(name)) return { status: 'failed', detail: `unknown command ${name}` };
    const ts = this.lastTs;
    const fixed: FaultState[] = [];
    for (const f of this.faults) {
      if (f.fixedTs === null && f.onsetTs <= ts && faultDef(f.code).command === name) {
        f.fixedTs = ts;
        f.fixedBy = `command:${name}`;
        fixed.push(f);
      }
    }
    return { status: 'done', detail: this.model.command(name, ts), fixed };
  }

  /**
   * An owner following a guide (fixes `owner` faults only) or a technician's
   * visit (fixes any): fixes the active fault `code`. Returns it, or null.
   */
  remedy(code: string, by: 'owner' | 'technician'): FaultState | null {
    const ts = this.lastTs;
    const f = this.faults.find((x) => x.code === code && x.fixedTs === null && x.onsetTs <= ts);
    if (!f || (by === 'owner' && f.remedyClass !== 'owner')) return null;
    f.fixedTs = ts;
    f.fixedBy = by;
    return f;
  }
}
