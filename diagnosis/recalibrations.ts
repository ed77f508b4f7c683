/**
 * Applies the recalibration requests the api records (POST
 * /devices/:id/recalibrate), one step of the service's serial chain at a time.
 *
 * What was queued before the step is judged first. A whole-device request
 * forgets the device's rule state and model calibration and deletes its
 * checkpoint, so a restart does not bring the old normal back. One narrowed
 * to some faults resets only their rules: the device's checkpoint is read
 * first when this process has not seen it yet, and the reset state is
 * checkpointed before the request is marked applied. Active diagnoses clear
 * when asked.
 *
 * A request is marked applied only once its clears, checkpoint deletion and
 * checkpoint are saved; until then it stays pending and the next poll
 * finishes it. The engine side runs once per request in this process (its
 * cleared diagnoses are remembered for the retry), so a retry neither clears
 * what was raised since nor loses the record of what it cleared.
 */
import type { Clock } from '../core/clock.ts';
import type { Recalibration } from '../core/domain/recalibration.ts';
import type { Logger } from '../core/logger.ts';
import type { OpsStore } from '../core/ports.ts';
import type { Checkpoints } from './checkpoints.ts';
import type { Engine } from './engine.ts';
import type { ModelScorer } from './model/types.ts';

/** Requests applied per step. */
const BATCH = 500;

export interface RecalibrationDeps {
  engine: Engine;
  scorer: ModelScorer | undefined;
  checkpoints: Checkpoints;
  opsStore: Pick<OpsStore, 'pendingRecalibrations' | 'finishRecalibration' | 'deleteDiagnosisStates' | 'getDevice'>;
  logger: Logger;
  clock: Clock;
  /** Judges what is queued. */
  tick(): Promise<void>;
  /** Saves the engine's raises and clears: false when some could not be saved. */
  persist(): Promise<boolean>;
  /** Compiles a type's rules if not yet done. */
  ensureLayout(type: string): Promise<void>;
}

export function createRecalibrations(deps: RecalibrationDeps): { apply(): Promise<void> } {
  const { engine, scorer, checkpoints, opsStore, logger, clock } = deps;
  /** Requests whose engine side ran here but whose store writes did not all land: what they cleared. */
  const engineDone = new Map<string, string[]>();

  /** Narrowed requests whose device this process holds no state for: read its checkpoint first. */
  async function resumeForNarrowed(requests: readonly Recalibration[]): Promise<void> {
    const types = new Map<string, string | undefined>();
    for (const r of requests) {
      if (r.faults === null || engineDone.has(r.id) || engine.states.has(r.deviceId) || types.has(r.deviceId)) continue;
      const type = (await opsStore.getDevice(r.deviceId))?.type;
      if (type) await deps.ensureLayout(type);
      types.set(r.deviceId, type);
    }
    if (types.size) await checkpoints.resume([], types);
  }

  async function apply(): Promise<void> {
    const pending = await opsStore.pendingRecalibrations(BATCH);
    if (pending.length === 0) return;
    // what was queued before the requests is judged against the old normal
    await deps.tick();
    // a checkpoint being written may hold a device's old state: let it land before deleting or replacing it
    await checkpoints.idle();
    await resumeForNarrowed(pending);
    // a narrowed request waits while the device's checkpoint cannot be read: a later read would bring back what it reset
    const ready = pending.filter((r) => r.faults === null || engineDone.has(r.id) || !checkpoints.unread(r.deviceId));
    const now = clock.now();
    for (const r of ready) {
      if (engineDone.has(r.id)) continue;
      if (r.faults === null) scorer?.resetDevice(r.deviceId);
      engineDone.set(r.id, engine.forget(r.deviceId, { resolve: r.resolveActive, faults: r.faults === null ? undefined : new Set(r.faults) }, now));
    }
    if (!(await deps.persist())) return;
    await opsStore.deleteDiagnosisStates([...new Set(ready.filter((r) => r.faults === null).map((r) => r.deviceId))]);
    if (ready.some((r) => r.faults !== null)) {
      const failed = checkpoints.stats().checkpointErrors;
      await checkpoints.take();
      await checkpoints.idle();
      if (checkpoints.stats().checkpointErrors > failed) return;
    }
    for (const r of ready) {
      const resolved = engineDone.get(r.id)!;
      await opsStore.finishRecalibration(r.id, now, resolved);
      engineDone.delete(r.id);
      logger.info({ deviceId: r.deviceId, faults: r.faults, reason: r.reason, resolved: resolved.length }, 'device recalibrating');
    }
  }

  return { apply };
}
