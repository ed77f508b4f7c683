/**
 * The diagnosis service. Consumes ingest's accepted samples and events
 * in-process, queues them, and works in micro-batches on a short timer:
 * score (when a model scorer is injected), run the engine on event time,
 * persist raised/cleared diagnoses, publish them on the bus, and write the
 * model's per-sample anomaly score back as telemetry.
 */
import type { Clock } from '../core/clock.ts';
import type { NewDeviceEvent } from '../core/domain/event.ts';
import type { RuleSet } from '../core/domain/rule.ts';
import type { OutOfRangeSample, Point } from '../core/domain/telemetry.ts';
import type { Logger } from '../core/logger.ts';
import type { Metrics } from '../core/metrics.ts';
import type { DiagnosisBus, OpsStore, Service, TelemetryStore } from '../core/ports.ts';
import { createDiagnosisBus } from './bus.ts';
import { createBacklog } from './backlog.ts';
import { createCheckpoints } from './checkpoints.ts';
import { Engine, type Intent } from './engine.ts';
import { createRecalibrations } from './recalibrations.ts';
import type { AnomalyResult, ModelScorer } from './model/types.ts';
import { loadRuleSetLayout } from './rules/load.ts';
import { loadShippedRuleSets } from './rules/shipped.ts';
import { DeviceState } from './windows/device-state.ts';

export interface DiagnosisOptions {
  /** Micro-batch delay after the first queued sample. */
  tickMs: number;
  /** How often silent devices are looked for. */
  presenceCheckMs: number;
  /** How often custom rule sets are checked for changes (reload without restart), and recalibration requests for new ones. */
  rulesPollMs: number;
  /** Samples further than this behind wall-clock time mark their device as replaying. */
  liveLagMs: number;
  /** A replaying device quiet this long (wall clock) has stopped: see EngineOptions.replayIdleMs. */
  replayIdleMs?: number;
  /** Past this many queued samples new ones are dropped (and counted), never blocking ingest. */
  maxQueue: number;
  /**
   * How often the state of devices that changed is saved to the ops store (and always at stop), so a
   * restart resumes their learnt baselines, windows and model calibration instead of relearning them.
   * 0: only at stop.
   */
  checkpointMs: number;
  /** Rule sets shipped with the code; read from diagnosis/rules/sets when omitted. */
  shippedRuleSets?: Map<string, RuleSet>;
}

export interface DiagnosisDeps {
  logger: Logger;
  clock: Clock;
  opsStore: OpsStore;
  telemetryStore: Pick<TelemetryStore, 'write'>;
  /** Ingest, or anything with its listener API. */
  source: {
    /** The listener returns a promise while the engine's backlog is full: the source holds acknowledgements until it resolves. */
    onAccepted(l: (points: readonly Point[], opts?: { canWait: boolean }) => void | Promise<void>): () => void;
    onEvent?(l: (e: NewDeviceEvent) => void): () => void;
    /** Samples dead-lettered for a reading outside its declared range: each still gets an anomaly decision. */
    onOutOfRange?(l: (s: OutOfRangeSample) => void): () => void;
  };
  scorer?: ModelScorer | undefined;
  metrics?: Pick<Metrics, 'diagnosesRaised' | 'diagnosesCleared' | 'diagnosisQueue' | 'diagnosisDevices' | 'diagnosisLate' | 'diagnosisDropped' | 'diagnosisBackpressureWaits'>;
  options?: Partial<DiagnosisOptions>;
}

export interface Diagnosis extends Service {
  bus: DiagnosisBus;
  stats(): DiagnosisStats;
  /** Processes everything queued so far (tests, shutdown). */
  flush(): Promise<void>;
  /** Saves changed devices' state now instead of at the next checkpoint. */
  checkpoint(): Promise<void>;
  /** Picks up changed rule sets now instead of at the next poll. */
  reloadRules(): Promise<void>;
  /** Applies pending recalibration requests now instead of at the next poll. */
  applyRecalibrations(): Promise<void>;
}

export interface DiagnosisStats {
  devices: number;
  queued: number;
  samples: number;
  events: number;
  late: number;
  dropped: number;
  raised: number;
  cleared: number;
  active: number;
  writeBacks: number;
  writeBackErrors: number;
  /** Devices resumed from a checkpoint, and device states saved. */
  restored: number;
  checkpointed: number;
  checkpointErrors: number;
  /** Typed-array bytes per device, by type. */
  stateBytes: Record<string, number>;
}

const WRITE_CHUNK = 5000;
const MAX_PENDING = 200_000;
const CALIBRATING = 'calibrating';

export function createDiagnosis(deps: DiagnosisDeps): Diagnosis {
  const { clock, opsStore, scorer, metrics } = deps;
  const logger = deps.logger.child({ service: 'diagnosis' });
  const o: DiagnosisOptions = { tickMs: 20, presenceCheckMs: 5000, rulesPollMs: 5000, liveLagMs: 5 * 60_000, maxQueue: 500_000, checkpointMs: 60_000, ...deps.options };
  const bus = createDiagnosisBus(logger);
  const engine = new Engine({ liveLagMs: o.liveLagMs, replayIdleMs: o.replayIdleMs, onModelRelease: (id) => scorer?.clearAlarm?.(id) });
  const counts = { samples: 0, events: 0, dropped: 0, raised: 0, cleared: 0, writeBacks: 0, writeBackErrors: 0, outOfRange: 0 };
  let shipped = new Map<string, RuleSet>();
  let versions = new Map<string, string>();
  let lastDropLog = -Infinity;
  let pendingIntents: Intent[] = [];
  let writeBack: Point[] = [];
  let chain: Promise<void> = Promise.resolve();
  let tickTimer: NodeJS.Timeout | null = null;
  const timers: NodeJS.Timeout[] = [];
  const unsubscribe: Array<() => void> = [];
  let started = false;
  let stopping: Promise<void> | undefined;

  /** Everything that touches the engine runs one step at a time. */
  function serial(fn: () => Promise<void> | void): Promise<void> {
    chain = chain.then(fn).catch((err: unknown) => logger.error({ err }, 'diagnosis step failed'));
    return chain;
  }
  const checkpoints = createCheckpoints({ engine, scorer, opsStore, logger, serial });
  const recalibrations = createRecalibrations({ engine, scorer, checkpoints, opsStore, logger, clock, tick, persist, ensureLayout });

  function schedule(): void {
    if (tickTimer || stopping) return;
    tickTimer = setTimeout(() => {
      tickTimer = null;
      void serial(tick);
    }, o.tickMs);
  }

  const backlog = createBacklog({
    maxQueue: o.maxQueue,
    schedule,
    onHold: () => metrics?.diagnosisBackpressureWaits.inc(),
    onDrop: (dropped, waiting) => {
      counts.dropped += dropped;
      metrics?.diagnosisDropped.inc(dropped);
      if (clock.now() - lastDropLog > 10_000) {
        lastDropLog = clock.now();
        logger.warn({ dropped: counts.dropped, queued: waiting }, 'diagnosis backlog full: accepted samples dropped, they get no decision');
      }
    },
  });

  /**
   * A reading beyond what its type declares valid was dead-lettered, never stored or learnt from; the sample
   * still gets its decision where the type has an anomaly model: anomalous (no score: the model never saw it),
   * or no alarm while the device calibrates, as every sample then. Decided before the tick's accepted samples,
   * so that an accepted sample at the same time (a batch without times, all at its arrival) keeps its own
   * decision; one at the device's latest time is such a sample already judged, and wins too.
   */
  function decideOutOfRange(batch: readonly OutOfRangeSample[]): void {
    if (!scorer) return;
    for (const s of batch) {
      if (!scorer.hasModel(s.type) || writeBack.length >= MAX_PENDING || engine.states.get(s.deviceId)?.lastTs === s.ts) continue;
      const anomaly = scorer.calibrating?.(s.deviceId, s.type, s.ts) ? 0 : 1;
      writeBack.push({ deviceId: s.deviceId, type: s.type, model: s.model, site: s.site, ts: s.ts, metrics: { anomaly } });
      counts.outOfRange++;
    }
  }

  /**
   * Installs a type's rules when its first device shows up. A type with neither rules nor a model has none (null),
   * looked at again once it has a model: one registered since (model:train after its devices sent, --from-store).
   */
  async function ensureLayout(type: string): Promise<void> {
    const installed = () => engine.hasLayout(type) && (engine.layout(type) !== null || !scorer?.hasModel(type));
    if (installed()) return;
    // the registry first: until its first read the scorer knows only the shipped models
    await scorer?.refresh?.();
    const custom = await opsStore.getRuleSet(type);
    const layout = await loadRuleSetLayout({ type, custom: custom?.ruleSet, shipped: shipped.get(type), opsStore, hasModel: scorer?.hasModel(type) ?? false, logger });
    if (installed() || (layout === null && engine.hasLayout(type))) return;
    engine.setLayout(type, layout, clock.now());
    // the version loaded here is not a change for the next poll to load again (which would restart these devices' rules)
    if (custom) versions.set(type, custom.updatedAt);
    else versions.delete(type);
  }

  /** Model results per point: a result once the device is calibrated, CALIBRATING while it learns its normal. */
  async function score(batch: readonly Point[]): Promise<Array<AnomalyResult | typeof CALIBRATING | undefined>> {
    const out = new Array<AnomalyResult | typeof CALIBRATING | undefined>(batch.length);
    if (!scorer) return out;
    await scorer.refresh?.();
    const idx: number[] = [];
    for (let i = 0; i < batch.length; i++) if (scorer.hasModel(batch[i]!.type)) idx.push(i);
    if (idx.length === 0) return out;
    try {
      const results = await scorer.scoreBatch(idx.map((i) => ({ deviceId: batch[i]!.deviceId, type: batch[i]!.type, ts: batch[i]!.ts, metrics: batch[i]!.metrics })));
      idx.forEach((i, j) => {
        const r = results[j];
        if (r?.status === 'scored') out[i] = r.result;
        else if (r?.status === 'calibrating') out[i] = CALIBRATING;
      });
    } catch (err) {
      logger.error({ err }, 'model scoring failed; rules only for this batch');
    }
    return out;
  }

  async function tick(): Promise<void> {
    const { batch, events: evs, outOfRange: oor } = backlog.take(stopping !== undefined);
    if (batch.length || evs.length || oor.length) {
      const types = new Set<string>();
      for (const p of batch) types.add(p.type);
      for (const n of oor) types.add(n.type);
      for (const t of types) await ensureLayout(t);
      // each event's device type, looked up once per device (a device may send many events in one tick)
      const typeOf = new Map<string, string | undefined>();
      for (const { e } of evs) {
        if (typeOf.has(e.deviceId)) continue;
        const type = engine.states.get(e.deviceId)?.layout.type ?? (await opsStore.getDevice(e.deviceId))?.type;
        if (type) await ensureLayout(type);
        typeOf.set(e.deviceId, type);
      }
      // a device heard of only through an out-of-range notice resumes too: whether it had calibrated is in its checkpoint
      await checkpoints.resume(batch, typeOf, oor);
      const results = await score(batch);
      decideOutOfRange(oor);
      const now = clock.now();
      let k = 0;
      const feedEvents = (upTo: number) => {
        for (; k < evs.length && evs[k]!.at <= upTo; k++) {
          const { e } = evs[k]!;
          const type = typeOf.get(e.deviceId);
          if (!type) continue;
          engine.event({ deviceId: e.deviceId, type, ts: Date.parse(e.ts), kind: e.kind, code: e.code }, now);
          counts.events++;
        }
      };
      for (let i = 0; i < batch.length; i++) {
        feedEvents(i);
        const p = batch[i]!;
        const r = results[i];
        const scored = r === CALIBRATING ? undefined : r;
        engine.sample(p, scored, now);
        if (r && writeBack.length < MAX_PENDING) {
          // While a device calibrates there is no score, but every sample still gets its decision: no alarm.
          const metrics: Record<string, number> = scored ? { anomalyScore: scored.anomalyScore, anomaly: scored.anomaly ? 1 : 0 } : { anomaly: 0 };
          writeBack.push({ deviceId: p.deviceId, type: p.type, model: p.model, site: p.site, ts: p.ts, metrics });
        }
      }
      feedEvents(Infinity);
      counts.samples += batch.length;
    }
    await persist();
    await flushWriteBack();
    metrics?.diagnosisQueue.set(backlog.queued());
    metrics?.diagnosisDevices.set(engine.states.size);
    metrics?.diagnosisLate.set(engine.late);
  }

  /** Saves and publishes the engine's raises and clears; false when some could not be saved (kept for the next tick). */
  async function persist(): Promise<boolean> {
    const intents = [...pendingIntents, ...engine.drainIntents()];
    pendingIntents = [];
    if (intents.length === 0) return true;
    const raised = intents.flatMap((i) => (i.kind === 'raise' ? [i.diagnosis] : []));
    const clears = intents.flatMap((i) => (i.kind === 'clear' ? [{ id: i.id, clearedAt: i.at }] : []));
    try {
      await opsStore.addDiagnoses(raised);
    } catch (err) {
      logger.error({ err }, 'persisting diagnoses failed; retrying next tick');
      pendingIntents = intents.slice(-10_000);
      return false;
    }
    for (const d of raised) {
      counts.raised++;
      metrics?.diagnosesRaised.inc({ fault: d.fault, severity: d.severity });
      logger.info({ deviceId: d.deviceId, fault: d.fault, severity: d.severity, raisedAt: d.raisedAt }, 'diagnosis raised');
      bus.emit('raised', d);
    }
    let cleared;
    try {
      cleared = await opsStore.clearDiagnoses(clears);
    } catch (err) {
      logger.error({ err }, 'clearing diagnoses failed; retrying next tick');
      pendingIntents = intents.filter((i) => i.kind === 'clear');
      return false;
    }
    for (const d of cleared) {
      counts.cleared++;
      metrics?.diagnosesCleared.inc();
      bus.emit('cleared', d);
    }
    return true;
  }

  async function flushWriteBack(): Promise<void> {
    while (writeBack.length) {
      const chunk = writeBack.slice(0, WRITE_CHUNK);
      writeBack = writeBack.slice(WRITE_CHUNK);
      try {
        await deps.telemetryStore.write(chunk);
        counts.writeBacks += chunk.length;
      } catch (err) {
        counts.writeBackErrors += chunk.length;
        logger.error({ err, points: chunk.length }, 'anomaly write-back failed');
      }
    }
  }

  async function reloadChanged(): Promise<void> {
    const now = new Map((await opsStore.listRuleSetVersions()).map((v) => [v.type, v.updatedAt]));
    const changed = new Set<string>();
    for (const [t, v] of now) if (versions.get(t) !== v) changed.add(t);
    for (const t of versions.keys()) if (!now.has(t)) changed.add(t);
    versions = now;
    for (const t of changed) {
      if (!engine.hasLayout(t)) continue;
      const custom = await opsStore.getRuleSet(t);
      const layout = await loadRuleSetLayout({ type: t, custom: custom?.ruleSet, shipped: shipped.get(t), opsStore, hasModel: scorer?.hasModel(t) ?? false, logger });
      engine.setLayout(t, layout, clock.now());
      logger.info({ type: t, rules: layout?.rules.length ?? 0 }, 'rule set reloaded');
    }
    await persist();
  }

  let resuming: Promise<void> = Promise.resolve();

  return {
    bus,
    async start() {
      if (started) return;
      started = true;
      shipped = o.shippedRuleSets ?? loadShippedRuleSets();
      versions = new Map((await opsStore.listRuleSetVersions()).map((v) => [v.type, v.updatedAt]));
      engine.restoreActive(await opsStore.listDiagnoses({ status: 'active', limit: 1_000_000 }));
      engine.startedAt = clock.now();
      resuming = checkpoints.resumeLiveAtStart(ensureLayout, () => stopping !== undefined);
      unsubscribe.push(deps.source.onAccepted(backlog.accept));
      if (deps.source.onEvent) unsubscribe.push(deps.source.onEvent(backlog.event));
      if (deps.source.onOutOfRange) unsubscribe.push(deps.source.onOutOfRange(backlog.outOfRange));
      timers.push(setInterval(() => void serial(() => engine.checkPresence(clock.now())).then(() => serial(async () => void (await persist()))), o.presenceCheckMs));
      timers.push(setInterval(() => void serial(reloadChanged), o.rulesPollMs));
      timers.push(setInterval(() => void serial(recalibrations.apply), o.rulesPollMs));
      if (o.checkpointMs > 0) timers.push(setInterval(() => void serial(checkpoints.take), o.checkpointMs));
      for (const t of timers) t.unref();
      logger.info({ shippedRuleSets: [...shipped.keys()], scorer: scorer !== undefined }, 'diagnosis started');
    },
    async flush() {
      // samples held back by a full backlog are queued by a tick, and judged by the next
      do await serial(tick);
      while (backlog.pending());
    },
    checkpoint: () => checkpoints.now(),
    reloadRules: () => serial(reloadChanged),
    applyRecalibrations: () => serial(recalibrations.apply),
    stats() {
      const stateBytes: Record<string, number> = {};
      for (const s of engine.states.values()) stateBytes[s.layout.type] ??= DeviceState.bytes(s.layout);
      return { ...counts, ...checkpoints.stats(), devices: engine.states.size, queued: backlog.queued(), late: engine.late, active: engine.activeCount(), stateBytes };
    },
    stop() {
      stopping ??= (async () => {
        for (const u of unsubscribe) u();
        for (const t of timers) clearInterval(t);
        if (tickTimer) clearTimeout(tickTimer);
        tickTimer = null;
        if (started) {
          await resuming;
          await serial(tick);
          // samples still held back by a full backlog were acknowledged-to-be: judge them too
          while (backlog.pending()) await serial(tick);
          await checkpoints.now();
        }
        await chain;
        bus.clear();
      })();
      return stopping;
    },
  };
}
