/**
 * Rule-set tuning without a stack: simulates a seeded fleet in-process, feeds
 * every sample and event straight into the diagnosis engine (the same Engine,
 * rule compiler and rule sets the platform runs, no broker, storage or model)
 * and scores the diagnoses against the ground truth. Seconds instead of
 * minutes; `npm run scorecard` stays the end-to-end measure.
 *
 *   npx tsx bench/rules-offline.ts --seed 7 --devices 300 --types air-compressor [--rules DIR] [--probe]
 *
 * --probe prints, per rule and per evidence value, how far it went on
 * fault-free device-time versus inside each fault (p50/p90/p99/max of the
 * per-device extremes), to place thresholds from data rather than guesses.
 *
 * --repair-after 24h closes the loop as a service team would: that long after
 * a fault's first true diagnosis a technician fixes it (the simulator's
 * remedy), and the run reports whether and when the diagnosis cleared once the
 * telemetry was normal again, and every diagnosis raised after a repair
 * (the scorecard counts those as false: the fault's scoring ends at its fix).
 * With --recalibrate-on-repair fault the repair is also recorded as
 * POST /devices/:id/recalibrate {"faults": [code]} records it: the repaired
 * fault's diagnosis is resolved and its rules relearn their averages and
 * baselines from the repaired device; the device's other rules keep theirs.
 * With --recalibrate-on-repair device, as a request without `faults`: the
 * whole device relearns and all its active diagnoses are resolved.
 *
 * --trace DEVICE [--trace-rules id|fault,…] follows one device instead: its
 * ground truth, then per sample the evidence of its rules (all, or those
 * named by rule id or fault code) with each rule's k-of-n mask and normal
 * streak, and every raise and clear as it happens — why a fault was missed,
 * raised late or never cleared. With --repair-after its repairs happen too.
 */
import { parseArgs } from 'node:util';
import { loadDeviceTypeFiles } from '../core/device-types.ts';
import { compileRuleSet } from '../diagnosis/rules/compile.ts';
import { evidence } from '../diagnosis/rules/evaluate.ts';
import { loadShippedRuleSets, SHIPPED_RULES_DIR } from '../diagnosis/rules/shipped.ts';
import type { Diagnosis } from '../core/domain/diagnosis.ts';
import { Engine } from '../diagnosis/engine.ts';
import { computeScorecard, quantile, type ScoredDiagnosis, type TruthFault } from '../scorecard/metrics.ts';
import { formatScorecard } from '../scorecard/report.ts';
import { FAULTS } from '../simulator/faults/catalogue.ts';
import { createFleet, groundTruthRow } from '../simulator/fleet.ts';
import { MODELS } from '../simulator/models/index.ts';
import { parseDuration } from '../simulator/time.ts';
import { DEFAULT_INTERVALS, parseIntervals } from '../scorecard/run.ts';

const { values: v } = parseArgs({
  options: {
    seed: { type: 'string', default: '7' },
    devices: { type: 'string', default: '300' },
    duration: { type: 'string', default: '30d' },
    types: { type: 'string' },
    rules: { type: 'string', default: SHIPPED_RULES_DIR },
    'fault-rate': { type: 'string', default: '0.3' },
    probe: { type: 'boolean', default: false },
    why: { type: 'boolean', default: false },
    start: { type: 'string', default: '2026-10-27T07:00:00Z' },
    'repair-after': { type: 'string' },
    'recalibrate-on-repair': { type: 'string' },
    trace: { type: 'string' },
    'trace-rules': { type: 'string' },
  },
  strict: true,
});

const DAY = 86_400_000;
/** As the scorecard: a diagnosis matches a fault raised from its onset to its fix (or the run's end) plus this. */
const GRACE_MS = 6 * 3_600_000;
const types = (v.types ?? Object.keys(MODELS).join(',')).split(',');
const durationMs = parseDuration(v.duration!)!;
const startTs = Date.parse(v.start!);
const intervalMs = parseIntervals(DEFAULT_INTERVALS);
const seed = /^\d+$/.test(v.seed!) ? Number(v.seed) : v.seed!;
const fleet = createFleet({ seed, devices: Number(v.devices), types, faultRate: Number(v['fault-rate']), startTs, durationMs, intervalMs });
const ruleSets = loadShippedRuleSets(v.rules);
const deviceTypes = new Map(loadDeviceTypeFiles().map((t) => [t.name, t]));
const engine = new Engine({ liveLagMs: 60_000 });
for (const t of types) engine.setLayout(t, compileRuleSet(ruleSets.get(t)!, deviceTypes.get(t)!), 0);

// probe: per rule and evidence key, each device's extreme on clean time and inside each fault
const clean = new Map<string, number[]>();
const inFault = new Map<string, number[]>();
const cleanMin = new Map<string, number[]>();
const inFaultMin = new Map<string, number[]>();
const push = (m: Map<string, number[]>, k: string, x: number) => (m.get(k) ?? m.set(k, []).get(k)!).push(x);

const repairAfterMs = v['repair-after'] === undefined ? null : (parseDuration(v['repair-after']) ?? null);
if (repairAfterMs === null && v['repair-after'] !== undefined) throw new Error('--repair-after expects a duration (e.g. 24h)');
const recalibrateOnRepair = v['recalibrate-on-repair'];
if (recalibrateOnRepair !== undefined && recalibrateOnRepair !== 'fault' && recalibrateOnRepair !== 'device') throw new Error('--recalibrate-on-repair expects fault or device');
if (recalibrateOnRepair !== undefined && repairAfterMs === null) throw new Error('--recalibrate-on-repair needs --repair-after');
interface Repair {
  device: string;
  fault: string;
  fixedAt: number;
  clearedAt: number | null;
  /** Its diagnosis had already cleared when the technician came. */
  clearedBeforeFix: boolean;
}
/** Repairs at least this long before the end are judged on whether they cleared: the shipped rules hold three days, and a washer needs a few programmes on top. */
const SETTLE_MS = 7 * DAY;
const repairs: Repair[] = [];
const raised: Diagnosis[] = [];
const diagnoses: ScoredDiagnosis[] = [];
const truth: TruthFault[] = [];
const wallNow = startTs + durationMs + 365 * DAY; // everything is a replay: event time rules
const t0 = Date.now();
let samples = 0;
const traced = v['trace-rules']?.split(',') ?? null;
const out = (line: string) => process.stdout.write(line + '\n');
const at16 = (ms: number) => new Date(ms).toISOString().slice(5, 16);
if (v.trace !== undefined && !fleet.devices.some((d) => d.id === v.trace)) throw new Error(`--trace: no device ${v.trace} in this fleet`);
for (const d of fleet.devices) {
  if (v.trace !== undefined && d.id !== v.trace) continue;
  if (v.trace !== undefined) for (const f of d.faults) out(`truth ${JSON.stringify(groundTruthRow(d, f))}`);
  const ext = new Map<string, { clean: number; cleanMin: number; fault: Map<string, number>; faultMin: Map<string, number> }>();
  // repairs due on this device (fault code → when the technician comes), its active diagnoses (fault code → id) and the repairs awaiting their clear (by diagnosis id)
  const due = new Map<string, number>();
  const activeId = new Map<string, string>();
  const open = new Map<string, Repair>();
  const recalibrate = new Set<string>();
  while (!d.finished) {
    d.step();
    for (const [code, at] of due) {
      if (d.lastTs < at) continue;
      due.delete(code);
      const f = d.remedy(code, 'technician');
      if (!f) continue;
      if (v.trace !== undefined) out(`REPAIR ${code} at ${at16(f.fixedTs!)}`);
      // the diagnosis active for the fault when it is fixed (it may have cleared and been raised again since the first)
      const id = activeId.get(code);
      const rep: Repair = { device: d.id, fault: code, fixedAt: f.fixedTs!, clearedAt: id === undefined ? f.fixedTs! : null, clearedBeforeFix: id === undefined };
      repairs.push(rep);
      if (id !== undefined) open.set(id, rep);
      if (recalibrateOnRepair !== undefined) recalibrate.add(code);
    }
    for (const ev of d.events) engine.event({ deviceId: d.id, type: d.type, ts: ev.ts, kind: ev.kind, code: ev.code ?? null }, wallNow);
    d.events.length = 0;
    const s = d.sample();
    engine.sample({ deviceId: d.id, type: d.type, model: d.modelName, site: null, ts: s.ts, metrics: s.metrics }, undefined, wallNow);
    samples++;
    // the repair's sample is the last one of the old normal: its diagnoses clear at it, the next one starts afresh
    if (recalibrate.size) engine.forget(d.id, { resolve: true, faults: recalibrateOnRepair === 'fault' ? recalibrate : undefined }, wallNow);
    recalibrate.clear();
    // a device recalibrated whole at this sample has no state until its next one
    const traceState = engine.states.get(d.id);
    if (v.trace !== undefined && traceState) {
      const state = traceState;
      const L = state.layout;
      const parts = L.rules
        .filter((r) => !traced || traced.includes(r.rule.id) || traced.includes(r.rule.fault))
        .map((r) => {
          const ev = Object.entries(evidence(r.condition, { state, ts: s.ts })).map(([k, x]) => `${k}=${x === null ? '-' : +x.toFixed(3)}`);
          const mask = state.u32[L.u32.mask + r.index]!.toString(2).slice(-r.rule.trigger.n).padStart(r.rule.trigger.n, '0');
          return `${r.rule.id} [${mask} streak ${state.u32[L.u32.streak + r.index]}${state.u8[L.u8.active + r.index] ? ' active' : ''}] ${ev.join(' ')}`;
        });
      out(`${at16(s.ts)} ${parts.join(' | ')}`);
    }
    if (repairAfterMs !== null || v.trace !== undefined) {
      for (const it of engine.drainIntents()) {
        if (v.trace !== undefined) out(it.kind === 'clear' ? `CLEAR ${it.fault} at ${at16(it.at)}` : `RAISE ${it.diagnosis.fault} at ${it.diagnosis.raisedAt.slice(5, 16)} by ${it.diagnosis.evidence.rules[0]?.ruleId ?? 'model'}`);
        if (repairAfterMs === null) continue;
        if (it.kind === 'clear') {
          const rep = open.get(it.id);
          if (rep) rep.clearedAt = it.at;
          open.delete(it.id);
          if (activeId.get(it.fault) === it.id) activeId.delete(it.fault);
          continue;
        }
        raised.push(it.diagnosis);
        activeId.set(it.diagnosis.fault, it.diagnosis.id);
        const at = Date.parse(it.diagnosis.raisedAt);
        const fault = d.faults.find((f) => f.code === it.diagnosis.fault && f.fixedTs === null && f.onsetTs <= at);
        if (fault && !due.has(fault.code)) due.set(fault.code, at + repairAfterMs);
      }
    }
    const state = engine.states.get(d.id);
    if (!v.probe || !state) continue;
    const active = d.faults.filter((f) => s.ts >= f.onsetTs).map((f) => f.code);
    for (const r of state.layout.rules) {
      if (r.presenceAfterMs !== null) continue;
      for (const [k, x] of Object.entries(evidence(r.condition, { state, ts: s.ts }))) {
        if (x === null || !/:(deviation|ratio|mean)$|^[^:]*$/.test(k)) continue; // name#2:… is another average of the same operand
        const key = `${r.rule.id} ${k}`;
        let e = ext.get(key);
        if (!e) ext.set(key, (e = { clean: -Infinity, cleanMin: Infinity, fault: new Map(), faultMin: new Map() }));
        if (active.length === 0) {
          e.clean = Math.max(e.clean, x);
          e.cleanMin = Math.min(e.cleanMin, x);
        }
        // a device with one fault only: several at once blur which one moved the value
        if (active.length === 1 && d.faults.length === 1) {
          const c = active[0]!;
          e.fault.set(c, Math.max(e.fault.get(c) ?? -Infinity, x));
          e.faultMin.set(c, Math.min(e.faultMin.get(c) ?? Infinity, x));
        }
      }
    }
  }
  for (const [key, e] of ext) {
    if (e.clean > -Infinity) push(clean, key, e.clean);
    if (e.cleanMin < Infinity) push(cleanMin, key, e.cleanMin);
    for (const [c, x] of e.fault) push(inFault, `${key} ${c}`, x);
    for (const [c, x] of e.faultMin) push(inFaultMin, `${key} ${c}`, x);
  }
}
if (v.trace !== undefined) process.exit(0);
engine.checkPresence(wallNow);
for (const i of engine.drainIntents()) if (i.kind === 'raise') raised.push(i.diagnosis);
for (const d of raised) diagnoses.push({ deviceId: d.deviceId, fault: d.fault, raisedAt: d.raisedAt });
// the ground truth as the run ended: a repaired fault carries its fix
for (const d of fleet.devices) for (const f of d.faults) truth.push(groundTruthRow(d, f));
const truthOf = new Map<string, TruthFault[]>();
for (const t of truth) (truthOf.get(t.device) ?? truthOf.set(t.device, []).get(t.device)!).push(t);
/** Whether a diagnosis matches none of its device's faults (the scorecard's matching). */
const isFalse = (x: Diagnosis): boolean => {
  const at = Date.parse(x.raisedAt);
  return !(truthOf.get(x.deviceId) ?? []).some((t) => t.faultCode === x.fault && at >= Date.parse(t.onset) && at <= (t.fixedAt === null ? startTs + durationMs : Math.min(Date.parse(t.fixedAt), startTs + durationMs)) + GRACE_MS);
};
const context = (device: string): string =>
  (truthOf.get(device) ?? []).map((t) => `${t.faultCode} ${t.onset.slice(5, 13)}→${t.functionalFailure.slice(5, 13)}${t.fixedAt === null ? '' : ` fixed ${t.fixedAt.slice(5, 13)}`}`).join('; ') || 'fault-free';

const card = computeScorecard({
  truth,
  diagnoses,
  faultCodes: FAULTS.filter((f) => types.includes(f.deviceType)).map((f) => f.code),
  runStartTs: startTs,
  runEndTs: startTs + durationMs,
  devices: fleet.devices.length,
  graceMs: GRACE_MS,
});
process.stdout.write(formatScorecard(card) + '\n');
process.stdout.write(`${fleet.devices.length} devices, ${samples} samples, ${diagnoses.length} diagnoses, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

if (repairAfterMs !== null) {
  const h = (ms: number) => (ms / 3_600_000).toFixed(1);
  const q3 = (xs: number[]) => (xs.length ? [0.5, 0.9, 1].map((p) => h(quantile(xs, p)!)).join(' / ') : '-');
  const endTs = startTs + durationMs;
  const settled = repairs.filter((r) => endTs - r.fixedAt >= SETTLE_MS);
  const recent = repairs.filter((r) => endTs - r.fixedAt < SETTLE_MS);
  // a diagnosis already cleared when its fault was fixed tells nothing about clearing after a repair
  const line = (all: Repair[]) => {
    const rs = all.filter((r) => !r.clearedBeforeFix);
    const ok = rs.filter((r) => r.clearedAt !== null);
    return `${String(rs.length).padStart(3)} repaired, ${String(ok.length).padStart(3)} cleared, fix → clear median / p90 / max h ${q3(ok.map((r) => r.clearedAt! - r.fixedAt))}`;
  };
  process.stdout.write(`\nrepairs ${v['repair-after']} after the first true diagnosis: ${repairs.length} (${repairs.filter((r) => r.clearedBeforeFix).length} already cleared when fixed)\n`);
  process.stdout.write(`fixed ${h(SETTLE_MS)} h or more before the end: ${line(settled)}\n`);
  const byCode = new Map<string, Repair[]>();
  for (const r of settled) (byCode.get(r.fault) ?? byCode.set(r.fault, []).get(r.fault)!).push(r);
  for (const [code, rs] of [...byCode].sort()) process.stdout.write(`  ${code.padEnd(28)} ${line(rs)}\n`);
  for (const r of settled.filter((x) => x.clearedAt === null)) {
    process.stdout.write(`  still active: ${r.fault} ${r.device}, fixed ${at16(r.fixedAt)}, ${h(endTs - r.fixedAt)} h before the end\n`);
  }
  process.stdout.write(`fixed in the last ${h(SETTLE_MS)} h: ${line(recent)}\n`);
  // raised on a repaired device after its repair, with a catalogued code that matches none of its faults then (the repaired one included)
  const firstFix = new Map<string, number>();
  for (const r of repairs) firstFix.set(r.device, Math.min(firstFix.get(r.device) ?? Infinity, r.fixedAt));
  // codes outside the catalogue (offline, a controller trip) are not scored here either
  const scored = new Set(FAULTS.map((f) => f.code));
  const after = raised.filter((x) => scored.has(x.fault) && Date.parse(x.raisedAt) > (firstFix.get(x.deviceId) ?? Infinity) && isFalse(x));
  process.stdout.write(`false diagnoses on a device after its repair: ${after.length}\n`);
  for (const x of after) process.stdout.write(`  ${x.fault} ${x.deviceId} ${x.raisedAt.slice(5, 16)} [${context(x.deviceId)}] ${JSON.stringify(x.evidence.rules[0]?.values ?? {})}\n`);
}

if (v.why) {
  // every false diagnosis, with what was really going on on that device
  for (const d of raised) {
    if (d.fault === 'offline' || !isFalse(d)) continue;
    process.stdout.write(`false ${d.fault} ${d.deviceId} ${d.raisedAt.slice(5, 16)} [${context(d.deviceId)}] ${JSON.stringify(d.evidence.rules[0]?.values ?? {})}\n`);
  }
}

if (v.probe) {
  const q = (xs: number[]) => [0, 0.1, 0.5, 0.9, 0.99, 1].map((p) => quantile(xs, p)!.toFixed(3).padStart(8)).join(' ');
  const neg = (xs: number[]) => xs.map((x) => -x);
  for (const [title, cl, fa, sign] of [['maxima', clean, inFault, 1], ['minima (negated: p99 = the 1 % lowest)', cleanMin, inFaultMin, -1]] as const) {
    process.stdout.write(`\nper-device ${title.padEnd(60)}    n      min      p10      p50      p90      p99      max\n`);
    for (const [key, xs] of [...cl].sort()) {
      process.stdout.write(`${(key + ' clean').padEnd(70)} ${String(xs.length).padStart(4)} ${q(sign > 0 ? xs : neg(xs))}\n`);
      for (const [fk, fx] of [...fa].filter(([k]) => k.startsWith(key + ' ')).sort()) {
        process.stdout.write(`${('   ' + fk.slice(key.length + 1)).padEnd(70)} ${String(fx.length).padStart(4)} ${q(sign > 0 ? fx : neg(fx))}\n`);
      }
    }
  }
}
