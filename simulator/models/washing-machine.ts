/**
 * Front loader running programmes: fill → wash (heating) → drain → fill →
 * rinse → drain → spin. Fill and drain times follow the water flow through
 * the inlet valve and the drain pump; spin vibration follows the load
 * imbalance and the speed, damped by the shock absorbers.
 */
import { Rng, seedOf } from '../rng.ts';
import { DAY, HOUR, dayOfWeek, localDayIndex } from '../time.ts';
import { clamp, lag, type ModelEvent, type ModelInstance, type ModelSpec, type SimValue, type StepContext, emitThrottled } from './model.ts';
import { seasonalTempC, type SiteEnv } from './site.ts';

const FAULTS = ['wm-inlet-valve-clog', 'wm-drain-pump-clog', 'wm-shock-absorber-wear', 'wm-heater-failure', 'wm-level-sensor-drift'] as const;
const [F_INLET, F_DRAIN, F_SHOCK, F_HEATER, F_LEVEL] = [0, 1, 2, 3, 4] as const;
const [C_HEAVY, C_LOW_PRESSURE] = [0, 1] as const;
const V = { phase: 0, level: 1, fill: 2, drain: 3, rpm: 4, vib: 5, imb: 6, current: 7, heater: 8, heaterOn: 9 } as const;

type Phase = 'idle' | 'fill' | 'wash' | 'rinse' | 'spin' | 'drain';
/** Programme steps after the first fill. */
const SEQUENCE: Phase[] = ['fill', 'wash', 'drain', 'fill', 'rinse', 'drain', 'spin'];
const MM_PER_L = 7;
const FILL_TIMEOUT_S = 480;
const DRAIN_TIMEOUT_S = 240;
const HEAT_TIMEOUT_S = 75 * 60;
const SUBSTEP_S = 5;

interface Programme {
  start: number;
  tempC: number;
  loadKg: number;
  imbalanceKg: number;
  spinRpm: number;
  washS: number;
}

class WashingMachine implements ModelInstance {
  readonly values: SimValue[] = ['idle', 0, 0, 0, 0, 0, 0, 0, 20, false];
  readonly modelName: string;
  private readonly flowLpm: number;
  private readonly drainLps: number;
  private readonly targetMm: number;
  private readonly heaterW: number;
  private readonly vibFactor: number;
  private readonly motorA: number;
  private readonly perDay: number;
  // state
  private phase: Phase = 'idle';
  private stepIdx = -1;
  private phaseS = 0;
  private prog: Programme | null = null;
  private actualMm = 0;
  private waterC = 20;
  private heaterOn = false;
  private heatS = 0;
  private heatTimedOut = false;
  private rpm = 0;
  private fillTimeS: number;
  private drainTimeS: number;
  private imbalanceKg = 0;
  private timedOut = false;
  private planDay = NaN;
  private plan: Programme[] = [];
  private readonly lastEvent = new Map<string, number>();

  constructor(private readonly seed: number, params: Rng, private readonly site: SiteEnv) {
    this.modelName = params.pick(['WM-7', 'WM-8', 'WM-9']);
    this.flowLpm = params.uniform(8, 16);
    this.drainLps = params.uniform(0.3, 0.45);
    this.targetMm = params.uniform(90, 120);
    this.heaterW = params.uniform(1800, 2200);
    this.vibFactor = params.uniform(0.8, 1.25);
    this.motorA = params.uniform(0.5, 0.8);
    this.perDay = params.uniform(0.5, 1.6);
    this.fillTimeS = ((this.targetMm + 5 * 1.2 * MM_PER_L) / ((this.flowLpm / 60) * MM_PER_L));
    this.drainTimeS = (this.targetMm / MM_PER_L) / this.drainLps;
  }

  private programmes(ts: number): Programme[] {
    const day = localDayIndex(ts, this.site.utcOffsetH);
    if (day === this.planDay) return this.plan;
    this.planDay = day;
    const r = new Rng(seedOf(this.seed, 'programmes', day));
    const dayStart = day * DAY - this.site.utcOffsetH * HOUR;
    const weekend = dayOfWeek(dayStart + HOUR, this.site.utcOffsetH) >= 5;
    const n = Math.round(this.perDay * (weekend ? 1.5 : 1) * r.uniform(0.3, 1.7));
    const starts: number[] = [];
    for (let i = 0; i < n; i++) starts.push(dayStart + r.uniform(7, 21) * HOUR);
    starts.sort((a, b) => a - b);
    const plan: Programme[] = [];
    for (const start of starts) {
      const prog: Programme = {
        start,
        tempC: r.pick([30, 40, 40, 40, 60, 60, 90]),
        loadKg: r.uniform(1.5, 7),
        imbalanceKg: clamp(r.logNormal(0.25, 1.8), 0.02, 1.1),
        spinRpm: r.pick([800, 1000, 1200, 1200, 1400]),
        washS: r.uniform(20, 50) * 60,
      };
      const prev = plan[plan.length - 1];
      if (!prev || start - prev.start > 3 * HOUR) plan.push(prog);
    }
    this.plan = plan;
    return plan;
  }

  private nextStart(ts: number): number {
    for (const p of this.programmes(ts)) if (p.start > ts) return p.start;
    return Infinity;
  }

  step(ts: number, dtS: number, ctx: StepContext): void {
    const { fault: f, conf: c, rng } = ctx;
    const from = ts - dtS * 1000;
    if (this.phase === 'idle') {
      const due = this.programmes(ts).find((p) => p.start > from && p.start <= ts);
      if (due) this.begin(due, c);
    }
    if (this.phase === 'idle') {
      this.idle(dtS);
    } else {
      const n = Math.max(1, Math.ceil(dtS / SUBSTEP_S));
      const h = dtS / n;
      for (let i = 0; i < n && (this.phase as Phase) !== 'idle'; i++) this.advance(ts - (n - 1 - i) * h * 1000, h, f, c, ctx);
    }
    const v = this.values;
    const offsetMm = 45 * f[F_LEVEL]!;
    v[V.phase] = this.phase;
    v[V.level] = clamp(this.actualMm + offsetMm + 0.5 * rng.normal(), 0, 300);
    v[V.fill] = this.fillTimeS;
    v[V.drain] = this.drainTimeS;
    v[V.rpm] = this.rpm;
    v[V.imb] = this.imbalanceKg;
    v[V.heater] = this.waterC + 0.3 * rng.normal();
    v[V.heaterOn] = this.heaterOn;
    const p = this.prog;
    let vib = 0.01;
    let current = 0.02;
    if (p) {
      const litres = this.actualMm / MM_PER_L;
      if (this.phase === 'spin') {
        const resonance = 1 + 1.5 * Math.exp(-(((this.rpm - 330) / 60) ** 2));
        vib = (0.12 + 0.9 * this.imbalanceKg * (this.rpm / 1000) ** 2) * this.vibFactor * (1 + 2.5 * f[F_SHOCK]!) * resonance;
        current = this.motorA + 1.6 * (this.rpm / 1400) + 0.3 * this.imbalanceKg;
      } else if (this.phase === 'wash' || this.phase === 'rinse') {
        vib = this.rpm > 0 ? (0.08 + 0.015 * p.loadKg + 0.04 * this.imbalanceKg) * this.vibFactor * (1 + 0.5 * f[F_SHOCK]!) : 0.02;
        current = this.rpm > 0 ? this.motorA + 0.12 * (p.loadKg + litres / 4) : 0.05;
      } else if (this.phase === 'drain') {
        current = 0.35;
      } else if (this.phase === 'fill') {
        current = 0.08;
      }
    }
    v[V.vib] = clamp(vib * (1 + 0.08 * rng.normal()), 0, 10);
    v[V.current] = clamp(current * (1 + 0.03 * rng.normal()), 0, 15);
  }

  private begin(p: Programme, c: Float64Array): void {
    const heavy = c[C_HEAVY]!;
    this.prog = heavy > 0 ? { ...p, loadKg: Math.max(p.loadKg, 7.5), imbalanceKg: Math.max(p.imbalanceKg, heavy) } : p;
    this.stepIdx = 0;
    this.enter('fill');
  }

  private enter(phase: Phase): void {
    this.phase = phase;
    this.phaseS = 0;
    this.timedOut = false;
    this.heatS = 0;
    this.heatTimedOut = false;
  }

  private nextPhase(): void {
    this.stepIdx++;
    const next = SEQUENCE[this.stepIdx];
    if (next === undefined) {
      this.phase = 'idle';
      this.prog = null;
      this.rpm = 0;
      this.heaterOn = false;
      return;
    }
    this.enter(next);
  }

  private idle(dtS: number): void {
    this.rpm = 0;
    this.heaterOn = false;
    this.waterC = lag(this.waterC, 21, dtS, 1800);
  }

  private advance(t: number, h: number, f: Float64Array, c: Float64Array, ctx: StepContext): void {
    const p = this.prog as Programme;
    this.phaseS += h;
    const offsetMm = 45 * f[F_LEVEL]!;
    switch (this.phase) {
      case 'fill': {
        const flow = this.flowLpm * (1 - 0.85 * f[F_INLET]!) * (1 - c[C_LOW_PRESSURE]!);
        const added = (flow / 60) * h * MM_PER_L;
        // the load soaks up part of the water before the level rises
        const absorbed = this.stepIdx === 0 ? p.loadKg * 1.2 * MM_PER_L : 0;
        const before = this.actualMm;
        this.actualMm += added * (this.phaseS * (flow / 60) * MM_PER_L > absorbed ? 1 : 0.05);
        const inlet = 6 + 0.5 * Math.max(0, seasonalTempC(this.site, t) - 4);
        this.waterC = this.actualMm > 0 ? (this.waterC * before + inlet * (this.actualMm - before)) / this.actualMm : inlet;
        this.rpm = this.phaseS % 20 < 4 ? 30 : 0;
        if (this.actualMm + offsetMm >= this.targetMm) {
          this.fillTimeS = Math.round(this.phaseS);
          this.nextPhase();
        } else if (this.phaseS > FILL_TIMEOUT_S && !this.timedOut) {
          this.timedOut = true;
          this.raise(ctx, { ts: t, kind: 'error', code: 'E-FILL-TIMEOUT', message: 'water level not reached in time' });
          this.fillTimeS = Math.round(this.phaseS);
          this.nextPhase();
        }
        break;
      }
      case 'wash':
      case 'rinse': {
        const target = this.phase === 'wash' ? p.tempC : 0;
        const litres = Math.max(1, this.actualMm / MM_PER_L);
        this.heaterOn = this.phase === 'wash' && !this.heatTimedOut && this.waterC < target - 1 && this.actualMm > 20;
        if (this.heaterOn) {
          this.heatS += h;
          this.waterC += (h * this.heaterW * (1 - f[F_HEATER]!)) / (4186 * (litres + 0.4 * p.loadKg));
          if (this.heatS > HEAT_TIMEOUT_S) {
            this.heatTimedOut = true;
            this.heaterOn = false;
            this.raise(ctx, { ts: t, kind: 'error', code: 'E-HEATING-TIMEOUT', message: 'water did not reach the programme temperature' });
          }
        } else {
          this.waterC = lag(this.waterC, 21, h, 5400);
        }
        this.rpm = this.phaseS % 15 < 12 ? 50 : 0;
        const length = this.phase === 'wash' ? Math.max(p.washS, this.heatS + 600) : 8 * 60;
        if (this.phaseS >= length && !this.heaterOn) {
          this.heaterOn = false;
          this.nextPhase();
        }
        break;
      }
      case 'drain': {
        this.rpm = 0;
        this.heaterOn = false;
        this.actualMm = Math.max(0, this.actualMm - this.drainLps * (1 - 0.92 * f[F_DRAIN]!) * h * MM_PER_L);
        if (this.phaseS > DRAIN_TIMEOUT_S && !this.timedOut) {
          this.timedOut = true;
          this.raise(ctx, { ts: t, kind: 'error', code: 'E-DRAIN-TIMEOUT', message: 'water not drained in time' });
        }
        if (this.actualMm <= 0.5) {
          this.actualMm = 0;
          this.drainTimeS = Math.round(this.phaseS);
          // the drum distributes the load before a spin and estimates the imbalance
          if (SEQUENCE[this.stepIdx + 1] === 'spin') this.imbalanceKg = Math.max(0, p.imbalanceKg * (1 + 0.1 * Math.sin(t)));
          this.nextPhase();
        }
        break;
      }
      case 'spin': {
        const limit = this.imbalanceKg > 1.2 ? 600 : p.spinRpm;
        if (limit < p.spinRpm && this.phaseS <= h) {
          this.raise(ctx, { ts: t, kind: 'warning', code: 'W-UNBALANCED-LOAD', message: 'spin speed reduced: unbalanced load' }, 0);
        }
        this.rpm = Math.min(limit, Math.round((this.phaseS / 90) * limit));
        this.waterC = lag(this.waterC, 21, h, 1800);
        if (this.phaseS >= 10 * 60) this.nextPhase();
        break;
      }
      case 'idle':
        break;
    }
  }

  private raise(ctx: StepContext, ev: ModelEvent, repeatMs = 6 * HOUR): void {
    emitThrottled(ctx, this.lastEvent, ev, repeatMs);
  }

  nextIntervalMs(ts: number, baseMs: number): number {
    if (this.phase !== 'idle') return baseMs;
    // idle: sample slowly, but wake up for the next programme
    return Math.max(baseMs, Math.min(baseMs * 30, this.nextStart(ts) - ts));
  }

  command(name: string): string {
    if (name === 'purge-level-sensor') return 'drain pump run for 30 s, level sensor re-zeroed';
    if (name === 'drum-clean') return 'drum-clean programme queued';
    return '';
  }
}

export const washingMachine: ModelSpec = {
  type: 'washing-machine',
  abbr: 'wm',
  models: ['WM-7', 'WM-8', 'WM-9'],
  metrics: [
    { name: 'phase', kind: 'string', min: 0, max: 0, decimals: 0 },
    { name: 'waterLevelMm', kind: 'number', min: 0, max: 300, decimals: 1 },
    { name: 'fillTimeS', kind: 'number', min: 0, max: 1800, decimals: 0 },
    { name: 'drainTimeS', kind: 'number', min: 0, max: 1800, decimals: 0 },
    { name: 'drumRpm', kind: 'number', min: 0, max: 1800, decimals: 0 },
    { name: 'drumVibrationG', kind: 'number', min: 0, max: 10, decimals: 3 },
    { name: 'imbalanceKg', kind: 'number', min: 0, max: 5, decimals: 2 },
    { name: 'motorCurrentA', kind: 'number', min: 0, max: 15, decimals: 2 },
    { name: 'heaterTempC', kind: 'number', min: 0, max: 100, decimals: 1 },
    { name: 'heaterOn', kind: 'boolean', min: 0, max: 1, decimals: 0 },
  ],
  faults: FAULTS,
  confounders: [
    { kind: 'heavy-unbalanced-load', perDay: 0.12, minutes: [60, 240], magnitude: [1.0, 2.2], hours: [7, 20] },
    { kind: 'low-water-pressure', perDay: 0.04, minutes: [120, 720], magnitude: [0.35, 0.6], hours: [6, 18] },
  ],
  defaultIntervalMs: 10_000,
  create(seed, params, site) {
    return new WashingMachine(seed, params, site);
  },
};
