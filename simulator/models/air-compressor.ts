/**
 * Fixed-speed oil-injected screw compressor with load/unload control.
 *
 * Pressure integrates delivery minus demand (demand falls with pressure, as
 * flow through the users' orifices does); the controller loads at pLoad,
 * unloads at pUnload and stops the motor after a spell unloaded. Oil
 * temperature is held at the thermostatic valve's set point until the cooler
 * cannot shed the heat (high load, hot room, fouled cooler); discharge
 * temperature sits above oil temperature by the compression heat.
 */
import type { Rng } from '../rng.ts';
import { dayOfWeek, hourOfDay, DAY } from '../time.ts';
import { clamp, lag, type ModelEvent, type ModelInstance, type ModelSpec, type SimValue, type StepContext, emitThrottled } from './model.ts';
import { outdoorTempC, type SiteEnv } from './site.ts';

const FAULTS = [
  'ac-air-filter-clog',
  'ac-cooler-fouling',
  'ac-bearing-wear',
  'ac-air-leak',
  'ac-oil-loss',
  'ac-separator-clog',
  'ac-inlet-valve-sticking',
] as const;
const [F_FILTER, F_COOLER, F_BEARING, F_LEAK, F_OIL, F_SEP, F_INLET] = [0, 1, 2, 3, 4, 5, 6] as const;
const [C_SURGE, C_HOT, C_COLD_ROOM] = [0, 1, 2] as const;

const V = { pressure: 0, discharge: 1, oil: 2, ambient: 3, current: 4, vibration: 5, filterDp: 6, sepDp: 7, loaded: 8, cycles: 9, hours: 10, loadedHours: 11 } as const;

const TRIP_MS = 30 * 60 * 1000;
const EVENT_REPEAT_MS = 6 * 3600 * 1000;

class AirCompressor implements ModelInstance {
  readonly values: SimValue[] = [0, 0, 0, 0, 0, 0, 0, 0, false, 0, 0, 0];
  readonly modelName: string;
  // device tolerances
  private readonly ratedA: number;
  private readonly unloadFrac: number;
  private readonly pLoad: number;
  private readonly pUnload: number;
  private readonly k: number;
  private readonly roomHeatK: number;
  private readonly roomMin: number;
  private readonly coolerDT: number;
  private readonly thermostat: number;
  private readonly compDT: number;
  private readonly vibBase: number;
  private readonly filterDp0: number;
  private readonly sepDp0: number;
  private readonly autoStopS: number;
  private readonly shiftStart: number;
  private readonly shiftEnd: number;
  private readonly worksSaturday: boolean;
  private readonly dayDemand: number;
  private readonly nightDemand: number;
  private readonly startTs: number;
  // state
  private p: number;
  private loaded = false;
  private motorOn = true;
  private unloadedS = 0;
  private tripUntil = 0;
  private cycles: number;
  private hours: number;
  private loadedHours: number;
  private oilT: number;
  private dischT: number;
  private loadEma = 0.5;
  private demandNoise = 0;
  private readonly lastEvent = new Map<string, number>();

  constructor(params: Rng, private readonly site: SiteEnv, startTs: number, kw: number) {
    this.startTs = startTs;
    this.modelName = `SC-${kw}`;
    this.ratedA = kw * 1.8 * params.uniform(0.95, 1.05);
    this.unloadFrac = params.uniform(0.3, 0.42);
    this.pLoad = params.uniform(6.3, 7.6);
    this.pUnload = this.pLoad + params.uniform(0.5, 1.0);
    this.k = 1 / params.uniform(15, 50);
    this.roomHeatK = params.uniform(4, 12);
    this.roomMin = params.uniform(10, 18);
    this.coolerDT = params.uniform(32, 44);
    this.thermostat = params.uniform(68, 76);
    this.compDT = params.uniform(14, 22);
    this.vibBase = params.uniform(1.0, 2.6);
    this.filterDp0 = params.uniform(12, 28);
    this.sepDp0 = params.uniform(0.12, 0.3);
    this.autoStopS = params.uniform(6, 20) * 60;
    this.shiftStart = params.uniform(5, 8);
    this.shiftEnd = params.uniform(15, 23);
    this.worksSaturday = params.chance(0.35);
    this.dayDemand = params.uniform(0.4, 0.8);
    this.nightDemand = params.uniform(0.03, 0.18);
    this.cycles = params.int(10_000, 400_000);
    this.hours = Math.round(params.uniform(500, 40_000));
    // no draw of its own, so that every other tolerance of the fleet stays as it was
    this.loadedHours = Math.round(this.hours * 0.6);
    this.p = this.pLoad + 0.3;
    this.oilT = this.thermostat;
    this.dischT = this.thermostat + this.compDT;
  }

  private baseDemand(ts: number): number {
    const h = hourOfDay(ts, this.site.utcOffsetH);
    const dow = dayOfWeek(ts, this.site.utcOffsetH);
    const working = dow < 5 || (dow === 5 && this.worksSaturday);
    if (!working || h < this.shiftStart || h > this.shiftEnd) return this.nightDemand;
    // a lunch dip and ramps at the shift edges
    const ramp = Math.min(1, (h - this.shiftStart) * 2, (this.shiftEnd - h) * 2);
    const lunch = Math.abs(h - 12.5) < 0.5 ? 0.7 : 1;
    return this.nightDemand + (this.dayDemand - this.nightDemand) * ramp * lunch;
  }

  step(ts: number, dtS: number, ctx: StepContext): void {
    const { fault: f, conf: c, rng } = ctx;
    const n = Math.max(1, Math.ceil(dtS / 5));
    const h = dtS / n;
    const capacity = (1 - 0.45 * f[F_INLET]!) * (1 - 0.04 * f[F_FILTER]!);
    const leak = 0.32 * f[F_LEAK]!;
    const outdoor = outdoorTempC(this.site, ts);
    const room = Math.max(outdoor + this.roomHeatK * (0.4 + 0.6 * this.loadEma), this.roomMin) + c[C_HOT]! - c[C_COLD_ROOM]!;
    for (let i = 0; i < n; i++) {
      const t = ts - (n - 1 - i) * h * 1000;
      this.demandNoise = lag(this.demandNoise, 0, h, 300) + 0.02 * Math.sqrt(h) * rng.normal();
      const demand = Math.max(0, this.baseDemand(t) + c[C_SURGE]! + leak + this.demandNoise) * (this.p / this.pLoad);
      const flow = this.motorOn && this.loaded ? capacity : 0;
      this.p = clamp(this.p + this.k * (flow - demand) * h, 0, this.pUnload + 0.4);
      if (this.motorOn) {
        this.hours += h / 3600;
        if (this.loaded) this.loadedHours += h / 3600;
        if (this.loaded && this.p >= this.pUnload) {
          this.loaded = false;
          this.unloadedS = 0;
        } else if (!this.loaded) {
          this.unloadedS += h;
          if (this.p <= this.pLoad) {
            this.loaded = true;
            this.cycles++;
          } else if (this.unloadedS > this.autoStopS) {
            this.motorOn = false;
          }
        }
      } else if (t >= this.tripUntil && this.p <= this.pLoad) {
        this.motorOn = true;
        this.loaded = true;
        this.cycles++;
      }
      this.loadEma = lag(this.loadEma, this.motorOn ? (this.loaded ? 1 : 0.3) : 0, h, 600);
      // oil: the thermostatic valve holds its set point until the cooler runs out of margin
      const coolerDT = this.coolerDT * (0.3 + 0.7 * this.loadEma) * (1 + 1.1 * f[F_COOLER]!) + 10 * f[F_OIL]!;
      // with less oil the same heat warms a smaller mass past the thermostat's reach
      const margin = room + coolerDT - this.thermostat;
      // a proportional valve: slightly below its set point with cooler margin, tracking the cooler without
      const oilTarget = this.motorOn ? this.thermostat + (margin > 0 ? margin : 0.12 * margin) + 9 * f[F_OIL]! * this.loadEma : room;
      this.oilT = lag(this.oilT, oilTarget, h, this.motorOn ? 500 : 2400);
      const compression = this.motorOn ? (this.loaded ? this.compDT * (1 + 0.08 * (this.p - 7)) * (1 + 0.5 * f[F_FILTER]!) : 5) : 0;
      const oilStarved = this.motorOn && this.loaded ? 22 * Math.pow(f[F_OIL]!, 1.5) + 4 * f[F_BEARING]! : 0;
      this.dischT = lag(this.dischT, this.oilT + compression + oilStarved, h, 90);
    }
    this.checkProtection(ts, ctx);

    const v = this.values;
    v[V.pressure] = this.p + 0.015 * rng.normal();
    v[V.discharge] = this.dischT + 0.3 * rng.normal();
    v[V.oil] = this.oilT + 0.25 * rng.normal();
    v[V.ambient] = room + 0.2 * rng.normal();
    let current = 0;
    if (this.motorOn) {
      current = this.loaded
        ? this.ratedA * (0.8 + 0.2 * (this.p / this.pUnload)) * Math.pow(capacity, 0.6) * (1 + 0.1 * f[F_FILTER]! + 0.12 * f[F_SEP]! + 0.05 * f[F_BEARING]!)
        : this.ratedA * this.unloadFrac * (1 + 0.04 * f[F_BEARING]! + 0.03 * f[F_SEP]!);
    }
    v[V.current] = current > 0 ? current * (1 + 0.012 * rng.normal()) : 0 * rng.normal();
    const vib = this.motorOn ? this.vibBase * (this.loaded ? 1 : 0.8) * (1 + 6 * f[F_BEARING]!) : 0.05;
    v[V.vibration] = Math.max(0.02, vib * (1 + 0.06 * rng.normal()));
    const ageing = 1 + 0.1 * ((ts - this.startTs) / (60 * DAY));
    const dp = this.motorOn ? (this.loaded ? this.filterDp0 * capacity * capacity * (1 + 5 * f[F_FILTER]!) * ageing : this.filterDp0 * 0.08) : 0;
    v[V.filterDp] = Math.max(0, dp + (this.motorOn ? 0.4 * rng.normal() : 0 * rng.normal()));
    const sep = this.motorOn ? (this.loaded ? this.sepDp0 * (1 + 4 * f[F_SEP]!) * Math.sqrt(this.p / 7) : this.sepDp0 * 0.25) : 0;
    v[V.sepDp] = Math.max(0, sep + (this.motorOn ? 0.008 * rng.normal() : 0 * rng.normal()));
    v[V.loaded] = this.motorOn && this.loaded;
    v[V.cycles] = this.cycles;
    v[V.hours] = this.hours;
    v[V.loadedHours] = this.loadedHours;
  }

  private checkProtection(ts: number, ctx: StepContext): void {
    if (this.motorOn && this.dischT > 115) {
      // high discharge temperature trip: the controller stops the motor for a while
      this.raise(ctx, { ts, kind: 'error', code: 'E-HIGH-DISCHARGE-TEMP', message: 'discharge temperature trip', data: { dischargeTempC: round1(this.dischT) } }, 0);
      this.motorOn = false;
      this.loaded = false;
      this.tripUntil = ts + TRIP_MS;
    } else if (this.motorOn && this.loaded && this.dischT > 105) {
      this.raise(ctx, { ts, kind: 'warning', code: 'W-HIGH-DISCHARGE-TEMP', message: 'discharge temperature high', data: { dischargeTempC: round1(this.dischT) } });
    }
    const f = ctx.fault;
    if (this.motorOn && this.loaded && this.filterDp0 * (1 + 5 * f[F_FILTER]!) > 70) {
      this.raise(ctx, { ts, kind: 'warning', code: 'W-AIR-FILTER', message: 'air filter pressure drop high' });
    }
    // ISO 10816-3 zone C/D boundary for a rigidly mounted 15–300 kW machine
    if (this.motorOn && this.vibBase * (1 + 6 * f[F_BEARING]!) > 6.5) {
      this.raise(ctx, { ts, kind: 'error', code: 'E-VIBRATION', message: 'vibration above alarm level' });
    }
    if (this.motorOn && this.loaded && this.sepDp0 * (1 + 4 * f[F_SEP]!) > 0.55) {
      this.raise(ctx, { ts, kind: 'warning', code: 'W-SEPARATOR', message: 'oil separator pressure drop high' });
    }
  }

  private raise(ctx: StepContext, ev: ModelEvent, repeatMs = EVENT_REPEAT_MS): void {
    emitThrottled(ctx, this.lastEvent, ev, repeatMs);
  }

  nextIntervalMs(_ts: number, baseMs: number): number {
    return baseMs;
  }

  command(name: string): string {
    if (name === 'exercise-inlet-valve') return 'inlet valve cycled 20 times';
    if (name === 'purge-condensate') return 'condensate drain opened for 5 s';
    return '';
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

const SIZES = [15, 22, 30, 37, 45, 55, 75, 90];

export const airCompressor: ModelSpec = {
  type: 'air-compressor',
  abbr: 'ac',
  models: SIZES.map((kw) => `SC-${kw}`),
  metrics: [
    { name: 'dischargePressureBar', kind: 'number', min: 0, max: 16, decimals: 2 },
    { name: 'dischargeTempC', kind: 'number', min: -20, max: 130, decimals: 1 },
    { name: 'oilTempC', kind: 'number', min: -20, max: 130, decimals: 1 },
    { name: 'ambientTempC', kind: 'number', min: -40, max: 60, decimals: 1 },
    { name: 'motorCurrentA', kind: 'number', min: 0, max: 400, decimals: 1 },
    { name: 'vibrationRmsMmS', kind: 'number', min: 0, max: 50, decimals: 2 },
    { name: 'airFilterDpMbar', kind: 'number', min: 0, max: 200, decimals: 1 },
    { name: 'separatorDpBar', kind: 'number', min: 0, max: 3, decimals: 3 },
    { name: 'loaded', kind: 'boolean', min: 0, max: 1, decimals: 0 },
    { name: 'loadCycles', kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, decimals: 0 },
    { name: 'runHours', kind: 'number', min: 0, max: Number.MAX_SAFE_INTEGER, decimals: 2 },
    { name: 'loadedHours', kind: 'number', min: 0, max: Number.MAX_SAFE_INTEGER, decimals: 3 },
  ],
  faults: FAULTS,
  confounders: [
    { kind: 'demand-surge', perDay: 0.4, minutes: [10, 90], magnitude: [0.3, 0.7], hours: [6, 20] },
    { kind: 'hot-afternoon', perDay: 0.15, minutes: [180, 420], magnitude: [5, 10], hours: [11, 14] },
    { kind: 'cold-room', perDay: 0.05, minutes: [60, 240], magnitude: [4, 8], hours: [0, 24] },
  ],
  defaultIntervalMs: 60_000,
  create(_seed, params, site, startTs) {
    const kw = params.pick(SIZES);
    return new AirCompressor(params, site, startTs, kw);
  },
};
