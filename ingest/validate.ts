import type { DeadLetterReason } from '../core/domain/dead-letter.ts';
import type { DeviceType, MetricDef } from '../core/domain/device-type.ts';
import { EARLIEST_TS, MAX_BATCH_SAMPLES, SamplePayload, type MetricValue, type Point } from '../core/domain/telemetry.ts';
import type { Stamps } from './stamps.ts';
import { parseTime } from '../core/domain/common.ts';
import type { DevicePrincipal } from '../core/ports.ts';

export interface Rejection {
  reason: DeadLetterReason;
  detail: string;
  /** The offending part of the payload (one sample of a batch), when narrower than the whole. */
  fragment?: unknown;
  /** A sample refused for a reading outside its metric's declared range: its time and that metric. */
  outOfRange?: { ts: number; metric: string };
}

export interface ValidationResult {
  points: Point[];
  rejections: Rejection[];
}

export interface ValidationContext {
  device: DevicePrincipal;
  type: CompiledType;
  now: number;
  /** Times for samples without their own: their arrival, unique per device (ingest/stamps.ts; default `now`). */
  stamps?: Pick<Stamps, 'next'>;
  maxFutureMs: number;
  maxPayloadBytes: number;
}

/** A device type indexed for validation. */
export interface CompiledType {
  name: string;
  metrics: Map<string, MetricDef>;
}

export function compileType(t: DeviceType): CompiledType {
  return { name: t.name, metrics: new Map(t.metrics.map((m) => [m.name, m])) };
}


/** Parses untrusted bytes as JSON; never throws. */
export function parseJson(payload: Buffer): { ok: true; value: unknown } | { ok: false; detail: string } {
  try {
    return { ok: true, value: JSON.parse(payload.toString('utf8')) };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message.slice(0, 200) : 'unparseable' };
  }
}

/** JSON cannot carry NaN, but 1e999 parses to Infinity. */
function findNonFinite(v: unknown, depth = 0): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : String(v);
  if (depth > 4 || v === null || typeof v !== 'object') return undefined;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const bad = findNonFinite(x, depth + 1);
    if (bad) return bad;
  }
  return undefined;
}

function summarise(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

function checkValue(def: MetricDef, value: MetricValue): Rejection | undefined {
  const name = def.name;
  switch (def.kind) {
    case 'number':
    case 'integer':
      if (typeof value !== 'number') return { reason: 'wrong_type', detail: `${name}: expected a number, got ${typeof value}` };
      if (!Number.isFinite(value)) return { reason: 'non_finite', detail: `${name}: ${value} is not finite` };
      if (def.kind === 'integer' && !Number.isInteger(value)) return { reason: 'wrong_type', detail: `${name}: expected an integer, got ${value}` };
      if (def.min !== undefined && value < def.min) return { reason: 'out_of_range', detail: `${name}: ${value} is below ${def.min}${def.unit ? ' ' + def.unit : ''}` };
      if (def.max !== undefined && value > def.max) return { reason: 'out_of_range', detail: `${name}: ${value} is above ${def.max}${def.unit ? ' ' + def.unit : ''}` };
      return undefined;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : { reason: 'wrong_type', detail: `${name}: expected a boolean, got ${typeof value}` };
    case 'string':
      if (typeof value !== 'string') return { reason: 'wrong_type', detail: `${name}: expected a string, got ${typeof value}` };
      if (def.values && !def.values.includes(value)) return { reason: 'out_of_range', detail: `${name}: "${value.slice(0, 64)}" is not one of ${def.values.join(', ')}` };
      return undefined;
  }
}

function validateSample(sample: SamplePayload, ctx: ValidationContext): Point | Rejection {
  let ts: number;
  if (sample.ts === undefined) ts = ctx.stamps ? ctx.stamps.next(ctx.device.id, ctx.now) : ctx.now;
  else {
    const parsed = parseTime(sample.ts);
    if (parsed === undefined || parsed < EARLIEST_TS) return { reason: 'invalid_ts', detail: `ts ${JSON.stringify(sample.ts)} is not a valid time`, fragment: sample };
    if (parsed > ctx.now + ctx.maxFutureMs) {
      return { reason: 'ts_in_future', detail: `ts ${new Date(parsed).toISOString()} is more than ${ctx.maxFutureMs / 1000} s ahead of the platform clock`, fragment: sample };
    }
    ts = parsed;
  }
  // every name is checked against the type before it is assigned, so a
  // "__proto__" key never reaches the plain object (metric names cannot start with _)
  const metrics: Record<string, MetricValue> = {};
  let count = 0;
  const given = sample.metrics;
  for (const name in given) {
    if (!Object.hasOwn(given, name)) continue;
    const value = given[name]!;
    const def = ctx.type.metrics.get(name);
    if (!def) return { reason: 'unknown_metric', detail: `metric "${name.slice(0, 64)}" is not declared by type ${ctx.type.name}`, fragment: sample };
    const problem = checkValue(def, value);
    if (problem) return { ...problem, fragment: sample, ...(problem.reason === 'out_of_range' ? { outOfRange: { ts, metric: name } } : {}) };
    metrics[name] = value;
    count++;
  }
  if (count === 0) return { reason: 'invalid_shape', detail: 'sample has no metrics', fragment: sample };
  return {
    deviceId: ctx.device.id,
    type: ctx.type.name,
    model: ctx.device.model,
    site: ctx.device.site,
    ts,
    ...(sample.seq === undefined ? {} : { seq: sample.seq }),
    metrics,
  };
}

/**
 * The common case — one plain sample — checked by hand: a strict subset of
 * what `SamplePayload` accepts (same limits), so zod is only needed to
 * explain a rejection or to read batches. Saves most of the per-message cost.
 */
function fastSample(v: unknown): SamplePayload | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  let keys = 0;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    if (k !== 'ts' && k !== 'seq' && k !== 'metrics') return undefined;
    keys++;
  }
  const { ts, seq, metrics } = o;
  if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics) || Object.getPrototypeOf(metrics) !== Object.prototype) return undefined;
  if (ts !== undefined && typeof ts !== 'number' && !(typeof ts === 'string' && ts.length <= 40)) return undefined;
  if (seq !== undefined && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0)) return undefined;
  const m = metrics as Record<string, unknown>;
  for (const k in m) {
    if (!Object.hasOwn(m, k) || k.length > 64) return undefined;
    const x = m[k];
    if (typeof x === 'number' ? !Number.isFinite(x) : typeof x === 'string' ? x.length > 256 : typeof x !== 'boolean') return undefined;
  }
  return keys > 0 ? (o as SamplePayload) : undefined;
}

/**
 * Validates one telemetry message against the device's type. Envelope
 * problems reject the whole message; a bad sample inside a batch is rejected
 * alone and the good samples go on.
 */
export function validateTelemetry(payload: Buffer, ctx: ValidationContext): ValidationResult {
  if (payload.length > ctx.maxPayloadBytes) {
    return { points: [], rejections: [{ reason: 'payload_too_large', detail: `${payload.length} bytes exceeds the ${ctx.maxPayloadBytes}-byte limit` }] };
  }
  const json = parseJson(payload);
  if (!json.ok) return { points: [], rejections: [{ reason: 'invalid_json', detail: json.detail }] };
  const v = json.value;
  if (isBatch(v)) {
    if (v.samples.length === 0 || v.samples.length > MAX_BATCH_SAMPLES) {
      return { points: [], rejections: [{ reason: 'invalid_shape', detail: `samples: a batch holds 1–${MAX_BATCH_SAMPLES} samples, got ${v.samples.length}` }] };
    }
    return validateSamples(v.samples, ctx, true);
  }
  return validateSamples([v], ctx, false);
}

/** `{"samples": [...]}` and nothing else. */
function isBatch(v: unknown): v is { samples: unknown[] } {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === 'samples' && Array.isArray((v as { samples: unknown }).samples);
}

/**
 * Judges samples one by one so a bad sample in a batch is dead-lettered alone
 * (with itself as the fragment) while the good ones go on.
 */
function validateSamples(samples: readonly unknown[], ctx: ValidationContext, batch: boolean): ValidationResult {
  const points: Point[] = [];
  const rejections: Rejection[] = [];
  for (const raw of samples) {
    let r: Point | Rejection;
    const fast = fastSample(raw);
    if (fast) r = validateSample(fast, ctx);
    else {
      const nonFinite = findNonFinite(raw);
      const parsed = nonFinite ? undefined : SamplePayload.safeParse(raw);
      if (nonFinite) r = { reason: 'non_finite', detail: `number ${nonFinite} is not finite` };
      else if (!parsed!.success) r = { reason: 'invalid_shape', detail: summarise(parsed!.error.issues) };
      else r = validateSample(parsed!.data, ctx);
    }
    if (!('reason' in r)) points.push(r);
    // a single sample's dead letter keeps the raw payload; a batch's names the sample
    else rejections.push(batch ? { ...r, fragment: raw } : { reason: r.reason, detail: r.detail });
  }
  return { points, rejections };
}
