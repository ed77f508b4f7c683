/**
 * Diagnosis rules are data: one rule set per device type, shipped as JSON
 * (diagnosis/rules/sets/<type>.json) or replaced through the API. Each rule
 * names a fault, a severity and a remedy; its condition is a small tree of
 * the kinds below, evaluated on the device's event time.
 */
import { z } from 'zod';
import { MetricName, Slug } from './common.ts';

export const Severity = z.enum(['info', 'warning', 'critical']);
export const RemedyClass = z.enum(['command', 'owner', 'technician']);

const Duration = z.number().int().min(1).max(30 * 24 * 3600_000).describe('Milliseconds of event time');

/** What to do about a fault: a command the device runs, an owner-guide step, or a technician with a part. */
export const Remedy = z
  .object({
    class: RemedyClass,
    command: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/)
      .optional()
      .describe('Command name for class `command`'),
    params: z.record(z.string().max(64), z.union([z.number(), z.boolean(), z.string().max(256)])).optional(),
    guide: z.string().max(200).optional().describe('Owner-guide title for class `owner`'),
    part: z.string().max(200).optional().describe('Spare part a technician brings'),
    summary: z.string().min(1).max(500),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.class === 'command' && !r.command) ctx.addIssue({ code: 'custom', path: ['command'], message: 'a command remedy names its command' });
    if (r.class === 'owner' && !r.guide) ctx.addIssue({ code: 'custom', path: ['guide'], message: 'an owner remedy names its owner-guide title' });
  });

/**
 * A metric's value, optionally minus another metric (an approach temperature
 * such as discharge − ambient) and/or minus the device's own learned baseline
 * of that expression, so limits are relative to the device's normal.
 */
const Operand = {
  metric: MetricName,
  minus: MetricName.optional().describe('Subtract this metric (same sample)'),
  relativeTo: z.enum(['zero', 'baseline']).default('zero').describe('baseline: subtract the device’s learned normal'),
};

export const ThresholdCondition = z
  .object({
    kind: z.literal('threshold'),
    ...Operand,
    op: z.enum(['above', 'below', 'outside', 'equals']),
    value: z.union([z.number(), z.boolean(), z.string().max(64)]).optional().describe('Set level (above/below) or the value (equals)'),
    clear: z.number().optional().describe('Hysteresis: once set, stays set until past this level'),
    low: z.number().optional().describe('Band for `outside`'),
    high: z.number().optional(),
    clearLow: z.number().optional(),
    clearHigh: z.number().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (c.op === 'outside') {
      if (c.low === undefined || c.high === undefined || c.low > c.high) issue('outside needs low ≤ high');
      if (c.clearLow !== undefined && c.low !== undefined && c.clearLow < c.low) issue('clearLow must be inside the band (≥ low)');
      if (c.clearHigh !== undefined && c.high !== undefined && c.clearHigh > c.high) issue('clearHigh must be inside the band (≤ high)');
    } else if (c.op === 'equals') {
      if (c.value === undefined) issue('equals needs a value');
    } else {
      if (typeof c.value !== 'number') issue(`${c.op} needs a numeric value`);
      else if (c.clear !== undefined && (c.op === 'above' ? c.clear > c.value : c.clear < c.value)) {
        issue(`clear must be on the normal side of value (${c.op === 'above' ? '≤' : '≥'} ${c.value})`);
      }
    }
  });

export const RateCondition = z
  .object({
    kind: z.literal('rate'),
    ...Operand,
    windowMs: Duration.describe('Least-squares slope over this much event time'),
    above: z.number().optional().describe('Slope per hour'),
    below: z.number().optional().describe('Slope per hour'),
  })
  .strict()
  .refine((c) => c.above !== undefined || c.below !== undefined, 'rate needs above or below');

export const MissingCondition = z
  .object({
    kind: z.literal('missing'),
    metric: MetricName.optional().describe('One metric; any sample when omitted (device offline)'),
    afterMs: Duration,
  })
  .strict();

export const ErrorCodeCondition = z
  .object({
    kind: z.literal('error-code'),
    codes: z.array(z.string().min(1).max(64)).max(100).optional().describe('Codes to match; any code when omitted'),
    eventKinds: z.array(z.enum(['error', 'warning', 'info', 'state'])).min(1).default(['error']),
    withinMs: Duration.describe('The condition holds this long after a matching event'),
  })
  .strict();

/** Hysteresis-aware limits of a mean: above/below set it, clearAbove/clearBelow (on the normal side) clear it. */
const MeanLimits = {
  above: z.number().optional().describe('Set when the (relative) mean rises above this'),
  below: z.number().optional().describe('Set when the (relative) mean falls below this'),
  clearAbove: z.number().optional().describe('Once set by `above`, holds until the mean is back at or below this'),
  clearBelow: z.number().optional().describe('Once set by `below`, holds until the mean is back at or above this'),
};

type MeanFields = {
  metric: string;
  minus?: string;
  relativeTo?: 'zero' | 'baseline' | 'ratio';
  overMs?: number;
  overSamples?: number;
  overDays?: number;
  clearByWeekday?: boolean;
  clearOverSamples?: number;
  risePerHour?: boolean;
  riseAtMost?: number;
  firstInGate?: boolean;
  despike?: boolean;
  adjustFor?: string;
  perLoad?: { factors: { metric: string; power?: number }[]; gain: number };
  whileLearning?: boolean;
  baselineSamples?: number;
  baselineMs?: number;
  above?: number;
  below?: number;
  clearAbove?: number;
  clearBelow?: number;
};

type Leaf =
  | z.input<typeof ThresholdCondition>
  | z.input<typeof RateCondition>
  | z.input<typeof MissingCondition>
  | z.input<typeof ErrorCodeCondition>;
/** Recursive schemas need their input type spelled out; the output type is inferred below. */
export type ConditionInput =
  | Leaf
  | { kind: 'duration'; forMs: number; condition: ConditionInput; readings?: boolean }
  | { kind: 'all' | 'any'; of: ConditionInput[] }
  | (MeanFields & { kind: 'mean'; where?: ConditionInput });

export const Condition: z.ZodType<ConditionOutput, ConditionInput> = z.lazy(() =>
  z.discriminatedUnion('kind', [ThresholdCondition, RateCondition, MissingCondition, ErrorCodeCondition, DurationCondition, AllCondition, AnyCondition, MeanCondition]),
);

/** A known load relation: operand ÷ (1 + gain × Π metric^power). */
const PerLoad = z
  .object({
    factors: z.array(z.object({ metric: MetricName, power: z.number().min(-4).max(4).default(1) }).strict()).min(1).max(3),
    gain: z.number().positive().describe('Relative rise of the operand per unit of the product, learnt across the fleet'),
  })
  .strict();

/**
 * Mean: a slow, sustained shift. An event-time moving average (time constant
 * overMs, or over about overSamples counted samples, or a plain average of the
 * last overDays whole days) of the operand over the samples where `where` holds (e.g. only
 * while loaded), judged against the device's own mean of the same operand
 * over its first baselineSamples such samples: `baseline` subtracts it,
 * `ratio` divides by it (mean / baseline − 1, for metrics whose scale differs
 * from unit to unit). A duty cycle creeping up over days, a pressure drop
 * 30 % below this unit's normal.
 */
const MeanCondition = z
  .object({
    kind: z.literal('mean'),
    metric: MetricName,
    minus: MetricName.optional().describe('Subtract this metric (same sample)'),
    relativeTo: z.enum(['zero', 'baseline', 'ratio']).default('baseline'),
    where: z.lazy(() => Condition).optional().describe('Only samples where this holds move the mean and the baseline'),
    overMs: Duration.optional().describe('Time constant of the moving average (event time)'),
    overSamples: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe('Or: an N-sample exponential average (each counted sample weighs 2 / (N + 1)) whatever their spacing, for readings that come in bursts (a spin once a day)'),
    overDays: z
      .number()
      .int()
      .min(2)
      .max(14)
      .optional()
      .describe(
        'Or: a plain average over the last N whole days of event time (UTC days), which moves once a day. N = 7 takes every hour of the week once, so a weekly rhythm (shifts, weekends) cancels out and a small steady shift shows: a leak that adds a little duty day and night. It starts after the first N whole days once the baseline is learnt (until then the condition says what it says while learning); a whole day without any sample starts the window again, the last full window’s average standing meanwhile',
      ),
    clearByWeekday: z
      .boolean()
      .optional()
      .describe(
        'With overDays (7 or more) and a baselineMs of whole weeks: also judge the last whole day against the baseline’s same weekday (UTC), and hold the condition only while that day too is past the clear level. A repaired leak lets go after a day or two of normal duty instead of when the whole-week average has caught up',
      ),
    clearOverSamples: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .optional()
      .describe(
        'Also keep an N-sample average of the latest readings (N below the main average’s): the condition is set only while it too is past the clear level, and lets go as soon as it is back. For readings that come once per programme, where the main average of many readings would hold a repaired machine’s diagnosis for weeks',
      ),
    risePerHour: z
      .boolean()
      .optional()
      .describe(
        'Average how fast the operand climbs instead of its level: the change per hour from the previous sample to this one, both counted and next to each other (a sample the gate shuts out breaks the pair). A heater’s warming rate while it heats cold water',
      ),
    riseAtMost: z
      .number()
      .positive()
      .optional()
      .describe(
        'With risePerHour: a step of more than this × the hours between the two samples (× one hour when they are closer, as a counter shown in whole hours steps by 1 between two minutes) is a jump, not a reading, and counts nothing: a controller swapped for one with more hours, a counter preset. An hours counter climbs at most 1 h an hour, so 2 leaves room for rounding. Without it one jump would sit in the average for as long as the average lasts',
      ),
    firstInGate: z
      .boolean()
      .optional()
      .describe(
        'Count a reading only when it is new: the first each time `where` opens, or one that differs from the reading before. For a value measured once per cycle and held (a `held` metric), so that one measurement counts once however many samples in the same opening repeat it — the last drain’s duration read while rinsing and again while spinning',
      ),
    despike: z
      .boolean()
      .optional()
      .describe(
        'Median-of-three spike filter on the counted readings (default: on for analogue metrics, off for `held` ones). False for a value measured once per programme and held until the next, where the filter would hold each new value back until a second reading; true on a held one counted once per cycle (`firstInGate`), where it sets one odd cycle aside',
      ),
    adjustFor: MetricName.optional().describe(
      'Judge the operand as it would be at the baseline’s average of this metric: the straight-line relation learnt over the baseline (duty against room temperature) is taken out first',
    ),
    whileLearning: z
      .boolean()
      .optional()
      .describe('What the condition says while its baseline is still being learnt (default false). True suits an exclusion (“compression heat not up”): the unknown does not hold the rule back on a new device'),
    perLoad: PerLoad.optional().describe(
      'Divide the operand by 1 + gain × (the product of these metrics ^ powers) before averaging: a load relation known for the type (spin vibration against imbalance × speed²), so that readings taken at different loads compare',
    ),
    baselineSamples: z.number().int().min(1).max(100_000).optional().describe('Counted samples for the baseline; default the rule set’s baselineSamples'),
    baselineMs: Duration.optional().describe(
      'Learn the baseline over this much event time from the first counted sample instead (at least 8 samples), e.g. a week to cover the weekly cycle whatever the sample rate',
    ),
    ...MeanLimits,
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (c.above === undefined && c.below === undefined) issue('mean needs above or below');
    if (c.firstInGate && c.where === undefined) issue('firstInGate needs where');
    if (c.riseAtMost !== undefined && !c.risePerHour) issue('riseAtMost needs risePerHour: it caps the rise per hour');
    if (c.firstInGate && c.risePerHour) issue('firstInGate and risePerHour do not go together: a skipped repeat breaks the pair a rise needs');
    if ([c.overMs, c.overSamples, c.overDays].filter((x) => x !== undefined).length !== 1) issue('mean needs overMs, overSamples or overDays (one of them)');
    if (c.clearByWeekday && (c.relativeTo === 'zero' || c.adjustFor !== undefined)) issue('clearByWeekday judges a day against its weekday’s baseline: it needs relativeTo baseline or ratio, and no adjustFor (its weekday means are not adjusted)');
    if (c.clearByWeekday && (c.overDays === undefined || c.overDays < 7 || c.baselineMs === undefined || c.baselineMs % (7 * 86_400_000) !== 0)) issue('clearByWeekday needs overDays of 7 or more and a baselineMs of whole weeks (each weekday learnt whole)');
    if (c.overDays !== undefined && c.clearOverSamples !== undefined) issue('overDays and clearOverSamples do not go together: a whole-day average lets go a day at a time');
    if (c.clearOverSamples !== undefined && c.overSamples !== undefined && c.clearOverSamples >= c.overSamples) issue('clearOverSamples must be below overSamples: it is the shorter, recent average');
    if (c.baselineMs !== undefined && c.baselineSamples !== undefined) issue('give baselineSamples or baselineMs, not both');
    if (c.clearAbove !== undefined && (c.above === undefined || c.clearAbove > c.above)) issue('clearAbove needs above and must be ≤ above');
    if (c.clearBelow !== undefined && (c.below === undefined || c.clearBelow < c.below)) issue('clearBelow needs below and must be ≥ below');
  });

const DurationCondition = z
  .object({
    kind: z.literal('duration'),
    forMs: Duration.describe('Held continuously for at least this long'),
    condition: z.lazy(() => Condition),
    readings: z
      .boolean()
      .optional()
      .describe(
        'Measure the hold between readings, for a value taken once per programme: from the first sample that moved one of the condition’s averages to a later one at least forMs after it (default false). One odd programme followed by an idle spell is then not enough',
      ),
  })
  .strict();
const AllCondition = z.object({ kind: z.literal('all'), of: z.array(z.lazy(() => Condition)).min(1).max(10) }).strict();
const AnyCondition = z.object({ kind: z.literal('any'), of: z.array(z.lazy(() => Condition)).min(1).max(10) }).strict();

type LeafOut =
  | z.output<typeof ThresholdCondition>
  | z.output<typeof RateCondition>
  | z.output<typeof MissingCondition>
  | z.output<typeof ErrorCodeCondition>;
export type ConditionOutput =
  | LeafOut
  | { kind: 'duration'; forMs: number; condition: ConditionOutput; readings?: boolean }
  | { kind: 'all' | 'any'; of: ConditionOutput[] }
  | (MeanFields & { kind: 'mean'; relativeTo: 'zero' | 'baseline' | 'ratio'; where?: ConditionOutput });

const ClearAfterMs = Duration.optional().describe(
  'And those normal windows span at least this much event time since the last abnormal one (e.g. three days for a slow fault that can look normal over a quiet weekend), whatever the sample rate',
);

/** k of the last n evaluation windows abnormal raises; clearAfterWindows normal ones in a row (spanning clearAfterMs) clear. */
export const Trigger = z
  .object({
    k: z.number().int().min(1).max(32).default(3),
    n: z.number().int().min(1).max(32).default(5),
    clearAfterWindows: z.number().int().min(1).max(10_000).default(10).describe('Normal windows in a row (windows with evaluations; those without carry no evidence)'),
    clearAfterMs: ClearAfterMs,
  })
  .strict()
  .refine((t) => t.k <= t.n, 'k must not exceed n');

export const Rule = z
  .object({
    id: Slug,
    fault: Slug.describe('Fault code, e.g. cooler-fouling'),
    severity: Severity,
    description: z.string().max(500).default(''),
    when: Condition.optional().describe('Applicability gate: samples where it is false count neither way (e.g. only while loaded)'),
    condition: Condition,
    trigger: Trigger.default({ k: 3, n: 5, clearAfterWindows: 10 }),
    remedy: Remedy,
  })
  .strict();

export const ModelPolicy = z
  .object({
    k: z.number().int().min(1).max(32).default(3),
    n: z.number().int().min(1).max(32).default(5),
    clearAfterWindows: z.number().int().min(1).max(10_000).default(10),
    clearAfterMs: ClearAfterMs,
    /** A fault probability at least this high names the fault instead of `anomaly`. */
    faultProbability: z.number().min(0).max(1).default(0.6),
    severity: Severity.default('warning'),
    /**
     * Whether the model alone (no rule firing) may raise a diagnosis. When
     * false it still corroborates rule diagnoses and writes anomaly scores.
     */
    raiseAlone: z.boolean().default(true),
  })
  .strict()
  .refine((t) => t.k <= t.n, 'k must not exceed n');

export const RuleSet = z
  .object({
    type: Slug,
    description: z.string().max(2000).default(''),
    windowMs: Duration.default(60_000).describe('Evaluation window = rolling bucket length (event time)'),
    buckets: z.number().int().min(2).max(120).default(30).describe('Rolling buckets kept per metric (rate windows fit in them)'),
    baselineSamples: z.number().int().min(1).max(100_000).default(120).describe('Samples from which each device learns its baseline'),
    model: ModelPolicy.default({ k: 3, n: 5, clearAfterWindows: 10, faultProbability: 0.6, severity: 'warning', raiseAlone: true }),
    rules: z.array(Rule).max(100),
  })
  .strict()
  .superRefine((s, ctx) => {
    const ids = new Set<string>();
    for (const [i, r] of s.rules.entries()) {
      if (ids.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id ${r.id}` });
      ids.add(r.id);
      const walk = (c: ConditionOutput, path: (string | number)[], depth: number): void => {
        if (depth > 6) ctx.addIssue({ code: 'custom', path, message: 'conditions nest at most 6 deep' });
        else if (c.kind === 'duration') walk(c.condition, [...path, 'condition'], depth + 1);
        else if (c.kind === 'all' || c.kind === 'any') c.of.forEach((x, j) => walk(x, [...path, 'of', j], depth + 1));
        else if (c.kind === 'mean' && c.where) walk(c.where, [...path, 'where'], depth + 1);
        else if (c.kind === 'rate' && c.windowMs > s.windowMs * s.buckets) {
          ctx.addIssue({ code: 'custom', path: [...path, 'windowMs'], message: `rate window exceeds windowMs × buckets (${s.windowMs * s.buckets} ms)` });
        }
      };
      walk(r.condition, ['rules', i, 'condition'], 0);
      if (r.when) walk(r.when, ['rules', i, 'when'], 0);
    }
  });

export type Severity = z.infer<typeof Severity>;
export type RemedyClass = z.infer<typeof RemedyClass>;
export type Remedy = z.infer<typeof Remedy>;
export type ThresholdCondition = z.infer<typeof ThresholdCondition>;
export type RateCondition = z.infer<typeof RateCondition>;
export type MissingCondition = z.infer<typeof MissingCondition>;
export type ErrorCodeCondition = z.infer<typeof ErrorCodeCondition>;
export type Condition = ConditionOutput;
export type Rule = z.infer<typeof Rule>;
export type RuleSet = z.infer<typeof RuleSet>;
export type RuleSetInput = z.input<typeof RuleSet>;

/** A rule set as stored, with where it came from. */
export const StoredRuleSet = z.object({
  type: Slug,
  source: z.enum(['shipped', 'custom', 'none']),
  updatedAt: z.string().nullable(),
  ruleSet: RuleSet,
});
export type StoredRuleSet = z.infer<typeof StoredRuleSet>;
