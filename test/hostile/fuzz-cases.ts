/**
 * Seeded generator of hostile device messages for every device → platform
 * topic kind, each with the outcome the contract promises: how many dead
 * letters it must produce and how many samples must be stored. Shared by
 * test/hostile/fuzz.test.ts and bench/fuzz.ts, so the exact accounting holds
 * for a handful of messages or a million.
 */
import type { DevicePublishKind } from '../../core/topics.ts';
import { topics } from '../../core/topics.ts';

export type Rng = () => number;

/** mulberry32: tiny, fast, good enough to make fuzzing reproducible from a seed. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

export interface FuzzMessage {
  kind: DevicePublishKind;
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  /** A name for the case, for failure messages and the sweep's tally. */
  label: string;
  /** Dead letters the message must produce. */
  deadLetters: number;
  /** Telemetry samples the message must add to the store. */
  samples: number;
}

export interface FuzzDevice {
  id: string;
  /** Unique sample times: the store keys samples by (device, ts). */
  nextTs(): number;
}

export function fuzzDevice(id: string, startTs: number): FuzzDevice {
  let ts = startTs;
  return { id, nextTs: () => ts++ };
}

export interface FuzzOptions {
  maxPayloadBytes: number;
  /** Epoch ms the platform will see as "now" (±minutes). */
  now: number;
}



/** A valid air-compressor sample object. */
export function validSample(rng: Rng, ts: number, seq?: number): Record<string, unknown> {
  return {
    ts,
    ...(seq === undefined ? {} : { seq }),
    metrics: {
      dischargePressureBar: Math.round(rng() * 1600) / 100,
      oilTempC: Math.round((20 + rng() * 80) * 10) / 10,
      loaded: rng() < 0.5,
      loadCycles: int(rng, 0, 1_000_000),
    },
  };
}

export function validTelemetry(rng: Rng, dev: FuzzDevice, qos: 0 | 1 = 1): FuzzMessage {
  return { kind: 'telemetry', topic: topics.telemetry(dev.id), payload: Buffer.from(JSON.stringify(validSample(rng, dev.nextTs(), int(rng, 0, 1e6)))), qos, label: 'telemetry/valid', deadLetters: 0, samples: 1 };
}

const nested = (depth: number, open: string, close: string, inner = '1') => open.repeat(depth) + inner + close.repeat(depth);

/** JSON text used as is: some values cannot make the round trip through JSON.stringify. */
class RawJson {
  constructor(readonly text: string) {}
}
const json = (v: unknown) => (v instanceof RawJson ? v.text : JSON.stringify(v));

/** One sample that the validator must reject on its own (1 dead letter, in a batch or alone). */
const BAD_SAMPLES: ReadonlyArray<readonly [string, (rng: Rng, o: FuzzOptions) => unknown]> = [
  ['unknown_metric', (rng) => ({ metrics: { [`bogus_${int(rng, 0, 999)}`]: 1 } })],
  ['unknown_metric/toString', () => ({ metrics: { toString: 1, oilTempC: 50 } })],
  ['unknown_metric/constructor', () => ({ metrics: { constructor: 5, oilTempC: 50 } })],
  ['out_of_range/high', (rng) => ({ metrics: { oilTempC: 131 + rng() * 1e6 } })],
  ['out_of_range/low', (rng) => ({ metrics: { dischargePressureBar: -0.01 - rng() * 100 } })],
  ['wrong_type/string', () => ({ metrics: { oilTempC: 'hot' } })],
  ['wrong_type/bool-as-number', () => ({ metrics: { loaded: 1 } })],
  ['wrong_type/non-integer', () => ({ metrics: { loadCycles: 1.5 } })],
  ['wrong_type/null', () => ({ metrics: { oilTempC: null } })],
  ['wrong_type/object', () => ({ metrics: { oilTempC: { value: 5 } } })],
  ['wrong_type/array', () => ({ metrics: { oilTempC: [5] } })],
  ['wrong_type/long-string', () => ({ metrics: { oilTempC: 'x'.repeat(300) } })],
  ['wrong_type/metrics-array', () => ({ metrics: [1, 2, 3] })],
  ['wrong_type/seq', (rng) => ({ seq: pick(rng, [-1, 1.5, 'seven', true]), metrics: { oilTempC: 50 } })],
  ['wrong_type/ts', (rng) => ({ ts: pick(rng, [true, null, { t: 1 }, [2026]]), metrics: { oilTempC: 50 } })],
  ['invalid_ts/text', () => ({ ts: 'yesterday at noon', metrics: { oilTempC: 50 } })],
  ['invalid_ts/before-2000', (rng) => ({ ts: int(rng, 0, 946_684_799_999), metrics: { oilTempC: 50 } })],
  ['invalid_ts/fraction', () => ({ ts: 1_767_000_000_000.5, metrics: { oilTempC: 50 } })],
  ['ts_in_future', (_rng, o) => ({ ts: o.now + 86_400_000, metrics: { oilTempC: 50 } })],
  ['unknown_metric/nul', () => ({ metrics: { 'oil\u0000TempC': 5 } })],
  ['invalid_shape/no-metrics', () => ({ metrics: {} })],
  ['invalid_shape/empty', () => ({})],
  ['invalid_shape/extra-key', () => ({ metrics: { oilTempC: 50 }, unit: 'C' })],
  ['invalid_shape/long-metric-name', () => ({ metrics: { ['m'.repeat(65)]: 1 } })],
  ['invalid_shape/not-an-object', (rng) => pick(rng, [5, null, 'sample', [], true])],
  ['proto/__proto__-only', () => JSON.parse('{"metrics":{"__proto__":{"polluted":"yes"}}}')],
  ['proto/__proto__-root', () => JSON.parse('{"__proto__":{"polluted":"yes"},"metrics":{"oilTempC":50}}')],
  ['proto/constructor.prototype', () => ({ metrics: { constructor: { prototype: { polluted: 'yes' } } } })],
  ['proto/root-constructor', () => ({ constructor: { prototype: { polluted: 'yes' } }, metrics: { oilTempC: 50 } })],
  ['deep/in-sample', (rng) => JSON.parse(`{"metrics":{"oilTempC":${nested(int(rng, 10, 400), '[', ']')}}}`)],
  // deeper than JSON.stringify can go (the dead letter keeps the raw message then)
  ['deep/sample', (rng) => new RawJson(nested(int(rng, 5000, 9000), '[', ']'))],
  ['proto/__proto__-metric', () => JSON.parse('{"metrics":{"oilTempC":50,"__proto__":1}}')],
  ['astral/metric-name', () => ({ metrics: { ['\u{1F600}'.repeat(40)]: 1 } })],
];

function telemetryCase(rng: Rng, dev: FuzzDevice, o: FuzzOptions): Omit<FuzzMessage, 'kind' | 'topic' | 'qos'> {
  const r = rng();
  const one = (label: string, payload: Buffer | string) => ({ label: `telemetry/${label}`, payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload), deadLetters: 1, samples: 0 });
  const validJson = () => JSON.stringify(validSample(rng, o.now - 3_600_000));
  if (r < 0.3) {
    // a batch: bad samples are dead-lettered one by one, good ones stored
    const wantBad = rng() < 0.05 ? int(rng, 50, 300) : int(rng, 1, 12);
    const wantGood = int(rng, 0, 12);
    const budget = o.maxPayloadBytes * 0.8;
    const parts: string[] = [];
    let size = 16;
    let bad = 0;
    while (bad < wantBad) {
      const [, make] = pick(rng, BAD_SAMPLES);
      const part = json(make(rng, o));
      if (bad > 0 && size + part.length + 1 > budget) break;
      parts.push(part);
      size += part.length + 1;
      bad++;
    }
    let good = 0;
    while (good < wantGood && size + 200 < budget) {
      const part = JSON.stringify(validSample(rng, dev.nextTs()));
      parts.splice(int(rng, 0, parts.length), 0, part);
      size += part.length + 1;
      good++;
    }
    return { label: 'telemetry/batch-mixed', payload: Buffer.from(`{"samples":[${parts.join(',')}]}`), deadLetters: bad, samples: good };
  }
  if (r < 0.55) {
    const [label, make] = pick(rng, BAD_SAMPLES);
    return one(label, json(make(rng, o)));
  }
  const cases: Array<() => ReturnType<typeof one>> = [
    () => one('binary', randomBytes(rng, int(rng, 0, 600))),
    () => one('empty', Buffer.alloc(0)),
    () => {
      const s = validJson();
      return one('truncated', s.slice(0, int(rng, 1, s.length - 1)));
    },
    () => one('nan-literal', pick(rng, ['{"metrics":{"oilTempC":NaN}}', '{"metrics":{"oilTempC":Infinity}}', '{"metrics":{"oilTempC":-Infinity}}', 'NaN'])),
    () => one('non_finite/1e999', pick(rng, ['{"metrics":{"oilTempC":1e999}}', '{"metrics":{"oilTempC":-1e999}}', '{"ts":1e999,"metrics":{"oilTempC":5}}', '{"seq":1e999,"metrics":{"oilTempC":5}}'])),
    // in a batch only the bad sample goes
    () => ({ ...one('non_finite/1e999-in-batch', `{"samples":[${JSON.stringify(validSample(rng, dev.nextTs()))},{"metrics":{"oilTempC":1e999}}]}`), samples: 1 }),
    () => one('deep/array', nested(int(rng, 100, Math.min(30_000, o.maxPayloadBytes / 2 - 10)), '[', ']')),
    () => one('deep/object', nested(int(rng, 100, Math.min(10_000, o.maxPayloadBytes / 6 - 10)), '{"a":', '}')),
    () => one('deep/metrics', `{"metrics":{"oilTempC":${nested(int(rng, 100, Math.min(20_000, o.maxPayloadBytes / 2 - 40)), '[', ']')}}}`),
    () => one('json-primitive', pick(rng, ['null', '42', '"text"', 'true', '[]', '{}', '[{"metrics":{"oilTempC":5}}]'])),
    () => one('bom', '\ufeff' + validJson()),
    () => one('utf8-garbage', `{"metrics":{"oil\uD800TempC":5,"\u0000":1}}`),
    () => one('payload_too_large', validJson().padEnd(o.maxPayloadBytes + int(rng, 1, 16_000), ' ')),
    () => one('batch/empty', '{"samples":[]}'),
    () => one('batch/not-array', '{"samples":{"0":{"metrics":{"oilTempC":5}}}}'),
    () => one('batch/extra-key', JSON.stringify({ samples: [validSample(rng, o.now - 3_600_000)], device: 'x' })),
    () => one('astral/invalid-json', 'x' + '\u{1F600}'.repeat(int(rng, 1, 40))),
    () => one('batch/__proto__', `{"samples":[${validJson()}],"__proto__":{"polluted":"yes"}}`),
    () => one('batch/too-many', `{"samples":[${Array(10_001).fill('{}').join(',')}]}`),
  ];
  return pick(rng, cases)();
}

function eventCase(rng: Rng, o: FuzzOptions): { label: string; payload: string | Buffer; deadLetters: number } {
  if (rng() < 0.12) return { label: 'events/valid', payload: JSON.stringify({ kind: pick(rng, ['error', 'warning', 'info', 'state']), code: `E${int(rng, 1, 99)}`, message: 'fuzz' }), deadLetters: 0 };
  // valid, though PostgreSQL cannot store U+0000 or a lone surrogate as they are
  if (rng() < 0.03) return { label: 'events/valid-unstorable-text', payload: pick(rng, ['{"kind":"error","code":"E\\u00001","message":"m\\u0000"}', '{"kind":"info","data":{"k\\u0000":"v\\u0000"}}', '{"kind":"info","message":"\\ud83d","data":{"\\ude00":1}}']), deadLetters: 0 };
  const bad: Array<[string, () => string | Buffer]> = [
    // a leading zero byte keeps random bytes from ever spelling a valid `{}`
    ['binary', () => Buffer.concat([Buffer.from([0]), randomBytes(rng, int(rng, 0, 400))])],
    ['empty', () => ''],
    ['bad-kind', () => '{"kind":"panic"}'],
    ['long-code', () => JSON.stringify({ kind: 'error', code: 'E'.repeat(65) })],
    ['long-message', () => JSON.stringify({ kind: 'error', message: 'm'.repeat(1001) })],
    ['extra-key', () => '{"kind":"info","severity":9}'],
    ['nested-data', () => '{"kind":"info","data":{"a":{"b":1}}}'],
    ['1e999', () => '{"kind":"info","data":{"x":1e999}}'],
    ['ts-1e999', () => '{"kind":"info","ts":1e999}'],
    ['bad-ts', () => '{"kind":"info","ts":"soon"}'],
    ['__proto__', () => '{"kind":"info","__proto__":{"polluted":"yes"}}'],
    ['constructor', () => '{"kind":"info","constructor":{"prototype":{"polluted":"yes"}}}'],
    ['data-constructor', () => '{"kind":"info","data":{"constructor":{"prototype":{"polluted":"yes"}}}}'],
    ['primitive', () => pick(rng, ['null', '[]', '7', '"error"'])],
    ['deep', () => nested(int(rng, 100, o.maxPayloadBytes / 2 - 10), '[', ']')],
    ['payload_too_large', () => '{"kind":"info"}'.padEnd(o.maxPayloadBytes + int(rng, 1, 16_000), ' ')],
  ];
  const [label, make] = pick(rng, bad);
  return { label: `events/${label}`, payload: make(), deadLetters: 1 };
}

function statusCase(rng: Rng, o: FuzzOptions): { label: string; payload: string | Buffer; deadLetters: number } {
  if (rng() < 0.15) return { label: 'status/valid', payload: pick(rng, ['online', 'offline', '{"state":"online"}']), deadLetters: 0 };
  const bad: Array<[string, () => string | Buffer]> = [
    // a zero byte can never spell online/offline
    ['binary', () => Buffer.concat([Buffer.from([0]), randomBytes(rng, int(rng, 0, 300))])],
    ['empty', () => ''],
    ['word', () => pick(rng, ['maybe', 'ONLINE', 'on line', 'sleeping'])],
    ['bad-state', () => pick(rng, ['{"state":"sleeping"}', '{"state":1}', '{"state":null}', '{}'])],
    ['primitive', () => pick(rng, ['42', 'null', 'true', '[]', '"sleeping"'])],
    ['__proto__', () => '{"__proto__":{"state":"online","polluted":"yes"}}'],
    ['constructor', () => '{"constructor":{"prototype":{"state":"online"}}}'],
    ['deep', () => nested(int(rng, 100, o.maxPayloadBytes / 2 - 10), '[', ']')],
    ['payload_too_large', () => 'online'.padEnd(o.maxPayloadBytes + int(rng, 1, 16_000), ' ')],
  ];
  const [label, make] = pick(rng, bad);
  return { label: `status/${label}`, payload: make(), deadLetters: 1 };
}

function ackCase(rng: Rng, o: FuzzOptions): { label: string; payload: string | Buffer; deadLetters: number } {
  // an ack for a command nobody sent is valid (and logged)
  if (rng() < 0.12) return { label: 'commandAck/valid', payload: JSON.stringify({ commandId: `cmd-${int(rng, 0, 1e6)}`, status: pick(rng, ['accepted', 'done', 'failed']) }), deadLetters: 0 };
  if (rng() < 0.03) return { label: 'commandAck/valid-unstorable-text', payload: pick(rng, ['{"commandId":"c\\u0000","status":"done"}', '{"commandId":"c1","status":"failed","detail":"d\\u0000\\ud800"}']), deadLetters: 0 };
  const bad: Array<[string, () => string | Buffer]> = [
    ['binary', () => Buffer.concat([Buffer.from([0]), randomBytes(rng, int(rng, 0, 300))])],
    ['empty', () => ''],
    ['missing', () => pick(rng, ['{}', '{"status":"done"}', '{"commandId":"c1"}'])],
    ['bad-status', () => '{"commandId":"c1","status":"exploded"}'],
    ['empty-id', () => '{"commandId":"","status":"done"}'],
    ['long-id', () => JSON.stringify({ commandId: 'c'.repeat(65), status: 'done' })],
    ['wrong-type', () => pick(rng, ['{"commandId":1,"status":"done"}', '{"commandId":"c1","status":["done"]}'])],
    ['extra-key', () => '{"commandId":"c1","status":"done","by":"me"}'],
    ['__proto__', () => '{"commandId":"c1","status":"done","__proto__":{"polluted":"yes"}}'],
    ['constructor', () => '{"commandId":"c1","status":"done","constructor":{"prototype":{"polluted":"yes"}}}'],
    ['1e999', () => '{"commandId":"c1","status":"done","detail":1e999}'],
    ['deep', () => nested(int(rng, 100, o.maxPayloadBytes / 2 - 10), '[', ']')],
    ['payload_too_large', () => '{"commandId":"c1","status":"done"}'.padEnd(o.maxPayloadBytes + int(rng, 1, 16_000), ' ')],
  ];
  const [label, make] = pick(rng, bad);
  return { label: `commandAck/${label}`, payload: make(), deadLetters: 1 };
}

/**
 * One message for `dev` on a random device → platform topic: mostly hostile,
 * sometimes valid (valid telemetry included, so a fuzzed device's good data
 * must survive its bad data).
 */
export function fuzzMessage(rng: Rng, dev: FuzzDevice, o: FuzzOptions): FuzzMessage {
  const qos: 0 | 1 = rng() < 0.2 ? 0 : 1;
  const k = rng();
  if (k < 0.12) return { ...validTelemetry(rng, dev, 1) };
  if (k < 0.55) {
    const c = telemetryCase(rng, dev, o);
    // QoS0 telemetry is only spooled "when there is room": keep stored-sample accounting on QoS1
    return { kind: 'telemetry', topic: topics.telemetry(dev.id), qos: c.samples > 0 ? 1 : qos, ...c };
  }
  const [kind, c] =
    k < 0.7 ? (['events', eventCase(rng, o)] as const) : k < 0.85 ? (['status', statusCase(rng, o)] as const) : (['commandAck', ackCase(rng, o)] as const);
  const topic = kind === 'events' ? topics.events(dev.id) : kind === 'status' ? topics.status(dev.id) : topics.commandAck(dev.id);
  return { kind, topic, qos, label: c.label, payload: Buffer.isBuffer(c.payload) ? c.payload : Buffer.from(c.payload), deadLetters: c.deadLetters, samples: 0 };
}
