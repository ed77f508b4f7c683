/**
 * One device's bounded state: the last value and running baseline of each
 * tracked metric, rolling per-window means (ring buffers) for metrics whose
 * slope a rule needs, and the rules' window counters — all in four typed
 * arrays laid out by the compiled rule set, so a device costs a few KB.
 */
import type { AnomalyResult } from '../model/types.ts';
import type { MetricValue } from '../../core/domain/telemetry.ts';
import { F64, layoutBytes, type Layout, type Operand } from '../rules/compile.ts';
import { createHash } from 'node:crypto';

export const FLAG_LIVE = 1;
/** Resumed from a checkpoint and not yet fed a sample: the gap since the checkpoint spans the service's own downtime. */
export const FLAG_RESTORED = 2;
/**
 * Its offline diagnosis was resolved while it was still silent (a repair recorded for the offline fault): the
 * silence is known, so it is not raised again, by the presence check or as a gap, until the device sends again.
 */
export const FLAG_SILENCE_RESOLVED = 4;
/** F64.clockLag is the device's clock lag, established by its arrivals in step with the platform's clock (presence.ts arrivesLive). */
export const FLAG_CLOCK_LAG = 8;
/** The fixed slots and flags that say how a device sends (not what its rules learnt): carried when its state is replaced. */
const PACING_F64 = [F64.lastWall, F64.wallGap, F64.clockLag, F64.clockSince] as const;
const SENDING_FLAGS = FLAG_LIVE | FLAG_SILENCE_RESOLVED | FLAG_CLOCK_LAG;

/** Identical readings after the first that mark an analogue sensor as stuck (the third in a row). */
const STUCK_REPEATS = 2;

/**
 * What the bytes of a device's state mean, beyond the layout's sizes: raise it whenever the engine
 * changes what a slot holds (a mean node's slots, the baselines), so old checkpoints are not misread.
 * 2: averages are no longer shared between rules of different faults.
 * 3: fixed slots for the device's clock lag (F64.clockLag, clockSince).
 */
export const STATE_FORMAT = 3;

const layoutKeys = new WeakMap<Layout, string>();

/** Names a compiled layout: its rule set, metric slots and array sizes, and the state format. A checkpoint only resumes into the same. */
export function layoutKey(layout: Layout): string {
  let key = layoutKeys.get(layout);
  if (key === undefined) {
    key = keyOf(layout, STATE_FORMAT, layout.f64.size);
    layoutKeys.set(layout, key);
  }
  return key;
}

function keyOf(layout: Layout, format: number, f64Size: number): string {
  const shape = { format, ruleSet: layout.ruleSet, metrics: layout.metrics, slots: layout.slots, sizes: [f64Size, layout.f32.size, layout.u32.size, layout.u8.size] };
  return `${layout.type}:${createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 32)}`;
}

/** Format 2 had no clock-lag slots: the fixed f64 slots it had, and how many format 3 inserted after them. */
const FORMAT_2_FIXED = F64.clockLag;
const FORMAT_3_INSERTED = 2;

/**
 * A checkpoint's bytes in this layout: as they are when taken under it, moved to format 3 when taken under the same
 * rules by format 2 (the two clock-lag slots inserted, unknown); null when taken under other rules or sizes.
 */
export function checkpointBytes(layout: Layout, key: string, bytes: Uint8Array): Uint8Array | null {
  if (key === layoutKey(layout)) return bytes;
  const old = layout.f64.size - FORMAT_3_INSERTED;
  if (key !== keyOf(layout, 2, old) || bytes.byteLength !== DeviceState.bytes(layout) - FORMAT_3_INSERTED * 8) return null;
  const out = new Uint8Array(DeviceState.bytes(layout));
  out.set(bytes.subarray(0, FORMAT_2_FIXED * 8));
  new Float64Array(out.buffer, FORMAT_2_FIXED * 8, FORMAT_3_INSERTED).fill(NaN);
  out.set(bytes.subarray(FORMAT_2_FIXED * 8), (FORMAT_2_FIXED + FORMAT_3_INSERTED) * 8);
  return out;
}

export class DeviceState {
  readonly id: string;
  readonly layout: Layout;
  model: string | null;
  site: string | null;
  readonly f64: Float64Array;
  readonly f32: Float32Array;
  readonly u32: Uint32Array;
  readonly u8: Uint8Array;
  /** The last anomalous model result (kept only while it matters for evidence). */
  lastAnomaly: AnomalyResult | undefined;
  /** The replay this device's latest replayed sample belongs to (-1: none since the start; not checkpointed): see Engine.sample. */
  replaySession = -1;

  constructor(id: string, layout: Layout, model: string | null, site: string | null) {
    this.id = id;
    this.layout = layout;
    this.model = model;
    this.site = site;
    // one buffer, four views (f64 first, so every view is aligned): a device costs one allocation, and its bytes are
    // the checkpoint's layout as they stand
    const buf = new ArrayBuffer(DeviceState.bytes(layout));
    let at = 0;
    this.f64 = new Float64Array(buf, at, layout.f64.size).fill(NaN);
    at += layout.f64.size * 8;
    this.f32 = new Float32Array(buf, at, layout.f32.size).fill(NaN);
    at += layout.f32.size * 4;
    this.u32 = new Uint32Array(buf, at, layout.u32.size);
    at += layout.u32.size * 4;
    this.u8 = new Uint8Array(buf, at, layout.u8.size);
    const { f32 } = layout;
    this.f32.fill(0, f32.baseMean, f32.bucketMean);
  }

  get lastTs(): number {
    return this.f64[F64.lastTs] as number;
  }

  /** How many samples this device has recorded (0 before the first). */
  get samples(): number {
    const n = this.f64[F64.samples]!;
    return Number.isNaN(n) ? 0 : n;
  }

  /** The four typed arrays as one byte string (a checkpoint): f64, f32, u32 then u8, each at an aligned offset. */
  toBytes(): Uint8Array {
    return new Uint8Array(this.f64.buffer.slice(0));
  }

  /** A device resumed from toBytes() under the same layout; null when the bytes do not fit it. */
  static fromBytes(id: string, layout: Layout, model: string | null, site: string | null, bytes: Uint8Array): DeviceState | null {
    if (bytes.byteLength !== DeviceState.bytes(layout)) return null;
    const s = new DeviceState(id, layout, model, site);
    // copied into the state's own (aligned) buffer: the bytes may sit at any offset of a larger one
    new Uint8Array(s.f64.buffer).set(bytes);
    return s;
  }

  /**
   * This state, just read from a checkpoint, as it resumes. At start because it was live (liveOnly): silent since
   * `since` (the service's start), whose downtime is not the device's. Later (its first sample, an event, a
   * recalibration): its pacing starts with what comes next. Replacing a state that ran afresh since the restart
   * (`running`): the checkpoint's learning, the running one's pacing.
   */
  resumed(running: DeviceState | undefined, liveOnly: boolean, since: number): void {
    const flags = this.layout.u8.flags;
    this.u8[flags] = FLAG_RESTORED | (this.u8[flags]! & (FLAG_SILENCE_RESOLVED | FLAG_CLOCK_LAG | (liveOnly ? FLAG_LIVE : 0)));
    this.f64[F64.lastWall] = liveOnly ? since : NaN;
    this.f64[F64.wallGap] = NaN;
    if (!running) return;
    this.model = running.model;
    this.site = running.site;
    for (const k of PACING_F64) this.f64[k] = running.f64[k]!;
    this.replaySession = running.replaySession;
    this.u8[flags] = running.u8[running.layout.u8.flags]! & SENDING_FLAGS;
    if (!(running.lastTs <= this.lastTs)) this.f64[F64.lastTs] = running.lastTs;
  }

  /**
   * A fresh state under `layout` (a new rule set, a whole-device recalibration) that keeps what says whether the
   * device is sending: its last sample, pacing, replay, live and restored flags, a resolved silence, and when each
   * metric (by name) last reported.
   */
  static afresh(from: DeviceState, layout: Layout): DeviceState {
    const s = new DeviceState(from.id, layout, from.model, from.site);
    s.f64[F64.lastTs] = from.lastTs;
    for (const k of PACING_F64) s.f64[k] = from.f64[k]!;
    s.replaySession = from.replaySession;
    s.u8[layout.u8.flags] = from.u8[from.layout.u8.flags]! & (SENDING_FLAGS | FLAG_RESTORED);
    for (const [name, i] of layout.metricIndex) {
      const was = from.layout.metricIndex.get(name);
      if (was !== undefined) s.f64[layout.f64.metricTs + i] = from.metricTs(was);
    }
    return s;
  }

  /**
   * A fresh state from the fixed header of a checkpoint taken under any layout: its last sample, silent since
   * `since` (wall clock), when that sample arrived live (within liveLagMs of its time); null otherwise.
   */
  static liveFromHeader(id: string, layout: Layout, meta: { model: string | null; site: string | null }, bytes: Uint8Array, liveLagMs: number, since: number): DeviceState | null {
    const headBytes = (F64.wallGap + 1) * 8;
    if (bytes.byteLength < headBytes) return null;
    // copied: the bytes may sit at any offset of a larger buffer
    const head = new Float64Array(bytes.slice(0, headBytes).buffer);
    if (!(head[F64.lastWall]! - head[F64.lastTs]! < liveLagMs)) return null;
    const s = new DeviceState(id, layout, meta.model, meta.site);
    s.f64[F64.lastTs] = head[F64.lastTs]!;
    s.f64[F64.lastWall] = since;
    s.u8[layout.u8.flags] = FLAG_LIVE | FLAG_RESTORED;
    return s;
  }

  /** A rule (or the model's) slot as a raise leaves it: no normal run, no evidence from the open window. */
  resetSlot(slot: number): void {
    const L = this.layout;
    this.u32[L.u32.streak + slot] = 0;
    this.f64[L.f64.normalSince + slot] = NaN;
    this.u8[L.u8.evals + slot] = 0;
    this.u8[L.u8.hits + slot] = 0;
  }

  /** Typed-array bytes this device holds (the measured figure adds object overhead). */
  static bytes(layout: Layout): number {
    return layoutBytes(layout);
  }

  /** Records a sample's values: last value, per-metric time, baseline, buckets. */
  record(ts: number, values: Readonly<Record<string, MetricValue>>): void {
    const L = this.layout;
    this.f64[F64.samples] = this.samples + 1;
    const W = L.ruleSet.windowMs;
    const B = L.buckets;
    let bucket = -1;
    if (L.nBucketed > 0) {
      const start = Math.floor(ts / W) * W;
      bucket = Math.floor(ts / W) % B;
      const at = L.f64.bucketStart + bucket;
      if (this.f64[at] !== start) {
        this.f64[at] = start;
        for (let m = 0; m < L.nBucketed; m++) this.u8[L.u8.bucketCount + m * B + bucket] = 0;
      }
    }
    const needed = L.ruleSet.baselineSamples;
    for (let i = 0; i < L.metrics.length; i++) {
      const slot = L.metrics[i]!;
      const raw = values[slot.name];
      if (raw === undefined) continue;
      const x = typeof raw === 'number' ? raw : typeof raw === 'boolean' ? (raw ? 1 : 0) : slot.values ? slot.values.indexOf(raw) : NaN;
      if (!Number.isFinite(x) || x < 0 && slot.values) continue;
      // an analogue reading repeated exactly is a stuck sensor from the third time on: it keeps its
      // last value but adds nothing to the rolling windows, so a frozen reading is no flat slope
      let stuck = false;
      if (slot.continuous) {
        const r = L.u8.repeats + i;
        const same = this.f32[L.f32.last + i] === Math.fround(x) && !Number.isNaN(this.f64[L.f64.metricTs + i]!);
        this.u8[r] = same ? Math.min(255, this.u8[r]! + 1) : 0;
        stuck = this.u8[r]! >= STUCK_REPEATS;
      }
      this.f32[L.f32.last + i] = x;
      this.f64[L.f64.metricTs + i] = ts;
      const n = this.u32[L.u32.baseCount + i]!;
      if (n < needed && !slot.values) {
        // Welford: the device's own normal, learned from its first samples
        const count = n + 1;
        const mean = this.f32[L.f32.baseMean + i]!;
        const d = x - mean;
        const nextMean = mean + d / count;
        this.f32[L.f32.baseMean + i] = nextMean;
        this.f32[L.f32.baseM2 + i] = this.f32[L.f32.baseM2 + i]! + d * (x - nextMean);
        this.u32[L.u32.baseCount + i] = count;
      }
      if (bucket >= 0 && slot.bucket >= 0 && !stuck) {
        const ci = L.u8.bucketCount + slot.bucket * B + bucket;
        const mi = L.f32.bucketMean + slot.bucket * B + bucket;
        const c = this.u8[ci]!;
        // past 255 samples a window mean turns into a slow running average: fine for slopes
        const nc = c < 255 ? c + 1 : 255;
        this.f32[mi] = c === 0 ? x : this.f32[mi]! + (x - this.f32[mi]!) / nc;
        this.u8[ci] = nc;
      }
    }
  }

  /** Whether metric i's analogue sensor is repeating its reading exactly (stuck) as of its last sample. */
  stuck(i: number): boolean {
    return this.layout.metrics[i]!.continuous && this.u8[this.layout.u8.repeats + i]! >= STUCK_REPEATS;
  }

  baselineReady(i: number): boolean {
    return this.u32[this.layout.u32.baseCount + i]! >= this.layout.ruleSet.baselineSamples;
  }

  baseline(i: number): number {
    return this.f32[this.layout.f32.baseMean + i]!;
  }

  baselineStd(i: number): number {
    const n = this.u32[this.layout.u32.baseCount + i]!;
    return n > 1 ? Math.sqrt(this.f32[this.layout.f32.baseM2 + i]! / (n - 1)) : NaN;
  }

  last(i: number): number {
    return this.f32[this.layout.f32.last + i]!;
  }

  metricTs(i: number): number {
    return this.f64[this.layout.f64.metricTs + i]!;
  }

  /** Whether the sample at ts itself carried metric i (not a value left from an earlier one). */
  reported(i: number, ts: number): boolean {
    return this.metricTs(i) === ts;
  }

  /**
   * How far operand() may be from the same sum of the readings as sent: readings and baselines are kept as
   * float32 (half a unit in the last place each, 2^-24 of the value), so a decimal limit such as 7.2 is never
   * met exactly by a reading of 7.2. Comparisons with a limit treat values this close as equal to it.
   */
  operandTolerance(o: Operand): number {
    let m = Math.abs(this.last(o.a)) + (o.b >= 0 ? Math.abs(this.last(o.b)) : 0);
    if (o.relative) m += Math.abs(this.baseline(o.a)) + (o.b >= 0 ? Math.abs(this.baseline(o.b)) : 0);
    return m * 2 ** -23;
  }

  /** The operand's current value: a − b − (baseline of a − baseline of b); NaN when unknown. */
  operand(o: Operand): number {
    let v = this.last(o.a);
    if (o.b >= 0) v -= this.last(o.b);
    if (o.relative) {
      if (!this.baselineReady(o.a) || (o.b >= 0 && !this.baselineReady(o.b))) return NaN;
      v -= this.baseline(o.a) - (o.b >= 0 ? this.baseline(o.b) : 0);
    }
    return v;
  }

  /**
   * Least-squares slope per hour of the operand's window means over the last
   * windowMs of event time before `ts`; NaN with fewer than 3 windows or when
   * they span less than half the window.
   */
  slopePerHour(o: Operand, ts: number, windowMs: number): number {
    const L = this.layout;
    const B = L.buckets;
    const W = L.ruleSet.windowMs;
    const sa = L.metrics[o.a]!.bucket;
    const sb = o.b >= 0 ? L.metrics[o.b]!.bucket : -1;
    const from = ts - windowMs;
    let n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, minX = Infinity, maxX = -Infinity;
    for (let k = 0; k < B; k++) {
      const start = this.f64[L.f64.bucketStart + k]!;
      if (!(start + W > from) || start > ts) continue;
      if (this.u8[L.u8.bucketCount + sa * B + k] === 0) continue;
      let y = this.f32[L.f32.bucketMean + sa * B + k]!;
      if (sb >= 0) {
        if (this.u8[L.u8.bucketCount + sb * B + k] === 0) continue;
        y -= this.f32[L.f32.bucketMean + sb * B + k]!;
      }
      const x = (start - from) / 3_600_000;
      n++;
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
    }
    if (n < 3 || (maxX - minX) * 3_600_000 < windowMs / 2) return NaN;
    const den = n * sxx - sx * sx;
    return den === 0 ? NaN : (n * sxy - sx * sy) / den;
  }
}
