/**
 * Diagnosis checkpoints: each device's rule-engine state (baselines, windows,
 * k-of-n masks, holds) and model calibration, saved to the ops store for the
 * devices that changed, and resumed at a device's first sample after a
 * restart, so it is still judged against the normal it learnt.
 *
 * Reads go RESUME_CHUNK devices a query. When a read fails those devices run
 * afresh meanwhile and their stored checkpoints are not overwritten; the read
 * is tried again (every RESUME_RETRY_MS at most) when they next send, and once
 * it works the checkpoint replaces the fresh state. After RESUME_ATTEMPTS
 * failed reads a device gives up on its checkpoint: it is saved afresh from
 * then on. Writes run outside the service's serial chain.
 */
import type { Logger } from '../core/logger.ts';
import type { DiagnosisStateRecord, OpsStore } from '../core/ports.ts';
import type { Engine } from './engine.ts';
import type { ModelScorer } from './model/types.ts';

/** Devices snapshotted between two yields to the event loop (about 70 ms at 5,000 compressors). */
const SNAPSHOT_SLICE = 5000;
/** Devices whose checkpoints one query reads. */
export const RESUME_CHUNK = 2000;
const RESUME_RETRY_MS = 2000;
const RESUME_ATTEMPTS = 5;

interface DeviceMeta {
  type: string;
  model: string | null;
  site: string | null;
}

/** One device's checkpoint records: the rule engine's state and the model's, whichever it has. */
export function deviceRecords(engine: Engine, scorer: ModelScorer | undefined, id: string): DiagnosisStateRecord[] {
  const out: DiagnosisStateRecord[] = [];
  const rules = engine.snapshot(id);
  if (rules) out.push({ deviceId: id, part: 'rules', ...rules });
  const model = scorer?.exportState?.(id);
  if (model) out.push({ deviceId: id, part: 'model', ...model });
  return out;
}

export interface Checkpoints {
  /** Resumes the devices of this tick (samples, events, out-of-range notices) seen for the first time since start (or whose failed read is due again). */
  resume(batch: ReadonlyArray<{ deviceId: string } & DeviceMeta>, eventTypes: ReadonlyMap<string, string | undefined>, notices?: ReadonlyArray<{ deviceId: string } & DeviceMeta>): Promise<void>;
  /**
   * At start, for the checkpointed devices not heard from yet: resumes those that were live at their checkpoint,
   * so that one silent since goes offline (the others resume when they send, as before). A chunk per step of
   * the serial chain (samples are judged in between); a failed read is tried again (RESUME_ATTEMPTS in all,
   * RESUME_RETRY_MS apart). ensureLayout installs a type's rules; it stops between chunks once stopped() says so.
   */
  resumeLiveAtStart(ensureLayout: (type: string) => Promise<void>, stopped: () => boolean): Promise<void>;
  /** Snapshots the devices that changed and starts writing them (run it in the serial chain). */
  take(): Promise<void>;
  /** A checkpoint of everything processed so far, written before it resolves (one queued first is waited for). */
  now(): Promise<void>;
  /** Whether the device's checkpoint could not be read yet (it runs afresh until a retry reads it). */
  unread(deviceId: string): boolean;
  /** Resolves once no checkpoint is being written (run it in the serial chain, so none starts meanwhile). */
  idle(): Promise<void>;
  stats(): { restored: number; checkpointed: number; checkpointErrors: number };
}

export function createCheckpoints(deps: {
  engine: Engine;
  scorer: ModelScorer | undefined;
  opsStore: Pick<OpsStore, 'loadDiagnosisStates' | 'saveDiagnosisStates' | 'listCheckpointedDevices'>;
  logger: Logger;
  /** The service's serial chain: everything that touches the engine runs one step at a time. */
  serial: (fn: () => Promise<void> | void) => Promise<void>;
}): Checkpoints {
  const { engine, scorer, opsStore, logger, serial } = deps;
  const counts = { restored: 0, checkpointed: 0, checkpointErrors: 0 };
  /** Devices whose checkpoint was looked for (once per process). */
  const looked = new Set<string>();
  /** Devices whose checkpoint could not be read (yet), with the failed reads: never checkpointed over, read again when they send. */
  const unresumed = new Map<string, number>();
  const pending = new Map<string, DeviceMeta>();
  let retryAt = 0;
  /** The checkpoint being written, if any. */
  let saving: Promise<void> | null = null;

  async function resume(batch: ReadonlyArray<{ deviceId: string } & DeviceMeta>, eventTypes: ReadonlyMap<string, string | undefined>, notices: ReadonlyArray<{ deviceId: string } & DeviceMeta> = []): Promise<void> {
    const fresh: string[] = [];
    const retry = new Set<string>();
    const retryDue = unresumed.size > 0 && Date.now() >= retryAt;
    const consider = (id: string, meta: DeviceMeta) => {
      if (unresumed.has(id)) {
        if (retryDue) retry.add(id);
      } else if (!looked.has(id)) {
        looked.add(id);
        pending.set(id, meta);
        if (!engine.states.has(id)) fresh.push(id);
      }
    };
    for (const p of batch) consider(p.deviceId, p);
    for (const n of notices) consider(n.deviceId, n);
    for (const [id, type] of eventTypes) if (type) consider(id, { type, model: null, site: null });
    if (fresh.length) await read(fresh);
    if (retry.size) await read([...retry]);
  }

  async function read(ids: readonly string[]): Promise<void> {
    let failedAny = false;
    for (let i = 0; i < ids.length; i += RESUME_CHUNK) {
      const chunk = ids.slice(i, i + RESUME_CHUNK);
      let records;
      try {
        records = await opsStore.loadDiagnosisStates(chunk);
      } catch (err) {
        failedAny = true;
        const gaveUp: string[] = [];
        for (const id of chunk) {
          const n = (unresumed.get(id) ?? 0) + 1;
          if (n < RESUME_ATTEMPTS) unresumed.set(id, n);
          else {
            unresumed.delete(id);
            pending.delete(id);
            gaveUp.push(id);
          }
        }
        engine.markDirty(gaveUp);
        logger.error({ err, devices: chunk.length, gaveUp: gaveUp.length }, 'loading diagnosis checkpoints failed; those devices run afresh until a retry reads them');
        continue;
      }
      if (records.some((r) => r.part === 'model')) await scorer?.refresh?.();
      for (const r of records) {
        const meta = pending.get(r.deviceId);
        if (meta === undefined) continue;
        // a device running afresh since a failed read: the checkpoint replaces its state, if it fits
        const replace = unresumed.has(r.deviceId);
        const ok =
          r.part === 'rules'
            ? engine.restore(r.deviceId, meta.type, r.key, r.state, replace, meta)
            : (scorer?.importState?.(r.deviceId, meta.type, r.key, r.state, replace) ?? false);
        if (ok && r.part === 'rules') counts.restored++;
      }
      for (const id of chunk) {
        if (unresumed.delete(id)) engine.markDirty([id]);
        pending.delete(id);
      }
    }
    if (failedAny) retryAt = Date.now() + RESUME_RETRY_MS;
  }

  async function resumeLiveAtStart(ensureLayout: (type: string) => Promise<void>, stopped: () => boolean): Promise<void> {
    let devices;
    try {
      devices = await opsStore.listCheckpointedDevices();
    } catch (err) {
      logger.error({ err }, 'listing checkpointed devices failed; they resume when they send');
      return;
    }
    let resumed = 0;
    for (let i = 0; i < devices.length && !stopped(); i += RESUME_CHUNK) {
      const chunk = devices.slice(i, i + RESUME_CHUNK);
      for (let attempt = 1; !stopped(); attempt++) {
        let failed = false;
        await serial(async () => {
          try {
            for (const t of new Set(chunk.map((d) => d.type))) await ensureLayout(t);
            resumed += await resumeLive(chunk);
          } catch (err) {
            failed = true;
            logger.warn({ err, devices: chunk.length, attempt }, 'reading checkpoints at start failed');
          }
        });
        if (!failed || attempt >= RESUME_ATTEMPTS) break;
        await new Promise((r) => setTimeout(r, RESUME_RETRY_MS));
      }
    }
    if (resumed) logger.info({ resumed, checkpointed: devices.length }, 'live devices resumed from their checkpoints');
  }

  /** One chunk of resumeLiveAtStart (in the serial chain): how many it resumed. */
  async function resumeLive(devices: ReadonlyArray<{ deviceId: string } & DeviceMeta>): Promise<number> {
    const chunk = devices.filter((d) => !looked.has(d.deviceId) && !engine.states.has(d.deviceId));
    if (chunk.length === 0) return 0;
    const meta = new Map(chunk.map((d) => [d.deviceId, d]));
    const records = await opsStore.loadDiagnosisStates(chunk.map((d) => d.deviceId));
    const live = new Set<string>();
    let restored = 0;
    for (const r of records) {
      const m = meta.get(r.deviceId);
      if (r.part !== 'rules' || !m) continue;
      if (engine.restore(r.deviceId, m.type, r.key, r.state, false, m, true)) {
        live.add(r.deviceId);
        restored++;
        // taken under other rules (changed while the service was down): afresh, but still watched for silence
      } else if (engine.resumePresence(r.deviceId, m.type, r.state, m)) live.add(r.deviceId);
    }
    // its model's calibration with it: once looked at, a device's checkpoint is not read again when it sends
    if (records.some((r) => r.part === 'model' && live.has(r.deviceId))) await scorer?.refresh?.();
    for (const r of records) if (r.part === 'model' && live.has(r.deviceId)) scorer?.importState?.(r.deviceId, meta.get(r.deviceId)!.type, r.key, r.state, false);
    for (const id of live) looked.add(id);
    counts.restored += restored;
    return live.size;
  }

  async function take(): Promise<void> {
    if (saving) return;
    const ids = engine.takeDirty().filter((id) => !unresumed.has(id));
    if (ids.length === 0) return;
    const records: DiagnosisStateRecord[] = [];
    for (let i = 0; i < ids.length; i++) {
      for (const r of deviceRecords(engine, scorer, ids[i]!)) records.push(r);
      if (i % SNAPSHOT_SLICE === SNAPSHOT_SLICE - 1) await new Promise((r) => setImmediate(r));
    }
    saving = save(ids, records).finally(() => (saving = null));
  }

  async function save(ids: string[], records: DiagnosisStateRecord[]): Promise<void> {
    const t0 = Date.now();
    try {
      await opsStore.saveDiagnosisStates(records);
      counts.checkpointed += ids.length;
      logger.debug({ devices: ids.length, records: records.length, ms: Date.now() - t0 }, 'diagnosis checkpoint');
    } catch (err) {
      counts.checkpointErrors++;
      engine.markDirty(ids);
      logger.error({ err, devices: ids.length }, 'saving diagnosis checkpoint failed; retrying at the next one');
    }
  }

  return {
    resume,
    resumeLiveAtStart,
    take,
    async now() {
      await serial(async () => {
        await saving;
        await take();
      });
      await saving;
    },
    unread: (id) => unresumed.has(id),
    idle: async () => {
      await saving;
    },
    stats: () => ({ ...counts }),
  };
}
