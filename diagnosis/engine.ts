/**
 * The synchronous core of the diagnosis engine: per-device state, event-time
 * windows, k-of-n decisions, and the active faults that keep a diagnosis from
 * being raised twice. It does no I/O; the service feeds it micro-batches and
 * persists what it decides (drainIntents).
 */
import type { Diagnosis } from '../core/domain/diagnosis.ts';
import type { MetricValue } from '../core/domain/telemetry.ts';
import { MODEL_ONLY_FAULT, modelDiagnosis, modelFault, popcount, ruleDiagnosis } from './decide.ts';
import { freshAlarm, type AnomalyResult } from './model/types.ts';
import { F64, type Layout } from './rules/compile.ts';
import { feedEvent, reported, test } from './rules/evaluate.ts';
import { releaseModelSlot, resetFaultRules } from './rules/reset.ts';
import { ActiveFaults, type ActiveFault } from './active-faults.ts';
import { arrivesLive, notePacing, Replays, silence } from './presence.ts';
import { checkpointBytes, DeviceState, FLAG_CLOCK_LAG, FLAG_LIVE, FLAG_RESTORED, FLAG_SILENCE_RESOLVED, layoutKey } from './windows/device-state.ts';

export type Intent = { kind: 'raise'; diagnosis: Diagnosis } | { kind: 'clear'; id: string; deviceId: string; fault: string; at: number };

export interface EngineOptions {
  /** A sample more than this behind wall-clock time (or behind the device's own clock lag: presence.ts arrivesLive) marks its device as replaying. */
  liveLagMs: number;
  /**
   * A replaying device that has sent nothing for this long (wall clock), or
   * for four of its usual gaps between arrivals if that is longer (at most
   * six times this), has stopped and no longer holds the replay watermark
   * back. Default 5 min: a simulator or replay that pushes a large fleet as
   * fast as ingest acknowledges can keep one device's next batch waiting for
   * a minute or more.
   */
  replayIdleMs?: number;
  /** Called when a repair releases a device's model slot (its model diagnosis resolved): the scorer drops a held alarm. */
  onModelRelease?: (deviceId: string) => void;
}

export interface SampleInput {
  deviceId: string;
  type: string;
  model: string | null;
  site: string | null;
  ts: number;
  metrics: Readonly<Record<string, MetricValue>>;
}

export class Engine {
  readonly states = new Map<string, DeviceState>();
  private readonly layouts = new Map<string, Layout | null>();
  private readonly active = new ActiveFaults();
  private intents: Intent[] = [];
  /** Devices whose state changed since the last takeDirty() (checkpoints). */
  private dirty = new Set<string>();
  /** Which replay each replayed sample belongs to, and how far each has come (presence.ts). */
  private readonly replays: Replays;
  late = 0;
  /** Wall-clock time the service started (NaN: not told): a live device resumed from its checkpoint and silent since is silent from then. */
  startedAt = NaN;

  constructor(private readonly opts: EngineOptions) {
    this.replays = new Replays(opts.replayIdleMs ?? 5 * 60_000);
  }

  hasLayout(type: string): boolean {
    return this.layouts.has(type);
  }

  layout(type: string): Layout | null | undefined {
    return this.layouts.get(type);
  }

  /**
   * Installs (or replaces) a type's compiled rules. Its devices' rules start afresh, but what says whether a
   * device is sending (its last sample, its pacing, when each metric last reported) carries over, so one that
   * is silent still goes offline and a sensor that is missing stays missing.
   * An active fault of the type that no rule names any more is cleared, whether or not its device has sent
   * since the start (the model's own diagnoses stay with the model).
   */
  setLayout(type: string, layout: Layout | null, wallNow: number): void {
    const replacing = this.layouts.has(type);
    this.layouts.set(type, layout);
    // first the faults no rule names: as of the device's last sample, read before its state goes
    const named = new Set(layout?.rules.map((r) => r.rule.fault) ?? []);
    for (const [deviceId, af] of this.active.ofType(type)) {
      if (named.has(af.fault) || (af.model && af.rules.size === 0)) continue;
      const lastTs = this.states.get(deviceId)?.lastTs ?? NaN;
      this.clearFault(deviceId, af, Number.isNaN(lastTs) ? wallNow : lastTs);
    }
    if (!replacing) return;
    for (const [id, state] of this.states) {
      if (state.layout.type !== type) continue;
      if (!layout) {
        this.states.delete(id);
        continue;
      }
      this.afresh(state, layout);
    }
  }

  /**
   * A device's rules start afresh (a new rule set, a whole-device recalibration), but what says whether it is
   * sending carries over — its last sample, its pacing, when each metric last reported — so one that is silent
   * still goes offline and a sensor that is missing stays missing.
   */
  private afresh(state: DeviceState, layout: Layout): void {
    const fresh = DeviceState.afresh(state, layout);
    this.states.set(state.id, fresh);
    this.active.bind(fresh);
    this.dirty.add(state.id);
  }

  /** Active diagnoses from the store (on start), so a restart does not raise them again. */
  restoreActive(items: readonly Diagnosis[]): void {
    this.active.restore(items);
  }

  activeCount(): number {
    return this.active.count();
  }

  drainIntents(): Intent[] {
    const out = this.intents;
    this.intents = [];
    return out;
  }

  /** Devices whose state changed since the last call, for a checkpoint; markDirty() puts back those it could not save. */
  takeDirty(): string[] {
    const out = [...this.dirty];
    this.dirty.clear();
    return out;
  }

  markDirty(ids: Iterable<string>): void {
    for (const id of ids) if (this.states.has(id)) this.dirty.add(id);
  }

  /** A device's state as a checkpoint: the bytes and the key of the layout they belong to. */
  snapshot(deviceId: string): { key: string; state: Uint8Array } | null {
    const s = this.states.get(deviceId);
    return s ? { key: layoutKey(s.layout), state: s.toBytes() } : null;
  }

  /**
   * Resumes a device from a checkpoint taken under the same rule set (false, and nothing changes,
   * when its type's rules have changed since, or the device already runs). Which faults are active
   * comes from the store (restoreActive), not from the checkpoint: a diagnosis cleared meanwhile
   * stays cleared. Wall-clock pacing starts afresh, and the first sample does not count the time
   * since the checkpoint as a gap in the device's data: it spans the service's own downtime.
   */
  restore(
    deviceId: string,
    type: string,
    key: string,
    bytes: Uint8Array,
    replace = false,
    meta: { model: string | null; site: string | null } = { model: null, site: null },
    liveOnly = false,
  ): boolean {
    const layout = this.layouts.get(type);
    const current = layout ? checkpointBytes(layout, key, bytes) : null;
    if ((!replace && this.states.has(deviceId)) || !layout || !current) return false;
    const state = DeviceState.fromBytes(deviceId, layout, meta.model, meta.site, current);
    if (!state || (liveOnly && !(state.u8[layout.u8.flags]! & FLAG_LIVE))) return false;
    state.resumed(this.states.get(deviceId), liveOnly, this.startedAt);
    this.states.set(deviceId, state);
    this.active.bind(state);
    // the model's last anomalous result (its evidence and classified fault) is not in the checkpoint: its open window starts again
    const model = layout.slots - 1;
    state.u8[layout.u8.evals + model] = 0;
    state.u8[layout.u8.hits + model] = 0;
    return true;
  }

  /**
   * A device whose checkpoint was taken under other rules (restore refuses it) still says in its fixed header
   * when it last sent, and whether it was live then (its sample arrived within liveLagMs of its time). A live one
   * starts its rules afresh but, as one restored at start, is silent from the service's start, so it goes offline
   * if it does not send. False, and nothing changes, otherwise.
   */
  resumePresence(deviceId: string, type: string, bytes: Uint8Array, meta: { model: string | null; site: string | null }): boolean {
    const layout = this.layouts.get(type);
    if (!layout || this.states.has(deviceId)) return false;
    const state = DeviceState.liveFromHeader(deviceId, layout, meta, bytes, this.opts.liveLagMs, this.startedAt);
    if (!state) return false;
    this.states.set(deviceId, state);
    this.active.bind(state);
    return true;
  }

  /**
   * Forgets what the device's rules learnt (baselines, averages, windows, k-of-n evidence). The whole
   * device: its next sample starts afresh. Only `faults`: the rules of those faults relearn (their
   * averages and baselines, latches, hold timers, k-of-n masks), the others keep theirs. With `resolve`
   * the device's active diagnoses (only those of `faults`, when given) clear now: at wall-clock time for
   * a live device (or one not seen since the start), at the event time of its last sample for a replayed
   * one. Otherwise they stay active and clear as their rules find the new normal. Returns the ids of the
   * diagnoses it cleared.
   */
  forget(deviceId: string, opts: { resolve: boolean; faults?: ReadonlySet<string> }, wallNow: number): string[] {
    const state = this.states.get(deviceId);
    const { faults } = opts;
    if (faults) {
      if (state) {
        // resolved, the repaired faults' rules also stop holding
        resetFaultRules(state, faults, opts.resolve);
        this.dirty.add(deviceId);
      }
    } else if (state && !opts.resolve) this.afresh(state, state.layout);
    if (!opts.resolve) return [];
    // replayed: fed since the start and not live (a device resumed from its checkpoint and not fed yet counts as live)
    const replayed = state && !(state.u8[state.layout.u8.flags]! & (FLAG_LIVE | FLAG_RESTORED)) && !Number.isNaN(state.lastTs);
    const at = replayed ? state.lastTs : wallNow;
    const all = [...(this.active.of(deviceId)?.values() ?? [])];
    const cleared = all.filter((af) => !faults || faults.has(af.fault));
    for (const af of cleared) this.clearFault(deviceId, af, at);
    // the whole device afresh once its diagnoses are cleared, so its new state holds none of them
    if (!faults && state) this.afresh(state, state.layout);
    // an offline diagnosis resolved (the device is silent) is not raised again, at a time before its clear, until it sends
    const now = this.states.get(deviceId);
    if (now && cleared.some((af) => now.layout.presenceRules.some((r) => r.rule.fault === af.fault))) {
      now.u8[now.layout.u8.flags] = now.u8[now.layout.u8.flags]! | FLAG_SILENCE_RESOLVED;
    }
    // the model's slot stops holding once no fault left is the model's (also when it held none: its flag was
    // swallowed while another fault was active)
    if (faults && state && cleared.length && !all.some((af) => af.model && !cleared.includes(af))) {
      releaseModelSlot(state);
      this.opts.onModelRelease?.(deviceId);
    }
    return cleared.map((af) => af.id);
  }

  private stateFor(s: { deviceId: string; type: string; model: string | null; site: string | null }): DeviceState | null {
    let state = this.states.get(s.deviceId);
    if (state) return state;
    const layout = this.layouts.get(s.type);
    if (!layout) return null;
    state = new DeviceState(s.deviceId, layout, s.model, s.site);
    this.states.set(s.deviceId, state);
    this.active.bind(state);
    return state;
  }

  /** One accepted sample (and the model's verdict on it, when scored). */
  sample(p: SampleInput, anomaly: AnomalyResult | undefined, wallNow: number): void {
    const state = this.stateFor(p);
    if (!state) return;
    const L = state.layout;
    const prev = state.lastTs;
    if (p.ts < prev) {
      // out of order: event-time windows only move forward
      this.late++;
      return;
    }
    this.dirty.add(p.deviceId);
    const restored = (state.u8[L.u8.flags]! & FLAG_RESTORED) !== 0;
    // the silence before this sample was resolved as known: not a gap to raise
    const silenceResolved = (state.u8[L.u8.flags]! & FLAG_SILENCE_RESOLVED) !== 0;
    const wasLive = (state.u8[L.u8.flags]! & FLAG_LIVE) !== 0;
    const live = arrivesLive(state, p.ts, wallNow, this.opts.liveLagMs);
    state.u8[L.u8.flags] = (live ? FLAG_LIVE : 0) | (state.u8[L.u8.flags]! & FLAG_CLOCK_LAG);
    notePacing(state, wallNow, live, wasLive);
    if (!live) this.replays.note(state, p.ts, wallNow);
    // a gap in the stream itself: judged on event time, the same live or replayed
    if (L.presenceRules.length && !Number.isNaN(prev) && !restored && !silenceResolved) this.raiseSilences(state, prev, p.ts - prev, wallNow);
    this.advance(state, p.ts, wallNow);
    state.record(p.ts, p.metrics);
    state.f64[F64.lastTs] = p.ts;
    if (anomaly) {
      this.observe(state, L.slots - 1, true, anomaly.anomaly);
      state.f32[L.f32.score] = anomaly.anomalyScore;
      state.f32[L.f32.score + 1] = anomaly.threshold;
      if (freshAlarm(anomaly)) state.lastAnomaly = anomaly;
    }
    this.evaluate(state, p.ts);
  }

  /** A device event (error code, state change); the device's state must exist to judge it. */
  event(e: { deviceId: string; type: string; ts: number; kind: string; code: string | null }, wallNow: number): void {
    const state = this.stateFor({ ...e, model: null, site: null });
    if (!state) return;
    const L = state.layout;
    if (!L.hasErrorCodes) return;
    this.dirty.add(e.deviceId);
    // events ahead of or behind the samples: see recordEvent (rules/error-code.ts)
    for (const r of L.rules) {
      feedEvent(r.condition, state, e.ts, e.kind, e.code);
      if (r.when) feedEvent(r.when, state, e.ts, e.kind, e.code);
    }
    // An event does not move the sample clock: a device may publish an event
    // before the batch of stored samples that precede it, and those samples
    // must not then count as out of order. Error-code rules are judged with
    // the next sample.
    void wallNow;
  }

  /** Devices that went silent: against wall-clock time when live, against the watermark of their own replay (presence.ts) when replaying. */
  checkPresence(wallNow: number): void {
    const watermark = this.replays.watermarks(this.states.values(), wallNow);
    for (const state of this.states.values()) {
      const s = silence(state, watermark(state), wallNow);
      if (s) this.raiseSilences(state, s.from, s.gapMs, wallNow);
    }
  }

  /** The offline rules a silence of gapMs from `from` (the last sample's time, or its arrival for a live device) trips, raised as of when each began to count (from + afterMs). */
  private raiseSilences(state: DeviceState, from: number, gapMs: number, wallNow: number): void {
    const L = state.layout;
    for (const r of L.presenceRules) {
      if (state.u8[L.u8.active + r.index] === 0 && gapMs > r.presenceAfterMs!) this.raise(state, r.index, from + r.presenceAfterMs!, wallNow, { gapMs });
    }
  }

  private evaluate(state: DeviceState, ts: number): void {
    const ctx = { state, ts };
    for (const r of state.layout.rules) {
      const gate = r.when ? test(r.when, ctx) && reported(r.when, ctx) : true;
      const hit = test(r.condition, ctx);
      this.observe(state, r.index, gate, hit);
    }
  }

  private observe(state: DeviceState, slot: number, gate: boolean, hit: boolean): void {
    if (!gate) return;
    const L = state.layout;
    const e = L.u8.evals + slot;
    if (state.u8[e]! < 255) {
      state.u8[e] = state.u8[e]! + 1;
      if (hit) state.u8[L.u8.hits + slot] = state.u8[L.u8.hits + slot]! + 1;
    } else if (hit && state.u8[L.u8.hits + slot]! < 255) state.u8[L.u8.hits + slot] = state.u8[L.u8.hits + slot]! + 1;
  }

  /** Closes every window that ended before ts (in event time) and decides on each. */
  private advance(state: DeviceState, ts: number, wallNow: number): void {
    const L = state.layout;
    const W = L.ruleSet.windowMs;
    const start = Math.floor(ts / W) * W;
    const current = state.f64[F64.windowStart]!;
    if (Number.isNaN(current)) {
      state.f64[F64.windowStart] = start;
      return;
    }
    if (start <= current) return;
    // windows without samples carry no evidence either way: they neither shift the k-of-n mask nor count toward clearing
    this.closeWindow(state, current + W, wallNow);
    state.f64[F64.windowStart] = start;
  }

  private closeWindow(state: DeviceState, end: number, wallNow: number): void {
    const L = state.layout;
    for (let s = 0; s < L.slots; s++) {
      const evals = state.u8[L.u8.evals + s]!;
      const hits = state.u8[L.u8.hits + s]!;
      state.u8[L.u8.evals + s] = 0;
      state.u8[L.u8.hits + s] = 0;
      // k of the last n windows that had evaluations (a gated rule's closed gate is no evidence)
      if (evals === 0) continue;
      const abnormal = hits * 2 >= evals;
      state.u32[L.u32.mask + s] = ((state.u32[L.u32.mask + s]! << 1) | (abnormal ? 1 : 0)) >>> 0;
      const streak = abnormal ? 0 : state.u32[L.u32.streak + s]! + 1;
      state.u32[L.u32.streak + s] = streak;
      const rule = L.rules[s];
      const t = rule ? rule.rule.trigger : L.ruleSet.model;
      const inactive = state.u8[L.u8.active + s] === 0;
      // k of n: needed to raise, or (abnormal while active) to restart the normal time
      const sustained = (inactive || abnormal) && popcount(state.u32[L.u32.mask + s]! & L.nMasks[s]!) >= t.k;
      // the normal time behind clearAfterMs restarts only when the condition is back for k of n windows:
      // one odd window on a repaired machine must not hold its diagnosis open for ever
      const since = L.f64.normalSince + s;
      if (abnormal && sustained) state.f64[since] = NaN;
      else if (!abnormal && Number.isNaN(state.f64[since]!)) state.f64[since] = end - L.ruleSet.windowMs;
      if (inactive) {
        // a bare offline rule is raised by the presence check, never by windows
        if (rule?.presenceAfterMs == null && sustained) this.raise(state, s, end, wallNow);
      } else if (streak >= t.clearAfterWindows && end - state.f64[since]! >= (t.clearAfterMs ?? 0)) this.clear(state, s, end);
    }
  }

  private raise(state: DeviceState, slot: number, at: number, wallNow: number, extra?: Record<string, number | null>): void {
    const L = state.layout;
    state.u8[L.u8.active + slot] = 1;
    // the open window's samples came before the raise: they are no evidence of recovery
    state.resetSlot(slot);
    this.dirty.add(state.id);
    const faults = this.active.forDevice(state.id);
    const rule = L.rules[slot];
    if (!rule) {
      const fault = modelFault(state);
      const af = faults.get(fault);
      if (af) af.model = true;
      else if (L.ruleSet.model.raiseAlone && (fault !== MODEL_ONLY_FAULT || faults.size === 0)) {
        const d = modelDiagnosis(state, fault, at, wallNow);
        faults.set(fault, { id: d.id, fault, type: L.type, rules: new Set(), model: true });
        this.intents.push({ kind: 'raise', diagnosis: d });
      }
      return;
    }
    const af = faults.get(rule.rule.fault);
    if (af) {
      af.rules.add(slot);
      return;
    }
    const d = ruleDiagnosis(state, rule, at, wallNow, extra);
    faults.set(d.fault, { id: d.id, fault: d.fault, type: L.type, rules: new Set([slot]), model: false });
    this.intents.push({ kind: 'raise', diagnosis: d });
  }

  private clear(state: DeviceState, slot: number, at: number): void {
    const L = state.layout;
    state.u8[L.u8.active + slot] = 0;
    this.dirty.add(state.id);
    const faults = this.active.of(state.id);
    const rule = L.rules[slot];
    if (!rule) state.lastAnomaly = undefined;
    if (!faults) return;
    for (const af of [...faults.values()]) {
      if (rule ? af.fault === rule.rule.fault : af.model) {
        if (rule) af.rules.delete(slot);
        else af.model = false;
        if (af.rules.size === 0 && !af.model) this.clearFault(state.id, af, at);
      }
    }
  }

  private clearFault(deviceId: string, af: ActiveFault, at: number): void {
    this.active.remove(deviceId, af.fault);
    this.intents.push({ kind: 'clear', id: af.id, deviceId, fault: af.fault, at });
  }
}
