/**
 * Whether a device is sending, for the bare offline rules (`missing` without
 * a metric): its wall-clock pacing, the event-time watermark of replayed
 * traffic, and where a stopped device's silence ends for now (the engine
 * raises the offline rules it trips: Engine.raiseSilences). A gap inside the stream is
 * judged on event time, live or replayed; a device that has stopped sending
 * is judged against the wall clock when live and against the replay
 * watermark when replayed, and raised at its last sample + afterMs either way.
 */
import { F64 } from './rules/compile.ts';
import { FLAG_CLOCK_LAG, FLAG_LIVE, FLAG_SILENCE_RESOLVED, type DeviceState } from './windows/device-state.ts';

/** How much a device's estimate of its usual wall-clock gap between arrivals forgets a long one at each later gap. */
const WALL_GAP_DECAY = 0.8;
/** Shorter waits are one batch split over the service's micro-batches, not a gap between arrivals. */
const MIN_WALL_GAP_MS = 1000;
const IDLE_GAPS = 4;
const MAX_IDLE_FACTOR = 6;

/**
 * A streak of arrivals is in step while each one's lag behind the platform's clock stays within IN_STEP_SLACK_MS
 * (network delays) + this share of the wall-clock time since the streak began (a real clock drifts by about a
 * ten-thousandth) of the streak's first.
 */
const IN_STEP_SHARE = 0.001;
const IN_STEP_SLACK_MS = 10_000;
/** How long a streak in step establishes a clock lag: a recording replayed 1.2 % off real time has left it by then. */
const TRUST_AFTER_MS = 15 * 60_000;
/** The largest clock error taken as one (a time zone's local time sent as UTC, no time sync); a steadier lag is a replay in real time. */
const MAX_CLOCK_LAG_MS = 24 * 3_600_000;

/**
 * Whether a sample arrives live: within liveLagMs of the platform's clock, or of the device's own clock lag. A device
 * whose clock runs behind (no time sync) sends live with a steady lag: arrivals that keep in step with the first of
 * their streak for 15 minutes (TRUST_AFTER_MS) establish its lag (F64.clockLag, FLAG_CLOCK_LAG; at most a day), and a
 * sample within liveLagMs of it is live. An arrival liveLagMs or more off it (a backlog, a clock set right) ends the
 * trust and begins a new streak. A recording replayed faster or slower than real time drifts out of step within the
 * streak, a backlog jumps out of it at once: neither is trusted. One in real time (within 1.2 %) up to a day old is,
 * and goes offline when it ends. Samples of one micro-batch (the same wallNow) are one arrival. Call before
 * notePacing (it reads the previous arrival).
 */
export function arrivesLive(state: DeviceState, ts: number, wallNow: number, liveLagMs: number): boolean {
  const flags = state.layout.u8.flags;
  const lag = wallNow - ts;
  const f64 = state.f64;
  const trusted = () => (state.u8[flags]! & FLAG_CLOCK_LAG) !== 0;
  // a new arrival, not another sample of the same micro-batch (NaN: the first since the start)
  if (wallNow !== f64[F64.lastWall]) {
    const drift = Math.abs(lag - f64[F64.clockLag]!);
    const since = wallNow - f64[F64.clockSince]!;
    if (trusted()) {
      if (!(drift < liveLagMs)) streak(state, lag, wallNow);
    } else if (drift <= IN_STEP_SHARE * since + IN_STEP_SLACK_MS) {
      if (since >= TRUST_AFTER_MS && Math.abs(f64[F64.clockLag]!) <= MAX_CLOCK_LAG_MS) state.u8[flags] = state.u8[flags]! | FLAG_CLOCK_LAG;
    } else streak(state, lag, wallNow);
  }
  return lag < liveLagMs || (trusted() && Math.abs(lag - f64[F64.clockLag]!) < liveLagMs);
}

/** A new streak of arrivals in step begins with this one (its lag not yet trusted). */
function streak(state: DeviceState, lag: number, wallNow: number): void {
  state.f64[F64.clockLag] = lag;
  state.f64[F64.clockSince] = wallNow;
  state.u8[state.layout.u8.flags] = state.u8[state.layout.u8.flags]! & ~FLAG_CLOCK_LAG;
}

/** Notes a sample's wall-clock arrival: the usual gap between this device's arrivals (for the replay watermark). */
export function notePacing(state: DeviceState, wallNow: number, live: boolean, wasLive: boolean): void {
  const gap = wallNow - state.f64[F64.lastWall]!;
  if (wasLive && !live) {
    // a live device uploading a backlog replays: neither its live cadence nor the outage before tells how it replays
    state.f64[F64.wallGap] = NaN;
  } else if (gap >= MIN_WALL_GAP_MS) {
    const usual = state.f64[F64.wallGap]!;
    state.f64[F64.wallGap] = Number.isNaN(usual) ? gap : Math.max(gap, usual * WALL_GAP_DECAY);
  }
  state.f64[F64.lastWall] = wallNow;
}

/** How long (wall clock) a replaying device may be quiet and still be sending: idleMs, or four of its usual gaps between arrivals if longer (at most six idleMs). */
export function idleLimit(state: DeviceState, idleMs: number): number {
  const usual = state.f64[F64.wallGap]!;
  return Number.isNaN(usual) ? idleMs : Math.min(Math.max(idleMs, IDLE_GAPS * usual), MAX_IDLE_FACTOR * idleMs);
}

/**
 * Replays: replayed traffic that arrives once every replaying device has stopped (each by its own idle limit)
 * begins a new one, and a device is judged only against the event time of its own replay, so a finished
 * recording is not called offline by a later, unrelated one (another recording, a never-live device's backlog).
 */
export class Replays {
  private session = 0;
  private activeUntil = -Infinity;
  /** The latest event time replayed, per replay. */
  private readonly high = new Map<number, number>();

  constructor(private readonly idleMs: number) {}

  /** A replayed sample at ts, arrived at wallNow (after notePacing). */
  note(state: DeviceState, ts: number, wallNow: number): void {
    if (wallNow > this.activeUntil) {
      this.session++;
      // a replay's latest time matters only while devices of it may still be judged: keep the last few
      for (const s of this.high.keys()) if (s < this.session - 16) this.high.delete(s);
    }
    this.activeUntil = Math.max(this.activeUntil, wallNow + idleLimit(state, this.idleMs));
    state.replaySession = this.session;
    if (!(ts <= (this.high.get(this.session) ?? -Infinity))) this.high.set(this.session, ts);
  }

  /**
   * The event-time "now" of each replay: the least latest sample time of its devices still sending. Replayed
   * devices advance at their own pace — one hands over 500 samples spanning five days, another a month of sparse
   * ones — so a device that lags is not silent; one that has stopped sending (wall clock, see
   * EngineOptions.replayIdleMs) no longer holds the watermark back. When every device of a replay has stopped, it
   * is the latest time that replay reached. NaN for a device not replayed since the start.
   */
  watermarks(states: Iterable<DeviceState>, wallNow: number): (state: DeviceState) => number {
    const low = new Map<number, number>();
    for (const state of states) {
      const last = state.lastTs;
      const s = state.replaySession;
      if (s < 0 || state.u8[state.layout.u8.flags]! & FLAG_LIVE || Number.isNaN(last) || last >= (low.get(s) ?? Infinity)) continue;
      if (wallNow - state.f64[F64.lastWall]! <= idleLimit(state, this.idleMs)) low.set(s, last);
    }
    return (state) => (state.replaySession < 0 ? NaN : (low.get(state.replaySession) ?? this.high.get(state.replaySession) ?? NaN));
  }
}

/**
 * The silence of a device that has stopped sending: a live one's by the platform's clock since it last arrived
 * (its own clock may run behind or ahead; one resumed from its checkpoint and silent since counts from the
 * service's start), a replayed one's in event time from its last sample to the replay watermark. `from` is
 * where it began, for the raise. Undefined when it has no offline rule, has not sent yet, or its silence was
 * resolved as known (FLAG_SILENCE_RESOLVED: it waits for the device to send again).
 */
export function silence(state: DeviceState, watermark: number, wallNow: number): { from: number; gapMs: number } | undefined {
  const L = state.layout;
  if (L.presenceRules.length === 0 || Number.isNaN(state.lastTs) || state.u8[L.u8.flags]! & FLAG_SILENCE_RESOLVED) return undefined;
  const from = state.u8[L.u8.flags]! & FLAG_LIVE ? state.f64[F64.lastWall]! : state.lastTs;
  const gapMs = (state.u8[L.u8.flags]! & FLAG_LIVE ? wallNow : watermark) - from;
  return Number.isNaN(gapMs) ? undefined : { from, gapMs };
}
