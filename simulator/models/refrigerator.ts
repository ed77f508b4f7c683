/**
 * Fridge-freezer with one fixed-speed compressor, a cabinet thermostat and
 * timed defrost. Heat leaks in from the kitchen (more with the door open or
 * a worn seal); the evaporator takes it out while the compressor runs, less
 * as ice builds up on it. Defrost melts the ice.
 */
import { Rng, seedOf } from '../rng.ts';
import { DAY, HOUR, localDayIndex } from '../time.ts';
import { clamp, lag, type ModelEvent, type ModelInstance, type ModelSpec, type SimValue, type StepContext, emitThrottled } from './model.ts';
import { outdoorTempC, type SiteEnv } from './site.ts';

const FAULTS = ['rf-condenser-dust', 'rf-door-seal-leak', 'rf-refrigerant-leak', 'rf-defrost-heater-failure', 'rf-defrost-timer-stuck'] as const;
const [F_DUST, F_SEAL, F_LEAK, F_HEATER, F_TIMER] = [0, 1, 2, 3, 4] as const;
const [C_LONG_DOOR, C_HOT, C_GROCERIES] = [0, 1, 2] as const;
const V = { cabinet: 0, freezer: 1, evap: 2, cond: 3, ambient: 4, on: 5, duty: 6, current: 7, door: 8, defrost: 9 } as const;

const MIN_OFF_S = 300;
const DEFROST_S = 25 * 60;

class Refrigerator implements ModelInstance {
  readonly values: SimValue[] = [0, 0, 0, 0, 0, false, 0, 0, false, false];
  readonly modelName: string;
  private readonly setCab: number;
  private readonly diff: number;
  private readonly kCab: number;
  private readonly kFrz: number;
  private readonly cCab: number;
  private readonly cFrz: number;
  private readonly teOn: number;
  private readonly condDT: number;
  private readonly iNom: number;
  private readonly iceRate: number;
  private readonly defrostEveryS: number;
  private readonly kitchenOffset: number;
  private readonly doorsPerDay: number;
  // state
  private tCab: number;
  private tFrz: number;
  private te: number;
  private tCond: number;
  private on = false;
  private offS = MIN_OFF_S;
  private duty = 0.4;
  private ice = 0.1;
  private sinceDefrostS: number;
  private defrostLeftS = 0;
  private defrostMaxTe = -30;
  private doorOpen = false;
  private warmS = 0;
  private planDay = NaN;
  private doors: number[] = [];
  private readonly lastEvent = new Map<string, number>();

  constructor(private readonly seed: number, params: Rng, private readonly site: SiteEnv) {
    this.modelName = params.pick(['FF-300', 'FF-340', 'FF-380']);
    this.setCab = params.uniform(3, 5.5);
    this.diff = params.uniform(1.2, 2.2);
    this.kCab = 1 / (params.uniform(6, 10) * 3600);
    this.kFrz = 1 / (params.uniform(9, 13) * 3600);
    this.cCab = params.uniform(4.8e-5, 6e-5);
    this.cFrz = params.uniform(2.8e-4, 3.6e-4);
    this.teOn = params.uniform(-28, -24);
    this.condDT = params.uniform(9, 14);
    this.iNom = params.uniform(0.7, 1.3);
    this.iceRate = params.uniform(2e-6, 4e-6);
    this.defrostEveryS = params.uniform(8, 14) * 3600;
    this.kitchenOffset = params.uniform(-2, 3);
    this.doorsPerDay = params.uniform(12, 40);
    this.tCab = this.setCab;
    this.tFrz = -18;
    this.te = -20;
    this.tCond = 25;
    this.sinceDefrostS = params.uniform(0, this.defrostEveryS);
  }

  private plan(ts: number): void {
    const day = localDayIndex(ts, this.site.utcOffsetH);
    if (day === this.planDay) return;
    this.planDay = day;
    const r = new Rng(seedOf(this.seed, 'doors', day));
    const n = Math.round(this.doorsPerDay * r.uniform(0.6, 1.4));
    const dayStart = day * DAY - this.site.utcOffsetH * HOUR;
    const doors: number[] = [];
    for (let i = 0; i < n; i++) {
      // mornings, lunch and evenings
      const hour = r.pick([7.5, 8, 12.5, 13, 18, 19, 19.5, 20, 21, 15, 10, 22]) + r.gauss(0, 0.6);
      const start = dayStart + clamp(hour, 6, 23.5) * HOUR;
      doors.push(start, start + clamp(r.logNormal(12, 2), 3, 120) * 1000);
    }
    this.doors = doors;
  }

  /** Seconds the door is open within (from, to]. */
  private doorOpenS(from: number, to: number, forced: boolean): number {
    if (forced) return (to - from) / 1000;
    let s = 0;
    for (let i = 0; i < this.doors.length; i += 2) {
      const a = Math.max(from, this.doors[i]!);
      const b = Math.min(to, this.doors[i + 1]!);
      if (b > a) s += (b - a) / 1000;
    }
    return s;
  }

  step(ts: number, dtS: number, ctx: StepContext): void {
    const { fault: f, conf: c, rng } = ctx;
    this.plan(ts);
    const ambient = clamp(20 + this.kitchenOffset + 0.3 * (outdoorTempC(this.site, ts) - 12), 15, 32) + c[C_HOT]!;
    const n = Math.max(1, Math.ceil(dtS / 10));
    const h = dtS / n;
    const forcedDoor = c[C_LONG_DOOR]! > 0;
    const leakFactor = 1 + 1.5 * f[F_SEAL]!;
    const coolFactor = (1 - 0.55 * this.ice) * (1 - 0.2 * f[F_DUST]!);
    for (let i = 0; i < n; i++) {
      const t1 = ts - (n - 1 - i) * h * 1000;
      const doorS = this.doorOpenS(t1 - h * 1000, t1, forcedDoor);
      // defrost scheduling (a stuck timer never fires)
      if (this.defrostLeftS > 0) {
        this.defrostLeftS -= h;
        this.defrostMaxTe = Math.max(this.defrostMaxTe, this.te);
        if (this.defrostLeftS <= 0) this.endDefrost(t1, ctx);
      } else {
        this.sinceDefrostS += h;
        if (this.sinceDefrostS >= this.defrostEveryS && f[F_TIMER]! === 0) this.startDefrost();
      }
      const defrosting = this.defrostLeftS > 0;
      // thermostat with a minimum off time protecting the compressor
      if (defrosting) this.on = false;
      else if (!this.on && this.offS >= MIN_OFF_S && this.tCab > this.setCab + this.diff / 2) this.on = true;
      else if (this.on && this.tCab < this.setCab - this.diff / 2) this.on = false;
      this.offS = this.on ? 0 : this.offS + h;

      const teTarget = this.on
        ? this.teOn + 20 * f[F_LEAK]! - 5 * this.ice + 0.15 * (ambient - 22)
        : defrosting
          ? this.tFrz + (8 - this.tFrz) * (1 - f[F_HEATER]!)
          : this.tFrz + 3;
      this.te = lag(this.te, teTarget, h, this.on ? 120 : defrosting ? 300 : 600);
      const cooling = this.on ? coolFactor : 0;
      const cabIn = this.kCab * leakFactor * (ambient - this.tCab) + (doorS / h) * (ambient - this.tCab) / 600 + c[C_GROCERIES]! * 1.5e-4;
      this.tCab += h * (cabIn - cooling * this.cCab * (this.tCab - this.te));
      const frzIn = this.kFrz * leakFactor * (ambient - this.tFrz) + (defrosting ? 2e-4 : 0);
      this.tFrz += h * (frzIn - cooling * this.cFrz * (this.tFrz - this.te));
      // frost: humidity from door openings and a leaking seal; a defrost melts it if the heater works
      if (this.on) this.ice += h * (this.iceRate * (1 + 3 * f[F_SEAL]!)) + doorS * 4e-5;
      if (defrosting) this.ice -= (h * (1 - f[F_HEATER]!) ** 3) / 900;
      this.ice = clamp(this.ice, 0, 1);
      const condTarget = this.on ? ambient + this.condDT * (1 + 1.2 * f[F_DUST]!) * (1 - 0.5 * f[F_LEAK]!) : ambient;
      this.tCond = lag(this.tCond, condTarget, h, this.on ? 180 : 600);
      this.duty = lag(this.duty, this.on ? 1 : 0, h, 3600);
      this.doorOpen = doorS > 0 && i === n - 1;
      if (this.tFrz > -8) this.warmS += h;
      else this.warmS = 0;
    }
    if (this.warmS > 3600) this.raise(ctx, { ts, kind: 'error', code: 'E-FREEZER-WARM', message: 'freezer above -8 °C for an hour', data: { freezerTempC: Math.round(this.tFrz * 10) / 10 } });
    if (forcedDoor) this.raise(ctx, { ts, kind: 'warning', code: 'W-DOOR-OPEN', message: 'door open for more than 2 minutes' }, 3600_000);

    const v = this.values;
    v[V.cabinet] = this.tCab + 0.15 * rng.normal();
    v[V.freezer] = this.tFrz + 0.2 * rng.normal();
    v[V.evap] = this.te + 0.3 * rng.normal();
    v[V.cond] = this.tCond + 0.3 * rng.normal();
    v[V.ambient] = ambient + 0.2 * rng.normal();
    v[V.on] = this.on;
    v[V.duty] = clamp(this.duty * 100, 0, 100);
    const current = this.on ? this.iNom * (1 + 0.012 * (this.tCond - ambient - this.condDT)) * (1 - 0.25 * f[F_LEAK]!) : 0.03;
    v[V.current] = Math.max(0, current * (1 + 0.02 * rng.normal()));
    v[V.door] = this.doorOpen;
    v[V.defrost] = this.defrostLeftS > 0;
  }

  private startDefrost(): void {
    this.defrostLeftS = DEFROST_S;
    this.sinceDefrostS = 0;
    this.defrostMaxTe = this.te;
  }

  private endDefrost(ts: number, ctx: StepContext): void {
    if (this.defrostMaxTe < 2) {
      this.raise(ctx, { ts, kind: 'error', code: 'E-DEFROST-TIMEOUT', message: 'defrost ended before the evaporator reached its termination temperature', data: { evaporatorTempC: Math.round(this.defrostMaxTe * 10) / 10 } }, 0);
    }
  }

  private raise(ctx: StepContext, ev: ModelEvent, repeatMs = 12 * HOUR): void {
    emitThrottled(ctx, this.lastEvent, ev, repeatMs);
  }

  nextIntervalMs(_ts: number, baseMs: number): number {
    return baseMs;
  }

  command(name: string): string {
    if (name === 'defrost') {
      // a forced defrost with a working heater clears the ice at once
      this.startDefrost();
      return 'forced defrost started';
    }
    return '';
  }
}

export const refrigerator: ModelSpec = {
  type: 'refrigerator',
  abbr: 'rf',
  models: ['FF-300', 'FF-340', 'FF-380'],
  metrics: [
    { name: 'cabinetTempC', kind: 'number', min: -10, max: 40, decimals: 2 },
    { name: 'freezerTempC', kind: 'number', min: -40, max: 30, decimals: 2 },
    { name: 'evaporatorTempC', kind: 'number', min: -45, max: 40, decimals: 1 },
    { name: 'condenserTempC', kind: 'number', min: -10, max: 80, decimals: 1 },
    { name: 'ambientTempC', kind: 'number', min: -10, max: 50, decimals: 1 },
    { name: 'compressorOn', kind: 'boolean', min: 0, max: 1, decimals: 0 },
    { name: 'compressorDutyPct', kind: 'number', min: 0, max: 100, decimals: 1 },
    { name: 'compressorCurrentA', kind: 'number', min: 0, max: 10, decimals: 2 },
    { name: 'doorOpen', kind: 'boolean', min: 0, max: 1, decimals: 0 },
    { name: 'defrostActive', kind: 'boolean', min: 0, max: 1, decimals: 0 },
  ],
  faults: FAULTS,
  confounders: [
    { kind: 'long-door-opening', perDay: 0.06, minutes: [2, 12], magnitude: [1, 1], hours: [7, 22] },
    { kind: 'hot-afternoon', perDay: 0.15, minutes: [180, 420], magnitude: [4, 8], hours: [11, 14] },
    { kind: 'warm-groceries', perDay: 0.15, minutes: [90, 240], magnitude: [0.5, 1.5], hours: [9, 19] },
  ],
  defaultIntervalMs: 60_000,
  create(seed, params, site) {
    return new Refrigerator(seed, params, site);
  },
};
