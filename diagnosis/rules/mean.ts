/**
 * Mean: an event-time moving average of an operand over the samples where
 * the node's `where` holds, against the device's own baseline of the same
 * operand (its first baselineSamples counted samples, or its first
 * baselineMs of event time). Slow faults — a leak
 * that adds a little duty every day, a valve that passes less air — move a
 * mean long before any single sample looks wrong.
 */
import { DAY_HEAD_SLOTS, GATE_SLOTS, MEAN_SLOTS, RECENT_SLOTS, WEEKDAY_SLOTS, type CNode } from './compile.ts';
import { num, type EvalContext, type Values } from './context.ts';

type Mean = Extract<CNode, { kind: 'mean' }>;

const AVG = 0;
const AVG_TS = 1;
const BASE = 2;
const BASE_N = 3;
const FIRST_TS = 4;
const PREV1 = 5;
const PREV2 = 6;
const COV_MEAN = 7;
const COV_M2 = 8;
const CO_MOMENT = 9;
/** The device's sample count when this average last counted a sample: nodes sharing it update it once. */
const UPDATED = 10;
/** With risePerHour: the previous counted sample's operand and time (NaN after one the gate shut out). */
const RISE_X = 11;
const RISE_TS = 12;
/** With firstInGate only (two more slots): 1 while `where` holds, as of the last sample that showed it (later readings in the same opening repeat the first). */
const GATE_OPEN = 13;
/** With firstInGate: the operand as of the last sample that reported it (a different value is a new measurement). */
const GATE_X = 14;

/** With clearOverSamples: where its recent average lives (after the gate's slots when it has them). */
function recentAt(node: Mean, at: number): number {
  return at + MEAN_SLOTS + (node.firstInGate ? GATE_SLOTS : 0);
}

const DAY_MS = 86_400_000;
/** With overDays (daySlots after the recent average's, if any): the UTC day being summed (NaN until the baseline is learnt). */
const DAY = 0;
/** Whole days stored, up to overDays (-1 while the first, partial day is summed: it is left out; so is the day a silence ends). */
const DAYS_STORED = 1;
const DAY_SUM = 2;
const DAY_N = 3;
/** The average of the last overDays whole days as of the last full window (NaN before the first); a silence keeps it. */
const DAYS_MEAN = 4;
/** A time-weighted baseline's total weight (hours; see timeWeighted). */
const BASE_W = 5;
/** Then per day (ring by day number): its sum, then (overDays further on) its count. While the baseline is learnt, with clearByWeekday, the ring sums each weekday instead (day number mod 7). */
const DAY_RING = DAY_HEAD_SLOTS;
/** With clearByWeekday, after the ring: the baseline's mean per weekday (7), then the last whole day's deviation from its weekday's (NaN: no say). */
const weekdayAt = (d: number, N: number) => d + DAY_RING + 2 * N;
/** The last whole day's deviation follows the weekday means. */
const WEEKDAYS = WEEKDAY_SLOTS - 1;

function daysAt(node: Mean, at: number): number {
  return recentAt(node, at) + (Number.isNaN(node.clearOverSamples) ? 0 : RECENT_SLOTS);
}

/**
 * A whole-day average of a rise weighs each pair of samples by the hours between them, and so does its baseline:
 * a day's value is then what the counter climbed over the hours the day's pairs span, whatever the reporting rate
 * (a controller that reports every minute while loaded and every quarter hour while idle does not read as busier).
 */
function timeWeighted(node: Mean): boolean {
  return node.risePerHour && node.overDays > 0;
}

/** The hours of a pair spanning wH hours up to ts that fall before ts's UTC midnight (0 for a reading at one instant). */
function beforeMidnight(node: Mean, ts: number, wH: number): number {
  if (!timeWeighted(node)) return 0;
  return Math.min(wH, Math.max(0, (Math.floor(ts / DAY_MS) * DAY_MS - (ts - wH * 3_600_000)) / 3_600_000));
}

/** The whole-day average starts afresh: today is partial and left out, the ring is empty; the last full window's mean stays. */
function restartDays(node: Mean, f64: Float64Array, at: number, today: number): void {
  const d = daysAt(node, at);
  f64.fill(0, d + DAY_SUM, d + DAY_N + 1);
  f64.fill(0, d + DAY_RING, d + DAY_RING + 2 * node.overDays);
  f64[d + DAY] = today;
  f64[d + DAYS_STORED] = -1;
  if (node.clearByWeekday) f64[weekdayAt(d, node.overDays) + WEEKDAYS] = NaN;
}

/** While the baseline is learnt (clearByWeekday): the ring sums the counted operand per weekday, with weight w. */
function countWeekday(node: Mean, f64: Float64Array, at: number, ts: number, x: number, w: number, first: boolean): void {
  const d = daysAt(node, at);
  const N = node.overDays;
  if (first) f64.fill(0, d + DAY_RING, d + DAY_RING + 2 * N);
  const today = Math.floor(ts / DAY_MS);
  const pre = beforeMidnight(node, ts, w);
  for (const [day, part] of [[today - 1, pre], [today, w - pre]] as const) {
    const wd = ((day % WEEKDAYS) + WEEKDAYS) % WEEKDAYS;
    f64[d + DAY_RING + wd] = f64[d + DAY_RING + wd]! + x * part;
    f64[d + DAY_RING + N + wd] = f64[d + DAY_RING + N + wd]! + part;
  }
}

/** The baseline is learnt: each weekday's mean from the ring (NaN for a weekday it never counted). */
function finishWeekdays(node: Mean, f64: Float64Array, at: number): void {
  const d = daysAt(node, at);
  const N = node.overDays;
  const w = weekdayAt(d, N);
  for (let i = 0; i < WEEKDAYS; i++) {
    const n = f64[d + DAY_RING + N + i]!;
    f64[w + i] = n > 0 ? f64[d + DAY_RING + i]! / n : NaN;
  }
}

/**
 * Called with every sample once the baseline is learnt: on a new day, stores the day before in the ring (and, the
 * window full, its mean), then counts x (NaN: the sample does not count) into today's. A whole day without any
 * sample starts the window again from the next whole day — the days around a silence would not take every hour
 * of the week once — while the last full window's mean stands, as a moving average carries across a gap.
 */
function countDay(node: Mean, f64: Float64Array, at: number, ts: number, x: number, w: number): void {
  const d = daysAt(node, at);
  const N = node.overDays;
  const today = Math.floor(ts / DAY_MS);
  const day = f64[d + DAY]!;
  // a time-weighted pair that spans midnight: its hours before it belong to the day it closes
  const pre = Number.isFinite(x) ? beforeMidnight(node, ts, w) : 0;
  if (Number.isNaN(day) || today > day + 1) restartDays(node, f64, at, today);
  else if (today === day + 1) {
    if (pre > 0) {
      f64[d + DAY_SUM] = f64[d + DAY_SUM]! + x * pre;
      f64[d + DAY_N] = f64[d + DAY_N]! + pre;
    }
    const stored = f64[d + DAYS_STORED]!;
    if (stored >= 0) {
      const slot = d + DAY_RING + (day % N);
      f64[slot] = f64[d + DAY_SUM]!;
      f64[slot + N] = f64[d + DAY_N]!;
    }
    if (node.clearByWeekday) {
      // the day just closed against its weekday's baseline (a partial one, or one without a counted sample, has no say)
      const w = weekdayAt(d, N);
      const n = f64[d + DAY_N]!;
      f64[w + WEEKDAYS] = stored >= 0 && n > 0 ? relative(node, f64[d + DAY_SUM]! / n, f64[w + (day % WEEKDAYS)]!) : NaN;
    }
    f64[d + DAYS_STORED] = Math.min(N, stored + 1);
    f64[d + DAY_SUM] = 0;
    f64[d + DAY_N] = 0;
    f64[d + DAY] = today;
    if (f64[d + DAYS_STORED] === N) {
      let sum = 0;
      let n = 0;
      for (let i = 0; i < N; i++) {
        sum += f64[d + DAY_RING + i]!;
        n += f64[d + DAY_RING + N + i]!;
      }
      // a window whose gate never opened has nothing to say: the last mean stands
      if (n > 0) f64[d + DAYS_MEAN] = sum / n;
    }
  } else if (today < day) return; // event time never runs back here (the engine drops older samples)
  if (Number.isFinite(x)) {
    f64[d + DAY_SUM] = f64[d + DAY_SUM]! + x * (w - pre);
    f64[d + DAY_N] = f64[d + DAY_N]! + (w - pre);
  }
}

/** With clearByWeekday: the last whole day against the baseline's same weekday (NaN: no say). */
function lastDay(node: Mean, f64: Float64Array, at: number): number {
  return f64[weekdayAt(daysAt(node, at), node.overDays) + WEEKDAYS]!;
}

/** The average of the last overDays whole days as of the last full window (NaN before the first). */
function dayMean(node: Mean, f64: Float64Array, at: number): number {
  return f64[daysAt(node, at) + DAYS_MEAN]!;
}

/** The average the rule judges: the moving average, or the whole-day one. */
function average(node: Mean, f64: Float64Array, at: number): number {
  return node.overDays > 0 ? dayMean(node, f64, at) : f64[at + AVG]!;
}

/** Metric i as this very sample reported it; NaN when the sample lacks it or its sensor is stuck. */
function reading({ state, ts }: EvalContext, i: number): number {
  return state.reported(i, ts) && !state.stuck(i) ? state.last(i) : NaN;
}

/** The operand of this very sample (NaN when either reading is missing or stuck). */
function sampleValue(node: Mean, ctx: EvalContext): number {
  return node.b < 0 ? reading(ctx, node.a) : reading(ctx, node.a) - reading(ctx, node.b);
}

/** Median of this and the previous two readings. */
function despike(f64: Float64Array, at: number, x: number): number {
  const p1 = f64[at + PREV1]!;
  const p2 = f64[at + PREV2]!;
  f64[at + PREV2] = p1;
  f64[at + PREV1] = x;
  if (Number.isNaN(p2)) return Number.isNaN(p1) ? x : (x + p1) / 2;
  return Math.max(Math.min(x, p1), Math.min(Math.max(x, p1), p2));
}

/** The load the operand is divided by: 1 + gain × Π metric^power (1 without a load relation; NaN when a factor is missing from this sample or stuck, or it is not positive). */
function load(node: Mean, ctx: EvalContext): number {
  let v = node.loadGain;
  for (const f of node.load) v *= f.p === 1 ? reading(ctx, f.m) : reading(ctx, f.m) ** f.p;
  if (!node.load.length) return 1;
  // a load relation that comes out at or below zero (a negative reading under an odd power) has no meaning
  return 1 + v > 0 ? 1 + v : NaN; // NaN > 0 is false: a missing factor gives NaN too
}

/** The operand's learnt change per unit of the covariate (0 when the covariate hardly moved). */
function slope(f64: Float64Array, at: number): number {
  const m2 = f64[at + COV_M2]!;
  return m2 > 1e-9 * Math.max(1, f64[at + BASE_N]!) ? f64[at + CO_MOMENT]! / m2 : 0;
}

/** The operand's change per hour since the previous sample when both were counted (NaN otherwise); remembers this one. */
function rise(f64: Float64Array, at: number, x: number, ts: number): number {
  const r = ts > f64[at + RISE_TS]! ? ((x - f64[at + RISE_X]!) / (ts - f64[at + RISE_TS]!)) * 3_600_000 : NaN;
  f64[at + RISE_X] = x;
  f64[at + RISE_TS] = Number.isFinite(x) ? ts : NaN;
  return r;
}

/** How far one counted sample moves the average, dtMs after the previous one. */
function alphaOf(node: Mean, dtMs: number): number {
  // the usual N-sample exponential average: N = 1 is the (despiked) last reading
  if (Number.isNaN(node.overMs)) return 2 / (node.overSamples + 1);
  // one sample after a long gap never carries more than a tenth of the time constant
  const dt = Math.min(Math.max(dtMs, 0), node.overMs / 10);
  return 1 - Math.exp(-dt / node.overMs);
}

/** Whether the baseline is complete: its samples counted, or its span of event time covered. */
function learnt(node: Mean, f64: Float64Array, at: number, n: number, ts: number): boolean {
  if (n < node.baselineSamples) return false;
  return Number.isNaN(node.baselineMs) || ts - f64[at + FIRST_TS]! >= node.baselineMs;
}

/** An average as the rule judges it: raw, minus the baseline, or as a ratio to it. */
function relative(node: Mean, avg: number, base: number): number {
  if (node.relativeTo === 'zero') return avg;
  if (node.relativeTo === 'baseline') return avg - base;
  return Math.abs(base) > 1e-9 ? avg / base - 1 : NaN;
}

/** The judged value: the moving average, raw or against the baseline; NaN while the baseline is being learnt. */
function judged(node: Mean, f64: Float64Array, at: number): number {
  return Number.isNaN(f64[at + AVG_TS]!) ? NaN : relative(node, average(node, f64, at), f64[at + BASE]!);
}

/**
 * Counts the sample (when `where` holds) and tests the mean; `where` is evaluated by the caller, and
 * `gateKnown` says whether this sample reported the metrics `where` reads.
 */
export function testMean(node: Mean, ctx: EvalContext, counted: boolean, gateKnown: boolean): boolean {
  const { state, ts } = ctx;
  const f64 = state.f64;
  const at = state.layout.f64.nodes + node.slot;
  const fresh = f64[at + UPDATED] !== state.samples;
  f64[at + UPDATED] = state.samples;
  // the operand as this sample reads it (firstInGate needs it whether or not the gate counts the sample)
  const now = fresh && (counted || node.firstInGate) ? sampleValue(node, ctx) : NaN;
  let x = counted && fresh ? now / load(node, ctx) : NaN;
  if (node.firstInGate && fresh) {
    // a held value is new when the gate has just opened or the value moved; a repeat inside one opening is the
    // same measurement again. A sample that does not show the gate or the value changes neither.
    if (gateKnown && !counted) f64[at + GATE_OPEN] = 0;
    else if (gateKnown && !Number.isNaN(now)) {
      if (f64[at + GATE_OPEN] === 1 && now === f64[at + GATE_X]) x = NaN;
      f64[at + GATE_OPEN] = 1;
      f64[at + GATE_X] = now;
    }
  }
  // each counted reading weighs 1, except a pair of a time-weighted rise: the hours it spans
  let w = 1;
  if (node.risePerHour && fresh) {
    const prevTs = f64[at + RISE_TS]!;
    const hours = (ts - prevTs) / 3_600_000;
    x = rise(f64, at, x, ts);
    // a counter that falls was reset (a controller swapped, a meter rolled over), one that leaps was preset or
    // swapped for one further on: either step is no reading. A leap is a step past riseAtMost × its hours, or
    // × one hour when the samples are closer: a counter shown in whole hours steps by 1 between two minutes.
    if ((node.counter && x < 0) || x * hours > node.riseAtMost * Math.max(hours, 1)) x = NaN;
    if (timeWeighted(node)) {
      w = hours;
      // a pair around a whole UTC day without samples is no reading either: after the baseline such a silence
      // restarts the window (countDay), so the baseline must not count it (a unit off and silent over a weekend)
      if (Math.floor(ts / DAY_MS) > Math.floor(prevTs / DAY_MS) + 1) x = NaN;
    }
  }
  const cov = node.c >= 0 ? state.last(node.c) : 0;
  // the whole-day average starts once the baseline is learnt, and days pass whether or not this sample counts
  const dayCounting = node.overDays > 0 && fresh && !Number.isNaN(f64[at + AVG_TS]!);
  if (Number.isFinite(x) && Number.isFinite(cov)) {
    const n = Number.isNaN(f64[at + BASE_N]!) ? 0 : f64[at + BASE_N]!;
    if (node.despike) x = despike(f64, at, x);
    if (Number.isNaN(f64[at + AVG_TS]!)) {
      if (n === 0) {
        f64[at + FIRST_TS] = ts;
        f64[at + COV_MEAN] = 0;
        f64[at + COV_M2] = 0;
        f64[at + CO_MOMENT] = 0;
      }
      // weighted Welford (every weight 1 unless time-weighted): W the weights so far
      const W = n === 0 ? 0 : timeWeighted(node) ? f64[daysAt(node, at) + BASE_W]! : n;
      // written so that, every weight 1, it is the plain running mean to the last bit
      const base = n === 0 ? x : f64[at + BASE]! + ((x - f64[at + BASE]!) * w) / (W + w);
      if (node.c >= 0) {
        // Welford co-moment: covariance of operand and covariate, variance of the covariate
        const dc = cov - f64[at + COV_MEAN]!;
        const covMean = f64[at + COV_MEAN]! + (dc * w) / (W + w);
        f64[at + COV_M2] = f64[at + COV_M2]! + w * dc * (cov - covMean);
        f64[at + CO_MOMENT] = f64[at + CO_MOMENT]! + w * dc * (x - base);
        f64[at + COV_MEAN] = covMean;
      }
      f64[at + BASE] = base;
      f64[at + BASE_N] = n + 1;
      if (timeWeighted(node)) f64[daysAt(node, at) + BASE_W] = W + w;
      if (node.clearByWeekday) countWeekday(node, f64, at, ts, x, w, n === 0);
      // the average starts from the learnt normal, so a fault has to move it
      if (learnt(node, f64, at, n + 1, ts)) {
        f64[at + AVG] = base;
        f64[at + AVG_TS] = ts;
        if (!Number.isNaN(node.clearOverSamples)) f64[recentAt(node, at)] = base;
        if (node.clearByWeekday) finishWeekdays(node, f64, at);
        if (node.overDays > 0) restartDays(node, f64, at, Math.floor(ts / DAY_MS));
      }
    } else {
      if (node.c >= 0) x -= slope(f64, at) * (cov - f64[at + COV_MEAN]!);
      if (dayCounting) countDay(node, f64, at, ts, x, w);
      else f64[at + AVG] = f64[at + AVG]! + alphaOf(node, ts - f64[at + AVG_TS]!) * (x - f64[at + AVG]!);
      f64[at + AVG_TS] = ts;
      if (!Number.isNaN(node.clearOverSamples)) {
        const r = recentAt(node, at);
        f64[r] = f64[r]! + (2 / (node.clearOverSamples + 1)) * (x - f64[r]!);
      }
    }
  } else if (dayCounting) countDay(node, f64, at, ts, NaN, 0);
  const v = judged(node, f64, at);
  const latchAt = state.layout.u8.latch + node.latch;
  // unknown while the baseline, or the first whole-day window after it, is being learnt
  if (Number.isNaN(v)) return node.whileLearning && (Number.isNaN(f64[at + AVG_TS]!) || (node.overDays > 0 && Number.isNaN(dayMean(node, f64, at))));
  const latched = state.u8[latchAt] === 1;
  // the recent readings, when kept, must agree: back on the normal side of the clear level, they let go (NaN: no say)
  const r = node.clearByWeekday ? lastDay(node, f64, at) : Number.isNaN(node.clearOverSamples) ? NaN : relative(node, f64[recentAt(node, at)]!, f64[at + BASE]!);
  const up = (latched ? v > node.clearAbove : v > node.above) && !(r <= node.clearAbove);
  const down = (latched ? v < node.clearBelow : v < node.below) && !(r >= node.clearBelow);
  const on = up || down;
  state.u8[latchAt] = on ? 1 : 0;
  return on;
}

/** Whether a mean of this tree counted this very sample into its average (a new reading). */
export function readNow(node: CNode, ctx: EvalContext): boolean {
  if (node.kind === 'mean') return ctx.state.f64[ctx.state.layout.f64.nodes + node.slot + AVG_TS] === ctx.ts;
  if (node.kind === 'all' || node.kind === 'any') return node.of.some((c) => readNow(c, ctx));
  return node.kind === 'duration' && readNow(node.child, ctx);
}

export function meanEvidence(node: Mean, { state }: EvalContext, out: Values): void {
  const at = state.layout.f64.nodes + node.slot;
  const name = node.evidenceName;
  out[`${name}:mean`] = num(average(node, state.f64, at));
  out[`${name}:baseline`] = num(state.f64[at + BASE]!);
  if (node.c >= 0) out[`${name}:per-${state.layout.metrics[node.c]!.name}`] = num(slope(state.f64, at));
  if (node.relativeTo !== 'zero') out[`${name}:${node.relativeTo === 'ratio' ? 'ratio' : 'deviation'}`] = num(judged(node, state.f64, at));
  if (node.clearByWeekday) out[`${name}:lastDay`] = num(lastDay(node, state.f64, at));
  if (!Number.isNaN(node.clearOverSamples) && !Number.isNaN(state.f64[at + AVG_TS]!)) out[`${name}:recent`] = num(relative(node, state.f64[recentAt(node, at)]!, state.f64[at + BASE]!));
}
