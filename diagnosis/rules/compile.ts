/**
 * Compiles a rule set against its device type into a flat layout: which
 * metrics a device must track (and which need rolling buckets), and the index
 * of every piece of per-device state in the typed arrays of a DeviceState.
 */
import type { DeviceType } from '../../core/domain/device-type.ts';
import type { Condition, Rule, RuleSet } from '../../core/domain/rule.ts';

export interface MetricSlot {
  name: string;
  /** An analogue reading (kind `number`, not `held`): repeating it exactly means a stuck sensor. */
  continuous: boolean;
  /** Index into the rolling buckets, or -1 when only the last value is kept. */
  bucket: number;
  /** String metrics are tracked as the index of their value in `values`. */
  values: readonly string[] | null;
}

export interface Operand {
  a: number;
  b: number;
  relative: boolean;
}

export type CNode =
  | ({ kind: 'threshold'; op: 'above' | 'below' | 'outside' | 'equals'; value: number; clear: number; low: number; high: number; clearLow: number; clearHigh: number; latch: number } & Operand)
  | ({ kind: 'rate'; windowMs: number; above: number; below: number } & Operand)
  | { kind: 'missing'; a: number; afterMs: number }
  | { kind: 'error-code'; codes: ReadonlySet<string> | null; eventKinds: ReadonlySet<string>; withinMs: number; slot: number }
  | { kind: 'duration'; forMs: number; slot: number; child: CNode; readings: boolean }
  | {
      kind: 'mean';
      a: number;
      b: number;
      relativeTo: 'zero' | 'baseline' | 'ratio';
      where: CNode | null;
      /** Covariate metric whose learnt linear effect is taken out (-1: none). */
      c: number;
      /** Known load relation the operand is divided by: 1 + gain × Π metric^power (no factors: none). */
      load: readonly { m: number; p: number }[];
      loadGain: number;
      /** The verdict while the baseline is being learnt. */
      whileLearning: boolean;
      /** Time constant in event time (NaN: by samples). */
      overMs: number;
      /** Time constant in counted samples (NaN: by event time). */
      overSamples: number;
      /** The recent average's length in counted samples, which must agree before the condition holds (NaN: none). */
      clearOverSamples: number;
      /** A plain average over this many whole days instead (0: none; daySlots more slots, see mean.ts). */
      overDays: number;
      /** With overDays: the last whole day, against the baseline's same weekday, must agree before the condition holds. */
      clearByWeekday: boolean;
      baselineSamples: number;
      /** Baseline span in event time (NaN: by samples). */
      baselineMs: number;
      above: number;
      below: number;
      clearAbove: number;
      clearBelow: number;
      /** Median-of-three spike filter on the counted readings (analogue operands, unless the rule turns it off). */
      despike: boolean;
      /** Average the operand's rise per hour between consecutive counted samples instead of its level. */
      risePerHour: boolean;
      /** The operand is a metric the type declares a counter: with risePerHour, a fall is a reset and counts nothing. */
      counter: boolean;
      /** With risePerHour: a faster rise is a jump and counts nothing (Infinity: no cap). */
      riseAtMost: number;
      /** Count a held value once per cycle: the first sample each time `where` opens, or one whose value moved. */
      firstInGate: boolean;
      /** meanSlots(node) f64 node slots from here (see mean.ts). */
      slot: number;
      /**
       * Its key prefix in the rule's evidence: the operand's name for the rule's first average of it, then
       * `name#2`, `name#3`… for others of the same operand (another gate); nodes sharing one average share it.
       */
      evidenceName: string;
      latch: number;
    }
  | { kind: 'all' | 'any'; of: CNode[] };

export interface CompiledRule {
  index: number;
  rule: Rule;
  when: CNode | null;
  condition: CNode;
  /** A bare device-offline rule: raised by the presence check, not by windows. */
  presenceAfterMs: number | null;
  /** Metrics the rule reads, for the evidence's telemetry window. */
  metrics: string[];
}

export interface Layout {
  type: string;
  ruleSet: RuleSet;
  metrics: MetricSlot[];
  metricIndex: ReadonlyMap<string, number>;
  rules: CompiledRule[];
  hasErrorCodes: boolean;
  presenceRules: CompiledRule[];
  /** Rule slots + 1 for the model. */
  slots: number;
  /** Per slot, the bits of its trigger's last n windows in the k-of-n mask. */
  nMasks: readonly number[];
  nBucketed: number;
  buckets: number;
  // typed-array offsets
  /** normalSince: per slot, the event time its current run of normal windows began (NaN while abnormal). */
  f64: { size: number; metricTs: number; nodes: number; bucketStart: number; normalSince: number };
  f32: { size: number; last: number; baseMean: number; baseM2: number; bucketMean: number; score: number };
  u32: { size: number; baseCount: number; mask: number; streak: number };
  u8: { size: number; bucketCount: number; evals: number; hits: number; active: number; latch: number; flags: number; repeats: number };
}

/** Fixed f64 slots before the per-metric ones. */
/** clockLag, clockSince: the device's clock lag behind the platform's and when its streak began (presence.ts arrivesLive). */
export const F64 = { lastTs: 0, windowStart: 1, lastWall: 2, samples: 3, wallGap: 4, clockLag: 5, clockSince: 6 } as const;
const F64_FIXED = 7;

export class RuleCompileError extends Error {}

/** A time-spanned mean baseline still needs this many samples. */
export const MIN_BASELINE_SAMPLES = 8;
/** f64 state slots of a mean node (shared by identical averages, see compile). */
export const MEAN_SLOTS = 13;
/** Two more for a firstInGate mean (its gate and last value), so that other layouts keep their size and checkpoints. */
export const GATE_SLOTS = 2;
/** One more for a mean with clearOverSamples (its recent average). */
export const RECENT_SLOTS = 1;
/** The whole-day mean's numbers before its ring of days (see mean.ts). */
export const DAY_HEAD_SLOTS = 6;
/** With clearByWeekday: a mean per weekday, then the last whole day's deviation. */
export const WEEKDAY_SLOTS = 7 + 1;
/**
 * A whole-day mean's own: the current day, the days stored, the current day's sum and count, the last full
 * window's mean, the baseline's total weight, a sum and a count per day; with clearByWeekday, the baseline's mean per weekday and the last
 * whole day's deviation from its weekday's.
 */
export const daySlots = (days: number, byWeekday = false): number => (days > 0 ? DAY_HEAD_SLOTS + 2 * days + (byWeekday ? WEEKDAY_SLOTS : 0) : 0);

/** The f64 slots a mean node keeps (its average and baseline, and what its options add). */
export function meanSlots(n: { firstInGate?: boolean; clearOverSamples?: number; overDays?: number; clearByWeekday?: boolean }): number {
  const recent = n.clearOverSamples !== undefined && !Number.isNaN(n.clearOverSamples);
  return MEAN_SLOTS + (n.firstInGate ? GATE_SLOTS : 0) + (recent ? RECENT_SLOTS : 0) + daySlots(n.overDays ?? 0, n.clearByWeekday ?? false);
}

/** Whether a compiled tree holds a node of this kind. */
function hasNode(n: CNode, kind: CNode['kind']): boolean {
  return (
    n.kind === kind ||
    (n.kind === 'duration' && hasNode(n.child, kind)) ||
    (n.kind === 'mean' && n.where !== null && hasNode(n.where, kind)) ||
    ((n.kind === 'all' || n.kind === 'any') && n.of.some((x) => hasNode(x, kind)))
  );
}

export function compileRuleSet(ruleSet: RuleSet, type: DeviceType): Layout {
  const metricIndex = new Map<string, number>();
  const metrics: MetricSlot[] = [];
  const defs = new Map(type.metrics.map((m) => [m.name, m]));
  let nodeSlots = 0;
  let latches = 0;
  const sharedMeans = new Map<string, number>();

  const metric = (name: string, bucketed: boolean): number => {
    const def = defs.get(name);
    if (!def) throw new RuleCompileError(`metric ${name} is not a metric of type ${type.name}`);
    let i = metricIndex.get(name);
    if (i === undefined) {
      i = metrics.length;
      metricIndex.set(name, i);
      // a counter repeats by design (an idle machine's hours) and its rises are not spikes: not analogue for the stuck check and the spike filter
      metrics.push({ name, continuous: def.kind === 'number' && def.held !== true && def.counter !== true, bucket: -1, values: def.kind === 'string' ? (def.values ?? []) : null });
    }
    const slot = metrics[i] as MetricSlot;
    if (bucketed && slot.bucket < 0) slot.bucket = 0; // numbered below
    return i;
  };

  const numeric = (name: string) => {
    const def = defs.get(name);
    if (def && def.kind === 'string') throw new RuleCompileError(`metric ${name} is a string; only equals applies`);
  };

  /** Per rule being compiled: the averages (slots) of each operand, in the rule's order (evidenceName). */
  let ruleAverages = new Map<string, number[]>();
  /** The fault of the rule being compiled: averages are shared only among rules of one fault. */
  let ruleFault = '';

  const compile = (c: Condition, used: Set<string>): CNode => {
    switch (c.kind) {
      case 'threshold': {
        used.add(c.metric);
        if (c.minus) used.add(c.minus);
        const a = metric(c.metric, false);
        const b = c.minus ? metric(c.minus, false) : -1;
        let value = NaN;
        if (c.op === 'equals') {
          const slot = metrics[a] as MetricSlot;
          if (slot.values) {
            value = slot.values.indexOf(String(c.value));
            if (value < 0) throw new RuleCompileError(`${String(c.value)} is not a value of ${c.metric} (${slot.values.join(', ')})`);
          } else value = typeof c.value === 'boolean' ? Number(c.value) : Number(c.value);
          if (!Number.isFinite(value)) throw new RuleCompileError(`equals value of ${c.metric} must match its kind`);
        } else {
          numeric(c.metric);
          if (c.minus) numeric(c.minus);
          value = typeof c.value === 'number' ? c.value : NaN;
        }
        return {
          kind: 'threshold',
          op: c.op,
          a,
          b,
          relative: c.relativeTo === 'baseline',
          value,
          clear: c.clear ?? value,
          low: c.low ?? NaN,
          high: c.high ?? NaN,
          clearLow: c.clearLow ?? c.low ?? NaN,
          clearHigh: c.clearHigh ?? c.high ?? NaN,
          latch: latches++,
        };
      }
      case 'rate': {
        used.add(c.metric);
        if (c.minus) used.add(c.minus);
        numeric(c.metric);
        if (c.minus) numeric(c.minus);
        return { kind: 'rate', a: metric(c.metric, true), b: c.minus ? metric(c.minus, true) : -1, relative: false, windowMs: c.windowMs, above: c.above ?? Infinity, below: c.below ?? -Infinity };
      }
      case 'missing':
        if (c.metric) used.add(c.metric);
        return { kind: 'missing', a: c.metric ? metric(c.metric, false) : -1, afterMs: c.afterMs };
      case 'error-code':
        // two f64 slots: the event being judged, and the earliest one still ahead of the samples
        nodeSlots += 2;
        return { kind: 'error-code', codes: c.codes ? new Set(c.codes) : null, eventKinds: new Set(c.eventKinds), withinMs: c.withinMs, slot: nodeSlots - 2 };
      case 'duration': {
        // f64 slots: since when it holds (with readings: its first reading), and its latest reading
        const slot = nodeSlots;
        nodeSlots += c.readings ? 2 : 1;
        const child = compile(c.condition, used);
        if (c.readings && !hasNode(child, 'mean')) throw new RuleCompileError('a duration measured in readings needs a mean in its condition');
        return { kind: 'duration', forMs: c.forMs, slot, child, readings: c.readings ?? false };
      }
      case 'all':
      case 'any':
        return { kind: c.kind, of: c.of.map((x) => compile(x, used)) };
      case 'mean': {
        used.add(c.metric);
        if (c.minus) used.add(c.minus);
        numeric(c.metric);
        if (c.minus) numeric(c.minus);
        if (c.adjustFor) {
          numeric(c.adjustFor);
          used.add(c.adjustFor);
        }
        for (const f of c.perLoad?.factors ?? []) {
          numeric(f.metric);
          used.add(f.metric);
        }
        const a = metric(c.metric, false);
        const b = c.minus ? metric(c.minus, false) : -1;
        // rules often judge the same average against different limits ("compression heat up" in one,
        // "not up" in another): such nodes share one average, updated once per sample. Only within one
        // fault, so that a repair of one fault (POST /devices/:id/recalibrate with faults) restarts its
        // averages without teaching another fault's rules its current readings as normal.
        const key = JSON.stringify({ ...c, fault: ruleFault, above: undefined, below: undefined, clearAbove: undefined, clearBelow: undefined, whileLearning: undefined });
        let slot = sharedMeans.get(key);
        if (slot === undefined) {
          slot = nodeSlots;
          nodeSlots += meanSlots(c);
          sharedMeans.set(key, slot);
        }
        const operand = c.minus ? `${c.metric}-${c.minus}` : c.metric;
        const averages = ruleAverages.get(operand) ?? ruleAverages.set(operand, []).get(operand)!;
        if (!averages.includes(slot)) averages.push(slot);
        const nth = averages.indexOf(slot);
        return {
          kind: 'mean',
          a,
          b,
          relativeTo: c.relativeTo,
          where: c.where ? compile(c.where, used) : null,
          c: c.adjustFor ? metric(c.adjustFor, false) : -1,
          load: (c.perLoad?.factors ?? []).map((f) => ({ m: metric(f.metric, false), p: f.power ?? 1 })),
          loadGain: c.perLoad?.gain ?? 0,
          whileLearning: c.whileLearning ?? false,
          despike: c.despike ?? (metrics[a]!.continuous && (b < 0 || metrics[b]!.continuous)),
          risePerHour: c.risePerHour ?? false,
          counter: b < 0 && defs.get(c.metric)?.counter === true,
          riseAtMost: c.riseAtMost ?? Infinity,
          firstInGate: c.firstInGate ?? false,
          overMs: c.overMs ?? NaN,
          overSamples: c.overSamples ?? NaN,
          clearOverSamples: c.clearOverSamples ?? NaN,
          overDays: c.overDays ?? 0,
          clearByWeekday: c.clearByWeekday ?? false,
          baselineSamples: c.baselineMs !== undefined ? MIN_BASELINE_SAMPLES : (c.baselineSamples ?? ruleSet.baselineSamples),
          baselineMs: c.baselineMs ?? NaN,
          above: c.above ?? Infinity,
          below: c.below ?? -Infinity,
          clearAbove: c.clearAbove ?? c.above ?? Infinity,
          clearBelow: c.clearBelow ?? c.below ?? -Infinity,
          slot,
          evidenceName: nth === 0 ? operand : `${operand}#${nth + 1}`,
          latch: latches++,
        };
      }
    }
  };

  const rules: CompiledRule[] = ruleSet.rules.map((rule, index) => {
    const used = new Set<string>();
    ruleAverages = new Map();
    ruleFault = rule.fault;
    const condition = compile(rule.condition, used);
    const when = rule.when ? compile(rule.when, used) : null;
    const presenceAfterMs = !when && condition.kind === 'missing' && condition.a < 0 ? condition.afterMs : null;
    return { index, rule, when, condition, presenceAfterMs, metrics: [...used] };
  });

  let nBucketed = 0;
  for (const m of metrics) if (m.bucket >= 0) m.bucket = nBucketed++;

  const M = metrics.length;
  const B = ruleSet.buckets;
  const slots = rules.length + 1;
  const bucketEnd = F64_FIXED + M + nodeSlots + (nBucketed ? B : 0);
  const f64 = { metricTs: F64_FIXED, nodes: F64_FIXED + M, bucketStart: F64_FIXED + M + nodeSlots, normalSince: bucketEnd, size: bucketEnd + slots };
  const f32 = { last: 0, baseMean: M, baseM2: 2 * M, bucketMean: 3 * M, score: 3 * M + nBucketed * B, size: 3 * M + nBucketed * B + 2 };
  const u32 = { baseCount: 0, mask: M, streak: M + slots, size: M + 2 * slots };
  const flags = nBucketed * B + 3 * slots + latches;
  const u8 = { bucketCount: 0, evals: nBucketed * B, hits: nBucketed * B + slots, active: nBucketed * B + 2 * slots, latch: nBucketed * B + 3 * slots, flags, repeats: flags + 1, size: flags + 1 + M };

  return {
    type: type.name,
    ruleSet,
    metrics,
    metricIndex,
    rules,
    hasErrorCodes: rules.some((r) => hasNode(r.condition, 'error-code') || (r.when !== null && hasNode(r.when, 'error-code'))),
    presenceRules: rules.filter((r) => r.presenceAfterMs !== null),
    slots,
    nMasks: [...rules.map((r) => r.rule.trigger.n), ruleSet.model.n].map((n) => (n >= 32 ? 0xffffffff : (1 << n) - 1)),
    nBucketed,
    buckets: B,
    f64,
    f32,
    u32,
    u8,
  };
}

/** Bytes of rule state a device of this layout holds (its typed arrays; also its checkpoint's size). */
export function layoutBytes(L: Pick<Layout, 'f64' | 'f32' | 'u32' | 'u8'>): number {
  return L.f64.size * 8 + L.f32.size * 4 + L.u32.size * 4 + L.u8.size;
}

/**
 * The most rule state a rule set may ask of each device: four times the shipped sets' target of 4 KB with the
 * model, so 100,000 devices stay within a few GB. Averages over many whole days are what costs (a 14-day one
 * with clearByWeekday: 440 bytes).
 */
export const MAX_STATE_BYTES = 16 * 1024;

/** Problems of a rule set against its device type (unknown metrics, wrong kinds, too much state), for the API's 400. */
export function ruleSetProblems(ruleSet: RuleSet, type: DeviceType): string[] {
  const problems: string[] = [];
  if (ruleSet.type !== type.name) problems.push(`rule set is for type ${ruleSet.type}, not ${type.name}`);
  for (const rule of ruleSet.rules) {
    try {
      compileRuleSet({ ...ruleSet, rules: [rule] }, type);
    } catch (err) {
      if (!(err instanceof RuleCompileError)) throw err;
      problems.push(`rule ${rule.id}: ${err.message}`);
    }
  }
  if (problems.length === 0) {
    const bytes = layoutBytes(compileRuleSet(ruleSet, type));
    if (bytes > MAX_STATE_BYTES) {
      problems.push(`the rule set needs ${bytes} bytes of state per device (${((bytes * 100_000) / 1e9).toFixed(1)} GB for 100,000 devices); at most ${MAX_STATE_BYTES}: share averages between rules (same metric, gate and span) or use fewer whole days`);
    }
  }
  return problems;
}
